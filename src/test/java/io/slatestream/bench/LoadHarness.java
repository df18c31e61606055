package io.slatestream.bench;

import io.slatestream.SlatestreamJob;
import io.slatestream.config.CommandLine;
import io.slatestream.config.JobConfig;
import io.slatestream.io.KafkaIO;
import io.slatestream.local.Topics;
import io.slatestream.serde.AvroCodec;
import io.slatestream.sim.ServedSlate;
import io.slatestream.sim.SimSettings;
import io.slatestream.sim.World;
import io.slatestream.topology.SlatestreamTopology;
import java.io.IOException;
import java.io.PrintStream;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.function.Function;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.HdrHistogram.Histogram;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.GlobalConfiguration;
import org.apache.flink.configuration.MemorySize;
import org.apache.flink.configuration.MetricOptions;
import org.apache.flink.configuration.PipelineOptions;
import org.apache.flink.configuration.RestOptions;
import org.apache.flink.configuration.StateBackendOptions;
import org.apache.flink.configuration.TaskManagerOptions;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.util.TimeUtils;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;

/**
 * Load harness: the maximum event rate the full topology sustains on this machine, and the
 * event-to-slate latency at half of it, measured against a pass-through job (Kafka to Flink to
 * Kafka, {@link PassThroughJob}) in the same run under the same conditions. A benchmark, not a
 * test: surefire never runs it. Reproduce (from a clean clone):
 *
 * <pre>{@value #COMMAND}</pre>
 *
 * <p><b>Processes.</b> The broker runs in a JVM of its own ({@link BrokerProcess}), as in
 * production; this JVM holds the local Flink cluster (RocksDB state backend, incremental
 * checkpoints), the open-loop {@link LoadGenerator} and the {@link OutputReader}. All of them share
 * the machine's cores, as do the jobs, which run one after the other against the same broker.
 *
 * <p><b>Method</b>, per job (pass-through first): fresh topics; the job starts; a JIT warm-up at
 * the start rate is discarded; then the offered rate steps up by {@code --step-factor} per step
 * of {@code --step} (its first {@code --step-warmup} discarded) until a step is not sustained,
 * and from the last sustained rate by {@code --refine-factor} up to the failed one. A step is
 * sustained when the generator achieved 95 % of the offered rate, the consumer lag of the job's
 * input (end offsets against the source readers' current offsets, from the REST API, sampled
 * every 2 s) did not grow across the step (a least-squares slope over 5 % of the rate with more
 * than a second of input behind counts as growing: the REST values may be a second old) and stays
 * under {@code --max-lag} of input, and the source tasks were back-pressured less than 10 % of the
 * time (accumulated back-pressured time over the step). A first rate that fails is halved. Then the rate is set to {@code --latency-load}
 * of the maximum and, after a warm-up, {@code --repeats} windows of {@code --latency-window}
 * record the output rate and latency percentiles (exact, HdrHistogram); the table shows their
 * medians. Last, for the full job, the state per active user: with the load paused and a
 * checkpoint completed after it (RocksDB flushes its memtables for a checkpoint), the ranker's
 * RocksDB native metric {@code estimate-live-data-size} summed over its column families and
 * subtasks, divided by the users who sent at least one event.
 *
 * <p>Options: {@code --users 50000 --items 10000 --seed 42 --parallelism 2 --start-rate 2000
 * --step-factor 1.5 --refine-factor 1.15 --step 30s --step-warmup 10s --warmup 20s --max-lag 3s
 * --latency-load 0.5 --latency-window 30s --repeats 3 --request-share 0.2
 * --jobs pass-through,full,full-model --max-rate 1000000}: {@code full} is the job as it starts,
 * serving with the heuristic; {@code full-model} the same job once it has a model: after the JIT
 * warm-up the trainer learns from the examples it logged and a release rolls the model out
 * ({@link #rollOutModel}; {@code --model-warmup 3m} more of the heuristic first, so that users
 * have answered enough slates), then the search and the latency windows run with the GBDT
 * ranking, and {@code --latency-rate N} to measure latency at N events/s instead of a
 * share of the maximum ({@code --search false} then skips the search for the maximum, for
 * iterating on latency); {@code --diagnose true} prints, per latency window, the seconds with
 * slow request slates, each checkpoint's synchronous part, alignment and start delay per vertex,
 * and the ranker's own latency histogram; {@code --state.backend.<option>} and {@code --execution.checkpointing.<option>}
 * set the local cluster's Flink configuration; any other {@code --key value} is a job option (see
 * the README), for both jobs.
 */
public final class LoadHarness {
  public static final String COMMAND =
      "mvn -q test-compile org.codehaus.mojo:exec-maven-plugin:3.5.0:exec -Dexec.executable=java"
          + " -Dexec.classpathScope=test \"-Dexec.args=-Xms4g -Xmx4g"
          + " -Dorg.apache.avro.SERIALIZABLE_PACKAGES=io.slatestream.avro"
          + " --add-opens=java.base/java.util=ALL-UNNAMED --add-opens=java.base/java.lang=ALL-UNNAMED"
          + " -Dlog4j2.configurationFile=log4j2-local.properties"
          + " -cp %classpath io.slatestream.bench.LoadHarness\"";

