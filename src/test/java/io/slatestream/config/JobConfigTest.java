package io.slatestream.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class JobConfigTest {

  private static final String PASSWORD = "s3cr3t-Pa55w0rd";
  private static final String JAAS =
      "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"svc\" password=\"" + PASSWORD + "\";";

  @Test
  void defaultsAreTheDocumentedOnes() {
    JobConfig c = JobConfig.defaults();
    assertThat(c.slateSize).isEqualTo(10);
    assertThat(c.slateMaxSize).isEqualTo(100);
    assertThat(c.slateDebounce).isEqualTo(Duration.ofSeconds(5));
    assertThat(c.halfLives).containsExactly(Duration.ofHours(1), Duration.ofDays(1), Duration.ofDays(7));
    assertThat(c.quickSkipThreshold).isEqualTo(Duration.ofSeconds(2));
    assertThat(c.topicInteractions).isEqualTo("interactions");
    assertThat(c.kafka().bootstrapServers()).isEqualTo("localhost:9092");
    assertThat(c.delivery).isEqualTo(JobOptions.DeliveryMode.AT_LEAST_ONCE);
  }

  @Test
  void parsesBothArgumentForms() throws Exception {
    JobConfig c = JobConfig.fromArgs(
        "--slate.size", "7", "--slate.max-size=20", "--slate.debounce", "250 ms", "--features.half-lives=30 min;2 d",
        "--topic.items", "catalog", "--sink.delivery=EXACTLY_ONCE");
    assertThat(c.slateSize).isEqualTo(7);
    assertThat(c.slateMaxSize).isEqualTo(20);
    assertThat(c.slateDebounce).isEqualTo(Duration.ofMillis(250));
    assertThat(c.halfLives).containsExactly(Duration.ofMinutes(30), Duration.ofDays(2));
    assertThat(c.topicItems).isEqualTo("catalog");
    assertThat(c.delivery).isEqualTo(JobOptions.DeliveryMode.EXACTLY_ONCE);

    // Only the first '=' separates key and value.
    JobConfig jaas = JobConfig.fromArgs("--kafka.sasl.jaas.config=" + JAAS);
    assertThat(jaas.kafka().toProperties().getProperty("sasl.jaas.config")).isEqualTo(JAAS);
  }

  @Test
  void malformedArgumentsAreRejected() {
    assertThatThrownBy(() -> JobConfig.fromArgs("slate.size", "3"))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("slate.size");
    assertThatThrownBy(() -> JobConfig.fromArgs("--slate.size"))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("--slate.size");
  }

  @Test
  void aConfigFileIsLoadedAndLaterArgumentsOverrideIt(@TempDir Path dir) throws Exception {
    Path file = dir.resolve("job.properties");
    Properties p = new Properties();
    p.setProperty("slate.size", "4");
    p.setProperty("slate.max-size", "40");
    p.setProperty("topic.items", "catalog-from-file");
    try (var out = Files.newOutputStream(file)) {
      p.store(out, null);
    }
    JobConfig c = JobConfig.fromArgs("--config", file.toString(), "--slate.size", "6", "--topic.items=catalog-from-args");
    assertThat(c.slateSize).isEqualTo(6);
    assertThat(c.slateMaxSize).isEqualTo(40);
    assertThat(c.topicItems).isEqualTo("catalog-from-args");

    JobConfig fileOnly = JobConfig.fromArgs("--config=" + file);
    assertThat(fileOnly.slateSize).isEqualTo(4);
    assertThat(fileOnly.topicItems).isEqualTo("catalog-from-file");
  }

  @Test
  void anUnknownKeyIsRejectedByName(@TempDir Path dir) throws Exception {
    assertThatThrownBy(() -> JobConfig.of(Map.of("slate.sise", "3")))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("'slate.sise'");
    assertThatThrownBy(() -> JobConfig.fromArgs("--slate.size", "3", "--no.such.option", "x"))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("no.such.option");
    Path file = dir.resolve("bad.properties");
    Files.writeString(file, "topic.typo=x\n");
    assertThatThrownBy(() -> JobConfig.fromArgs("--config", file.toString()))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("topic.typo");
  }

  @Test
  void kafkaPropertiesArePassedThrough() {
    JobConfig c = JobConfig.of(Map.of(
        "kafka.bootstrap.servers", "broker-1:9093,broker-2:9093",
        "kafka.security.protocol", "SASL_SSL",
        "kafka.sasl.mechanism", "PLAIN",
        "kafka.sasl.jaas.config", JAAS,
        "kafka.ssl.truststore.location", "/etc/kafka/truststore.jks",
        "kafka.group.id", "my-group"));
    Properties props = c.kafka().toProperties();
    assertThat(props.getProperty("bootstrap.servers")).isEqualTo("broker-1:9093,broker-2:9093");
    assertThat(props.getProperty("security.protocol")).isEqualTo("SASL_SSL");
    assertThat(props.getProperty("sasl.mechanism")).isEqualTo("PLAIN");
    assertThat(props.getProperty("sasl.jaas.config")).isEqualTo(JAAS);
    assertThat(props.getProperty("ssl.truststore.location")).isEqualTo("/etc/kafka/truststore.jks");
    // The group applies to sources only; it is not a property of every client.
    assertThat(props).doesNotContainKey("group.id");
    assertThat(c.groupId).isEqualTo("my-group");

    // Each call is a fresh copy: one client changing its properties cannot affect another.
    props.setProperty("security.protocol", "PLAINTEXT");
    assertThat(c.kafka().toProperties().getProperty("security.protocol")).isEqualTo("SASL_SSL");
  }

  @Test
  void propertiesTheJobSetsItselfCannotBeOverridden() {
    for (String key : List.of("kafka.value.deserializer", "kafka.key.serializer", "kafka.transactional.id",
        "kafka.enable.auto.commit")) {
      assertThatThrownBy(() -> JobConfig.of(Map.of(key, "x")))
          .as(key).isInstanceOf(IllegalArgumentException.class).hasMessageContaining(key.substring("kafka.".length()));
    }
  }

  @Test
  void secretsNeverAppearInStringsOrTheMaskedMap() {
    Map<String, String> secrets = Map.of(
        "kafka.sasl.jaas.config", JAAS,
        "kafka.ssl.truststore.password", PASSWORD + "-trust",
        "kafka.ssl.keystore.password", PASSWORD + "-store",
        "kafka.ssl.key.password", PASSWORD + "-key",
        "kafka.ssl.keystore.key", "-----BEGIN PRIVATE KEY-----" + PASSWORD + "-pem");
    Map<String, String> all = new HashMap<>(secrets);
    all.put("kafka.security.protocol", "SASL_SSL");
    all.put("slate.size", "12");
    JobConfig c = JobConfig.of(all);

    String text = c + " " + c.toMaskedMap() + " " + c.kafka();
    assertThat(text).doesNotContain(PASSWORD).doesNotContain("PlainLoginModule").doesNotContain("BEGIN PRIVATE KEY");
    for (String key : secrets.keySet()) {
      assertThat(c.toMaskedMap()).containsEntry(key, "******");
      assertThat(c.kafka().toString()).contains(key.substring("kafka.".length()) + "=******");
    }
    // Masking is selective: what is not secret stays readable for operators.
    assertThat(c.toMaskedMap()).containsEntry("kafka.security.protocol", "SASL_SSL").containsEntry("slate.size", "12");
    assertThat(c.kafka().toString()).contains("security.protocol=SASL_SSL");
    // An error about a mistyped secret key names the key, never the value.
    assertThatThrownBy(() -> JobConfig.of(Map.of("sasl.jaas.config", JAAS)))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("sasl.jaas.config")
        .satisfies(e -> assertThat(e.getMessage()).doesNotContain(PASSWORD));
    // The real values still reach the clients.
    assertThat(c.kafka().toProperties().getProperty("ssl.key.password")).isEqualTo(PASSWORD + "-key");
  }

  @Test
  void invalidValuesAreRejectedNamingTheOption() {
    assertThatThrownBy(() -> JobConfig.of(Map.of("slate.size", "10", "slate.max-size", "9")))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("slate.max-size");
    assertThatThrownBy(() -> JobConfig.of(Map.of("slate.size", "0")))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("slate.size");
    assertThatThrownBy(() -> JobConfig.of(Map.of("features.half-lives", "1 h;0 ms")))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("features.half-lives");
    assertThatThrownBy(() -> JobConfig.of(Map.of("features.half-lives", "1 h;60 min")))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("distinct");
    assertThatThrownBy(() -> JobConfig.of(Map.of("job.max-parallelism", "40000")))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("job.max-parallelism");
    assertThatThrownBy(() -> JobConfig.of(Map.of("features.recent-items", "0")))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("features.recent-items");
    assertThatThrownBy(() -> JobConfig.of(Map.of("filters.ignored-window", "0 s")))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("filters.ignored-window");
    assertThatThrownBy(() -> JobConfig.of(Map.of("filters.ignored-max-items", "0")))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("filters.ignored-max-items");
    assertThatThrownBy(() -> JobConfig.of(Map.of("filters.ignored-impressions", "-1")))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("filters.ignored-impressions");
    assertThatThrownBy(() -> JobConfig.of(Map.of("slate.size", "many")))
        .isInstanceOf(IllegalArgumentException.class);
    // The boundary itself is valid.
    assertThat(JobConfig.of(Map.of("slate.size", "10", "slate.max-size", "10")).slateMaxSize).isEqualTo(10);
  }

  @Test
  void withReplacesValuesAndValidatesAgain() {
    JobConfig base = JobConfig.of(Map.of("slate.size", "5", "topic.items", "catalog"));
    JobConfig changed = base.with(Map.of("slate.size", "8"));
    assertThat(changed.slateSize).isEqualTo(8);
    assertThat(changed.topicItems).isEqualTo("catalog");
    assertThat(base.slateSize).isEqualTo(5);
    assertThatThrownBy(() -> base.with(Map.of("slate.size", "500")))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("slate.max-size");
  }
}
