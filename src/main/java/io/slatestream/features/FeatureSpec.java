package io.slatestream.features;

import java.io.Serializable;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;

/**
 * The ordered, named features a model is trained on and scored with. Its id is derived from the
 * version and the names, so any change to what a position means changes the id, and a model
 * trained on another spec is refused rather than silently fed the wrong columns.
 */
public final class FeatureSpec implements Serializable {
  private static final long serialVersionUID = 1L;

  private final int version;
  private final List<String> names;
  private final String id;

  public FeatureSpec(int version, List<String> names) {
    if (names.isEmpty() || names.stream().distinct().count() != names.size()) {
      throw new IllegalArgumentException("Feature names must be non-empty and distinct: " + names);
    }
    this.version = version;
    this.names = List.copyOf(names);
    this.id = "fs" + version + "-" + digest(version + "\n" + String.join("\n", names));
  }

  private static String digest(String s) {
    try {
      byte[] d = MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
      return HexFormat.of().formatHex(d, 0, 6);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  public String id() {
    return id;
  }

  public int version() {
    return version;
  }

  public List<String> names() {
    return names;
  }

  public int size() {
    return names.size();
  }

  @Override
  public String toString() {
    return id + names;
  }
}