  private static final String PASS_THROUGH = "pass-through";
  private static final String FULL = "full";
  /** The full topology serving a GBDT, as a deployment does once it has a model (see {@link #rollOutModel}). */
  private static final String FULL_MODEL = "full-model";
  /** Managed memory of the local cluster: what flink-conf/config.yaml gives a 4 GiB TaskManager (0.4 of it). */
  private static final MemorySize MANAGED_MEMORY = MemorySize.parse("1280m");
  /** The cluster's RocksDB settings ({@code state.backend.rocksdb.*} of flink-conf/config.yaml). */
  static final Map<String, String> CLUSTER_ROCKSDB = clusterRocksDbSettings();

  private int users = 50_000;
  private int items = 10_000;
  private long seed = 42;
  private int parallelism = 2;
  private double startRate = 2_000;
  private double stepFactor = 1.5;
  private double refineFactor = 1.15;
  private double maxRate = 1_000_000;
  private double latencyRate = 0;
  private Duration step = Duration.ofSeconds(30);
  private Duration stepWarmup = Duration.ofSeconds(10);
  private Duration warmup = Duration.ofSeconds(20);
  private Duration modelWarmup = Duration.ofMinutes(3);
  private Duration maxLag = Duration.ofSeconds(3);
  private double latencyLoad = 0.5;
  private Duration latencyWindow = Duration.ofSeconds(30);
  private int repeats = 3;
  private double requestShare = 0.2;
  private boolean diagnose = false;
  private boolean search = true;
  private List<String> jobs = List.of(PASS_THROUGH, FULL, FULL_MODEL);
  private final Map<String, String> jobOptions = new LinkedHashMap<>();
  /** {@code --state.backend.…} and {@code --execution.checkpointing.…}: the cluster's Flink configuration. */
  private final Map<String, String> clusterOptions = new LinkedHashMap<>();

  private final Path workDir = Path.of("target", "load-harness");
  private PrintStream report;
  private String bootstrap;
  private Admin admin;
  private KafkaProducer<byte[], byte[]> producer;
  private final Map<String, JobResult> results = new LinkedHashMap<>();
  private CpuAccount cpu;

  public static void main(String[] args) throws Exception {
    LoadHarness h = new LoadHarness();
    h.parse(args);
    h.run();
    System.exit(0); // the local clusters' and clients' non-daemon threads must not keep the JVM
  }

  private void parse(String[] args) {
    for (CommandLine.Arg a : CommandLine.parse(args)) {
      String k = a.key();
      String v = a.value();
      switch (k) {
        case "users" -> users = Integer.parseInt(v);
        case "items" -> items = Integer.parseInt(v);
        case "seed" -> seed = Long.parseLong(v);
        case "parallelism" -> parallelism = Integer.parseInt(v);
        case "start-rate" -> startRate = Double.parseDouble(v);
        case "step-factor" -> stepFactor = Double.parseDouble(v);
        case "refine-factor" -> refineFactor = Double.parseDouble(v);
        case "max-rate" -> maxRate = Double.parseDouble(v);
        case "step" -> step = TimeUtils.parseDuration(v);
        case "step-warmup" -> stepWarmup = TimeUtils.parseDuration(v);
        case "warmup" -> warmup = TimeUtils.parseDuration(v);
        case "model-warmup" -> modelWarmup = TimeUtils.parseDuration(v);
        case "max-lag" -> maxLag = TimeUtils.parseDuration(v);
        case "latency-load" -> latencyLoad = Double.parseDouble(v);
        case "latency-rate" -> latencyRate = Double.parseDouble(v);
        case "latency-window" -> latencyWindow = TimeUtils.parseDuration(v);
        case "repeats" -> repeats = Integer.parseInt(v);
        case "request-share" -> requestShare = Double.parseDouble(v);
        case "jobs" -> jobs = List.of(v.split(","));
        case "diagnose" -> diagnose = Boolean.parseBoolean(v);
        case "search" -> search = Boolean.parseBoolean(v);
        default -> {
          if (k.startsWith("state.backend.") || k.startsWith("execution.checkpointing.")) {
            clusterOptions.put(k, v);
          } else {
            jobOptions.put(k, v);
          }
        }
      }
    }
    if (!search && latencyRate <= 0) {
      throw new IllegalArgumentException("--search false needs --latency-rate");
    }
    if (!step.minus(stepWarmup).isNegative() && step.minus(stepWarmup).toSeconds() < 5) {
      throw new IllegalArgumentException("--step must leave at least 5 s after --step-warmup");
    }
  }

