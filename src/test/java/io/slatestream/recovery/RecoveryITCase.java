package io.slatestream.recovery;

import static org.assertj.core.api.Assertions.assertThat;

import io.slatestream.avro.Interaction;
import io.slatestream.avro.InteractionType;
import io.slatestream.avro.Item;
import io.slatestream.avro.Slate;
import io.slatestream.avro.SlateItem;
import io.slatestream.avro.SlateRequest;
import io.slatestream.config.JobConfig;
import io.slatestream.inspect.SavepointReader;
import io.slatestream.inspect.SavepointReader.UserRow;
import io.slatestream.local.Topics;
import io.slatestream.serde.AvroCodec;
import io.slatestream.testing.EmbeddedKafkaExtension;
import io.slatestream.testing.RunningJob;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.apache.flink.api.common.JobID;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.configuration.StateRecoveryOptions;
import org.apache.flink.configuration.TaskManagerOptions;
import org.apache.flink.runtime.executiongraph.AccessExecutionVertex;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.InjectMiniCluster;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Recovery, on a real broker with RocksDB state: the same input, fed in two halves, goes through a
 * run without failures and a run that loses a TaskManager mid-stream; rescaling restores the
 * failure-free run's savepoint at other parallelisms. Per-user state is compared through
 * {@link SavepointReader} on savepoints taken at the end of each run.
 *
 * <p>The failure is real rather than a hook in the topology: one of the mini cluster's two
 * TaskManagers is terminated, as when a pod is evicted or a TaskManager's JVM dies. Slots are
 * spread over both ({@code taskmanager.load-balance.mode: SLOTS}), so the lost one runs part of the
 * job; the JobManager fails the job over and restores it from the latest completed checkpoint on
 * the other TaskManager's slots.
 */
class RecoveryITCase {

  @RegisterExtension
  static final MiniClusterExtension FLINK = new MiniClusterExtension(() -> {
    Configuration cluster = new Configuration();
    cluster.set(TaskManagerOptions.TASK_MANAGER_LOAD_BALANCE_MODE, TaskManagerOptions.TaskManagerLoadBalanceMode.SLOTS);
    return new MiniClusterResourceConfiguration.Builder().setNumberTaskManagers(2).setNumberSlotsPerTaskManager(2)
        .setConfiguration(cluster).build();
  });

  @RegisterExtension
  static final EmbeddedKafkaExtension BROKER = new EmbeddedKafkaExtension();
  @TempDir static Path savepoints;
  /** The failure-free run at parallelism 2, shared by both tests (run once, by whichever asks first). */
  static Run baseline;

  private static final long T = System.currentTimeMillis() - 600_000;
  private static final int USERS = 12;
  private static final int ITEMS = 12;

  /** What a run left behind. */
  record Run(JobConfig config, String savepoint, List<UserRow> users, List<Slate> slates, Set<String> requests,
      Map<String, Set<String>> interacted) {}

  /**
   * (a) Exactly-once delivery through a lost TaskManager: every request is answered exactly once
   * on the recommendations topic as a read_committed consumer sees it, no slate is delivered twice,
   * and every user's features equal those of the same input without a failure.
   */
  @Test
  void aLostTaskManagerLosesAndDuplicatesNothing(@InjectMiniCluster MiniCluster cluster) throws Exception {
    Run clean = baseline(cluster);
    Run failed;
    try {
      failed = run("failover", 2, job -> {
        // Lose a TaskManager while the second half is being served: some of its slates may be
        // written in a transaction that the checkpoint after them has not committed yet.
        awaitUncommittedAnswer(job.config(), "half2-");
        cluster.terminateTaskManager(0).get();
        return null;
      }, cluster, true);
    } finally {
      cluster.startTaskManager();
    }

    Map<String, Long> answers = failed.slates().stream().filter(s -> s.getRequestId() != null)
        .collect(Collectors.groupingBy(Slate::getRequestId, Collectors.counting()));
    assertThat(answers.keySet()).containsExactlyInAnyOrderElementsOf(failed.requests());
    assertThat(answers).allSatisfy((id, n) -> assertThat(n).as("answers to %s", id).isEqualTo(1));
    assertThat(failed.slates()).extracting(Slate::getSlateId).doesNotHaveDuplicates();
    assertThat(failed.users()).hasSize(USERS).isEqualTo(clean.users());
  }

