package io.slatestream.local;

import io.slatestream.avro.CandidateSource;
import io.slatestream.avro.DeadLetter;
import io.slatestream.avro.Label;
import io.slatestream.avro.Slate;
import io.slatestream.avro.SlateTrigger;
import io.slatestream.avro.TrainingExample;
import io.slatestream.config.CommandLine;
import io.slatestream.config.JobConfig;
import io.slatestream.serde.AvroCodec;
import io.slatestream.sim.Catalog;
import io.slatestream.sim.Population;
import io.slatestream.sim.ServedSlate;
import io.slatestream.sim.SimSettings;
import io.slatestream.sim.Simulator;
import io.slatestream.train.TrainCommand;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryPoolMXBean;
import java.lang.management.MemoryType;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.avro.file.DataFileWriter;
import org.apache.avro.specific.SpecificDatumWriter;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.core.execution.SavepointFormatType;
import org.apache.flink.util.TimeUtils;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;

/**
 * Everything on one machine, for a first look: a real single-node Kafka broker (KRaft, loopback),
 * the topics, the job on a local Flink cluster with the RocksDB state backend, and the closed-loop
 * simulator ({@link Simulator}): a catalog and a population with known preferences who read the
 * slates the job writes and answer them, plus some garbage for the dead-letter path.
 *
 * <p>By default it is a demo in two phases: the heuristic serves for {@code --phase1} while the job
 * logs training examples; then {@code train} learns a model from them (in this process, with the
 * simulator still running) and publishes a ModelRelease, which the running job rolls out; the
 * model serves its users for {@code --phase2}. Half of the users, chosen by the control-group hash
 * of {@code model.holdout-share}, are served throughout by a second deployment of the job that never
 * gets the model ({@link SplitOutbox}): a control group with its own item statistics, so neither
 * arm learns from the other's slates. Progress every 5 s; at the end a summary with the like rate
 * of each group, the model's lift over the control group with its 95 % interval (and net of the
 * groups' own difference in phase 1), the reference policies
 * run offline on the same world, and a report (target/local-run/report/index.html). With
 * {@code --duration} it is a single heuristic run of that length instead (0 = until Ctrl-C).
 *
 * <p>Options: {@code --phase1 180s --phase2 120s --users 1000 --items 2000 --rate 500 --seed 42
 * --categories 12 --creators 250 --new-items-per-minute 20 --parallelism 2}; any other
 * {@code --key value} is a job option (see the README).
 */
public final class LocalRun {

  private final Map<String, String> jobOptions = new LinkedHashMap<>();
  /** Set: a single heuristic run this long (0 = until Ctrl-C). Null: the two-phase demo. */
  private Duration duration;
  private Duration phase1 = Duration.ofSeconds(180);
  private Duration phase2 = Duration.ofSeconds(120);
  private int parallelism = 2;
  /**
   * 1,000 users at 500 events/s: each user sends about 90 events in phase 1, enough history for
   * affinities to mean something. With 5,000 users (about 18 each) the model learns from cold
   * profiles only and loses to the heuristic on the warmer ones of phase 2 (README, The local demo).
   */
  private SimSettings world = SimSettings.defaults().withUsers(1_000);

  private final AtomicLong slatesOut = new AtomicLong();
  private final AtomicLong requestSlates = new AtomicLong();
  private final AtomicLong deadLettersOut = new AtomicLong();
  private final Map<String, AtomicLong> deadLetterReasons = new ConcurrentHashMap<>();
  /** The latest slate of each simulated user, as the simulator reads it. */
  private final Map<Integer, ServedSlate> latestSlates = new ConcurrentHashMap<>();
  private final AtomicReference<Slate> exampleSlate = new AtomicReference<>();
  private final AtomicLong answeredFromSlate = new AtomicLong();
  private final AtomicLong likesFromSlate = new AtomicLong();
  private final Map<String, AtomicLong> likesBySource = new ConcurrentHashMap<>();
  private final Map<String, AtomicLong> servedBySource = new ConcurrentHashMap<>();
  private final AtomicLong examplesOut = new AtomicLong();
  private final AtomicLong likedExamples = new AtomicLong();
  /** The job's logged training examples, for `mvn -Ptrain` to learn from. */
  private DataFileWriter<TrainingExample> examplesFile;
  private final Path examplesPath = Path.of("target", "local-run", "training-examples.avro");
  private final Path reportDir = Path.of("target", "local-run", "report");
  private final Path modelsDir = Path.of("target", "local-run", "models");
  private DemoStats stats;

