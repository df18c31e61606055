package io.slatestream.model;

import java.io.IOException;
import java.io.InputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Properties;
import java.util.regex.Pattern;

/** Small helpers shared by the model classes. */
final class XgbSupport {

    /** "[02:21:16] /workspace/src/learner.cc:1001: " — the prefix XGBoost puts on native errors. */
    private static final Pattern NATIVE_PREFIX = Pattern.compile("^\\[[^\\]]*\\]\\s*\\S+:\\d+:\\s*");

    private XgbSupport() {}

    /**
     * The first line of a native XGBoost error without timestamp and source location. XGBoost's
     * messages carry a multi-line native stack trace that is useless in a log line or dead letter.
     */
    static String describe(Throwable t) {
        String msg = t.getMessage();
        if (msg == null || msg.isBlank()) {
            return t.getClass().getSimpleName();
        }
        String first = msg.strip().lines().findFirst().orElse(msg).strip();
        first = NATIVE_PREFIX.matcher(first).replaceFirst("");
        return first.isEmpty() ? t.getClass().getSimpleName() : first;
    }

    /** Lower-case hex sha256. */
    static String sha256Hex(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is required by every Java platform", e);
        }
    }

    /** The XGBoost4J version from the jar's own properties file, or "unknown". */
    static String xgboostVersion() {
        try (InputStream in = ml.dmlc.xgboost4j.java.XGBoost.class.getResourceAsStream(
                "/xgboost4j-version.properties")) {
            if (in == null) {
                return "unknown";
            }
            Properties p = new Properties();
            p.load(in);
            return p.getProperty("version", "unknown");
        } catch (IOException e) {
            return "unknown";
        }
    }
}
