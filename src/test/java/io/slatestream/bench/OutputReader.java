package io.slatestream.bench;

import io.slatestream.avro.Interaction;
import io.slatestream.avro.Slate;
import io.slatestream.avro.SlateRequest;
import io.slatestream.avro.SlateTrigger;
import io.slatestream.serde.AvroCodec;
import io.slatestream.sim.Catalog;
import io.slatestream.sim.Population;
import io.slatestream.sim.ServedSlate;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicReferenceArray;
import org.HdrHistogram.Histogram;
import org.HdrHistogram.SingleWriterRecorder;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;

/**
 * Reads what a job under load writes, as a downstream consumer would, and records each record's
 * event-to-output latency (receive wall clock minus the event time of the record that triggered
 * it) in an exact HdrHistogram per kind, swapped per measurement window.
 *
 * <p>Slates are told apart by what triggered them: a slate request ({@link Kind#REQUEST}), an
 * interaction that got its slate at once ({@link Kind#INTERACTION}: the first after a quiet period,
 * no timer involved), or the debounce timer of a user who kept interacting ({@link
 * Kind#DEBOUNCED}). The last two carry the same trigger type; the job derives a slate's id from the
 * user and its trigger (the README's determinism note), and an immediate slate's trigger is the
 * interaction's event id, which the generator makes derivable ({@link LoadGenerator#eventId}), so
 * the id says which it was. A debounced slate's trigger time is the user's last interaction before
 * the timer, and it is emitted when the watermark passes the end of the debounce period: its
 * latency is by design at least the watermark's delay, not a measure of speed.
 */
final class OutputReader implements Runnable {
  enum Kind { REQUEST, INTERACTION, DEBOUNCED, PASS_THROUGH }

  private final KafkaConsumer<byte[], byte[]> consumer;
  private final boolean slates;
  private final AtomicReferenceArray<ServedSlate> latest;
  private final Map<Kind, SingleWriterRecorder> recorders = new EnumMap<>(Kind.class);
  private final AvroCodec<Slate> slateCodec = AvroCodec.of(Slate.class);
  private final AvroCodec<Interaction> interactionCodec = AvroCodec.of(Interaction.class);
  private final AvroCodec<SlateRequest> requestCodec = AvroCodec.of(SlateRequest.class);
  private final String interactionsOut;
  private volatile boolean running = true;
  private volatile Throwable failure;
  private volatile long received;
  /** Per second of trigger event time: slates that answered a request, how many took over
   * {@link #SLOW_MS}, and the slowest; for telling a tail made of stalls from one spread evenly. */
  private final java.util.concurrent.ConcurrentSkipListMap<Long, long[]> requestSeconds =
      new java.util.concurrent.ConcurrentSkipListMap<>();
  static final long SLOW_MS = 50;

  /**
   * @param topics the job's output topics to read
   * @param slates true: the topics carry slates (the full job); false: the pass-through's copies
   *     of the input, interactions on {@code interactionsOut}, requests on the other
   * @param latest where each user's latest slate goes, for the generator's answers (or null)
   */
  OutputReader(String bootstrap, List<String> topics, boolean slates, String interactionsOut,
      AtomicReferenceArray<ServedSlate> latest) {
    Properties p = new Properties();
    p.put("bootstrap.servers", bootstrap);
    p.put("group.id", "load-harness-" + UUID.randomUUID());
    p.put("auto.offset.reset", "latest");
    p.put("enable.auto.commit", "false");
    p.put("isolation.level", "read_committed");
    p.put("key.deserializer", "org.apache.kafka.common.serialization.ByteArrayDeserializer");
    p.put("value.deserializer", "org.apache.kafka.common.serialization.ByteArrayDeserializer");
    this.consumer = new KafkaConsumer<>(p);
    this.consumer.subscribe(topics);
    this.slates = slates;
    this.interactionsOut = interactionsOut;
    this.latest = latest;
    for (Kind k : Kind.values()) {
      recorders.put(k, new SingleWriterRecorder(3_600_000L, 3));
    }
  }

