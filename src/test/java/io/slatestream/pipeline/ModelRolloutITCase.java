package io.slatestream.pipeline;

import static org.assertj.core.api.Assertions.assertThat;

import io.slatestream.avro.DeadLetter;
import io.slatestream.avro.Item;
import io.slatestream.avro.ModelRelease;
import io.slatestream.avro.Slate;
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
import io.slatestream.testing.TestJobs;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Predicate;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.Gauge;
import org.apache.flink.metrics.Metric;
import org.apache.flink.runtime.testutils.InMemoryReporter;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * A model rolled out to a running job through the model-releases topic, on a real broker at
 * parallelism 2: a bad release is dead-lettered while the heuristic keeps serving, a good one
 * takes over without a restart, and every slate names the model that scored it.
 */
class ModelRolloutITCase {

  static final InMemoryReporter METRICS = InMemoryReporter.create();

  @RegisterExtension
  static final MiniClusterExtension FLINK = new MiniClusterExtension(
      new MiniClusterResourceConfiguration.Builder().setConfiguration(METRICS.addToConfiguration(new Configuration()))
          .setNumberTaskManagers(1).setNumberSlotsPerTaskManager(2).build());

  @Test
  void aReleaseTakesOverARunningJobAndABadOneIsRefused(@TempDir Path dir) throws Exception {
    try (EmbeddedKafka kafka = EmbeddedKafka.start(); KafkaTopics topics = new KafkaTopics(kafka.bootstrapServers())) {
      Map<String, String> opts = new HashMap<>();
      opts.put("kafka.bootstrap.servers", kafka.bootstrapServers());
      opts.put("source.starting-offsets", "EARLIEST");
      opts.put("slate.debounce", "0 s");
      JobConfig config = JobConfig.of(opts);
      Topics.create(kafka, config, 2);

      FeatureVectorBuilder vectors = new FeatureVectorBuilder(config);
      List<ModelTrainer.Example> rows = new ArrayList<>();
      Random r = new Random(1);
      int likeRate = vectors.spec().names().indexOf("item.like_rate");
      for (int i = 0; i < 2000; i++) {
        float[] v = new float[vectors.spec().size()];
        for (int f = 0; f < v.length; f++) {
          v[f] = r.nextFloat();
        }
        rows.add(new ModelTrainer.Example(i, v, r.nextFloat() < v[likeRate] ? 1f : 0f));
      }
      String sha;
      try (TrainingResult m = new ModelTrainer(vectors.spec().names(), vectors.spec().id(),
          new TrainerConfig(0.2, 20, 5, 3, 0.3, 1.0, 1.0, 1.0, 3L, 1, false, java.util.Map.of())).train(rows)) {
        sha = m.writeModel(dir, "m1");
      }
      String uri = dir.resolve(TrainingResult.MODEL_FILE).toUri().toString();
      long now = System.currentTimeMillis();

      AvroCodec<Item> items = AvroCodec.of(Item.class);
      for (int i = 0; i < 20; i++) {
        Item item = Item.newBuilder().setItemId("item-" + i).setCategory("c" + i % 3).setCreatorId("k")
            .setDurationMs(10_000).setPublishedTimeMs(now - 60_000).build();
        topics.send(config.topicItems, item.getItemId(), items.encode(item));
      }

      StreamExecutionEnvironment env = TestJobs.slatestream(config, 2, false);
      JobClient job = env.executeAsync("rollout");
      try {
        Slate first = requestUntil(topics, config, "before", s -> !s.getItems().isEmpty());
        assertThat(first.getModelVersion()).isEqualTo("heuristic-v1");

        AvroCodec<ModelRelease> releases = AvroCodec.of(ModelRelease.class);
        topics.send(config.topicModelReleases, "bad", releases.encode(
            new ModelRelease("bad", uri, "0".repeat(64), vectors.spec().id(), now)));
        List<DeadLetter> refused = waitFor(() -> topics.readAll(config.topicDeadLetters).stream()
            .map(rec -> decode(AvroCodec.of(DeadLetter.class), rec.value())).toList(), l -> l.size() >= 2);
        assertThat(refused).as("each of the two ranker instances refuses it, with the reason").hasSize(2)
            .allSatisfy(d -> assertThat(d.getError()).contains("refused model release bad").contains("checksum")
                .contains("still serving heuristic-v1"));
        assertThat(requestUntil(topics, config, "after-bad", s -> true).getModelVersion()).isEqualTo("heuristic-v1");

        topics.send(config.topicModelReleases, "m1", releases.encode(
            new ModelRelease("m1", uri, sha, vectors.spec().id(), now)));
        // Users hash to both ranker instances: every one of them must switch.
        for (int u = 0; u < 8; u++) {
          String user = "user-" + u;
          Slate s = requestUntil(topics, config, user, sl -> sl.getModelVersion().equals("m1"), user);
          assertThat(s.getItems()).isNotEmpty().allSatisfy(i -> assertThat(i.getScore()).isBetween(0.0, 1.0));
        }

        // The ranker's metrics say the same: both instances serve m1, scored candidates with it,
        // and each refused the bad release once.
        var rankers = METRICS.findOperatorMetricGroups(job.getJobID(), "ranker");
        assertThat(rankers).hasSize(2);
        long scored = 0;
        long refusedReleases = 0;
        for (var group : rankers) {
          Map<String, Metric> m = METRICS.getMetricsByGroup(group);
          assertThat(((Gauge<?>) m.get("modelVersion")).getValue()).isEqualTo("m1");
          scored += ((Counter) m.get("candidatesScored")).getCount();
          refusedReleases += ((Counter) m.get("modelReleasesRefused")).getCount();
        }
        assertThat(scored).isPositive();
        assertThat(refusedReleases).isEqualTo(2);
      } finally {
        job.cancel().get();
      }
    }
  }

