package io.slatestream.replay;

import io.slatestream.avro.DeadLetter;
import io.slatestream.avro.Interaction;
import io.slatestream.avro.InteractionType;
import io.slatestream.avro.Item;
import io.slatestream.avro.Slate;
import io.slatestream.avro.SlateItem;
import io.slatestream.avro.SlateRequest;
import io.slatestream.config.JobConfig;
import io.slatestream.local.KafkaOutbox;
import io.slatestream.local.LocalStack;
import io.slatestream.serde.AvroCodec;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.flink.api.common.JobStatus;
import org.apache.flink.runtime.state.KeyGroupRangeAssignment;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.common.TopicPartition;

/**
 * The job on a {@link LocalStack}, driven through its Kafka topics like any client drives it:
 * records go to the input topics, slates and dead letters are read from the output topics.
 *
 * <p><b>Barrier.</b> Nothing the job writes says which interactions it has processed, so a barrier
 * sends probes: one interaction of a new user per partition of the interactions topic and per
 * ranker subtask (the user id is chosen so that its key group falls to that subtask), sent to that
 * partition explicitly. A user's first interaction always gets a slate at once (the job's
 * {@code slate.debounce}, which must be on), and records of one partition reach one ranker subtask
 * in order, so once every probe's slate is back, the ranker has processed every interaction sent
 * before the barrier. Probes are SKIPs of an item that is never in the catalog, by users who never
 * appear again; their slates count as impressions of the items served to them, like any slate.
 */
final class KafkaJob implements Lockstep.Job, AutoCloseable {
  static final String PROBE_USER_PREFIX = "replay-probe-";
  static final String PROBE_ITEM = "replay-probe-item";

  private final LocalStack stack;
  private final JobConfig config;
  private final int parallelism;
  private final int partitions;
  private final Duration patience;
  private final KafkaProducer<byte[], byte[]> producer;
  private final KafkaOutbox outbox;
  private final Thread reader;
  private final AtomicBoolean closing = new AtomicBoolean();

  private final Object lock = new Object();
  private final Map<String, Lockstep.Answer> answers = new HashMap<>();
  private final Set<String> probesAnswered = new HashSet<>();
  private final Map<String, Long> deadLetters = new TreeMap<>();
  private final List<String> deadLetterExamples = new ArrayList<>();
  private String probeRefused;
  private Exception readerFailure;
  private long otherSlates;
  private long lastAnswerAt = System.currentTimeMillis();

  private long probeKeys;
  private long probesSent;

  KafkaJob(LocalStack stack, int parallelism, Duration patience) {
    this.stack = stack;
    this.config = stack.config();
    this.parallelism = parallelism;
    this.patience = patience;
    this.producer = stack.producer(0); // every round waits for what it sent: nothing to batch for
    this.outbox = new KafkaOutbox(config, producer);
    this.partitions = producer.partitionsFor(config.topicInteractions).size();
    this.reader = new Thread(this::readOutputs, "replay-output-reader");
    reader.setDaemon(true);
    reader.start();
  }

  @Override
  public void send(Item item) {
    outbox.item(item);
  }

  @Override
  public void send(Interaction interaction) {
    outbox.interaction(interaction);
  }

  @Override
  public void request(SlateRequest request) {
    outbox.request(request);
  }

  @Override
  public void barrier(long atMs) throws Exception {
    Set<String> probes = new HashSet<>();
    for (int subtask = 0; subtask < parallelism; subtask++) {
      for (int partition = 0; partition < partitions; partition++) {
        String user = probeUser(subtask);
        probes.add(user);
        outbox.interaction(Interaction.newBuilder()
            .setEventId(user)
            .setUserId(user)
            .setItemId(PROBE_ITEM)
            .setType(InteractionType.SKIP)
            .setWatchTimeMs(60_000)
            .setEventTimeMs(atMs)
            .build(), partition);
        probesSent++;
      }
    }
    outbox.flush();
    awaitUntil(() -> probesAnswered.containsAll(probes), () -> "probe slates of " + probes);
    synchronized (lock) {
      probesAnswered.removeAll(probes);
    }
  }

  /** A user id never used before whose key group the job assigns to ranker subtask {@code subtask}. */
  private String probeUser(int subtask) {
    while (true) {
      String user = PROBE_USER_PREFIX + probeKeys++;
      if (KeyGroupRangeAssignment.assignKeyToParallelOperator(user, config.maxParallelism, parallelism) == subtask) {
        return user;
      }
    }
  }

  @Override
  public Map<String, Lockstep.Answer> await(List<String> requestIds) throws Exception {
    outbox.flush();
    awaitUntil(() -> answers.keySet().containsAll(requestIds), () -> {
      List<String> missing = new ArrayList<>(requestIds);
      missing.removeAll(answers.keySet());
      return "slates for requests " + (missing.size() > 10 ? missing.subList(0, 10) + " and " + (missing.size() - 10)
          + " more" : missing);
    });
    Map<String, Lockstep.Answer> out = new HashMap<>();
    synchronized (lock) {
      for (String id : requestIds) {
        out.put(id, answers.remove(id));
      }
    }
    return out;
  }

