package io.slatestream.bench;

import io.slatestream.avro.Interaction;
import io.slatestream.avro.InteractionType;
import io.slatestream.avro.Slate;
import io.slatestream.avro.SlateItem;
import io.slatestream.avro.SlateRequest;
import io.slatestream.avro.TrainingExample;
import io.slatestream.avro.state.ItemStats;
import io.slatestream.avro.state.RankerBroadcast;
import io.slatestream.config.CommandLine;
import io.slatestream.config.JobConfig;
import io.slatestream.functions.RankerFunction;
import io.slatestream.sim.Catalog;
import io.slatestream.sim.GroundTruth;
import io.slatestream.sim.Population;
import io.slatestream.sim.SimSettings;
import io.slatestream.sim.World;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.state.rocksdb.EmbeddedRocksDBStateBackend;
import org.apache.flink.streaming.api.operators.co.CoBroadcastWithKeyedOperator;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.util.KeyedBroadcastOperatorTestHarness;
import org.apache.flink.types.Either;

/**
 * The ranker alone, on one thread: {@link RankerFunction} in Flink's operator test harness with
 * RocksDB state, fed the load harness's kind of traffic (the simulator's users drawn by activity,
 * one event in five a request, the others answers to the user's latest slate) in simulated event
 * time, with item statistics broadcast at most once per second per item as the job does. No
 * Kafka, no network, no other task: what it prints is the ranker's own CPU per event, and a
 * digest of every slate and training example, so two builds can be shown to serve exactly the
 * same for the same input. A benchmark, not a test. Run (profile with
 * {@code -XX:StartFlightRecording=filename=ranker.jfr,settings=profile}):
 *
 * <pre>
 * mvn -q test-compile org.codehaus.mojo:exec-maven-plugin:3.5.0:exec -Dexec.executable=java -Dexec.classpathScope=test "-Dexec.args=-Xmx2g -cp %classpath io.slatestream.bench.RankerBench --events 300000"
 * </pre>
 *
 * <p>Options: {@code --users 50000 --items 10000 --events 300000 --rate 2000} (events per second of
 * simulated event time) {@code --seed 42}; {@code --model true} serves the measured part with a
 * GBDT, as a deployment does once it has a model: at the end of the warm-up a {@link BenchModel} is
 * trained on the examples the heuristic logged so far and a {@code ModelRelease} rolls it out to
 * the ranker; {@code --state.backend.rocksdb.<option> value} configures
 * the RocksDB backend as the cluster's configuration would (flink-conf/config.yaml's RocksDB
 * settings unless given); any other {@code --key value} is a job
 * option.
 */
public final class RankerBench {
  private static final KeySelector<Either<Interaction, SlateRequest>, String> BY_USER =
      e -> e.isLeft() ? e.left().getUserId() : e.right().getUserId();

