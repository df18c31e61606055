package io.slatestream.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import io.slatestream.SlatestreamJob;
import io.slatestream.avro.Interaction;
import io.slatestream.avro.InteractionType;
import io.slatestream.avro.Item;
import io.slatestream.avro.Slate;
import io.slatestream.avro.SlateItem;
import io.slatestream.avro.SlateRequest;
import io.slatestream.config.JobConfig;
import io.slatestream.features.FeatureVectorBuilder;
import io.slatestream.local.EmbeddedKafka;
import io.slatestream.local.Topics;
import io.slatestream.model.ModelTrainer;
import io.slatestream.model.TrainerConfig;
import io.slatestream.model.TrainingResult;
import io.slatestream.serde.AvroCodec;
import io.slatestream.testing.KafkaTopics;
import io.slatestream.testing.StandaloneFlinkCluster;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Random;
import java.util.Set;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.CoreOptions;
import org.apache.flink.configuration.GlobalConfiguration;
import org.apache.flink.runtime.util.EnvironmentInformation;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.extension.TestWatcher;

/**
 * The job jar as an operator deploys it: a standalone Flink cluster of Flink's released artifacts
 * (JobManager and TaskManager as processes of their own on loopback, configured by
 * {@code flink-conf/config.yaml}), the shaded jar uploaded and run through the REST API with its
 * program arguments, a real broker. Slates must answer requests, scored by an XGBoost model
 * loaded inside the TaskManager from the job jar, and the job must run without a single failure.
 *
 * <p>Test-only overrides of the cluster configuration: loopback addresses and free ports (set by
 * {@link StandaloneFlinkCluster}), small process sizes, checkpoint and savepoint directories on
 * the local disk instead of the object store, no Prometheus reporter (its fixed port would
 * collide between concurrent builds), and RPC timeouts for a loaded build machine.
 * Logs: {@code target/standalone/<run>/log}.
 */
class StandaloneClusterITCase {
  private static final Path FLINK_CONF = Path.of("flink-conf");
  private static final Path LOG4J = Path.of("src", "test", "flink-cluster", "conf", "log4j.properties");
  private static final String MODEL_VERSION = "m1";

  static EmbeddedKafka kafka;
  static KafkaTopics topics;
  static StandaloneFlinkCluster cluster;
  static JobConfig config;
  static Path run;
  static String modelUri;
  static String modelSha;
  static String jobId;
  /** flink-conf's parallelism.default, which its one TaskManager's slots match. */
  static int parallelism;
  static final long START = System.nanoTime();

  @RegisterExtension
  static final TestWatcher POINT_TO_LOGS = new TestWatcher() {
    @Override
    public void testFailed(ExtensionContext context, Throwable cause) {
      if (cluster != null) {
        System.err.println(cluster.diagnostics());
      }
    }
  };

  @BeforeAll
  static void startBrokerAndCluster() throws Exception {
    // Short: RocksDB's instance paths under io.tmp.dirs are long already.
    run = Files.createDirectories(Path.of("target", "standalone", Long.toString(System.currentTimeMillis(), 36)))
        .toAbsolutePath();
    kafka = EmbeddedKafka.start();
    topics = new KafkaTopics(kafka.bootstrapServers());
    config = JobConfig.of(Map.of("kafka.bootstrap.servers", kafka.bootstrapServers()));
    Topics.create(kafka, config, 2);
    trainModel(run.resolve("model"));

    Configuration flink = GlobalConfiguration.loadConfiguration(FLINK_CONF.toString());
    for (String key : Set.copyOf(flink.keySet())) {
      if (key.startsWith("metrics.reporter.")) {
        flink.removeKey(key);
      }
    }
    flink.setString("execution.checkpointing.dir", run.resolve("checkpoints").toUri().toString());
    flink.setString("execution.checkpointing.savepoint-dir", run.resolve("savepoints").toUri().toString());
    flink.setString("jobmanager.memory.process.size", "768m");
    flink.setString("taskmanager.memory.process.size", "1g");
    flink.setString("taskmanager.memory.managed.size", "128m");
    // A shared build machine can be so loaded that starting Pekko's actor system alone takes
    // longer than the 10 s default (seen: the TaskManager gave up starting).
    flink.setString("pekko.startup-timeout", "60 s");
    flink.setString("pekko.ask.timeout", "30 s");
    progress("broker up, model trained");
    parallelism = flink.get(CoreOptions.DEFAULT_PARALLELISM);
    cluster = StandaloneFlinkCluster.start(clusterLib(), flink, LOG4J, run);
    progress("cluster up at " + cluster.restAddress());
  }