  private void awaitUntil(java.util.function.BooleanSupplier done, java.util.function.Supplier<String> what)
      throws Exception {
    long lastStatusCheck = System.currentTimeMillis();
    synchronized (lock) {
      while (!done.getAsBoolean()) {
        if (probeRefused != null) {
          throw new IllegalStateException("The job refused a replay probe: " + probeRefused);
        }
        if (readerFailure != null) {
          throw new IllegalStateException("Reading the job's output failed", readerFailure);
        }
        long now = System.currentTimeMillis();
        if (now - lastAnswerAt > patience.toMillis()) {
          throw new TimeoutException("No answer from the job for " + patience.toSeconds() + " s while waiting for "
              + what.get());
        }
        if (now - lastStatusCheck > 2_000) {
          lastStatusCheck = now;
          JobStatus status = stack.job().getJobStatus().get(10, TimeUnit.SECONDS);
          if (status.isGloballyTerminalState()) {
            throw new IllegalStateException("The job stopped (" + status + ") while the replay waited for "
                + what.get() + "; its log says why");
          }
        }
        lock.wait(200);
      }
    }
  }

  private void readOutputs() {
    Properties p = new Properties();
    p.put("bootstrap.servers", stack.bootstrapServers());
    p.put("isolation.level", "read_committed");
    p.put("key.deserializer", "org.apache.kafka.common.serialization.ByteArrayDeserializer");
    p.put("value.deserializer", "org.apache.kafka.common.serialization.ByteArrayDeserializer");
    AvroCodec<Slate> slates = AvroCodec.of(Slate.class);
    AvroCodec<DeadLetter> letters = AvroCodec.of(DeadLetter.class);
    AvroCodec<SlateRequest> requests = AvroCodec.of(SlateRequest.class);
    try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p)) {
      List<TopicPartition> tps = new ArrayList<>();
      for (String topic : List.of(config.topicRecommendations, config.topicDeadLetters)) {
        c.partitionsFor(topic).forEach(i -> tps.add(new TopicPartition(topic, i.partition())));
      }
      c.assign(tps);
      c.seekToBeginning(tps);
      while (!closing.get()) {
        for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(100))) {
          if (r.topic().equals(config.topicRecommendations)) {
            onSlate(slates.decode(r.value()));
          } else {
            onDeadLetter(letters.decode(r.value()), requests);
          }
        }
      }
    } catch (Exception e) {
      if (!closing.get()) {
        synchronized (lock) {
          readerFailure = e;
          lock.notifyAll();
        }
      }
    }
  }

  private void onSlate(Slate s) {
    synchronized (lock) {
      if (s.getRequestId() != null && s.getRequestId().startsWith("replay-")) {
        List<SlateItem> items = new ArrayList<>(s.getItems());
        items.sort(Comparator.comparingInt(SlateItem::getRank));
        answers.put(s.getRequestId(), Lockstep.Answer.slate(items.stream().map(SlateItem::getItemId).toList()));
      } else if (s.getUserId().startsWith(PROBE_USER_PREFIX)) {
        probesAnswered.add(s.getUserId());
      } else {
        otherSlates++;
        return;
      }
      lastAnswerAt = System.currentTimeMillis();
      lock.notifyAll();
    }
  }

  private void onDeadLetter(DeadLetter d, AvroCodec<SlateRequest> requests) {
    String key = d.getKey() == null ? "" : utf8(d.getKey());
    synchronized (lock) {
      if (key.startsWith(PROBE_USER_PREFIX)) {
        probeRefused = d.getError();
      } else if (d.getSourceTopic().equals(config.topicSlateRequests)) {
        try {
          answers.put(requests.decode(bytes(d.getValue())).getRequestId(), Lockstep.Answer.refused(d.getError()));
          lastAnswerAt = System.currentTimeMillis();
        } catch (Exception e) {
          count(d); // not one of the replay's requests
        }
      } else {
        count(d);
      }
      lock.notifyAll();
    }
  }

  private void count(DeadLetter d) {
    String reason = d.getSourceTopic() + ": " + d.getError().split(":", 2)[0];
    deadLetters.merge(reason, 1L, Long::sum);
    if (deadLetterExamples.size() < 5) {
      deadLetterExamples.add(d.getSourceTopic() + ": " + d.getError());
    }
  }

  /** Dead letters other than refused requests, by topic and reason. */
  Map<String, Long> deadLetters() {
    synchronized (lock) {
      return new TreeMap<>(deadLetters);
    }
  }

  List<String> deadLetterExamples() {
    synchronized (lock) {
      return List.copyOf(deadLetterExamples);
    }
  }

  /** Slates the job emitted after interactions (not requested by the replay, not probes). */
  long otherSlates() {
    synchronized (lock) {
      return otherSlates;
    }
  }

  long probesSent() {
    return probesSent;
  }

  @Override
  public void close() {
    closing.set(true);
    try {
      reader.join(5_000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
    producer.close(Duration.ofSeconds(5));
  }

  private static String utf8(ByteBuffer b) {
    return new String(bytes(b), StandardCharsets.UTF_8);
  }

  private static byte[] bytes(ByteBuffer b) {
    byte[] out = new byte[b.remaining()];
    b.duplicate().get(out);
    return out;
  }
}
