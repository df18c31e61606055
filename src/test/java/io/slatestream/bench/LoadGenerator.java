package io.slatestream.bench;

import io.slatestream.avro.Context;
import io.slatestream.avro.Interaction;
import io.slatestream.avro.InteractionType;
import io.slatestream.avro.SlateRequest;
import io.slatestream.serde.AvroCodec;
import io.slatestream.sim.Catalog;
import io.slatestream.sim.GroundTruth;
import io.slatestream.sim.Population;
import io.slatestream.sim.ServedSlate;
import io.slatestream.sim.World;
import java.nio.charset.StandardCharsets;
import java.util.BitSet;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.concurrent.locks.LockSupport;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;

/**
 * Open-loop load: events are sent on a schedule of the offered rate, whether or not the job keeps
 * up (a closed loop would slow down with the job and hide its limit). The users, catalog and
 * answers come from the simulator's {@link World}: a user is drawn in proportion to their activity
 * (log-normal, a few heavy users), sends a slate request with probability {@code requestShare}
 * (about one step in five, as a simulated session does), and otherwise answers the next item they
 * examine on the latest slate served to them (position bias and the like probability of the
 * world's ground truth), naming the slate and position so the job joins the label to what it
 * served. A user with no slate yet, or at the end of it, answers an item of the catalog at random.
 *
 * <p>Every event's event time is the wall clock when it is handed to the producer, so a slate's
 * {@code triggerEventTimeMs} against the time it is read back is the end-to-end latency. Event
 * times of one user are strictly increasing (a collision within a millisecond moves the later one
 * by 1 ms), which makes {@code ev-<user>-<eventTime>} a unique event id the receiver can derive
 * from a slate alone. A user's requests are at least {@code minRequestIntervalMs} apart, so none is
 * refused as rate-limited; a request that would be too soon is sent as an answer instead.
 *
 * <p>The pacing thread sends, every millisecond or so, the events due by then; if it falls behind
 * (the machine is busy) it catches up in a burst, and {@link #sent()} shows what was achieved.
 */
final class LoadGenerator implements Runnable {
  private final World world;
  private final KafkaProducer<byte[], byte[]> producer;
  private final String interactionsTopic;
  private final String requestsTopic;
  private final AtomicReferenceArray<ServedSlate> latest;
  private final double requestShare;
  private final long minRequestIntervalMs;
  private final SplittableRandom random;
  private final double[] activityCdf;
  private final long[] lastEventMs;
  private final long[] lastRequestMs;
  private final byte[] cursor;
  private final String[] reading;
  private final BitSet active;
  private final AvroCodec<Interaction> interactionCodec = AvroCodec.of(Interaction.class);
  private final AvroCodec<SlateRequest> requestCodec = AvroCodec.of(SlateRequest.class);

  private volatile double rate;
  private volatile boolean running = true;
  private volatile Throwable failure;
  final AtomicLong interactions = new AtomicLong();
  final AtomicLong requests = new AtomicLong();
  final AtomicLong answersToSlates = new AtomicLong();

  LoadGenerator(World world, KafkaProducer<byte[], byte[]> producer, String interactionsTopic, String requestsTopic,
      AtomicReferenceArray<ServedSlate> latest, double requestShare, long minRequestIntervalMs, long seed) {
    this.world = world;
    this.producer = producer;
    this.interactionsTopic = interactionsTopic;
    this.requestsTopic = requestsTopic;
    this.latest = latest;
    this.requestShare = requestShare;
    this.minRequestIntervalMs = minRequestIntervalMs;
    this.random = new SplittableRandom(seed);
    Population population = world.population();
    int users = population.size();
    activityCdf = new double[users];
    double sum = 0;
    for (int u = 0; u < users; u++) {
      sum += population.activity(u);
      activityCdf[u] = sum;
    }
    for (int u = 0; u < users; u++) {
      activityCdf[u] /= sum;
    }
    lastEventMs = new long[users];
    lastRequestMs = new long[users];
    java.util.Arrays.fill(lastRequestMs, Long.MIN_VALUE / 2);
    cursor = new byte[users];
    reading = new String[users];
    active = new BitSet(users);
  }

  /** The id of the interaction of {@code user} at {@code eventTimeMs}. */
  static String eventId(int user, long eventTimeMs) {
    return "ev-" + user + "-" + eventTimeMs;
  }

