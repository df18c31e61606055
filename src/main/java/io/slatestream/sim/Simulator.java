package io.slatestream.sim;

import io.slatestream.avro.Context;
import io.slatestream.avro.Interaction;
import io.slatestream.avro.InteractionType;
import io.slatestream.avro.Item;
import io.slatestream.avro.SlateRequest;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The closed loop's user side. Simulated users open sessions in their own rhythm, ask for a slate,
 * read the latest slate served to them from the top, and answer what they examine with a like, a
 * skip or a quick skip (each answer names the slate and the position, so the job can join it to
 * the served features); what they do not examine gets no answer. At the end of a slate they go on
 * with the latest one served to them, or ask for a fresh one if they have read that too. Sessions
 * end sooner after skips in a row. New items are published while the
 * world runs, and a small share of garbage records shows the dead-letter path.
 *
 * <p>Time is simulated: {@link #advanceTo(long)} runs everything scheduled up to that instant, so a
 * driver paces it to the wall clock (the local run) or runs it as fast as it can (tests). With the
 * same seed and the same slates served at the same simulated times, the records sent are the same:
 * every choice a user makes is drawn from a generator seeded by the seed, the user and their step.
 *
 * <p>Activity is calibrated so that the population sends about {@link SimSettings#eventsPerSecond()}
 * events per simulated second: each user alternates sessions (a step every few seconds) and idle
 * periods whose mean is set by the number of users; activity varies per user (log-normal), by local
 * time of day, and in bursts (a session is often soon followed by another).
 *
 * <p>Not thread-safe: one driver thread calls it; the counters can be read from anywhere.
 */
public final class Simulator {

  /** Where the simulator's records go (Kafka in the local run). */
  public interface Outbox {
    void item(Item item);

    void interaction(Interaction interaction);

    void request(SlateRequest request);

    /** Undecodable bytes for the interactions topic. */
    void raw(String key, byte[] value);
  }

  /** The latest slate served to a user, or null. */
  public interface Slates {
    ServedSlate latest(int user);
  }

  /** A user's answer to an item they examined. */
  public enum Answer {
    LIKE, SKIP, QUICK_SKIP
  }

  /** Sees every answer to a served slate, with the probability of a like the truth gave it. */
  public interface Observer {
    void answered(long atMs, int user, ServedSlate slate, int position, int item, Answer answer,
        double likeProbability);
  }

  /** Steps per session the calibration assumes (the measured mean, opening request included). */
  static final double STEPS_PER_SESSION = 4.5;
  static final long MAX_STEP_GAP_MS = 4_000;
  static final long MIN_STEP_GAP_MS = 250;
  /** How long a user waits for the slate they asked for before reading. */
  static final long REQUEST_WAIT_MS = 1_000;
  static final double SESSION_END = 0.15;
  static final double SESSION_END_PER_SKIP = 0.04;
  static final double BURST_SHARE = 0.25;
  static final double DIURNAL_AMPLITUDE = 0.5;
  static final double PEAK_LOCAL_HOUR = 20.0;

  private static final byte IDLE = 0;
  private static final byte IN_SESSION = 1;

  private final SimSettings settings;
  private final World world;
  private final Catalog catalog;
  private final Population population;
  private final GroundTruth truth;
  private final Outbox out;
  private final Slates slates;
  private Observer observer = (t, u, s, p, i, a, l) -> {};

  private final int users;
  private final int arrivalsId;
  private final int garbageId;
  private final EventQueue queue;
  private final byte[] state;
  private final int[] steps;
  private final byte[] cursor;
  private final byte[] consecutiveSkips;
  private final byte[] waits;
  private final ServedSlate[] reading;
  private final long stepGapMs;
  private final double idleMeanMs;
  private final double burstMeanMs;
  private final long arrivalEveryMs;
  private final double garbageMeanMs;
  private long garbageCount;

  public final AtomicLong interactionsSent = new AtomicLong();
  public final AtomicLong likesSent = new AtomicLong();
  public final AtomicLong quickSkipsSent = new AtomicLong();
  public final AtomicLong requestsSent = new AtomicLong();
  public final AtomicLong garbageSent = new AtomicLong();
  public final AtomicLong itemsPublished = new AtomicLong();
  public final AtomicLong sessionsStarted = new AtomicLong();

  public Simulator(SimSettings settings, long startMs, Outbox out, Slates slates) {
    this(new World(settings, startMs), startMs, out, slates);
  }

  public Simulator(World world, long startMs, Outbox out, Slates slates) {
    this.settings = world.settings();
    this.world = world;
    this.catalog = world.catalog();
    this.population = world.population();
    this.truth = world.truth();
    this.out = out;
    this.slates = slates;
    this.users = settings.users();
    this.arrivalsId = users;
    this.garbageId = users + 1;
    state = new byte[users];
    steps = new int[users];
    cursor = new byte[users];
    consecutiveSkips = new byte[users];
    waits = new byte[users];
    reading = new ServedSlate[users];

    // Each user's cycle (a session and the idle time after it) is as long as the population needs
    // to send eventsPerSecond; a session takes at most half of it.
    double cycleMs = users * STEPS_PER_SESSION * 1000.0 / settings.eventsPerSecond();
    stepGapMs = Math.max(MIN_STEP_GAP_MS, Math.min(MAX_STEP_GAP_MS, (long) (cycleMs / (2 * STEPS_PER_SESSION))));
    double idleMs = Math.max(stepGapMs, cycleMs - STEPS_PER_SESSION * stepGapMs);
    burstMeanMs = idleMs / 8;
    idleMeanMs = (idleMs - BURST_SHARE * burstMeanMs) / (1 - BURST_SHARE);
    arrivalEveryMs = settings.newItemsPerMinute() > 0 ? Math.max(1, (long) (60_000 / settings.newItemsPerMinute())) : 0;
    garbageMeanMs = settings.garbageShare() > 0 ? 1000.0 / (settings.garbageShare() * settings.eventsPerSecond()) : 0;

    queue = new EventQueue(users + 2);
    for (int u = 0; u < users; u++) {
      SplittableRandom r = SimRandom.of(settings.seed(), SimRandom.STEP, u, -1);
      queue.add(u, startMs + (long) (r.nextDouble() * cycleMs));
    }
    queue.add(arrivalsId, arrivalEveryMs > 0 ? startMs + arrivalEveryMs : Long.MAX_VALUE);
    queue.add(garbageId, garbageMeanMs > 0
        ? startMs + (long) SimRandom.exponential(SimRandom.of(settings.seed(), SimRandom.GARBAGE, -1), garbageMeanMs)
        : Long.MAX_VALUE);
  }

  public World world() {
    return world;
  }

  public void observer(Observer o) {
    this.observer = o;
  }

  /** Mean time between two steps of a user in a session. */
  public long stepGapMs() {
    return stepGapMs;
  }

  /** Sends the catalog as it is at the start. */
  public void publishCatalog() {
    for (int i = 0; i < catalog.size(); i++) {
      out.item(catalog.toItem(i));
    }
    itemsPublished.addAndGet(catalog.size());
  }

  /** Simulated time of the next scheduled event. */
  public long nextEventMs() {
    return queue.peekTime();
  }

  /** Runs everything scheduled up to and including {@code nowMs}; returns how many events ran. */
  public int advanceTo(long nowMs) {
    int n = 0;
    while (queue.peekTime() <= nowMs) {
      long t = queue.peekTime();
      int id = queue.peekId();
      long next = id == arrivalsId ? arrive(t) : id == garbageId ? garbage(t) : step(id, t);
      queue.replaceTop(Math.max(next, t + 1));
      n++;
    }
    return n;
  }

  private long arrive(long t) {
    int i = catalog.add(t);
    out.item(catalog.toItem(i));
    itemsPublished.incrementAndGet();
    return t + arrivalEveryMs;
  }

  private long garbage(long t) {
    SplittableRandom r = SimRandom.of(settings.seed(), SimRandom.GARBAGE, garbageCount++);
    String user = Population.userId(r.nextInt(users));
    if (r.nextBoolean()) {
      byte[] junk = new byte[1 + r.nextInt(64)];
      for (int i = 0; i < junk.length; i++) {
        junk[i] = (byte) r.nextInt(256);
      }
      out.raw(user, junk);
    } else {
      out.interaction(Interaction.newBuilder().setEventId("bad-" + garbageCount).setUserId(user)
          .setItemId(Catalog.itemId(0)).setType(InteractionType.SKIP).setWatchTimeMs(-1).setEventTimeMs(t).build());
    }
    garbageSent.incrementAndGet();
    return t + (long) SimRandom.exponential(r, garbageMeanMs);
  }

  /** One step of a user; returns when their next one is due. */
  private long step(int u, long t) {
    int k = steps[u]++;
    SplittableRandom r = SimRandom.of(settings.seed(), SimRandom.STEP, u, k);
    if (state[u] == IDLE) {
      state[u] = IN_SESSION;
      consecutiveSkips[u] = 0;
      waits[u] = 0;
      reading[u] = null; // the app opens on the slate it is given now
      sessionsStarted.incrementAndGet();
      request(u, k, t);
      return t + REQUEST_WAIT_MS + r.nextInt(500);
    }
    // A user reads the slate in front of them to its end; only then do they move on to the latest
    // one the job served (which has meanwhile followed their answers), or ask for a fresh one.
    ServedSlate slate = reading[u];
    if (slate == null || cursor[u] >= slate.items().length) {
      ServedSlate latest = slates.latest(u);
      if (latest == null || latest.items().length == 0) {
        // Nothing served yet: ask again once, then give up on this session.
        if (waits[u]++ < 1) {
          request(u, k, t);
          return t + REQUEST_WAIT_MS + r.nextInt(500);
        }
        return endSession(u, t, r);
      }
      if (slate != null && latest.slateId().equals(slate.slateId())) {
        // Read it all: a fresh slate, please; if that does not come either, the user leaves (a user
        // does not hammer a lagging service, so a slow job is not sent ever more requests).
        if (waits[u]++ < 1) {
          request(u, k, t);
          return t + REQUEST_WAIT_MS + r.nextInt(500);
        }
        return endSession(u, t, r);
      }
      slate = latest;
      reading[u] = slate;
      cursor[u] = 0;
    }
    waits[u] = 0;
    int[] items = slate.items();
    int p = cursor[u];
    for (; p < items.length; p++) {
      int item = items[p];
      if (item >= 0 && item < catalog.size() && r.nextDouble() < GroundTruth.examineProbability(p)) {
        answer(u, k, t, slate, p, item, r);
        p++;
        break;
      }
    }
    cursor[u] = (byte) Math.min(p, Byte.MAX_VALUE);
    double end = SESSION_END + SESSION_END_PER_SKIP * consecutiveSkips[u];
    if (r.nextDouble() < Math.min(0.6, end)) {
      return endSession(u, t, r);
    }
    return t + MIN_STEP_GAP_MS / 2 + (long) SimRandom.exponential(r, stepGapMs - MIN_STEP_GAP_MS / 2.0);
  }

  private void answer(int u, int k, long t, ServedSlate slate, int position, int item, SplittableRandom r) {
    double like = truth.likeProbability(u, item, t);
    double quick = truth.quickSkipProbability(u, item, t);
    int duration = catalog.durationMs(item);
    Answer a;
    long watchMs;
    if (r.nextDouble() < like) {
      a = Answer.LIKE;
      watchMs = (long) (duration * (0.4 + 0.6 * r.nextDouble()));
      consecutiveSkips[u] = 0;
    } else if (r.nextDouble() < quick) {
      a = Answer.QUICK_SKIP;
      watchMs = 100 + r.nextInt(1_800);
      consecutiveSkips[u] = (byte) Math.min(100, consecutiveSkips[u] + 1);
    } else {
      a = Answer.SKIP;
      watchMs = 2_000 + (long) (r.nextDouble() * 0.4 * duration);
      consecutiveSkips[u] = (byte) Math.min(100, consecutiveSkips[u] + 1);
    }
    population.tire(u, catalog.category(item), t);
    out.interaction(Interaction.newBuilder()
        .setEventId("ev-" + u + "-" + k)
        .setUserId(Population.userId(u))
        .setItemId(Catalog.itemId(item))
        .setType(a == Answer.LIKE ? InteractionType.LIKE : InteractionType.SKIP)
        .setWatchTimeMs(watchMs)
        .setEventTimeMs(t)
        .setSlateId(slate.slateId())
        .setPosition(position)
        .setContext(new Context(population.device(u), "home"))
        .build());
    interactionsSent.incrementAndGet();
    if (a == Answer.LIKE) {
      likesSent.incrementAndGet();
    } else if (a == Answer.QUICK_SKIP) {
      quickSkipsSent.incrementAndGet();
    }
    observer.answered(t, u, slate, position, item, a, like);
  }

  private void request(int u, int k, long t) {
    out.request(SlateRequest.newBuilder()
        .setRequestId("req-" + u + "-" + k)
        .setUserId(Population.userId(u))
        .setSlateSize(0)
        .setEventTimeMs(t)
        .setContext(new Context(population.device(u), "home"))
        .build());
    requestsSent.incrementAndGet();
  }

  /** Ends the session; the next one starts after an idle time in the user's rhythm. */
  private long endSession(int u, long t, SplittableRandom r) {
    state[u] = IDLE;
    if (r.nextDouble() < BURST_SHARE) {
      return t + (long) SimRandom.exponential(r, burstMeanMs);
    }
    // A Poisson process thinned by the time of day: more sessions in the user's evening.
    double mean = idleMeanMs / population.activity(u) / (1 + DIURNAL_AMPLITUDE);
    long at = t;
    for (int i = 0; i < 64; i++) {
      at += (long) SimRandom.exponential(r, mean);
      double localHour = ((at / 3_600_000.0) + population.timeZoneHours(u)) % 24;
      double rate = 1 + DIURNAL_AMPLITUDE * Math.cos(2 * Math.PI * (localHour - PEAK_LOCAL_HOUR) / 24);
      if (r.nextDouble() * (1 + DIURNAL_AMPLITUDE) < rate) {
        break;
      }
    }
    return at;
  }
}