  @AfterAll
  static void stopEverything() {
    try {
      if (cluster != null) {
        cluster.close();
      }
    } finally {
      if (topics != null) {
        topics.close();
      }
      if (kafka != null) {
        kafka.close();
      }
    }
  }

  @Test
  void theShadedJarRunsOnAStandaloneClusterAndAnswersRequestsWithModelScoredSlates() throws Exception {
    JsonNode overview = cluster.get("/overview");
    assertThat(overview.path("flink-version").asText()).isEqualTo(EnvironmentInformation.getVersion());
    assertThat(overview.path("taskmanagers").asInt()).isEqualTo(1);
    assertThat(overview.path("slots-total").asInt()).isEqualTo(parallelism);

    String jarId = cluster.uploadJar(jobJar());
    jobId = cluster.runJar(jarId, SlatestreamJob.class.getName(), List.of(
        "--kafka.bootstrap.servers", kafka.bootstrapServers(),
        "--source.starting-offsets", "EARLIEST",
        "--model.uri", modelUri,
        "--model.checksum", modelSha,
        "--model.version", MODEL_VERSION), parallelism);
    assertThat(jobId).matches("[0-9a-f]{32}");
    progress("job " + jobId + " submitted");
    cluster.awaitRunning(jobId, Duration.ofSeconds(90));
    progress("job running");
    assertThat(cluster.get("/jobs/" + jobId).path("vertices")).isNotEmpty()
        .allSatisfy(v -> assertThat(v.path("parallelism").asInt()).as(v.path("name").asText()).isEqualTo(parallelism));

    long now = System.currentTimeMillis();
    AvroCodec<Item> items = AvroCodec.of(Item.class);
    for (int i = 0; i < 30; i++) {
      Item item = Item.newBuilder().setItemId("item-" + i).setCategory("c" + i % 3).setCreatorId("k" + i % 5)
          .setDurationMs(20_000).setPublishedTimeMs(now - 3_600_000).build();
      topics.send(config.topicItems, item.getItemId(), items.encode(item));
    }
    AvroCodec<Interaction> interactions = AvroCodec.of(Interaction.class);
    Map<String, String> liked = new LinkedHashMap<>();
    for (int u = 0; u < 4; u++) {
      String user = "user-" + u;
      String item = "item-" + u;
      liked.put(user, item);
      topics.send(config.topicInteractions, user, interactions.encode(Interaction.newBuilder()
          .setEventId("e-" + u).setUserId(user).setItemId(item).setType(InteractionType.LIKE)
          .setWatchTimeMs(15_000).setEventTimeMs(now - 1_000).build()));
    }

    // The catalog reaches the rankers through a broadcast input, racing the requests: ask until
    // a slate has items, then every further request must be answered.
    Slate first = null;
    for (int attempt = 0; first == null; attempt++) {
      assertThat(attempt).as("a non-empty slate within 60 s%n%s", cluster.diagnostics()).isLessThan(120);
      first = request("user-0", "warm-up-" + attempt).filter(s -> !s.getItems().isEmpty()).orElse(null);
      Thread.sleep(first == null ? 500 : 0);
    }

    progress("first slate");
    for (Map.Entry<String, String> user : liked.entrySet()) {
      String requestId = "req-" + user.getKey();
      Slate slate = request(user.getKey(), requestId)
          .orElseThrow(() -> new AssertionError("no slate for " + requestId + "\n" + cluster.diagnostics()));
      assertThat(slate.getUserId()).isEqualTo(user.getKey());
      assertThat(slate.getModelVersion()).as("scored by the model loaded in the TaskManager").isEqualTo(MODEL_VERSION);
      assertThat(slate.getItems()).hasSize(5)
          .allSatisfy(i -> assertThat(i.getScore()).isBetween(0.0, 1.0))
          .extracting(SlateItem::getItemId).doesNotContain(user.getValue()).doesNotHaveDuplicates();
    }

    JsonNode job = cluster.get("/jobs/" + jobId);
    assertThat(job.path("state").asText()).isEqualTo("RUNNING");
    assertThat(cluster.get("/jobs/" + jobId + "/exceptions").path("exceptionHistory").path("entries"))
        .as("failures of the job on the cluster").isEmpty();
    cluster.cancel(jobId);
    progress("all requests answered");
  }