  /** The demo's model: its version once released, when, and what training reported. */
  static final String MODEL_VERSION = "demo-m1";
  static final String HEURISTIC = io.slatestream.ranking.HeuristicScorer.VERSION;
  /** The heuristic's slates for the control group once the model is live. */
  static final String CONTROL = HEURISTIC + " control";
  /** Share of the users the control deployment serves in a two-phase run. */
  static final double CONTROL_SHARE = 0.5;
  /** Offline reference policies, run after the job on the same simulated world. */
  static final List<String> REFERENCES = List.of("popularity", "heuristic", "oracle");
  private volatile String phase = "run";
  private io.slatestream.ranking.ModelHoldout holdout = new io.slatestream.ranking.ModelHoldout(0);
  private final Map<String, io.slatestream.eval.Evaluation.Online> references = new LinkedHashMap<>();
  private volatile long trainingStartMs;
  private volatile long releaseMs;
  private volatile long firstModelSlateMs;
  private volatile TrainCommand.Outcome trained;
  private volatile long trainingMs;
  private volatile String trainingFailure;

  private volatile long peakHeapUsed;
  private volatile long peakHeapAfterGc;

  public static void main(String[] args) throws Exception {
    LocalRun run = new LocalRun();
    run.parse(args);
    run.run();
  }

  private void parse(String[] args) {
    var s = world;
    for (CommandLine.Arg a : CommandLine.parse(args)) {
      String k = a.key();
      String v = a.value();
      switch (k) {
        case "duration" -> duration = TimeUtils.parseDuration(v);
        case "phase1" -> phase1 = TimeUtils.parseDuration(v);
        case "phase2" -> phase2 = TimeUtils.parseDuration(v);
        case "parallelism" -> parallelism = Integer.parseInt(v);
        case "users" -> s = s.withUsers(Integer.parseInt(v));
        case "items" -> s = s.withItems(Integer.parseInt(v));
        case "rate" -> s = s.withEventsPerSecond(Double.parseDouble(v));
        case "seed" -> s = s.withSeed(Long.parseLong(v));
        case "categories" -> s = s.withCategories(Integer.parseInt(v));
        case "creators" -> s = s.withCreators(Integer.parseInt(v));
        case "new-items-per-minute" -> s = s.withNewItemsPerMinute(Double.parseDouble(v));
        default -> jobOptions.put(k, v);
      }
    }
    world = s;
  }

