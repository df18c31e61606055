package io.slatestream.model;

import io.slatestream.avro.ModelRelease;
import java.io.ByteArrayOutputStream;
import java.io.FileNotFoundException;
import java.io.IOException;
import java.io.InputStream;
import java.util.Locale;
import java.util.Objects;
import java.util.regex.Pattern;
import org.apache.flink.core.fs.FileStatus;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;

/**
 * Turns a {@link ModelRelease} into a verified {@link GbdtModel}, or refuses it with a reason.
 *
 * <p>The model file is read through Flink's file systems, so {@code file://} works locally and any
 * object store whose Flink file-system plugin is installed works on a cluster. Checks, in order:
 * <ol>
 *   <li>the release is complete (version, URI, a 64-hex-digit checksum);</li>
 *   <li>its feature spec id equals the job's (no I/O needed to refuse a release for another spec);</li>
 *   <li>the file is readable and not larger than {@link #maxModelBytes()};</li>
 *   <li>the sha256 of the bytes read equals the release's checksum;</li>
 *   <li>the bytes parse as an XGBoost {@code binary:logistic} model with the job's feature count and
 *       pass a smoke prediction ({@link GbdtModel#load}).</li>
 * </ol>
 * Every refusal is a {@link ModelRejectedException}; the caller keeps serving what it had.
 *
 * <p>Loading blocks on I/O; stateless and thread-safe.
 */
public final class ModelLoader {

    /** Default upper bound on a model file: far above a 1000-tree model, far below a heap problem. */
    public static final long DEFAULT_MAX_MODEL_BYTES = 512L * 1024 * 1024;

    private static final Pattern SHA256_HEX = Pattern.compile("[0-9a-f]{64}");

    private final String expectedFeatureSpecId;
    private final int expectedNumFeatures;
    private final long maxModelBytes;

    public ModelLoader(String expectedFeatureSpecId, int expectedNumFeatures) {
        this(expectedFeatureSpecId, expectedNumFeatures, DEFAULT_MAX_MODEL_BYTES);
    }

    public ModelLoader(String expectedFeatureSpecId, int expectedNumFeatures, long maxModelBytes) {
        this.expectedFeatureSpecId = Objects.requireNonNull(expectedFeatureSpecId, "expectedFeatureSpecId");
        if (expectedNumFeatures <= 0) {
            throw new IllegalArgumentException("expectedNumFeatures must be positive: " + expectedNumFeatures);
        }
        if (maxModelBytes <= 0 || maxModelBytes > Integer.MAX_VALUE - 8) {
            throw new IllegalArgumentException("maxModelBytes out of range: " + maxModelBytes);
        }
        this.expectedNumFeatures = expectedNumFeatures;
        this.maxModelBytes = maxModelBytes;
    }

    public String expectedFeatureSpecId() {
        return expectedFeatureSpecId;
    }

    public int expectedNumFeatures() {
        return expectedNumFeatures;
    }

    public long maxModelBytes() {
        return maxModelBytes;
    }

    /**
     * Reads and verifies the release's model.
     *
     * @throws ModelRejectedException with a human-readable reason if any check fails
     */
    public GbdtModel load(ModelRelease release) throws ModelRejectedException {
        Objects.requireNonNull(release, "release");
        String version = release.getVersion();
        String uri = release.getModelUri();
        String checksum = release.getChecksum();
        String specId = release.getFeatureSpecId();
        if (version == null || version.isBlank()) {
            throw invalid("model release has no version");
        }
        if (uri == null || uri.isBlank()) {
            throw invalid("model release " + version + " has no model URI");
        }
        if (checksum == null || !SHA256_HEX.matcher(checksum.strip().toLowerCase(Locale.ROOT)).matches()) {
            throw invalid("model release " + version + " has no valid checksum (64 hex digits of sha256): '"
                    + checksum + "'");
        }
        String expectedSha = checksum.strip().toLowerCase(Locale.ROOT);
        if (!expectedFeatureSpecId.equals(specId)) {
            throw new ModelRejectedException(
                    ModelRejectedException.Kind.FEATURE_SPEC_MISMATCH,
                    "feature spec mismatch: model '" + specId + "', job '" + expectedFeatureSpecId + "'");
        }

        byte[] bytes = read(uri);
        String actualSha = XgbSupport.sha256Hex(bytes);
        if (!actualSha.equals(expectedSha)) {
            throw new ModelRejectedException(
                    ModelRejectedException.Kind.CHECKSUM_MISMATCH,
                    "checksum mismatch: expected " + expectedSha + ", file has " + actualSha);
        }
        return GbdtModel.load(bytes, version, specId, expectedNumFeatures);
    }

    /** Reads the whole file at {@code uri} through Flink's file systems, refusing oversized files. */
    byte[] read(String uri) throws ModelRejectedException {
        try {
            Path path = new Path(uri);
            FileSystem fs = path.getFileSystem();
            FileStatus status = fs.getFileStatus(path);
            if (status.isDir()) {
                throw unreadable(uri, "it is a directory");
            }
            if (status.getLen() > maxModelBytes) {
                throw unreadable(uri, "file has " + status.getLen() + " bytes, limit is " + maxModelBytes);
            }
            try (InputStream in = fs.open(path)) {
                return readAtMost(in, uri);
            }
        } catch (FileNotFoundException e) {
            throw new ModelRejectedException(
                    ModelRejectedException.Kind.UNREADABLE, "cannot read model file " + uri + ": file not found", e);
        } catch (IOException | RuntimeException e) {
            throw new ModelRejectedException(
                    ModelRejectedException.Kind.UNREADABLE,
                    "cannot read model file " + uri + ": " + e.getClass().getSimpleName() + ": " + e.getMessage(),
                    e);
        }
    }

    private byte[] readAtMost(InputStream in, String uri) throws IOException, ModelRejectedException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        byte[] buf = new byte[64 * 1024];
        long total = 0;
        int n;
        while ((n = in.read(buf)) != -1) {
            total += n;
            if (total > maxModelBytes) {
                throw unreadable(uri, "file is larger than the limit of " + maxModelBytes + " bytes");
            }
            out.write(buf, 0, n);
        }
        return out.toByteArray();
    }

    /** Lower-case hex sha256 of {@code bytes}, the format of {@code ModelRelease.checksum}. */
    public static String sha256Hex(byte[] bytes) {
        return XgbSupport.sha256Hex(bytes);
    }

    private static ModelRejectedException invalid(String reason) {
        return new ModelRejectedException(ModelRejectedException.Kind.INVALID_RELEASE, "invalid release: " + reason);
    }

    private static ModelRejectedException unreadable(String uri, String why) {
        return new ModelRejectedException(
                ModelRejectedException.Kind.UNREADABLE, "cannot read model file " + uri + ": " + why);
    }
}
