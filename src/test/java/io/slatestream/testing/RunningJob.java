package io.slatestream.testing;

import io.slatestream.avro.DeadLetter;
import io.slatestream.avro.Slate;
import io.slatestream.avro.SlateItem;
import io.slatestream.avro.SlateRequest;
import io.slatestream.config.JobConfig;
import io.slatestream.serde.AvroCodec;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.apache.flink.api.common.JobID;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.core.execution.SavepointFormatType;
import org.apache.flink.runtime.state.KeyGroupRangeAssignment;
import org.apache.kafka.clients.consumer.ConsumerRecord;

/**
 * The real job running (unbounded, as in production) on the test's mini cluster, with what tests
 * need to drive it without sleeping: wait until the rankers hold the catalog, wait until the job
 * has read everything sent so far, and stop it with a savepoint.
 */
public final class RunningJob implements AutoCloseable {
  private static final Duration WAIT = Duration.ofSeconds(120);

  private final JobClient client;
  private final JobConfig config;
  private final KafkaTopics topics;
  private final int parallelism;
  private final AvroCodec<Slate> slates = AvroCodec.of(Slate.class);
  private final AvroCodec<DeadLetter> deadLetters = AvroCodec.of(DeadLetter.class);
  private final AvroCodec<SlateRequest> requests = AvroCodec.of(SlateRequest.class);
  private final Set<String> probes = new HashSet<>();
  private boolean stopped;

  private RunningJob(JobClient client, JobConfig config, KafkaTopics topics, int parallelism) {
    this.client = client;
    this.config = config;
    this.topics = topics;
    this.parallelism = parallelism;
  }

  public static RunningJob start(JobConfig config, int parallelism, KafkaTopics topics) throws Exception {
    return start(config, parallelism, topics, new Configuration());
  }

  /** @param flink further Flink settings, e.g. a savepoint to restore ({@code execution.state-recovery.path}) */
  public static RunningJob start(JobConfig config, int parallelism, KafkaTopics topics, Configuration flink)
      throws Exception {
    JobClient client = TestJobs.job(config, parallelism, false, flink).env().executeAsync(config.jobName);
    return new RunningJob(client, config, topics, parallelism);
  }

  public JobID id() {
    return client.getJobID();
  }

  public JobConfig config() {
    return config;
  }

  /**
   * Waits until every ranker instance holds all of {@code itemIds} in its catalog: a probe user
   * routed to each instance asks for a slate as large as the catalog until one comes back with
   * every item. Probes only ask, so they leave no profile behind. Their event time should not be
   * later than the test's own events, so they cannot move event time forward.
   */
  public void awaitCatalog(Collection<String> itemIds, long eventTimeMs) throws Exception {
    long step = config.minRequestInterval.toMillis(); // a probe's next request is not rate-limited
    Map<String, Integer> pending = new HashMap<>(); // request id -> subtask
    Set<Integer> ready = new HashSet<>();
    long t = eventTimeMs;
    long deadline = System.currentTimeMillis() + WAIT.toMillis();
    long lastSent = 0;
    while (ready.size() < parallelism) {
      if (System.currentTimeMillis() > deadline) {
        throw new IllegalStateException("Ranker instances " + ready + " of " + parallelism + " hold the catalog after "
            + WAIT);
      }
      if (System.currentTimeMillis() - lastSent > 1_000) {
        for (int s = 0; s < parallelism; s++) {
          if (!ready.contains(s)) {
            String user = probeUser(s);
            SlateRequest r = SlateRequest.newBuilder().setRequestId("probe-" + UUID.randomUUID()).setUserId(user)
                .setSlateSize(itemIds.size()).setEventTimeMs(t).build();
            topics.send(config.topicSlateRequests, user, requests.encode(r));
            pending.put(r.getRequestId(), s);
            probes.add(r.getRequestId());
          }
        }
        t += step;
        lastSent = System.currentTimeMillis();
      }
      for (Slate slate : slates()) {
        Integer subtask = slate.getRequestId() == null ? null : pending.get(slate.getRequestId());
        if (subtask != null && slate.getItems().stream().map(SlateItem::getItemId).collect(Collectors.toSet())
            .containsAll(itemIds)) {
          ready.add(subtask);
        }
      }
      Thread.sleep(100);
    }
  }