  private void run() throws Exception {
    Path workDir = Files.createDirectories(Path.of("target", "local-run"));
    examplesFile = new DataFileWriter<>(new SpecificDatumWriter<>(TrainingExample.class));
    examplesFile.create(TrainingExample.getClassSchema(), examplesPath.toFile());
    Map<String, String> opts = new LinkedHashMap<>();
    // Simulated users read a slate to its end (10-30 s) before they look at the next one: slates
    // served more often would mostly go unread, and answers come up to a few tens of seconds
    // after a slate was served. The label window covers that and stays short, so that a short
    // phase 1 has its silences labelled too (train leaves out the last window).
    opts.put("slate.debounce", "10 s");
    opts.put("training.label-window", "30 s");
    opts.putAll(jobOptions);
    try (LocalStack stack = LocalStack.start(opts, parallelism, workDir, flink -> {}, LocalRun::say)) {
      EmbeddedKafka kafka = stack.kafka();
      JobConfig config = stack.config();
      JobConfig controlConfig = null;
      if (duration == null) {
        // Half of the users, by the control-group hash, are served by a second deployment of the
        // job that never gets the model: its own topics, state and item statistics, so the model
        // is measured against the same minutes without sharing what either arm learns.
        holdout = new io.slatestream.ranking.ModelHoldout(CONTROL_SHARE);
        Map<String, String> controlOpts = new LinkedHashMap<>(opts);
        controlOpts.putAll(config.prefixedTopics("control-"));
        controlOpts.put("kafka.group.id", config.groupId + "-control");
        controlOpts.put("job.name", config.jobName + "-control");
        controlOpts.put("kafka.bootstrap.servers", stack.bootstrapServers());
        say("Starting the control deployment (the heuristic throughout, for the %.0f%% of users held out)",
            100 * CONTROL_SHARE);
        controlConfig = stack.deployAnother(controlOpts).config();
      }
      JobClient job = stack.job();
      int restPort = stack.restPort();
      opts.put("kafka.bootstrap.servers", stack.bootstrapServers());

      AtomicBoolean stopping = new AtomicBoolean();
      CountDownLatch done = new CountDownLatch(1);
      Thread main = Thread.currentThread();
      Runtime.getRuntime().addShutdownHook(new Thread(() -> {
        if (stopping.compareAndSet(false, true)) {
          say("Stopping (Ctrl-C) ...");
          main.interrupt();
          try {
            done.await();
          } catch (InterruptedException ignored) {
            Thread.currentThread().interrupt();
          }
        }
      }));

      stats = new DemoStats(System.currentTimeMillis());
      // Sampled until the offline references are done too: the heap must hold them as well.
      AtomicBoolean heapSampled = new AtomicBoolean();
      Thread heap = new Thread(() -> sampleHeap(heapSampled), "heap-sampler");
      heap.setDaemon(true);
      heap.start();
      JobConfig control = controlConfig;
      Thread reader = new Thread(() -> readOutputs(config, control, kafka.bootstrapServers(), stopping),
          "output-reader");
      reader.setDaemon(true);
      reader.start();

      try (KafkaProducer<byte[], byte[]> producer = stack.producer()) {
        Simulator.Outbox outbox = control == null ? new KafkaOutbox(config, producer)
            : new SplitOutbox(new KafkaOutbox(config, producer), new KafkaOutbox(control, producer), holdout);
        Simulator gen = new Simulator(world, System.currentTimeMillis(), outbox,
            latestSlates::get);
        gen.observer((t, user, slate, position, item, answer, likeProbability) -> {
          stats.answered(t, slate.modelVersion(), answer, likeProbability);
          if (slate.modelVersion().equals(HEURISTIC) && releaseMs == 0) {
            // Phase 1, everyone on the heuristic: the groups phase 2 will compare, before it.
            stats.answeredInGroup(holdout.holdsOut(Population.userId(user)) ? CONTROL : MODEL_VERSION, answer,
                likeProbability);
          }
          answeredFromSlate.incrementAndGet();
          if (answer == Simulator.Answer.LIKE) {
            likesFromSlate.incrementAndGet();
            likesBySource.computeIfAbsent(slate.source(position), k -> new AtomicLong()).incrementAndGet();
          }
        });
        gen.publishCatalog();
        producer.flush();
        say("Published %,d catalog items in %d categories by %,d creators (+%.0f per minute); %,d simulated users"
            + " sending about %.0f events/s for %s", world.items(), world.categories(), world.creators(),
            world.newItemsPerMinute(), world.users(), world.eventsPerSecond(), duration == null
                ? "phase 1 (" + phase1.toSeconds() + " s), training, and phase 2 (" + phase2.toSeconds() + " s)"
                : duration.isZero() ? "ever (Ctrl-C stops)" : duration.toSeconds() + " s");
        Thread progress = new Thread(() -> progress(gen, stopping), "progress");
        progress.setDaemon(true);
        progress.start();
        try {
          if (duration != null) {
            runUntil(gen, duration.isZero() ? Long.MAX_VALUE : System.currentTimeMillis() + duration.toMillis());
          } else {
            phases(gen, opts);
          }
          producer.flush();
          awaitAnswers(gen);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
        String jobLatency = jobLatency(restPort, job.getJobID().toString());
        stopping.set(true);
        String savepoint = stopWithSavepoint(job, workDir);
        reader.join(5_000);
        synchronized (examplesFile) {
          examplesFile.close();
        }
        if (duration == null && trained != null) {
          runReferences(config);
        }
        heapSampled.set(true);
        heap.join(2_000);
        summary(gen, jobLatency);
        if (savepoint != null) {
          say("  savepoint                %s", savepoint);
          say("    export its features:   mvn -Pinspect -Dinspect.args=\"--savepoint %s --output target/inspect\"",
              savepoint);
        }
        report();
      } finally {
        stopping.set(true);
        done.countDown();
      }
    }
  }

  /** Runs the simulator on the wall clock until {@code untilMs}: event times are real, so latencies are too. */
  private static void runUntil(Simulator gen, long untilMs) throws InterruptedException {
    while (System.currentTimeMillis() < untilMs) {
      gen.advanceTo(System.currentTimeMillis());
      Thread.sleep(5);
    }
  }

  /**
   * Phase 1 (the heuristic serves, the job logs training examples), training in this process while
   * the simulator keeps running, the release published to the running job, then phase 2.
   */
  private void phases(Simulator gen, Map<String, String> jobOpts) throws InterruptedException {
    phase = "phase 1";
    say("Phase 1: the heuristic serves for %d s; the job logs every served item with its answer", phase1.toSeconds());
    runUntil(gen, System.currentTimeMillis() + phase1.toMillis());
    phase = "training";
    trainingStartMs = System.currentTimeMillis();
    say("Phase 1 over: training %s on the examples the job logged (train --from-topic --publish); users keep"
        + " being served by the heuristic meanwhile", MODEL_VERSION);
    CompletableFuture<TrainCommand.Outcome> training = CompletableFuture.supplyAsync(() -> train(jobOpts), r -> {
      Thread t = new Thread(r, "trainer");
      t.setDaemon(true);
      t.start();
    });
    while (!training.isDone()) {
      gen.advanceTo(System.currentTimeMillis());
      Thread.sleep(5);
    }
    trainingMs = System.currentTimeMillis() - trainingStartMs;
    try {
      trained = training.join();
      releaseMs = System.currentTimeMillis();
      var card = trained.card();
      say("Model %s trained in %.1f s on %,d examples (validated on the latest %,d: AUC %.3f, log loss %.3f);"
              + " ModelRelease published, the running job switches to it without a restart",
          MODEL_VERSION, trainingMs / 1000.0, card.train().rows(), card.validation().rows(),
          card.validationMetrics().auc(), card.validationMetrics().logLoss());
    } catch (java.util.concurrent.CompletionException e) {
      trainingFailure = String.valueOf(e.getCause());
      say("Training failed (%s); phase 2 goes on with the heuristic", trainingFailure);
    }
    phase = "phase 2";
    say("Phase 2: %s serves for %d s", trained == null ? "the heuristic" : MODEL_VERSION, phase2.toSeconds());
    runUntil(gen, System.currentTimeMillis() + phase2.toMillis());
  }

  /** The train command itself, on the training-examples topic, publishing to model-releases. */
  private TrainCommand.Outcome train(Map<String, String> jobOpts) {
    List<String> args = new ArrayList<>(List.of("--from-topic", "--publish", "--version", MODEL_VERSION,
        "--output", modelsDir.resolve(MODEL_VERSION).toString()));
    jobOpts.forEach((k, v) -> {
      args.add("--" + k);
      args.add(v);
    });
    try {
      return TrainCommand.run(args.toArray(String[]::new));
    } catch (Exception e) {
      throw new java.util.concurrent.CompletionException(e);
    }
  }

  /**
   * Heap in use, sampled every second: the peak used (garbage included) and the peak of what the
   * last collection left (close to the live set).
   */
  private void sampleHeap(AtomicBoolean stopping) {
    List<MemoryPoolMXBean> pools = ManagementFactory.getMemoryPoolMXBeans().stream()
        .filter(p -> p.getType() == MemoryType.HEAP).toList();
    while (!stopping.get()) {
      peakHeapUsed = Math.max(peakHeapUsed, ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed());
      long afterGc = 0;
      for (MemoryPoolMXBean p : pools) {
        var u = p.getCollectionUsage();
        afterGc += u == null ? 0 : u.getUsed();
      }
      peakHeapAfterGc = Math.max(peakHeapAfterGc, afterGc);
      try {
        Thread.sleep(1_000);
      } catch (InterruptedException e) {
        return;
      }
    }
  }

  /**
   * Lets the last events come through: waits until every request sent was answered or refused as
   * rate-limited (at most 30 s, on a busy machine the job may lag), then 3 s for labels and
   * interaction slates.
   */
  private void awaitAnswers(Simulator gen) throws InterruptedException {
    long deadline = System.currentTimeMillis() + 30_000;
    while (System.currentTimeMillis() < deadline && requestSlates.get()
        + deadLetterReasons.getOrDefault("rate-limited", new AtomicLong()).get() < gen.requestsSent.get()) {
      Thread.sleep(100);
    }
    Thread.sleep(3_000);
  }

  /**
   * Ends the job with a savepoint under {@code workDir}/savepoints, for the inspect command and the
   * notebooks; cancels it if that fails. After Ctrl-C too: the interrupt that ended the generator
   * has done its work and is cleared, so the savepoint and the summary still happen.
   */
  private static String stopWithSavepoint(JobClient job, Path workDir) throws Exception {
    Thread.interrupted();
    try {
      return job.stopWithSavepoint(false, workDir.resolve("savepoints").toAbsolutePath().toUri().toString(),
          SavepointFormatType.CANONICAL).get(2, TimeUnit.MINUTES);
    } catch (ExecutionException | TimeoutException e) {
      say("No savepoint (%s); cancelling the job", e.getCause() == null ? e : e.getCause().getMessage());
      job.cancel().get();
      return null;
    }
  }

  /**
   * Reads the job's outputs (and the control deployment's slates and dead letters, when there is
   * one) for the simulator, the statistics and the examples file.
   */
  private void readOutputs(JobConfig config, JobConfig control, String bootstrap, AtomicBoolean stopping) {
    Properties p = new Properties();
    p.put("bootstrap.servers", bootstrap);
    p.put("group.id", "local-run-observer");
    p.put("auto.offset.reset", "earliest");
    p.put("isolation.level", "read_committed");
    p.put("key.deserializer", "org.apache.kafka.common.serialization.ByteArrayDeserializer");
    p.put("value.deserializer", "org.apache.kafka.common.serialization.ByteArrayDeserializer");
    AvroCodec<Slate> slates = AvroCodec.of(Slate.class);
    AvroCodec<DeadLetter> deadLetters = AvroCodec.of(DeadLetter.class);
    AvroCodec<TrainingExample> examples = AvroCodec.of(TrainingExample.class);
    try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p)) {
      List<String> topics = new ArrayList<>(List.of(config.topicRecommendations, config.topicDeadLetters,
          config.topicTrainingExamples));
      if (control != null) {
        topics.addAll(List.of(control.topicRecommendations, control.topicDeadLetters));
      }
      c.subscribe(topics);
      while (!stopping.get()) {
        for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(200))) {
          long now = System.currentTimeMillis();
          if (r.topic().equals(config.topicRecommendations)
              || control != null && r.topic().equals(control.topicRecommendations)) {
            Slate s = slates.decode(r.value());
            slatesOut.incrementAndGet();
            int user = Population.parseUserId(s.getUserId());
            if (user >= 0) {
              latestSlates.put(user, served(s));
            }
            if (s.getItems().size() >= 3) {
              exampleSlate.set(s);
            }
            s.getItems().forEach(i -> servedBySource.computeIfAbsent(i.getSource().name(), k -> new AtomicLong())
                .incrementAndGet());
            if (s.getTrigger() == SlateTrigger.REQUEST) {
              requestSlates.incrementAndGet();
              stats.latency(now, arm(s), now - s.getTriggerEventTimeMs());
            }
            if (firstModelSlateMs == 0 && releaseMs > 0 && MODEL_VERSION.equals(s.getModelVersion())) {
              firstModelSlateMs = now;
            }
          } else if (r.topic().equals(config.topicTrainingExamples)) {
            TrainingExample e = examples.decode(r.value());
            examplesOut.incrementAndGet();
            if (e.getLabel() == Label.LIKE) {
              likedExamples.incrementAndGet();
            }
            synchronized (examplesFile) {
              examplesFile.append(e);
            }
          } else {
            DeadLetter d = deadLetters.decode(r.value());
            deadLettersOut.incrementAndGet();
            String reason = d.getError().split(":", 2)[0];
            deadLetterReasons.computeIfAbsent(reason, k -> new AtomicLong()).incrementAndGet();
          }
        }
      }
    } catch (Exception e) {
      if (!stopping.get()) {
        say("Output reader failed: %s", e);
      }
    }
  }

  /**
   * Which group answers to this slate count for: the model; the heuristic before the model was
   * live; or, once it is, the heuristic for users of the control group (model.holdout-share).
   */
  private String arm(Slate s) {
    String model = s.getModelVersion();
    if (model.equals(HEURISTIC) && releaseMs > 0 && s.getGeneratedAtMs() >= releaseMs
        && holdout.holdsOut(s.getUserId())) {
      return CONTROL;
    }
    return model;
  }

  /** The slate as the simulator reads it: item numbers and sources in rank order, and its group. */
  private ServedSlate served(Slate s) {
    int n = s.getItems().size();
    int[] items = new int[n];
    String[] sources = new String[n];
    for (int i = 0; i < n; i++) {
      items[i] = Catalog.parseItemId(s.getItems().get(i).getItemId());
      sources[i] = s.getItems().get(i).getSource().name();
    }
    return new ServedSlate(s.getSlateId(), items, arm(s), sources);
  }

  private void progress(Simulator gen, AtomicBoolean stopping) {
    long start = System.currentTimeMillis();
    long lastEvents = 0;
    long lastAt = start;
    while (!stopping.get()) {
      try {
        Thread.sleep(5_000);
      } catch (InterruptedException e) {
        return;
      }
      long now = System.currentTimeMillis();
      long events = gen.interactionsSent.get() + gen.requestsSent.get() + gen.garbageSent.get();
      long[] recent = stats.latencies(null, lastAt);
      StringBuilder likeRates = new StringBuilder();
      for (String model : stats.models()) {
        DemoStats.Tally t = stats.tally(model);
        if (t.answers > 0) {
          likeRates.append(likeRates.length() == 0 ? "" : ", ").append(String.format("%s %.1f%%", model,
              100 * t.likeRate()));
        }
      }
      say("[%4ds] %-8s | events in %,9d (%5.0f/s) | slates out %,8d | dead letters %,6d | request->slate p50 %s"
              + " p99 %s | like rate %s",
          (now - start) / 1000, phase, events, (events - lastEvents) * 1000.0 / Math.max(1, now - lastAt),
          slatesOut.get(), deadLettersOut.get(), ms(DemoStats.quantile(recent, 0.5)),
          ms(DemoStats.quantile(recent, 0.99)), likeRates.length() == 0 ? "-" : likeRates);
      lastEvents = events;
      lastAt = now;
    }
  }

  /** A quantile of all request-to-slate latencies so far. */
  private String pct(double q) {
    return ms(DemoStats.quantile(stats.latencies(null, Long.MIN_VALUE), q));
  }

  private static String ms(long v) {
    return v < 0 ? "-" : v + " ms";
  }

  /** Per candidate source: items served (every slate read back) and liked (answers to a slate). */
  private void sourceTable() {
    say("  %-26s %12s %10s %14s", "candidate source", "served", "liked", "liked/served");
    long served = 0;
    long liked = 0;
    for (CandidateSource source : CandidateSource.values()) {
      long s = servedBySource.getOrDefault(source.name(), new AtomicLong()).get();
      long l = likesBySource.getOrDefault(source.name(), new AtomicLong()).get();
      if (s > 0 || l > 0) {
        say("    %-24s %,12d %,10d %13.1f%%", source, s, l, s == 0 ? 0.0 : 100.0 * l / s);
      }
      served += s;
      liked += l;
    }
    say("    %-24s %,12d %,10d %13.1f%%", "all", served, liked, served == 0 ? 0.0 : 100.0 * liked / served);
  }

  /** The job's own eventToSlateLatencyMs histogram, read from the local cluster's REST API. */
  private static String jobLatency(int restPort, String jobId) {
    boolean stoppedByUser = Thread.interrupted(); // Ctrl-C: still read them, briefly
    try {
      List<RankerMetrics.Latency> subtasks = new RankerMetrics(restPort).latency(jobId,
          Duration.ofSeconds(stoppedByUser ? 5 : 20));
      if (subtasks.isEmpty()) {
        return "job metric eventToSlateLatencyMs: not reported yet";
      }
      StringBuilder b = new StringBuilder("job metric eventToSlateLatencyMs (ranker, REST; last 10,000 slates per subtask):");
      for (RankerMetrics.Latency l : subtasks) {
        b.append(String.format(" subtask %d p50 %.0f ms p99 %.0f ms (%,d slates);", l.subtask(), l.p50(), l.p99(),
            l.slatesEmitted()));
      }
      return b.substring(0, b.length() - 1);
    } catch (Exception e) {
      if (e instanceof InterruptedException) {
        Thread.currentThread().interrupt();
      }
      return "job metric eventToSlateLatencyMs: unavailable (" + e + ")";
    } finally {
      if (stoppedByUser) {
        Thread.currentThread().interrupt();
      }
    }
  }

  private void summary(Simulator gen, String jobLatency) {
    say("");
    say("Summary");
    say("  interactions sent        %,d (%,d likes, %,d quick skips)", gen.interactionsSent.get(),
        gen.likesSent.get(), gen.quickSkipsSent.get());
    say("  simulated sessions       %,d; catalog items published %,d (%,d during the run)",
        gen.sessionsStarted.get(), gen.itemsPublished.get(), gen.itemsPublished.get() - world.items());
    say("  slate requests sent      %,d", gen.requestsSent.get());
    say("  garbage records sent     %,d", gen.garbageSent.get());
    say("  slates received          %,d (%,d answering requests, %,d users)", slatesOut.get(), requestSlates.get(), latestSlates.size());
    say("  dead letters received    %,d %s", deadLettersOut.get(), new TreeMap<>(deadLetterReasons));
    sourceTable();
    say("  training examples logged %,d (%,d likes) -> %s", examplesOut.get(), likedExamples.get(), examplesPath);
    say("  request -> slate latency p50 %s, p99 %s (wall clock, through Kafka)", pct(0.5), pct(0.99));
    say("  %s", jobLatency);
    long answered = answeredFromSlate.get();
    say("  like rate on served items %.1f%% (%,d of %,d answers to a slate)",
        answered == 0 ? 0.0 : 100.0 * likesFromSlate.get() / answered, likesFromSlate.get(), answered);
    java.util.Optional.ofNullable(exampleSlate.get()).ifPresent(s ->
        say("  e.g. %s's slate (%s, %s): %s", s.getUserId(), s.getTrigger(), s.getModelVersion(),
            s.getItems().stream().limit(5).map(i -> i.getItemId() + String.format("(%.2f)", i.getScore())).toList()));
    phaseSummary();
  }

  /** One row per model that served: its phase, answers, like rates, quick skips, latency. */
  private List<String[]> phaseTable() {
    List<String[]> rows = new ArrayList<>();
    rows.add(new String[] {"phase (model)", "answers", "like rate", "truth-expected like rate", "quick-skip rate",
        "request->slate p50", "p99"});
    for (String model : stats.models()) {
      DemoStats.Tally t = stats.tally(model);
      long[] l = stats.latencies(model, Long.MIN_VALUE);
      String name = model.equals(HEURISTIC) ? "1 (" + model + ")"
          : model.equals(MODEL_VERSION) ? "2 (" + model + ")"
          : model.equals(CONTROL) ? "2 (" + HEURISTIC + ", control)" : model;
      rows.add(new String[] {name, String.format("%,d", t.answers), percent(t.likeRate()),
          percent(t.expectedLikeRate()), percent(t.quickSkipRate()), ms(DemoStats.quantile(l, 0.5)),
          ms(DemoStats.quantile(l, 0.99))});
    }
    references.forEach((policy, o) -> rows.add(new String[] {"offline: " + policy, String.format("%,d", o.impressions()),
        percent(o.likeRate()), "-", percent(o.quickSkipRate()), "-", "-"}));
    return rows;
  }

  private static String percent(double v) {
    return Double.isNaN(v) ? "-" : String.format("%.1f%%", 100 * v);
  }

  /**
   * The model's lift: against the control group in the same minutes (the measurement), against
   * phase 1, and against the offline references; or why there is none.
   */
  private String lift() {
    DemoStats.Tally h = stats.tally(HEURISTIC);
    DemoStats.Tally m = stats.tally(MODEL_VERSION);
    DemoStats.Tally c = stats.tally(CONTROL);
    if (m.answers == 0) {
      return trainingFailure != null ? "no lift measured: training failed (" + trainingFailure + ")"
          : "no lift measured: no slate ranked by the model was answered";
    }
    StringBuilder b = new StringBuilder();
    if (c.answers > 0) {
      double diff = m.likeRate() - c.likeRate();
      double se = Math.sqrt(m.likeRate() * (1 - m.likeRate()) / m.answers
          + c.likeRate() * (1 - c.likeRate()) / c.answers);
      b.append(String.format("%s %.1f%% vs the heuristic's control group %.1f%% in the same minutes: %+.1f%% relative,"
              + " %+.1f points (95%% interval %+.1f to %+.1f); truth-expected like rate %.1f%% vs %.1f%%;"
              + " quick skips %.1f%% vs %.1f%%", MODEL_VERSION, 100 * m.likeRate(), 100 * c.likeRate(),
          100 * (m.likeRate() / c.likeRate() - 1), 100 * diff, 100 * (diff - 1.96 * se), 100 * (diff + 1.96 * se),
          100 * m.expectedLikeRate(), 100 * c.expectedLikeRate(), 100 * m.quickSkipRate(), 100 * c.quickSkipRate()));
      // The halves are one fixed split of the users, so they differ a little whoever serves them:
      // the same halves' difference in phase 1, both on the heuristic, is taken off.
      DemoStats.Tally m1 = stats.group(MODEL_VERSION);
      DemoStats.Tally c1 = stats.group(CONTROL);
      if (m1.answers > 0 && c1.answers > 0) {
        double before = m1.likeRate() - c1.likeRate();
        double did = diff - before;
        double seDid = Math.sqrt(se * se + m1.likeRate() * (1 - m1.likeRate()) / m1.answers
            + c1.likeRate() * (1 - c1.likeRate()) / c1.answers);
        b.append(String.format("; in phase 1, both on the heuristic, the same halves differed by %+.1f points"
                + " (%.1f%% vs %.1f%%), so the model's difference in differences is %+.1f points (95%% interval"
                + " %+.1f to %+.1f)", 100 * before, 100 * m1.likeRate(), 100 * c1.likeRate(), 100 * did,
            100 * (did - 1.96 * seDid), 100 * (did + 1.96 * seDid)));
      }
    } else {
      b.append("no control group (model.holdout-share 0)");
    }
    // Phase 1 starts cold (no item statistics, no user history): its last minute is shown too.
    DemoStats.Tally warm = new DemoStats.Tally();
    long from = trainingStartMs - stats.startMs() - 60_000;
    stats.overTime().forEach((bucket, byModel) -> {
      DemoStats.Tally t = byModel.get(HEURISTIC);
      if (t != null && bucket >= from && bucket + DemoStats.BUCKET_MS <= trainingStartMs - stats.startMs()) {
        warm.answers += t.answers;
        warm.likes += t.likes;
      }
    });
    if (h.answers > 0) {
      b.append(String.format("; phase 1 (heuristic, from cold) %.1f%%, its last minute %s", 100 * h.likeRate(),
          percent(warm.likeRate())));
    }
    io.slatestream.eval.Evaluation.Online pop = references.get("popularity");
    if (pop != null) {
      b.append(String.format("; popularity %.1f%% offline (%+.0f%% relative to it)", 100 * pop.likeRate(),
          100 * (m.likeRate() / pop.likeRate() - 1)));
    }
    return b.toString();
  }

  /**
   * The reference policies of {@code mvn -Peval} on this run's simulated world (same seed,
   * population, catalogue and event rate), offline: the heuristic serves for phase 1 and training,
   * then the policy for phase 2. No Kafka and no Flink, so the heuristic's offline row shows how
   * far the offline and the live figures agree.
   */
  private void runReferences(JobConfig config) {
    long warmupMs = releaseMs - stats.startMs();
    io.slatestream.eval.Evaluation eval = new io.slatestream.eval.Evaluation(new io.slatestream.eval.Evaluation.Settings(
        world, warmupMs, phase2.toMillis(), config.slateSize, 0.2, config, io.slatestream.model.TrainerConfig.defaults(),
        io.slatestream.model.ExampleSelection.ANSWERED));
    long started = System.currentTimeMillis();
    say("Running the reference policies offline on the same simulated world (%s)...", String.join(", ", REFERENCES));
    List<CompletableFuture<io.slatestream.eval.Evaluation.Online>> runs = REFERENCES.stream()
        .map(p -> CompletableFuture.supplyAsync(() -> eval.online(p))).toList();
    for (int i = 0; i < REFERENCES.size(); i++) {
      references.put(REFERENCES.get(i), runs.get(i).join());
    }
    say("  done in %.0f s", (System.currentTimeMillis() - started) / 1000.0);
  }

  private String heap() {
    return String.format("JVM heap: max %,d MiB; peak used %,d MiB (sampled each second); peak left after a"
            + " collection %,d MiB", Runtime.getRuntime().maxMemory() >> 20, peakHeapUsed >> 20, peakHeapAfterGc >> 20);
  }

  private void phaseSummary() {
    say("");
    say("Phases (answers to served slates, by the model that ranked the slate)");
    for (String[] row : phaseTable()) {
      say("  %-22s %10s %10s %25s %16s %19s %9s", (Object[]) row);
    }
    if (trained != null) {
      say("  %s: trained in %.1f s on %,d examples, validation AUC %.3f; first slate ranked by it %s", MODEL_VERSION,
          trainingMs / 1000.0, trained.card().train().rows(), trained.card().validationMetrics().auc(),
          firstModelSlateMs > 0 ? (firstModelSlateMs - releaseMs) + " ms after the release" : "not seen");
    }
    if (duration == null) {
      say("  lift: %s", lift());
    }
    say("  %s", heap());
  }

  private void report() {
    List<String> settings = new ArrayList<>(List.of(String.format(
        "%,d users, %,d items in %d categories by %,d creators (+%.0f per minute), about %.0f events/s, seed %d,"
            + " parallelism %d", world.users(), world.items(), world.categories(), world.creators(),
        world.newItemsPerMinute(), world.eventsPerSecond(), world.seed(), parallelism)));
    settings.add(duration == null
        ? String.format("Phase 1 (heuristic) %d s, then training, then phase 2 (model) %d s", phase1.toSeconds(),
            phase2.toSeconds())
        : "A single heuristic run of " + (duration.isZero() ? "unbounded length" : duration.toSeconds() + " s"));
    settings.add("Generated " + java.time.Instant.now());
    List<String> notes = new ArrayList<>();
    if (duration == null) {
      notes.add("Lift: " + lift());
      notes.add("Half of the users, by a hash of their id (model.holdout-share's), are served from start to end by a"
          + " second deployment of the job that never gets the model: model and heuristic are compared over the"
          + " same minutes and catalogue, and each arm's item statistics come from its own users only, so the"
          + " heuristic does not learn from the model's slates nor the model from the heuristic's.");
      if (!references.isEmpty()) {
        notes.add("Offline rows: the reference policies of mvn -Peval on the same simulated world, run after the job"
            + " without Kafka or Flink (every answer gets a fresh slate); the offline heuristic shows how far offline"
            + " and live figures agree.");
      }
      notes.add("The truth-expected like rate averages the simulator's true like probability over the items"
          + " answered: the same comparison with less sampling noise.");
      notes.add("Phase 2 also meets users and items with longer histories than phase 1, which is why the"
          + " control group, not phase 1, is what the model is measured against.");
    }
    if (trained != null) {
      notes.add(String.format("%s: trained in %.1f s on %,d examples logged by the job in phase 1 (validation on the"
              + " latest %,d: AUC %.3f); model and card in %s", MODEL_VERSION, trainingMs / 1000.0,
          trained.card().train().rows(), trained.card().validation().rows(), trained.card().validationMetrics().auc(),
          modelsDir.resolve(MODEL_VERSION)));
    }
    notes.add(heap());
    try {
      Path page = DemoReport.write(reportDir, stats, new DemoReport.RunInfo("slatestream local run", settings,
          trainingStartMs, releaseMs, io.slatestream.ranking.HeuristicScorer.VERSION, MODEL_VERSION, notes),
          phaseTable());
      say("  report: %s", page.toAbsolutePath());
    } catch (Exception | Error e) {
      say("  report not written: %s", e);
    }
  }

  private static void say(String fmt, Object... args) {
    System.out.println(args.length == 0 ? fmt : String.format(fmt, args));
    System.out.flush();
  }
}