  /**
   * (b) Rescaling: the failure-free run's savepoint (parallelism 2) restores at 4 and at 1; each
   * serves every user from the restored state (no item they interacted with comes back) and its
   * own savepoint holds exactly the users' features of the one it was restored from.
   */
  @Test
  void aSavepointRestoresAtOtherParallelismsWithTheSameState(@InjectMiniCluster MiniCluster cluster)
      throws Exception {
    Run clean = baseline(cluster);
    for (int parallelism : List.of(4, 1)) {
      Configuration restore = new Configuration();
      restore.set(StateRecoveryOptions.SAVEPOINT_PATH, clean.savepoint());
      String after;
      try (RunningJob job = RunningJob.start(clean.config(), parallelism, BROKER.topics(), restore)) {
        List<String> ids = new ArrayList<>();
        AvroCodec<SlateRequest> codec = AvroCodec.of(SlateRequest.class);
        for (String user : clean.interacted().keySet()) {
          SlateRequest r = SlateRequest.newBuilder().setRequestId("at-" + parallelism + "-" + user).setUserId(user)
              .setSlateSize(4).setEventTimeMs(T + 120_000 + parallelism).build();
          BROKER.topics().send(clean.config().topicSlateRequests, user, codec.encode(r));
          ids.add(r.getRequestId());
        }
        Map<String, List<Slate>> answers = job.awaitAnswers(ids);
        for (String user : clean.interacted().keySet()) {
          List<Slate> mine = answers.get("at-" + parallelism + "-" + user);
          assertThat(mine).as("answers to %s at parallelism %d", user, parallelism).hasSize(1);
          assertThat(mine.get(0).getItems()).extracting(SlateItem::getItemId).as("%s's slate", user)
              .hasSize(4).doesNotContainAnyElementsOf(clean.interacted().get(user));
        }
        after = job.stopWithSavepoint(savepoints.resolve("rescaled-" + parallelism));
      }
      assertThat(users(after, clean.config())).as("users after restoring at parallelism %d", parallelism)
          .isEqualTo(clean.users());
    }
  }

  private static synchronized Run baseline(MiniCluster cluster) throws Exception {
    if (baseline == null) {
      baseline = run("clean", 2, job -> null, cluster, false);
      assertThat(baseline.users()).extracting(UserRow::totalEvents).as("every user's interactions counted")
          .containsOnly(6L);
    }
    return baseline;
  }

  /** Something done to the running job between sending the second half and the end of the run. */
  interface Disturbance {
    Void apply(RunningJob job) throws Exception;
  }

