package io.slatestream.config;

import java.io.Serializable;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;

/**
 * Kafka client properties passed through to every source and sink: any configuration key {@code
 * kafka.<property>} becomes the client property {@code <property>}. Security settings (protocol,
 * SASL, TLS) therefore need no code change. Values of sensitive keys never reach a log.
 */
public final class KafkaClientProperties implements Serializable {
  private static final long serialVersionUID = 1L;

  public static final String PREFIX = "kafka.";

  /** Keys the job sets itself per source or sink; passing them through would break it. */
  private static final java.util.Set<String> OWNED_BY_JOB =
      java.util.Set.of(
          "key.deserializer", "value.deserializer", "key.serializer", "value.serializer",
          "transactional.id", "enable.auto.commit");

  private final TreeMap<String, String> properties;

  private KafkaClientProperties(TreeMap<String, String> properties) {
    this.properties = properties;
  }

  static KafkaClientProperties from(Map<String, String> config, String bootstrapServers) {
    TreeMap<String, String> p = new TreeMap<>();
    config.forEach(
        (k, v) -> {
          if (k.startsWith(PREFIX)) {
            String clientKey = k.substring(PREFIX.length());
            if (OWNED_BY_JOB.contains(clientKey)) {
              throw new IllegalArgumentException(
                  "Kafka property '" + clientKey + "' is set by the job itself and cannot be overridden");
            }
            p.put(clientKey, v);
          }
        });
    p.put("bootstrap.servers", bootstrapServers);
    p.remove("group.id"); // applied to sources only, see JobOptions.GROUP_ID
    return new KafkaClientProperties(p);
  }

  public String bootstrapServers() {
    return properties.get("bootstrap.servers");
  }

  /** A fresh copy for one client. */
  public Properties toProperties() {
    Properties p = new Properties();
    p.putAll(properties);
    return p;
  }

  /** True for keys whose values must never be logged: passwords, keys, JAAS configs, tokens. */
  public static boolean isSensitive(String key) {
    String k = key.toLowerCase(Locale.ROOT);
    return k.contains("password")
        || k.contains("secret")
        || k.contains("jaas")
        || k.contains("token")
        || k.contains("credential")
        || k.endsWith(".key")
        || k.contains("keystore.key")
        || k.contains("private");
  }

  @Override
  public String toString() {
    Map<String, String> masked = new TreeMap<>();
    properties.forEach((k, v) -> masked.put(k, isSensitive(k) ? "******" : v));
    return masked.toString();
  }
}