  /** Offered events per second from now on (0 pauses). */
  void rate(double eventsPerSecond) {
    this.rate = eventsPerSecond;
  }

  double rate() {
    return rate;
  }

  /** Events handed to the producer so far. */
  long sent() {
    return interactions.get() + requests.get();
  }

  /**
   * Users who sent at least one event: the users with state in the ranker (a request alone leaves
   * a slate awaiting its labels, an interaction the user's features).
   */
  synchronized int activeUsers() {
    return active.cardinality();
  }

  void stop() {
    running = false;
  }

  Throwable failure() {
    return failure;
  }

  @Override
  public void run() {
    try {
      double currentRate = -1;
      long phaseStart = 0;
      long sentInPhase = 0;
      while (running) {
        double r = rate;
        long now = System.nanoTime();
        if (r != currentRate) {
          currentRate = r;
          phaseStart = now;
          sentInPhase = 0;
        }
        long due = (long) ((now - phaseStart) * currentRate / 1e9);
        for (; sentInPhase < due && running && rate == currentRate; sentInPhase++) {
          send();
        }
        LockSupport.parkNanos(500_000);
      }
    } catch (Throwable t) {
      failure = t;
    }
  }

  private void send() {
    int u = user();
    long t = System.currentTimeMillis();
    if (t <= lastEventMs[u]) {
      t = lastEventMs[u] + 1;
    }
    lastEventMs[u] = t;
    byte[] key = Population.userId(u).getBytes(StandardCharsets.UTF_8);
    synchronized (this) {
      active.set(u);
    }
    Context context = new Context(world.population().device(u), "home");
    if (random.nextDouble() < requestShare && t - lastRequestMs[u] >= minRequestIntervalMs) {
      lastRequestMs[u] = t;
      SlateRequest request = SlateRequest.newBuilder()
          .setRequestId("req-" + u + "-" + t)
          .setUserId(Population.userId(u))
          .setSlateSize(0)
          .setEventTimeMs(t)
          .setContext(context)
          .build();
      producer.send(new ProducerRecord<>(requestsTopic, key, requestCodec.encode(request)));
      requests.incrementAndGet();
      return;
    }
    Interaction.Builder b = Interaction.newBuilder()
        .setEventId(eventId(u, t))
        .setUserId(Population.userId(u))
        .setEventTimeMs(t)
        .setContext(context);
    int item = -1;
    ServedSlate slate = latest == null ? null : latest.get(u);
    if (slate != null) {
      if (!slate.slateId().equals(reading[u])) {
        reading[u] = slate.slateId();
        cursor[u] = 0;
      }
      int[] items = slate.items();
      for (int p = cursor[u]; p < items.length; p++) {
        if (items[p] >= 0 && items[p] < world.catalog().size()
            && random.nextDouble() < GroundTruth.examineProbability(p)) {
          item = items[p];
          b.setSlateId(slate.slateId()).setPosition(p);
          cursor[u] = (byte) Math.min(Byte.MAX_VALUE, p + 1);
          answersToSlates.incrementAndGet();
          break;
        }
      }
      if (item < 0) {
        cursor[u] = (byte) Math.min(Byte.MAX_VALUE, items.length);
      }
    }
    if (item < 0) {
      item = random.nextInt(world.catalog().size());
    }
    Catalog catalog = world.catalog();
    int duration = catalog.durationMs(item);
    if (random.nextDouble() < world.truth().likeProbability(u, item, t)) {
      b.setType(InteractionType.LIKE).setWatchTimeMs((long) (duration * (0.4 + 0.6 * random.nextDouble())));
    } else if (random.nextDouble() < world.truth().quickSkipProbability(u, item, t)) {
      b.setType(InteractionType.SKIP).setWatchTimeMs(100 + random.nextInt(1_800));
    } else {
      b.setType(InteractionType.SKIP).setWatchTimeMs(2_000 + (long) (random.nextDouble() * 0.4 * duration));
    }
    b.setItemId(Catalog.itemId(item));
    producer.send(new ProducerRecord<>(interactionsTopic, key, interactionCodec.encode(b.build())));
    interactions.incrementAndGet();
  }

  private int user() {
    int i = java.util.Arrays.binarySearch(activityCdf, random.nextDouble());
    return Math.min(activityCdf.length - 1, i >= 0 ? i : -i - 1);
  }
}