  /** The ids of the probe requests {@link #awaitCatalog} sent: each is answered with a slate. */
  public Set<String> probeRequests() {
    return Set.copyOf(probes);
  }

  /**
   * Every committed slate on the recommendations topic. Markers of {@link #awaitConsumed} (the
   * topic is an input too: the job reads its served slates back) are not slates and are skipped.
   */
  public List<Slate> slates() {
    List<Slate> out = new java.util.ArrayList<>();
    for (ConsumerRecord<byte[], byte[]> rec : topics.readAll(config.topicRecommendations)) {
      try {
        out.add(slates.decode(rec.value()));
      } catch (java.io.IOException | RuntimeException notASlate) {
        // a marker
      }
    }
    return out;
  }

  /** A user id the ranker instance {@code subtask} owns. */
  private String probeUser(int subtask) {
    for (int i = 0; ; i++) {
      String user = "probe-" + subtask + "-" + i;
      if (KeyGroupRangeAssignment.assignKeyToParallelOperator(user, config.maxParallelism, parallelism) == subtask) {
        return user;
      }
    }
  }

  /**
   * Waits until the job has read everything sent so far to {@code inputTopics}: an undecodable
   * marker goes to every partition, and once all markers come back as dead letters, every record
   * before them has passed the decode operators. A savepoint or checkpoint taken after that holds
   * their effect on all state. In EXACTLY_ONCE mode this also waits for a checkpoint to commit.
   */
  public void awaitConsumed(String... inputTopics) throws Exception {
    Set<String> markers = new HashSet<>();
    for (String topic : inputTopics) {
      for (int p = 0; p < topics.partitions(topic); p++) {
        String marker = "marker-" + UUID.randomUUID();
        topics.send(topic, p, "marker", marker.getBytes(StandardCharsets.UTF_8));
        markers.add(marker);
      }
    }
    long deadline = System.currentTimeMillis() + WAIT.toMillis();
    while (true) {
      Set<String> seen = new HashSet<>();
      for (ConsumerRecord<byte[], byte[]> rec : topics.readAll(config.topicDeadLetters)) {
        ByteBuffer v = deadLetters.decode(rec.value()).getValue();
        if (v != null) {
          seen.add(StandardCharsets.UTF_8.decode(v.duplicate()).toString());
        }
      }
      if (seen.containsAll(markers)) {
        return;
      }
      if (System.currentTimeMillis() > deadline) {
        throw new IllegalStateException("Markers not dead-lettered after " + WAIT + " (job status "
            + client.getJobStatus().get() + ")");
      }
      Thread.sleep(100);
    }
  }

  /** The committed slates answering {@code requestIds}, waiting until each has one. */
  public Map<String, List<Slate>> awaitAnswers(Collection<String> requestIds) throws Exception {
    long deadline = System.currentTimeMillis() + WAIT.toMillis();
    while (true) {
      Map<String, List<Slate>> answers = slates().stream()
          .filter(s -> s.getRequestId() != null && requestIds.contains(s.getRequestId()))
          .collect(Collectors.groupingBy(Slate::getRequestId));
      if (answers.keySet().containsAll(requestIds)) {
        return answers;
      }
      if (System.currentTimeMillis() > deadline) {
        throw new IllegalStateException("Requests unanswered after " + WAIT + ": "
            + requestIds.stream().filter(id -> !answers.containsKey(id)).toList());
      }
      Thread.sleep(100);
    }
  }

  /** Stops the job with a canonical savepoint under {@code dir}; returns the savepoint's path. */
  public String stopWithSavepoint(Path dir) throws Exception {
    String path = client.stopWithSavepoint(false, dir.toUri().toString(), SavepointFormatType.CANONICAL)
        .get(WAIT.toMillis(), TimeUnit.MILLISECONDS);
    client.getJobExecutionResult().get(WAIT.toMillis(), TimeUnit.MILLISECONDS);
    stopped = true;
    return path;
  }

  @Override
  public void close() throws Exception {
    if (!stopped && !client.getJobStatus().get().isGloballyTerminalState()) {
      client.cancel().get(WAIT.toMillis(), TimeUnit.MILLISECONDS);
    }
  }
}