  public static void main(String[] args) throws Exception {
    int users = 50_000;
    int items = 10_000;
    int events = 300_000;
    double rate = 2_000;
    long seed = 42;
    boolean withModel = false;
    java.io.PrintWriter dump = null;
    Map<String, String> options = new LinkedHashMap<>();
    org.apache.flink.configuration.Configuration flink = new org.apache.flink.configuration.Configuration();
    LoadHarness.CLUSTER_ROCKSDB.forEach(flink::setString);
    for (CommandLine.Arg a : CommandLine.parse(args)) {
      String k = a.key();
      String v = a.value();
      switch (k) {
        case "users" -> users = Integer.parseInt(v);
        case "items" -> items = Integer.parseInt(v);
        case "events" -> events = Integer.parseInt(v);
        case "rate" -> rate = Double.parseDouble(v);
        case "seed" -> seed = Long.parseLong(v);
        case "model" -> withModel = Boolean.parseBoolean(v);
        case "dump" -> dump = new java.io.PrintWriter(java.nio.file.Files.newBufferedWriter(java.nio.file.Path.of(v)));
        default -> {
          if (k.startsWith("state.backend.rocksdb.")) {
            flink.setString(k, v);
          } else {
            options.put(k, v);
          }
        }
      }
    }
    JobConfig config = JobConfig.of(options);
    long t0 = 1_750_000_000_000L;
    World world = new World(new SimSettings(users, items, 12, Math.max(10, items / 8), 1_000, 0, 0, seed), t0);
    Catalog catalog = world.catalog();
    Population population = world.population();

    var op = new CoBroadcastWithKeyedOperator<>(new RankerFunction(config),
        List.of(RankerFunction.CATALOG, RankerFunction.MODEL));
    var h = new KeyedBroadcastOperatorTestHarness<>(op, BY_USER, Types.STRING, config.maxParallelism, 1, 0);
    // The RocksDB memory of one of the load harness's two slots (1,280 MiB managed memory).
    EmbeddedRocksDBStateBackend rocksDb = new EmbeddedRocksDBStateBackend()
        .configure(flink, RankerBench.class.getClassLoader());
    rocksDb.getMemoryConfiguration().setUseManagedMemory(false);
    rocksDb.getMemoryConfiguration().setFixedMemoryPerSlot(org.apache.flink.configuration.MemorySize.parse("640m"));
    h.setStateBackend(rocksDb);
    java.nio.file.Path checkpoints = java.nio.file.Files.createTempDirectory("ranker-bench-");
    h.setCheckpointStorage(new org.apache.flink.runtime.state.storage.FileSystemCheckpointStorage(
        checkpoints.toUri()));
    h.open();

    SplittableRandom random = new SplittableRandom(seed);
    double[] statsLikes = new double[catalog.size()];
    double[] statsSkips = new double[catalog.size()];
    double[] statsQuick = new double[catalog.size()];
    double[] statsImpressions = new double[catalog.size()];
    long[] statsSentMs = new long[catalog.size()];
    for (int i = 0; i < catalog.size(); i++) {
      h.processBroadcastElement(new RankerBroadcast(Catalog.itemId(i), catalog.toItem(i)), t0);
      statsImpressions[i] = random.nextInt(200);
      // A count: quality is centred on 0, so a poor item starts with no likes rather than fewer than none.
      statsLikes[i] = Math.max(0.0, statsImpressions[i] * catalog.quality(i) * 0.1) + random.nextInt(3);
      statsSkips[i] = statsImpressions[i] * 0.1;
      h.processBroadcastElement(new RankerBroadcast(Catalog.itemId(i), new ItemStats(Catalog.itemId(i), t0,
          statsImpressions[i], statsLikes[i], statsSkips[i], statsQuick[i])), t0);
    }
    h.processBroadcastWatermark(Long.MAX_VALUE);

    double[] cdf = new double[users];
    double sum = 0;
    for (int u = 0; u < users; u++) {
      sum += population.activity(u);
      cdf[u] = sum;
    }
    Map<String, Slate> latest = new HashMap<>();
    Map<String, Integer> cursor = new HashMap<>();
    long[] lastRequest = new long[users];
    java.util.Arrays.fill(lastRequest, Long.MIN_VALUE / 2);
    java.util.BitSet active = new java.util.BitSet(users);
    // One digest per user: Flink orders each user's output, not the interleaving of users whose
    // timers fire at the same watermark.
    Map<String, MessageDigest> digests = new java.util.TreeMap<>();
    ThreadMXBean threads = ManagementFactory.getThreadMXBean();
    int warmup = events / 4;
    long cpuStart = 0;
    long wallStart = 0;
    long slates = 0;
    long examples = 0;
    Map<String, Long> labels = new java.util.TreeMap<>();
    long lastWatermark = Long.MIN_VALUE;
    List<TrainingExample> logged = new java.util.ArrayList<>();
    String modelSummary = "none (heuristic)";
    for (int n = 0; n < events; n++) {
      if (n == warmup && withModel) {
        modelSummary = rollOutModel(h, config, logged, t0 + (long) (n * 1000.0 / rate), checkpoints);
        logged.clear();
      }
      if (n == warmup) {
        cpuStart = threads.getCurrentThreadCpuTime();
        wallStart = System.nanoTime();
      }
      long t = t0 + (long) (n * 1000.0 / rate);
      int u = Math.min(users - 1, Math.abs(java.util.Arrays.binarySearch(cdf, random.nextDouble() * sum) + 1));
      active.set(u);
      String userId = Population.userId(u);
      if (random.nextDouble() < 0.2 && t - lastRequest[u] >= config.minRequestInterval.toMillis()) {
        lastRequest[u] = t;
        h.processElement(new StreamRecord<>(Either.Right(SlateRequest.newBuilder().setRequestId("req-" + u + "-" + t)
            .setUserId(userId).setSlateSize(0).setEventTimeMs(t).build()), t));
      } else {
        Interaction.Builder b = Interaction.newBuilder().setEventId("ev-" + u + "-" + t).setUserId(userId)
            .setEventTimeMs(t);
        int item = -1;
        Slate slate = latest.get(userId);
        if (slate != null) {
          int from = cursor.getOrDefault(userId, 0);
          for (int p = from; p < slate.getItems().size(); p++) {
            if (random.nextDouble() < GroundTruth.examineProbability(p)) {
              item = Catalog.parseItemId(slate.getItems().get(p).getItemId());
              b.setSlateId(slate.getSlateId()).setPosition(p);
              cursor.put(userId, p + 1);
              break;
            }
          }
          if (item < 0) {
            cursor.put(userId, slate.getItems().size());
          }
        }
        if (item < 0) {
          item = random.nextInt(catalog.size());
        }
        int duration = catalog.durationMs(item);
        if (random.nextDouble() < world.truth().likeProbability(u, item, t)) {
          b.setType(InteractionType.LIKE).setWatchTimeMs((long) (duration * (0.4 + 0.6 * random.nextDouble())));
          statsLikes[item]++;
        } else if (random.nextDouble() < world.truth().quickSkipProbability(u, item, t)) {
          b.setType(InteractionType.SKIP).setWatchTimeMs(100 + random.nextInt(1_800));
          statsSkips[item]++;
          statsQuick[item]++;
        } else {
          b.setType(InteractionType.SKIP).setWatchTimeMs(2_000 + (long) (random.nextDouble() * 0.4 * duration));
          statsSkips[item]++;
        }
        b.setItemId(Catalog.itemId(item));
        h.processElement(new StreamRecord<>(Either.Left(b.build()), t));
        stats(h, item, t, statsImpressions, statsLikes, statsSkips, statsQuick, statsSentMs);
      }
      for (Object o : h.getOutput()) {
        if (o instanceof StreamRecord<?> r && r.getValue() instanceof Slate s) {
          latest.put(s.getUserId(), s);
          cursor.remove(s.getUserId());
          slates++;
          MessageDigest digest = digests.computeIfAbsent(s.getUserId(), RankerBench::sha256);
          digest.update((s.getSlateId() + s.getTrigger() + s.getModelVersion() + s.getTriggerEventTimeMs())
              .getBytes(StandardCharsets.UTF_8));
          if (dump != null) {
            dump.println(n + " slate " + s.getSlateId() + " " + s.getItems());
          }
          for (SlateItem si : s.getItems()) {
            digest.update((si.getItemId() + "@" + si.getRank() + ":" + si.getScore() + si.getSource())
                .getBytes(StandardCharsets.UTF_8));
            int i = Catalog.parseItemId(si.getItemId());
            statsImpressions[i]++;
            stats(h, i, t, statsImpressions, statsLikes, statsSkips, statsQuick, statsSentMs);
          }
        }
      }
      h.getOutput().clear();
      var side = h.getSideOutput(RankerFunction.TRAINING_EXAMPLES);
      if (side != null) {
        for (StreamRecord<TrainingExample> r : side) {
          examples++;
          if (withModel && n < warmup) {
            logged.add(r.getValue());
          }
          labels.merge(r.getValue().getLabel().toString(), 1L, Long::sum);
          digests.computeIfAbsent(r.getValue().getUserId(), RankerBench::sha256).update(r.getValue().toString().getBytes(StandardCharsets.UTF_8));
          if (dump != null) {
            dump.println(n + " example " + r.getValue());
          }
        }
        side.clear();
      }
      long wm = t - 2_000;
      if (n % 50 == 0 && wm > lastWatermark) {
        h.processWatermark(wm);
        lastWatermark = wm;
      }
    }
    long cpu = threads.getCurrentThreadCpuTime() - cpuStart;
    if (dump != null) {
      dump.close();
    }
    long wall = System.nanoTime() - wallStart;
    int measured = events - warmup;
    MessageDigest digest = sha256("");
    digests.forEach((user, d) -> digest.update(d.digest()));
    System.out.printf(java.util.Locale.ROOT,
        "events %,d (measured %,d after %,d warm-up), slates %,d, training examples %,d, active users %,d%n"
            + "ranker CPU %.1f µs/event, wall %.1f µs/event%n"
            + "digest %s%n",
        events, measured, warmup, slates, examples, active.cardinality(), cpu / 1e3 / measured,
        wall / 1e3 / measured, HexFormat.of().formatHex(digest.digest()));
    System.out.println("model " + modelSummary);
    System.out.println("training examples by label " + labels + "; event-time timers " + h.numEventTimeTimers());
    stateSizes(h.getOperator().getKeyedStateBackend(), active.cardinality());
    OperatorSubtaskState snapshot = h.snapshot(1L, 1L);
    long stateBytes = snapshot.getStateSize();
    System.out.printf(java.util.Locale.ROOT, "snapshot (all states, SST files) %,d bytes = %,.0f bytes per active user%n",
        stateBytes, (double) stateBytes / active.cardinality());
    h.close();
  }