  /** The client settings of this reader, printed with the figures. */
  static String settings() {
    return "consumer defaults (fetch.min.bytes 1, fetch.max.wait.ms 500), read_committed";
  }

  /** Blocks until the consumer has its partitions, so no output is missed from here on. */
  void awaitAssignment(Duration patience) {
    long deadline = System.nanoTime() + patience.toNanos();
    while (consumer.assignment().isEmpty() && System.nanoTime() < deadline) {
      consumer.poll(Duration.ofMillis(100));
    }
    if (consumer.assignment().isEmpty()) {
      throw new IllegalStateException("The output reader got no partitions within " + patience);
    }
  }

  /** Latencies recorded since the previous call, per kind (the first call starts the window). */
  Map<Kind, Histogram> window() {
    Map<Kind, Histogram> out = new EnumMap<>(Kind.class);
    recorders.forEach((k, r) -> out.put(k, r.getIntervalHistogram()));
    return out;
  }

  /**
   * The seconds (of trigger event time, epoch ms) since {@code fromMs} in which request slates took
   * over {@link #SLOW_MS}: {second, slates, slow slates, slowest ms}; and forgets older seconds.
   */
  List<long[]> slowSeconds(long fromMs) {
    List<long[]> out = new java.util.ArrayList<>();
    requestSeconds.headMap(fromMs / 1000 * 1000).clear();
    requestSeconds.forEach((sec, v) -> {
      if (v[1] > 0) {
        out.add(new long[] {sec, v[0], v[1], v[2]});
      }
    });
    return out;
  }

  long received() {
    return received;
  }

  Throwable failure() {
    return failure;
  }

  void stop() {
    running = false;
    consumer.wakeup();
  }

  @Override
  public void run() {
    try {
      while (running) {
        for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(100))) {
          long now = System.currentTimeMillis();
          if (slates) {
            slate(slateCodec.decode(r.value()), now);
          } else if (r.topic().equals(interactionsOut)) {
            record(Kind.PASS_THROUGH, now - interactionCodec.decode(r.value()).getEventTimeMs());
          } else {
            record(Kind.PASS_THROUGH, now - requestCodec.decode(r.value()).getEventTimeMs());
          }
          received++;
        }
      }
    } catch (org.apache.kafka.common.errors.WakeupException e) {
      // stopped
    } catch (Throwable t) {
      failure = t;
    } finally {
      consumer.close(Duration.ofSeconds(5));
    }
  }

  private void slate(Slate s, long now) {
    long latency = now - s.getTriggerEventTimeMs();
    if (s.getTrigger() == SlateTrigger.REQUEST) {
      record(Kind.REQUEST, latency);
      long[] sec = requestSeconds.computeIfAbsent(s.getTriggerEventTimeMs() / 1000 * 1000, k -> new long[3]);
      sec[0]++;
      if (latency > SLOW_MS) {
        sec[1]++;
      }
      sec[2] = Math.max(sec[2], latency);
    } else {
      int user = Population.parseUserId(s.getUserId());
      String immediate = UUID.nameUUIDFromBytes((s.getUserId() + "|event:"
          + LoadGenerator.eventId(user, s.getTriggerEventTimeMs())).getBytes(StandardCharsets.UTF_8)).toString();
      record(immediate.equals(s.getSlateId()) ? Kind.INTERACTION : Kind.DEBOUNCED, latency);
    }
    int user = Population.parseUserId(s.getUserId());
    if (latest != null && user >= 0 && user < latest.length()) {
      int n = s.getItems().size();
      int[] items = new int[n];
      for (int i = 0; i < n; i++) {
        items[i] = Catalog.parseItemId(s.getItems().get(i).getItemId());
      }
      latest.set(user, new ServedSlate(s.getSlateId(), items, s.getModelVersion()));
    }
  }

  private void record(Kind kind, long latencyMs) {
    recorders.get(kind).recordValue(Math.max(0, Math.min(3_600_000L, latencyMs)));
  }
}
