package io.slatestream.local;

import io.slatestream.avro.CandidateSource;
import io.slatestream.avro.DeadLetter;
import io.slatestream.avro.Slate;
import io.slatestream.avro.SlateTrigger;
import io.slatestream.avro.Label;
import io.slatestream.avro.TrainingExample;
import org.apache.avro.file.DataFileWriter;
import org.apache.avro.specific.SpecificDatumWriter;
import io.slatestream.config.JobConfig;
import io.slatestream.serde.AvroCodec;
import io.slatestream.sim.Catalog;
import io.slatestream.sim.Population;
import io.slatestream.sim.ServedSlate;
import io.slatestream.sim.SimSettings;
import io.slatestream.sim.Simulator;
import java.util.concurrent.atomic.AtomicReference;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
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
 * slates the job writes and answer them, plus some garbage for the dead-letter path. Prints
 * progress while it runs and a summary at the end. Stops after {@code --duration} (0 = until Ctrl-C).
 *
 * <p>Options: {@code --duration 60s --users 5000 --items 2000 --rate 500 --seed 42 --categories 12
 * --creators 250 --new-items-per-minute 20 --parallelism 2}; any other {@code --key value} is a job
 * option (see the README).
 */
public final class LocalRun {

  private final Map<String, String> jobOptions = new LinkedHashMap<>();
  private Duration duration = Duration.ofSeconds(60);
  private int parallelism = 2;
  private SimSettings world = SimSettings.defaults();

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
  private final List<Long> latenciesMs = java.util.Collections.synchronizedList(new ArrayList<>());

  public static void main(String[] args) throws Exception {
    LocalRun run = new LocalRun();
    run.parse(args);
    run.run();
  }

  private void parse(String[] args) {
    var s = world;
    for (int i = 0; i + 1 < args.length; i += 2) {
      String k = args[i].replaceFirst("^--", "");
      String v = args[i + 1];
      switch (k) {
        case "duration" -> duration = TimeUtils.parseDuration(v);
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
    if (args.length % 2 != 0) {
      throw new IllegalArgumentException("Expected --key value pairs, got " + Arrays.toString(args));
    }
    world = s;
  }

  private void run() throws Exception {
    Path workDir = Files.createDirectories(Path.of("target", "local-run"));
    examplesFile = new DataFileWriter<>(new SpecificDatumWriter<>(TrainingExample.class));
    examplesFile.create(TrainingExample.getClassSchema(), examplesPath.toFile());
    Map<String, String> opts = new LinkedHashMap<>();
    opts.put("slate.debounce", "2 s");
    opts.put("training.label-window", "30 s"); // short, so a short run labels its silences too
    opts.putAll(jobOptions);
    try (LocalStack stack = LocalStack.start(opts, parallelism, workDir, flink -> {}, LocalRun::say)) {
      EmbeddedKafka kafka = stack.kafka();
      JobConfig config = stack.config();
      JobClient job = stack.job();
      int restPort = stack.restPort();

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

      Thread reader = new Thread(() -> readOutputs(config, kafka.bootstrapServers(), stopping), "output-reader");
      reader.setDaemon(true);
      reader.start();

      try (KafkaProducer<byte[], byte[]> producer = stack.producer()) {
        Simulator gen = new Simulator(world, System.currentTimeMillis(), new KafkaOutbox(config, producer),
            latestSlates::get);
        gen.observer((t, user, slate, position, item, answer, likeProbability) -> {
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
            world.newItemsPerMinute(), world.users(), world.eventsPerSecond(),
            duration.isZero() ? "ever (Ctrl-C stops)" : duration.toSeconds() + " s");
        Thread progress = new Thread(() -> progress(gen, stopping), "progress");
        progress.setDaemon(true);
        progress.start();
        long until = duration.isZero() ? Long.MAX_VALUE : System.currentTimeMillis() + duration.toMillis();
        try {
          // The simulator's clock is the wall clock: event times are real, so latencies are too.
          while (System.currentTimeMillis() < until) {
            gen.advanceTo(System.currentTimeMillis());
            Thread.sleep(5);
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
        summary(gen, jobLatency);
        if (savepoint != null) {
          say("  savepoint                %s", savepoint);
          say("    export its features:   mvn -Pinspect -Dinspect.args=\"--savepoint %s --output target/inspect\"",
              savepoint);
        }
      } finally {
        stopping.set(true);
        done.countDown();
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

  private void readOutputs(JobConfig config, String bootstrap, AtomicBoolean stopping) {
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
      c.subscribe(List.of(config.topicRecommendations, config.topicDeadLetters, config.topicTrainingExamples));
      while (!stopping.get()) {
        for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(200))) {
          long now = System.currentTimeMillis();
          if (r.topic().equals(config.topicRecommendations)) {
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
              latenciesMs.add(now - s.getTriggerEventTimeMs());
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

  /** The slate as the simulator reads it: item numbers and sources in rank order. */
  private static ServedSlate served(Slate s) {
    int n = s.getItems().size();
    int[] items = new int[n];
    String[] sources = new String[n];
    for (int i = 0; i < n; i++) {
      items[i] = Catalog.parseItemId(s.getItems().get(i).getItemId());
      sources[i] = s.getItems().get(i).getSource().name();
    }
    return new ServedSlate(s.getSlateId(), items, s.getModelVersion(), sources);
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
      say("[%4ds] events in %,9d (%5.0f/s) | slates out %,8d | dead letters %,6d | request->slate p50 %s p99 %s",
          (now - start) / 1000, events, (events - lastEvents) * 1000.0 / Math.max(1, now - lastAt),
          slatesOut.get(), deadLettersOut.get(), pct(0.50), pct(0.99));
      lastEvents = events;
      lastAt = now;
    }
  }

  private String pct(double q) {
    List<Long> copy;
    synchronized (latenciesMs) {
      copy = new ArrayList<>(latenciesMs);
    }
    if (copy.isEmpty()) {
      return "-";
    }
    copy.sort(null);
    return copy.get((int) Math.min(copy.size() - 1, Math.floor(q * copy.size()))) + " ms";
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
  }

  private static void say(String fmt, Object... args) {
    System.out.println(args.length == 0 ? fmt : String.format(fmt, args));
    System.out.flush();
  }
}