  private static void progress(String what) {
    System.out.printf("StandaloneClusterITCase: %s after %.1f s%n", what, (System.nanoTime() - START) / 1e9);
  }

  /** Sends a request and waits up to 30 s for the slate answering it. */
  private static Optional<Slate> request(String user, String requestId) throws Exception {
    AvroCodec<SlateRequest> requests = AvroCodec.of(SlateRequest.class);
    topics.send(config.topicSlateRequests, user, requests.encode(SlateRequest.newBuilder().setRequestId(requestId)
        .setUserId(user).setSlateSize(5).setEventTimeMs(System.currentTimeMillis()).build()));
    AvroCodec<Slate> slates = AvroCodec.of(Slate.class);
    long deadline = System.currentTimeMillis() + 30_000;
    while (System.currentTimeMillis() < deadline) {
      for (var record : topics.readAll(config.topicRecommendations)) {
        Slate s = slates.decode(record.value());
        if (requestId.equals(s.getRequestId())) {
          return Optional.of(s);
        }
      }
      Thread.sleep(200);
    }
    return Optional.empty();
  }

  /** A small model of the job's feature spec: liking follows the item's like rate. */
  private static void trainModel(Path dir) throws Exception {
    FeatureVectorBuilder vectors = new FeatureVectorBuilder(config);
    int likeRate = vectors.spec().names().indexOf("item.like_rate");
    List<ModelTrainer.Example> rows = new ArrayList<>();
    Random r = new Random(3);
    for (int i = 0; i < 1000; i++) {
      float[] v = new float[vectors.spec().size()];
      for (int f = 0; f < v.length; f++) {
        v[f] = r.nextFloat();
      }
      rows.add(new ModelTrainer.Example(i, v, r.nextFloat() < v[likeRate] ? 1f : 0f));
    }
    try (TrainingResult m = new ModelTrainer(vectors.spec().names(), vectors.spec().id(),
        new TrainerConfig(0.2, 10, 5, 3, 0.3, 1.0, 1.0, 1.0, 3L, 1, false, java.util.Map.of())).train(rows)) {
      modelSha = m.writeModel(Files.createDirectories(dir), MODEL_VERSION);
    }
    modelUri = dir.resolve(TrainingResult.MODEL_FILE).toUri().toString();
  }

  /** The shaded jar `mvn package` builds (failsafe passes its path). */
  static Path jobJar() {
    return Path.of(required("slatestream.job-jar"));
  }

  /** The cluster's lib/, built in pre-integration-test from src/test/flink-cluster/pom.xml. */
  static Path clusterLib() {
    return Path.of(required("flink.cluster.lib"));
  }

  private static String required(String property) {
    String value = System.getProperty(property);
    if (value == null) {
      throw new IllegalStateException(property + " is not set: run with `mvn verify`, whose failsafe configuration sets it");
    }
    return value;
  }
}