  /**
   * One run on its own topics: the catalog, then each half of the input (interactions and
   * requests), waiting until the job has read the first half and committed a checkpoint after it;
   * then the disturbance; then until the job has read everything and answered every request; then
   * a savepoint.
   */
  private static Run run(String name, int parallelism, Disturbance disturbance, MiniCluster cluster,
      boolean restarted) throws Exception {
    String run = name + "-" + System.nanoTime();
    Map<String, String> opts = new HashMap<>();
    opts.put("kafka.bootstrap.servers", BROKER.kafka().bootstrapServers());
    opts.put("kafka.group.id", run);
    opts.put("source.starting-offsets", "EARLIEST");
    opts.put("sink.delivery", "EXACTLY_ONCE");
    opts.put("sink.transactional-id-prefix", run);
    opts.put("job.checkpoint-interval", "1 s");
    for (String t : List.of("interactions", "items", "slate-requests", "recommendations", "dead-letters",
        "training-examples", "model-releases")) {
      opts.put("topic." + t, run + "-" + t);
    }
    JobConfig config = JobConfig.of(opts);
    Topics.create(BROKER.kafka(), config, 2);

    AvroCodec<Item> items = AvroCodec.of(Item.class);
    List<String> itemIds = new ArrayList<>();
    for (int i = 0; i < ITEMS; i++) {
      Item item = Item.newBuilder().setItemId("item-" + i).setCategory("cat-" + (i % 3))
          .setCreatorId("creator-" + (i % 5)).setDurationMs(30_000).setPublishedTimeMs(T - 86_400_000L).build();
      BROKER.topics().send(config.topicItems, item.getItemId(), items.encode(item));
      itemIds.add(item.getItemId());
    }

    Configuration flink = new Configuration();
    flink.set(RestartStrategyOptions.RESTART_STRATEGY, "fixed-delay");
    flink.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_ATTEMPTS, 3);
    flink.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_DELAY, Duration.ofMillis(200));
    Set<String> requests = new HashSet<>();
    Map<String, Set<String>> interacted = new LinkedHashMap<>();
    String savepoint;
    JobID id;
    try (RunningJob job = RunningJob.start(config, parallelism, BROKER.topics(), flink)) {
      id = job.id();
      job.awaitCatalog(itemIds, T - 60_000);
      requests.addAll(job.probeRequests());
      requests.addAll(sendHalf(config, 0, interacted));
      job.awaitConsumed(config.topicInteractions, config.topicSlateRequests);
      requests.addAll(sendHalf(config, 1, interacted));
      disturbance.apply(job);
      job.awaitConsumed(config.topicInteractions, config.topicSlateRequests);
      job.awaitAnswers(requests);
      assertThat(restarts(cluster, id) > 0).as("%s run restarted", name).isEqualTo(restarted);
      savepoint = job.stopWithSavepoint(savepoints.resolve(run));
      List<Slate> slates = job.slates();
      return new Run(config, savepoint, users(savepoint, config), slates, requests, interacted);
    }
  }

  /**
   * Half of the input: each user interacts with three items, at event times spread over minutes so
   * the decayed values are not round numbers, and asks for a slate.
   */
  private static Set<String> sendHalf(JobConfig config, int half, Map<String, Set<String>> interacted)
      throws Exception {
    AvroCodec<Interaction> interactions = AvroCodec.of(Interaction.class);
    AvroCodec<SlateRequest> requests = AvroCodec.of(SlateRequest.class);
    Set<String> ids = new HashSet<>();
    for (int u = 0; u < USERS; u++) {
      String user = "user-" + u;
      for (int k = 0; k < 3; k++) {
        int item = (u + 4 * half + k) % ITEMS;
        InteractionType type = (u + k) % 3 == 0 ? InteractionType.SKIP : InteractionType.LIKE;
        long t = T + half * 60_000L + u * 1_000L + k * 7_000L;
        Interaction e = Interaction.newBuilder().setEventId(user + "-" + half + "-" + k).setUserId(user)
            .setItemId("item-" + item).setType(type).setWatchTimeMs(type == InteractionType.SKIP ? 800 + k : 20_000)
            .setEventTimeMs(t).build();
        BROKER.topics().send(config.topicInteractions, user, interactions.encode(e));
        interacted.computeIfAbsent(user, x -> new HashSet<>()).add(e.getItemId());
      }
      SlateRequest r = SlateRequest.newBuilder().setRequestId("half" + (half + 1) + "-" + user).setUserId(user)
          .setSlateSize(5).setEventTimeMs(T + half * 60_000L + 30_000L).build();
      BROKER.topics().send(config.topicSlateRequests, user, requests.encode(r));
      ids.add(r.getRequestId());
    }
    return ids;
  }

  /** Waits until a slate answering a request with {@code prefix} is written, committed or not. */
  private static void awaitUncommittedAnswer(JobConfig config, String prefix) throws Exception {
    AvroCodec<Slate> codec = AvroCodec.of(Slate.class);
    long deadline = System.currentTimeMillis() + 120_000;
    while (System.currentTimeMillis() < deadline) {
      for (ConsumerRecord<byte[], byte[]> r : BROKER.topics().readAll(config.topicRecommendations, false)) {
        try {
          String request = codec.decode(r.value()).getRequestId();
          if (request != null && request.startsWith(prefix)) {
            return;
          }
        } catch (Exception notASlate) {
          // a marker
        }
      }
      Thread.sleep(50);
    }
    throw new IllegalStateException("No answer to " + prefix + "* written");
  }

  /** How many times the job's tasks were restarted (the highest attempt number of any task). */
  private static int restarts(MiniCluster cluster, JobID id) throws Exception {
    int attempts = 0;
    for (AccessExecutionVertex v : cluster.getExecutionGraph(id).get().getAllExecutionVertices()) {
      attempts = Math.max(attempts, v.getCurrentExecutionAttempt().getAttemptNumber());
    }
    return attempts;
  }

  private static List<UserRow> users(String savepoint, JobConfig config) throws Exception {
    return SavepointReader.users(StreamExecutionEnvironment.getExecutionEnvironment(), savepoint, config);
  }
}