  /** {@link BenchModel} on the examples logged so far, rolled out through the ranker's broadcast input. */
  private static String rollOutModel(KeyedBroadcastOperatorTestHarness<String, Either<Interaction, SlateRequest>,
      RankerBroadcast, Slate> h, JobConfig config, List<TrainingExample> logged, long atMs, java.nio.file.Path dir)
      throws Exception {
    BenchModel.Trained model = BenchModel.train(config, logged, dir.resolve("bench-model"), "bench-model", atMs);
    h.processBroadcastElement(new RankerBroadcast("bench-model", model.release()), atMs);
    var refused = h.getSideOutput(RankerFunction.DEAD_LETTERS);
    if (refused != null && !refused.isEmpty()) {
      throw new IllegalStateException("the ranker refused the model: " + refused.peek().getValue().getError());
    }
    return model.summary();
  }

  private static MessageDigest sha256(String unused) {
    try {
      return MessageDigest.getInstance("SHA-256");
    } catch (java.security.NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /**
   * Per state (RocksDB column family), flushed and compacted: the native {@code
   * estimate-live-data-size} the load harness reports, per active user. Reflection: the backend
   * keeps its database and column families to itself.
   */
  private static void stateSizes(Object backend, int activeUsers) throws Exception {
    java.lang.reflect.Field dbField = org.apache.flink.state.rocksdb.RocksDBKeyedStateBackend.class
        .getDeclaredField("db");
    dbField.setAccessible(true);
    org.rocksdb.RocksDB db = (org.rocksdb.RocksDB) dbField.get(backend);
    java.lang.reflect.Field infoField = org.apache.flink.state.rocksdb.RocksDBKeyedStateBackend.class
        .getDeclaredField("kvStateInformation");
    infoField.setAccessible(true);
    Map<String, ?> states = (Map<String, ?>) infoField.get(backend);
    long total = 0;
    for (Map.Entry<String, ?> en : states.entrySet()) {
      java.lang.reflect.Field cfField = en.getValue().getClass().getDeclaredField("columnFamilyHandle");
      cfField.setAccessible(true);
      org.rocksdb.ColumnFamilyHandle cf = (org.rocksdb.ColumnFamilyHandle) cfField.get(en.getValue());
      try (org.rocksdb.FlushOptions flush = new org.rocksdb.FlushOptions().setWaitForFlush(true)) {
        db.flush(flush, cf);
      }
      db.compactRange(cf);
      long live = Long.parseLong(db.getProperty(cf, "rocksdb.estimate-live-data-size"));
      total += live;
      System.out.printf(java.util.Locale.ROOT, "  %-40s %,14d bytes live = %,7.0f per active user%n", en.getKey(),
          live, (double) live / activeUsers);
    }
    System.out.printf(java.util.Locale.ROOT, "  %-40s %,14d bytes live = %,7.0f per active user%n", "all states",
        total, (double) total / activeUsers);
  }

  /** The item's statistics reach the ranker at most once per second of event time, as in the job. */
  private static void stats(KeyedBroadcastOperatorTestHarness<String, Either<Interaction, SlateRequest>,
      RankerBroadcast, Slate> h, int item, long t, double[] impressions, double[] likes, double[] skips,
      double[] quick, long[] sentMs) throws Exception {
    if (t - sentMs[item] < 1_000) {
      return;
    }
    sentMs[item] = t;
    h.processBroadcastElement(new RankerBroadcast(Catalog.itemId(item), new ItemStats(Catalog.itemId(item), t,
        impressions[item], likes[item], skips[item], quick[item])), t);
  }
}