  private void run() throws Exception {
    Files.createDirectories(workDir);
    Path reportFile = workDir.resolve("report-" + Instant.now().toString().replace(':', '-') + ".txt");
    report = new PrintStream(Files.newOutputStream(reportFile), true, StandardCharsets.UTF_8);
    say("Load harness, %s; %d cores; load average %s", Instant.now(), Runtime.getRuntime().availableProcessors(),
        loadAverage());
    try (BrokerProcess broker = BrokerProcess.start(workDir.resolve("broker.log"))) {
      bootstrap = broker.bootstrapServers();
      cpu = new CpuAccount(broker.pid());
      say("Broker (KRaft, own JVM %s, pid %d) at %s", BrokerProcess.JVM_OPTIONS, broker.pid(), bootstrap);
      admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap));
      producer = generatorProducer(bootstrap);
      try {
        for (String job : jobs) {
          results.put(job, measure(job));
        }
      } finally {
        producer.close(Duration.ofSeconds(10));
        admin.close(Duration.ofSeconds(10));
      }
    }
    summary();
    say("Report written to %s", reportFile);
  }

  /** The load generator's producer: Kafka's defaults, as a service emitting events would use. */
  private static KafkaProducer<byte[], byte[]> generatorProducer(String bootstrap) {
    Properties p = new Properties();
    p.put("bootstrap.servers", bootstrap);
    p.put("key.serializer", "org.apache.kafka.common.serialization.ByteArraySerializer");
    p.put("value.serializer", "org.apache.kafka.common.serialization.ByteArraySerializer");
    return new KafkaProducer<>(p);
  }

  // ---------------------------------------------------------------------------------------------
  // One job

  private JobResult measure(String kind) throws Exception {
    boolean withModel = kind.equals(FULL_MODEL);
    boolean full = kind.equals(FULL) || withModel;
    if (!full && !kind.equals(PASS_THROUGH)) {
      throw new IllegalArgumentException("unknown job " + kind + ": " + PASS_THROUGH + ", " + FULL + " or " + FULL_MODEL);
    }
    String prefix = withModel ? "m-" : full ? "" : "pt-";
    Map<String, String> opts = new LinkedHashMap<>();
    opts.put("kafka.bootstrap.servers", bootstrap);
    opts.put("source.starting-offsets", "EARLIEST");
    opts.put("job.name", "load-" + kind);
    for (String topic : List.of("interactions", "items", "slate-requests", "recommendations", "dead-letters",
        "training-examples", "model-releases")) {
      opts.put("topic." + topic, prefix + topic);
    }
    opts.putAll(jobOptions);
    JobConfig config = JobConfig.of(opts);
    say("");
    say("=== %s job ===  (load average %s)", kind, loadAverage());
    Map<String, String> passOutputs = Map.of(config.topicInteractions, prefix + "interactions-out",
        config.topicSlateRequests, prefix + "slate-requests-out");
    createTopics(config, full ? Map.of() : passOutputs);

    World world = new World(new SimSettings(users, items, 12, Math.max(10, items / 8), 1_000, 0, 0, seed),
        System.currentTimeMillis());
    if (full) {
      AvroCodec<io.slatestream.avro.Item> itemCodec = AvroCodec.of(io.slatestream.avro.Item.class);
      for (int i = 0; i < world.catalog().size(); i++) {
        var item = world.catalog().toItem(i);
        producer.send(new ProducerRecord<>(config.topicItems, item.getItemId().getBytes(StandardCharsets.UTF_8),
            itemCodec.encode(item)));
      }
      producer.flush();
      say("Catalog: %,d items in 12 categories; population %,d users", world.catalog().size(), users);
    }

    Path checkpoints = Files.createTempDirectory(Files.createDirectories(workDir), "checkpoints-" + kind + "-");
    int restPort = freePort();
    StreamExecutionEnvironment env = StreamExecutionEnvironment.createLocalEnvironment(parallelism,
        flinkConfiguration(checkpoints, restPort));
    if (full) {
      SlatestreamJob.prepare(env, config);
      SlatestreamTopology.define(env, KafkaIO.inputs(config, false), KafkaIO.outputs(config), config);
    } else {
      Configuration settings = new Configuration();
      settings.set(PipelineOptions.GENERIC_TYPES, false);
      env.configure(settings);
      env.enableCheckpointing(config.checkpointInterval.toMillis());
      env.setBufferTimeout(config.bufferTimeout.toMillis());
      PassThroughJob.define(env, config, passOutputs);
    }
    say("Flink: local cluster, parallelism %d, RocksDB %s, incremental checkpoints every %s, buffer timeout %d ms,"
            + " managed memory %s; job options %s; cluster options %s", parallelism, CLUSTER_ROCKSDB,
        config.checkpointInterval, env.getBufferTimeout(), MANAGED_MEMORY, jobOptions.isEmpty() ? "(defaults)" : jobOptions,
        clusterOptions.isEmpty() ? "(as flink-conf/config.yaml)" : clusterOptions);
    JobClient job = env.executeAsync(config.jobName);
    JobMetrics metrics = new JobMetrics(restPort, job.getJobID().toString());
    metrics.awaitRunning(Duration.ofMinutes(2));

    AtomicReferenceArray<ServedSlate> latest = full ? new AtomicReferenceArray<>(users) : null;
    OutputReader reader = full
        ? new OutputReader(bootstrap, List.of(config.topicRecommendations), true, null, latest)
        : new OutputReader(bootstrap, List.copyOf(passOutputs.values()), false,
            passOutputs.get(config.topicInteractions), null);
    reader.awaitAssignment(Duration.ofSeconds(60));
    Thread readerThread = new Thread(reader, "output-reader");
    readerThread.start();
    LoadGenerator gen = new LoadGenerator(world, producer, config.topicInteractions, config.topicSlateRequests,
        latest, requestShare, config.minRequestInterval.toMillis(), seed);
    Thread genThread = new Thread(gen, "load-generator");
    genThread.setPriority(Thread.MAX_PRIORITY);
    genThread.start();

    List<String> inputs = full
        ? List.of(config.topicInteractions, config.topicSlateRequests, config.topicRecommendations, config.topicItems)
        : List.copyOf(passOutputs.keySet());
    Probe probe = new Probe(gen, reader, metrics, inputs, cpu);
    JobResult result = new JobResult(kind);
    try {
      say("JIT warm-up: %s at %,.0f events/s (discarded)", warmup, startRate);
      gen.rate(startRate);
      sleep(warmup);
      if (withModel) {
        // Users answer the slates they were served: a model needs more history than the JIT does.
        say("Serving with the heuristic for %s more to log training examples", modelWarmup);
        sleep(modelWarmup);
        result.model = rollOutModel(config, metrics, workDir.resolve("model-" + Instant.now().toEpochMilli()));
        // What the warm-up left behind, if its rate was above the heuristic's maximum, is not
        // the first step's to carry.
        probe.drain(Duration.ofMinutes(3));
      }
      probe.check();

      say("%10s %10s %10s %12s %10s %14s %14s %9s  %s", "offered/s", "achieved/s", "out/s", "lag slope/s", "lag end",
          "src backpress.", "busiest task", "CPU µs/ev", "sustained");
      double rate = startRate;
      double lastGood = search ? 0 : latencyRate;
      double failed = 0;
      while (search && rate <= maxRate) {
        StepResult s = probe.step(rate, step, stepWarmup, maxLag);
        result.steps.add(s);
        say("%s", s.row());
        if (!s.sustained()) {
          if (lastGood == 0 && rate > 100) {
            // Not even the first rate: start lower rather than report nothing.
            probe.drain(Duration.ofMinutes(3));
            rate /= 2;
            continue;
          }
          failed = rate;
          break;
        }
        lastGood = rate;
        rate *= stepFactor;
      }
      if (!search) {
        say("  (no search for the maximum: --search false)");
      } else if (failed == 0) {
        say("  (stopped at --max-rate %,.0f: the maximum is at least %,.0f events/s)", maxRate, lastGood);
      }
      if (failed > 0 && lastGood > 0) {
        probe.drain(Duration.ofMinutes(3));
        for (double r = lastGood * refineFactor; r < failed * 0.99; r *= refineFactor) {
          StepResult s = probe.step(r, step, stepWarmup, maxLag);
          result.steps.add(s);
          say("%s", s.row());
          if (!s.sustained()) {
            break;
          }
          lastGood = r;
        }
      }
      result.maxRate = lastGood;
      if (lastGood == 0) {
        say("Not even the start rate was sustained; lower --start-rate.");
        return result;
      }
      probe.drain(Duration.ofMinutes(3));

      double load = latencyRate > 0 ? latencyRate : lastGood * latencyLoad;
      result.latencyRate = load;
      say("Latency at %,.0f events/s (%.0f %% of %,.0f): %s warm-up, %d × %s (load average %s)", load,
          100 * load / lastGood, lastGood, stepWarmup, repeats, latencyWindow, loadAverage());
      gen.rate(load);
      sleep(stepWarmup);
      result.loadAverage = loadAverage();
      for (int i = 0; i < repeats; i++) {
        Window w = probe.window(latencyWindow);
        result.windows.add(w);
        say("  window %d: %s", i + 1, w.row());
        if (diagnose) {
          say("    CPU µs per event, every group over 5: %s", w.cpu().above(5));
        }
      }
      if (full) {
        gen.rate(0);
        result.state = stateSize(metrics, gen);
      }
      return result;
    } finally {
      gen.stop();
      genThread.join(10_000);
      producer.flush();
      job.cancel().get(1, TimeUnit.MINUTES);
      deleteRecursively(checkpoints);
      reader.stop();
      readerThread.join(10_000);
      if (gen.failure() != null) {
        say("Load generator failed: %s", gen.failure());
      }
      if (reader.failure() != null) {
        say("Output reader failed: %s", reader.failure());
      }
    }
  }

  /**
   * What an ML engineer does once the heuristic has served for a while, condensed: a
   * {@link BenchModel} trained on the examples the job logged during the warm-ups, released on the
   * job's topic; then waits until every ranker subtask serves it.
   */
  private String rollOutModel(JobConfig config, JobMetrics metrics, Path dir) throws Exception {
    String version = "load-m1";
    BenchModel.Trained model = BenchModel.train(config, io.slatestream.train.TrainCommand.readTopic(config), dir,
        version, System.currentTimeMillis());
    io.slatestream.train.TrainCommand.publish(config, model.release());
    long deadline = System.nanoTime() + Duration.ofMinutes(1).toNanos();
    List<String> served = List.of();
    while (served.size() != parallelism || !served.stream().allMatch(version::equals)) {
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException("the rankers serve " + served + " a minute after release " + version
            + " (refused? see the dead-letters topic)");
      }
      Thread.sleep(1_000);
      served = metrics.textValues("ranker", "modelVersion");
    }
    say("Model rolled out to every ranker subtask: %s", model.summary());
    return model.summary();
  }

  /**
   * Read from the file a cluster is configured with, so the benchmarks run the RocksDB the
   * cluster runs; they are started from the project's directory.
   */
  static Map<String, String> clusterRocksDbSettings() {
    Map<String, String> settings = new TreeMap<>();
    GlobalConfiguration.loadConfiguration(Path.of("flink-conf").toAbsolutePath().toString()).toMap()
        .forEach((k, v) -> {
          if (k.startsWith("state.backend.rocksdb.")) {
            settings.put(k, v);
          }
        });
    if (settings.isEmpty()) {
      throw new IllegalStateException("No state.backend.rocksdb settings in flink-conf/config.yaml under "
          + Path.of("").toAbsolutePath() + ": run from the project's directory");
    }
    return settings;
  }

  private Configuration flinkConfiguration(Path checkpoints, int restPort) {
    Configuration flink = new Configuration();
    flink.set(StateBackendOptions.STATE_BACKEND, "rocksdb");
    flink.set(CheckpointingOptions.INCREMENTAL_CHECKPOINTS, true);
    flink.set(CheckpointingOptions.CHECKPOINTS_DIRECTORY, checkpoints.toUri().toString());
    flink.set(CheckpointingOptions.MIN_PAUSE_BETWEEN_CHECKPOINTS, Duration.ofSeconds(2));
    flink.set(TaskManagerOptions.MANAGED_MEMORY_SIZE, MANAGED_MEMORY);
    CLUSTER_ROCKSDB.forEach(flink::setString);
    clusterOptions.forEach(flink::setString);
    flink.set(RestOptions.BIND_ADDRESS, "127.0.0.1");
    flink.set(RestOptions.BIND_PORT, Integer.toString(restPort));
    flink.set(MetricOptions.METRIC_FETCHER_UPDATE_INTERVAL, Duration.ofSeconds(1));
    for (String m : List.of("estimate-live-data-size", "total-sst-files-size", "estimate-num-keys",
        "size-all-mem-tables")) {
      flink.setString("state.backend.rocksdb.metrics." + m, "true");
    }
    return flink;
  }

  private void createTopics(JobConfig config, Map<String, String> extra) throws Exception {
    List<NewTopic> topics = new ArrayList<>();
    Topics.of(config).forEach((name, configs) -> topics.add(new NewTopic(name, parallelism, (short) 1).configs(configs)));
    extra.values().forEach(name -> topics.add(new NewTopic(name, parallelism, (short) 1)));
    admin.createTopics(topics).all().get(1, TimeUnit.MINUTES);
  }

  // ---------------------------------------------------------------------------------------------
  // State per active user

  private static final Pattern ROCKSDB = Pattern.compile("rocksdb[._](estimate-live-data-size|total-sst-files-size"
      + "|estimate-num-keys|size-all-mem-tables)$");

  private StateSize stateSize(JobMetrics metrics, LoadGenerator gen) throws Exception {
    // Let the paused load drain and a checkpoint that started after it complete: RocksDB flushes
    // its memtables to SST files for a checkpoint, so the live-data estimate then covers all state.
    Thread.sleep(3_000);
    long before = metrics.completedCheckpoints();
    long deadline = System.nanoTime() + Duration.ofMinutes(2).toNanos();
    while (metrics.completedCheckpoints() < before + 2 && System.nanoTime() < deadline) {
      Thread.sleep(500);
    }
    Thread.sleep(2_000); // one more metric refresh
    Map<String, Double> m = metrics.metricsOf("ranker", ROCKSDB);
    int active = gen.activeUsers();
    say("");
    say("Ranker state (RocksDB native metrics after a checkpoint, load paused), %,d active users"
        + " (sent at least one event), %,d interactions and %,d requests in all:", active, gen.interactions.get(),
        gen.requests.get());
    Map<String, double[]> byFamily = new java.util.TreeMap<>();
    m.forEach((id, v) -> {
      java.util.regex.Matcher x = Pattern.compile("^(?:.*\\.)?([^.]+)\\.rocksdb[._]([a-z-]+)$").matcher(id);
      String family = x.matches() ? x.group(1) : id;
      String property = x.matches() ? x.group(2) : "";
      double[] row = byFamily.computeIfAbsent(family, k -> new double[4]);
      switch (property) {
        case "estimate-live-data-size" -> row[0] += v;
        case "total-sst-files-size" -> row[1] += v;
        case "estimate-num-keys" -> row[2] += v;
        case "size-all-mem-tables" -> row[3] += v;
        default -> { }
      }
    });
    say("  %-28s %16s %16s %14s %14s", "column family (state)", "live data bytes", "SST files bytes",
        "keys (est.)", "memtables");
    double live = 0;
    double sst = 0;
    for (Map.Entry<String, double[]> e : byFamily.entrySet()) {
      double[] r = e.getValue();
      say("  %-28s %,16.0f %,16.0f %,14.0f %,14.0f", e.getKey(), r[0], r[1], r[2], r[3]);
      live += r[0];
      sst += r[1];
    }
    if (m.isEmpty()) {
      say("  (no RocksDB metrics reported; metrics of the ranker like it: %s)",
          metrics.metricsOf("ranker", Pattern.compile("(?i)rocks|live|sst|mem|keys")).keySet());
    }
    StateSize s = new StateSize(active, gen.interactions.get(), live, sst);
    say("  per active user: %,.0f bytes live data, %,.0f bytes of SST files", s.livePerUser(), s.sstPerUser());
    return s;
  }

  // ---------------------------------------------------------------------------------------------
  // Probing a running job

  /** What a step measured. */
  record StepResult(double offered, double achieved, double out, double lagSlope, long lagEnd,
      double sourceBackPressure, String busiest, double busiestShare, Cpu cpu, boolean sustained, String why) {
    String row() {
      return String.format(Locale.ROOT, "%,10.0f %,10.0f %,10.0f %,12.0f %,10d %13.1f%% %8s %4.0f%% %,9.0f  %s",
          offered, achieved, out, lagSlope, lagEnd, 100 * sourceBackPressure, shortName(busiest), 100 * busiestShare,
          cpu.microsPerEvent(), sustained ? "yes" : "NO (" + why + ")");
    }
  }

  /** CPU time used in a window, per process and thread group, and the events sent in it. */
  record Cpu(Map<String, Long> nanos, long events) {
    /** Broker and this JVM together, per event sent. */
    double microsPerEvent() {
      return events == 0 ? 0 : (nanos.getOrDefault("broker", 0L) + nanos.getOrDefault("harness JVM", 0L))
          / 1e3 / events;
    }

    double microsPerEvent(String entry) {
      return events == 0 ? 0 : nanos.getOrDefault(entry, 0L) / 1e3 / events;
    }

    /** The entries using most CPU, with µs per event. */
    String top(int n) {
      return nanos.entrySet().stream()
          .sorted(Map.Entry.<String, Long>comparingByValue().reversed())
          .limit(n)
          .map(e -> String.format(Locale.ROOT, "%s %.0f", e.getKey(), microsPerEvent(e.getKey())))
          .collect(Collectors.joining(", "));
    }

    /** Every entry using more than {@code minMicros} per event, most first. */
    String above(double minMicros) {
      return top((int) nanos.keySet().stream().filter(k -> microsPerEvent(k) > minMicros).count());
    }
  }

  /** One latency window at a fixed rate. */
  record Window(double offered, double achieved, double out, long lagEnd, double lagSlope,
      Map<OutputReader.Kind, Histogram> latency, Cpu cpu) {
    String row() {
      StringBuilder b = new StringBuilder(String.format(Locale.ROOT, "achieved %,.0f/s, out %,.0f/s, lag %,d (slope %,.0f/s)",
          achieved, out, lagEnd, lagSlope));
      latency.forEach((k, h) -> {
        if (h.getTotalCount() > 0) {
          b.append(String.format(Locale.ROOT, "; %s n=%,d p50 %d p99 %d p99.9 %d max %d ms", k, h.getTotalCount(),
              h.getValueAtPercentile(50), h.getValueAtPercentile(99), h.getValueAtPercentile(99.9), h.getMaxValue()));
        }
      });
      b.append(String.format(Locale.ROOT, "%n    CPU µs per event: %.0f (broker + this JVM); most: %s", cpu.microsPerEvent(),
          cpu.top(8)));
      return b.toString();
    }
  }

  record StateSize(int activeUsers, long interactions, double liveBytes, double sstBytes) {
    double livePerUser() {
      return activeUsers == 0 ? 0 : liveBytes / activeUsers;
    }

    double sstPerUser() {
      return activeUsers == 0 ? 0 : sstBytes / activeUsers;
    }
  }

  static final class JobResult {
    final String kind;
    final List<StepResult> steps = new ArrayList<>();
    final List<Window> windows = new ArrayList<>();
    double maxRate;
    double latencyRate;
    String loadAverage = "";
    StateSize state;
    /** The model served, for {@value #FULL_MODEL}. */
    String model;

    JobResult(String kind) {
      this.kind = kind;
    }
  }

  private final class Probe {
    private final LoadGenerator gen;
    private final OutputReader reader;
    private final JobMetrics metrics;
    private final List<String> inputs;
    private final CpuAccount cpu;
    private List<TopicPartition> partitions;

    Probe(LoadGenerator gen, OutputReader reader, JobMetrics metrics, List<String> inputs, CpuAccount cpu) {
      this.cpu = cpu;
      this.gen = gen;
      this.reader = reader;
      this.metrics = metrics;
      this.inputs = inputs;
    }

    void check() {
      if (gen.failure() != null) {
        throw new IllegalStateException("load generator failed", gen.failure());
      }
      if (reader.failure() != null) {
        throw new IllegalStateException("output reader failed", reader.failure());
      }
    }

    /** Records of the job's input not yet emitted by its source readers. */
    long lag() throws Exception {
      if (partitions == null) {
        partitions = new ArrayList<>();
        for (var d : admin.describeTopics(inputs).allTopicNames().get().values()) {
          d.partitions().forEach(p -> partitions.add(new TopicPartition(d.name(), p.partition())));
        }
      }
      Map<TopicPartition, Long> current = metrics.sourceOffsets();
      var end = admin.listOffsets(partitions.stream().collect(Collectors.toMap(Function.identity(),
          tp -> OffsetSpec.latest()))).all().get();
      long lag = 0;
      for (TopicPartition tp : partitions) {
        lag += Math.max(0, end.get(tp).offset() - current.getOrDefault(tp, 0L));
      }
      return lag;
    }

    StepResult step(double rate, Duration length, Duration warm, Duration maxLag) throws Exception {
      gen.rate(rate);
      sleep(warm);
      Measured m = measure(length.minus(warm));
      double sourceBp = 0;
      String busiest = "";
      double busiestShare = 0;
      for (JobMetrics.TaskTimes t : m.times.values()) {
        double share = t.subtasks() == 0 ? 0 : t.busyMs() / (m.seconds * 1000 * t.subtasks());
        if (t.vertex().startsWith("Source")) {
          sourceBp = Math.max(sourceBp, t.subtasks() == 0 ? 0 : t.backPressuredMs() / (m.seconds * 1000 * t.subtasks()));
        }
        if (share > busiestShare) {
          busiestShare = share;
          busiest = t.vertex();
        }
      }
      List<String> why = new ArrayList<>();
      if (m.achieved < 0.95 * rate) {
        why.add("generator reached " + Math.round(100 * m.achieved / rate) + " %");
      }
      // The source offsets come from the REST API, up to a refresh interval old: a lag of about
      // a second of input, and some wobble in its slope, is what keeping up looks like.
      if (m.lagSlope > 0.05 * rate && m.lagEnd > rate) {
        why.add("lag growing");
      }
      if (m.lagEnd > rate * maxLag.toMillis() / 1000.0) {
        why.add("lag over " + maxLag.toSeconds() + " s of input");
      }
      if (sourceBp > 0.10) {
        why.add("sources back-pressured");
      }
      return new StepResult(rate, m.achieved, m.out, m.lagSlope, m.lagEnd, sourceBp, busiest, busiestShare, m.cpu,
          why.isEmpty(), String.join(", ", why));
    }

    Window window(Duration length) throws Exception {
      long from = System.currentTimeMillis();
      Measured m = measure(length);
      if (diagnose) {
        for (long[] sec : reader.slowSeconds(from)) {
          say("    second %s: %d request slates, %d over %d ms, slowest %d ms", Instant.ofEpochMilli(sec[0]), sec[1],
              sec[2], OutputReader.SLOW_MS, sec[3]);
        }
        for (String c : metrics.checkpointsSince(from)) {
          say("    %s", c);
        }
        say("    ranker's own eventToSlateLatencyMs (last 10,000 slates per subtask, summed over subtasks): %s",
            metrics.metricsOf("ranker", Pattern.compile("eventToSlateLatencyMs_(p50|p99|p999|max)$")));
      }
      return new Window(gen.rate(), m.achieved, m.out, m.lagEnd, m.lagSlope, m.latency, m.cpu);
    }

    /** Pauses the load and waits for the job to catch up. */
    void drain(Duration patience) throws Exception {
      gen.rate(0);
      long deadline = System.nanoTime() + patience.toNanos();
      long lag;
      while ((lag = lag()) > 100 && System.nanoTime() < deadline) {
        Thread.sleep(1_000);
      }
      Thread.sleep(2_000);
      say("  (drained: lag %,d)", lag);
    }

    private record Measured(double seconds, double achieved, double out, double lagSlope, long lagEnd,
        Map<String, JobMetrics.TaskTimes> times, Map<OutputReader.Kind, Histogram> latency, Cpu cpu) {}

    private Measured measure(Duration length) throws Exception {
      check();
      Map<String, JobMetrics.TaskTimes> t0 = metrics.taskTimes();
      Map<String, Long> cpu0 = cpu.snapshot();
      reader.window();
      long start = System.nanoTime();
      long sent0 = gen.sent();
      long out0 = reader.received();
      List<double[]> lags = new ArrayList<>();
      long end = start + length.toNanos();
      while (System.nanoTime() < end) {
        lags.add(new double[] {(System.nanoTime() - start) / 1e9, lag()});
        // Every read of the REST metrics makes the cluster collect all of its metrics: sampled
        // every 2 s, which is enough for the lag's trend and keeps the cost of watching small.
        Thread.sleep(Math.max(0, Math.min(2_000, (end - System.nanoTime()) / 1_000_000)));
      }
      double seconds = (System.nanoTime() - start) / 1e9;
      long sent = gen.sent() - sent0;
      long out = reader.received() - out0;
      Cpu used = new Cpu(CpuAccount.between(cpu0, cpu.snapshot()), sent);
      Map<OutputReader.Kind, Histogram> latency = reader.window();
      long lagEnd = lag();
      lags.add(new double[] {(System.nanoTime() - start) / 1e9, lagEnd});
      Map<String, JobMetrics.TaskTimes> t1 = metrics.taskTimes();
      Map<String, JobMetrics.TaskTimes> times = new LinkedHashMap<>();
      t1.forEach((v, t) -> times.put(v, t0.containsKey(v) ? t.minus(t0.get(v)) : t));
      check();
      return new Measured(seconds, sent / seconds, out / seconds, slope(lags), lagEnd, times, latency, used);
    }
  }

  /** Least-squares slope of y over x. */
  static double slope(List<double[]> points) {
    int n = points.size();
    if (n < 2) {
      return 0;
    }
    double mx = 0;
    double my = 0;
    for (double[] p : points) {
      mx += p[0];
      my += p[1];
    }
    mx /= n;
    my /= n;
    double num = 0;
    double den = 0;
    for (double[] p : points) {
      num += (p[0] - mx) * (p[1] - my);
      den += (p[0] - mx) * (p[0] - mx);
    }
    return den == 0 ? 0 : num / den;
  }

  // ---------------------------------------------------------------------------------------------
  // Summary

  private void summary() {
    say("");
    say("Summary (%s; load average at each latency measurement shown)", Instant.now());
    say("| job | max sustainable events/s | load | out/s at load | latency kind | p50 ms | p99 ms | p99.9 ms | samples |");
    say("|---|---:|---:|---:|---|---:|---:|---:|---:|");
    for (JobResult r : results.values()) {
      if (r.windows.isEmpty()) {
        say("| %s | %,.0f | - | - | - | - | - | - | - |", r.kind, r.maxRate);
        continue;
      }
      double out = median(r.windows.stream().mapToDouble(Window::out).toArray());
      Map<OutputReader.Kind, List<Histogram>> byKind = new EnumMap<>(OutputReader.Kind.class);
      r.windows.forEach(w -> w.latency().forEach((k, h) -> {
        if (h.getTotalCount() > 0) {
          byKind.computeIfAbsent(k, x -> new ArrayList<>()).add(h);
        }
      }));
      boolean first = true;
      for (Map.Entry<OutputReader.Kind, List<Histogram>> e : byKind.entrySet()) {
        List<Histogram> hs = e.getValue();
        say("| %s | %s | %s | %s | %s | %.0f | %.0f | %.0f | %,d |", first ? r.kind : "",
            first ? String.format(Locale.ROOT, "%,.0f", r.maxRate) : "",
            first ? String.format(Locale.ROOT, "%,.0f/s (%.0f %%)", r.latencyRate, 100 * r.latencyRate / r.maxRate) : "",
            first ? String.format(Locale.ROOT, "%,.0f", out) : "", label(e.getKey()),
            median(hs.stream().mapToDouble(h -> h.getValueAtPercentile(50)).toArray()),
            median(hs.stream().mapToDouble(h -> h.getValueAtPercentile(99)).toArray()),
            median(hs.stream().mapToDouble(h -> h.getValueAtPercentile(99.9)).toArray()),
            hs.stream().mapToLong(Histogram::getTotalCount).sum());
        first = false;
      }
    }
    int cores = Runtime.getRuntime().availableProcessors();
    for (JobResult r : results.values()) {
      if (r.windows.isEmpty()) {
        continue;
      }
      double total = median(r.windows.stream().mapToDouble(w -> w.cpu().microsPerEvent()).toArray());
      double broker = median(r.windows.stream().mapToDouble(w -> w.cpu().microsPerEvent("broker")).toArray());
      say("%s: CPU per event at the latency load %.0f µs (broker %.0f, Flink + generator + reader JVM %.0f); %d cores"
              + " fully used would carry at most about %,.0f events/s. Most CPU per event: %s", r.kind, total, broker,
          total - broker, cores, total == 0 ? 0 : cores * 1e6 / total, r.windows.get(r.windows.size() / 2).cpu().top(6));
    }
    JobResult pt = results.get(PASS_THROUGH);
    for (String kind : List.of(FULL, FULL_MODEL)) {
      JobResult full = results.get(kind);
      if (full == null) {
        continue;
      }
      if (full.model != null) {
        say("%s served %s", kind, full.model);
      }
      if (pt != null && pt.maxRate > 0) {
        say("%s / pass-through max sustainable rate: %.3f", kind, full.maxRate / pt.maxRate);
      }
      if (full.state != null) {
        say("%s: ranker state per active user: %,.0f bytes (RocksDB estimate-live-data-size; %,.0f bytes of SST"
                + " files), %,d active users, %.1f interactions each", kind, full.state.livePerUser(),
            full.state.sstPerUser(), full.state.activeUsers(),
            full.state.interactions() / (double) Math.max(1, full.state.activeUsers()));
      }
    }
    results.values().forEach(r -> say("load average during the %s latency windows: %s", r.kind, r.loadAverage));
    say("Harness-only settings: lag sampled every 2 s from the REST API; broker in its own JVM %s; load generator producer: Kafka client defaults"
        + " (linger.ms 5, acks all); output reader: %s; %d users, %d items, request share %.2f, seed %d;"
        + " step %s (first %s discarded), JIT warm-up %s, latency windows %d × %s; local Flink cluster managed"
        + " memory %s, metrics.fetcher.update-interval 1 s, RocksDB native size metrics on",
        BrokerProcess.JVM_OPTIONS, OutputReader.settings(), users, items, requestShare, seed, step, stepWarmup, warmup,
        repeats, latencyWindow, MANAGED_MEMORY);
    say("Reproduce: %s", COMMAND);
  }

  private static String label(OutputReader.Kind k) {
    return switch (k) {
      case REQUEST -> "request → slate";
      case INTERACTION -> "interaction → slate (immediate)";
      case DEBOUNCED -> "interaction → slate (debounced, timer)";
      case PASS_THROUGH -> "event → copy";
    };
  }

  static double median(double[] values) {
    if (values.length == 0) {
      return Double.NaN;
    }
    double[] v = values.clone();
    Arrays.sort(v);
    return v.length % 2 == 1 ? v[v.length / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
  }

  private static String shortName(String vertex) {
    String s = vertex.replaceFirst("^Source: ", "");
    int arrow = s.indexOf(" -> ");
    s = arrow > 0 ? s.substring(0, arrow) : s;
    return s.length() > 8 ? s.substring(0, 8) : s;
  }

  private static String loadAverage() {
    try {
      String[] f = Files.readString(Path.of("/proc/loadavg")).trim().split("\\s+");
      return f[0] + " " + f[1] + " " + f[2];
    } catch (IOException e) {
      return "unknown";
    }
  }

  private static void deleteRecursively(Path dir) {
    try (var paths = Files.walk(dir)) {
      paths.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
    } catch (IOException e) {
      // a leftover checkpoint directory under target/ is harmless
    }
  }

  private static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  private static void sleep(Duration d) throws InterruptedException {
    Thread.sleep(d.toMillis());
  }

  private void say(String fmt, Object... args) {
    String line = args.length == 0 ? fmt : String.format(Locale.ROOT, fmt, args);
    System.out.println(line);
    System.out.flush();
    if (report != null) {
      report.println(line);
    }
  }

}