  private static int seq;

  private static Slate requestUntil(KafkaTopics topics, JobConfig config, String tag, Predicate<Slate> ok)
      throws Exception {
    return requestUntil(topics, config, tag, ok, "user-0");
  }

  /** Sends requests until the slate answering one satisfies {@code ok}; fails after 60 s. */
  private static Slate requestUntil(KafkaTopics topics, JobConfig config, String tag, Predicate<Slate> ok, String user)
      throws Exception {
    AvroCodec<SlateRequest> requests = AvroCodec.of(SlateRequest.class);
    AvroCodec<Slate> slates = AvroCodec.of(Slate.class);
    long deadline = System.currentTimeMillis() + 60_000;
    while (System.currentTimeMillis() < deadline) {
      String id = tag + "-" + (seq++);
      topics.send(config.topicSlateRequests, user, requests.encode(SlateRequest.newBuilder().setRequestId(id)
          .setUserId(user).setSlateSize(5).setEventTimeMs(System.currentTimeMillis()).build()));
      Slate answer = waitFor(() -> topics.readAll(config.topicRecommendations).stream()
          .map(rec -> decode(slates, rec.value())).filter(s -> id.equals(s.getRequestId())).toList(), l -> !l.isEmpty())
          .get(0);
      if (ok.test(answer)) {
        return answer;
      }
      Thread.sleep(200);
    }
    throw new AssertionError("No acceptable slate for " + tag + " within 60 s");
  }

  private static <T> T waitFor(java.util.concurrent.Callable<T> read, Predicate<T> done) throws Exception {
    long deadline = System.currentTimeMillis() + 30_000;
    T v = read.call();
    while (!done.test(v)) {
      if (System.currentTimeMillis() > deadline) {
        throw new AssertionError("Timed out; last seen " + v);
      }
      Thread.sleep(200);
      v = read.call();
    }
    return v;
  }

  private static <T extends org.apache.avro.specific.SpecificRecordBase> T decode(AvroCodec<T> codec, byte[] bytes) {
    try {
      return codec.decode(bytes);
    } catch (Exception e) {
      throw new AssertionError(e);
    }
  }
}
