package io.slatestream.local;

import io.slatestream.SlatestreamJob;
import io.slatestream.avro.DeadLetter;
import io.slatestream.avro.Slate;
import io.slatestream.avro.SlateTrigger;
import io.slatestream.avro.Label;
import io.slatestream.avro.TrainingExample;
import org.apache.avro.file.DataFileWriter;
import org.apache.avro.specific.SpecificDatumWriter;
import io.slatestream.config.JobConfig;
import io.slatestream.io.KafkaIO;
import io.slatestream.serde.AvroCodec;
import io.slatestream.topology.SlatestreamTopology;
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
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.StateBackendOptions;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.util.TimeUtils;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;

/**
 * Everything on one machine, for a first look: a real single-node Kafka broker (KRaft, loopback),
 * the topics, the job on a local Flink cluster with the RocksDB state backend, and a generated
 * stream of catalog items, interactions, slate requests and some garbage. Prints progress while it
 * runs and a summary at the end. Stops after {@code --duration} (0 = until Ctrl-C).
 *
 * <p>Options: {@code --duration 60s --users 5000 --items 2000 --rate 500 --parallelism 2}; any other
 * {@code --key value} is a job option (see the README).
 */
public final class LocalRun {

  private final Map<String, String> jobOptions = new LinkedHashMap<>();
  private Duration duration = Duration.ofSeconds(60);
  private int parallelism = 2;
  private EventGenerator.Settings world = EventGenerator.Settings.defaults();

  private final AtomicLong slatesOut = new AtomicLong();
  private final AtomicLong requestSlates = new AtomicLong();
  private final AtomicLong deadLettersOut = new AtomicLong();
  private final Map<String, AtomicLong> deadLetterReasons = new ConcurrentHashMap<>();
  private final Map<String, Slate> latestSlates = new ConcurrentHashMap<>();
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
        case "users" -> s = new EventGenerator.Settings(Integer.parseInt(v), s.items(), s.categories(), s.creators(), s.eventsPerSecond(), s.requestShare(), s.garbageShare(), s.seed());
        case "items" -> s = new EventGenerator.Settings(s.users(), Integer.parseInt(v), s.categories(), s.creators(), s.eventsPerSecond(), s.requestShare(), s.garbageShare(), s.seed());
        case "rate" -> s = new EventGenerator.Settings(s.users(), s.items(), s.categories(), s.creators(), Double.parseDouble(v), s.requestShare(), s.garbageShare(), s.seed());
        case "seed" -> s = new EventGenerator.Settings(s.users(), s.items(), s.categories(), s.creators(), s.eventsPerSecond(), s.requestShare(), s.garbageShare(), Long.parseLong(v));
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
    Path checkpoints = Files.createTempDirectory(workDir, "checkpoints-");
    examplesFile = new DataFileWriter<>(new SpecificDatumWriter<>(TrainingExample.class));
    examplesFile.create(TrainingExample.getClassSchema(), examplesPath.toFile());
    say("Starting a single-node Kafka broker (KRaft) on loopback ...");
    long t0 = System.currentTimeMillis();
    try (EmbeddedKafka kafka = EmbeddedKafka.start()) {
      say("Broker up at %s in %d ms", kafka.bootstrapServers(), System.currentTimeMillis() - t0);
      Map<String, String> opts = new LinkedHashMap<>();
      opts.put("kafka.bootstrap.servers", kafka.bootstrapServers());
      opts.put("source.starting-offsets", "EARLIEST");
      opts.put("slate.debounce", "2 s");
      opts.put("training.label-window", "30 s"); // short, so a short run labels its silences too
      opts.putAll(jobOptions);
      JobConfig config = JobConfig.of(opts);
      Topics.create(kafka, config, parallelism);
      say("Topics: %s", Topics.of(config).keySet());

      Configuration flink = new Configuration();
      flink.set(StateBackendOptions.STATE_BACKEND, "rocksdb");
      flink.set(CheckpointingOptions.INCREMENTAL_CHECKPOINTS, true);
      flink.set(CheckpointingOptions.CHECKPOINTS_DIRECTORY, checkpoints.toUri().toString());
      flink.set(CheckpointingOptions.CHECKPOINTING_INTERVAL, Duration.ofSeconds(10));
      StreamExecutionEnvironment env = StreamExecutionEnvironment.createLocalEnvironment(parallelism, flink);
      SlatestreamJob.prepare(env, config);
      SlatestreamTopology.define(env, KafkaIO.inputs(config, false), KafkaIO.outputs(config), config);
      JobClient job = env.executeAsync(config.jobName);
      say("Job %s running on a local Flink cluster: parallelism %d, RocksDB state, checkpoints in %s",
          job.getJobID(), parallelism, checkpoints);

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

      try (KafkaProducer<byte[], byte[]> producer = producer(kafka.bootstrapServers())) {
        EventGenerator gen = new EventGenerator(world, config, producer, latestSlates);
        gen.publishCatalog();
        say("Published %,d catalog items in %d categories; generating %.0f events/s from %,d users for %s",
            world.items(), world.categories(), world.eventsPerSecond(), world.users(),
            duration.isZero() ? "ever (Ctrl-C stops)" : duration.toSeconds() + " s");
        Thread progress = new Thread(() -> progress(gen, stopping), "progress");
        progress.setDaemon(true);
        progress.start();
        long until = duration.isZero() ? Long.MAX_VALUE : System.currentTimeMillis() + duration.toMillis();
        try {
          gen.run(until);
          Thread.sleep(3_000); // let the last events come through
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
        stopping.set(true);
        job.cancel().get();
        reader.join(5_000);
        synchronized (examplesFile) {
          examplesFile.close();
        }
        summary(gen);
      } finally {
        stopping.set(true);
        done.countDown();
      }
    }
  }

  private static KafkaProducer<byte[], byte[]> producer(String bootstrap) {
    Properties p = new Properties();
    p.put("bootstrap.servers", bootstrap);
    p.put("key.serializer", "org.apache.kafka.common.serialization.ByteArraySerializer");
    p.put("value.serializer", "org.apache.kafka.common.serialization.ByteArraySerializer");
    p.put("linger.ms", "5");
    return new KafkaProducer<>(p);
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
            latestSlates.put(s.getUserId(), s);
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

  private void progress(EventGenerator gen, AtomicBoolean stopping) {
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

  private void summary(EventGenerator gen) {
    say("");
    say("Summary");
    say("  interactions sent        %,d (%,d likes)", gen.interactionsSent.get(), gen.likesSent.get());
    say("  slate requests sent      %,d", gen.requestsSent.get());
    say("  garbage records sent     %,d", gen.garbageSent.get());
    say("  slates received          %,d (%,d answering requests, %,d users)", slatesOut.get(), requestSlates.get(), latestSlates.size());
    say("  dead letters received    %,d %s", deadLettersOut.get(), new TreeMap<>(deadLetterReasons));
    say("  served items by source    %s", new TreeMap<>(servedBySource));
    say("  likes by source           %s", new TreeMap<>(gen.likesBySource));
    say("  training examples logged %,d (%,d likes) -> %s", examplesOut.get(), likedExamples.get(), examplesPath);
    say("  request -> slate latency p50 %s, p99 %s (wall clock, through Kafka)", pct(0.5), pct(0.99));
    long answered = gen.answeredFromSlate.get();
    say("  like rate on served items %.1f%% (%,d of %,d answers to a slate)",
        answered == 0 ? 0.0 : 100.0 * gen.likesFromSlate.get() / answered, gen.likesFromSlate.get(), answered);
    latestSlates.values().stream().filter(s -> s.getItems().size() >= 3).findFirst().ifPresent(s ->
        say("  e.g. %s's slate (%s, %s): %s", s.getUserId(), s.getTrigger(), s.getModelVersion(),
            s.getItems().stream().limit(5).map(i -> i.getItemId() + String.format("(%.2f)", i.getScore())).toList()));
  }

  private static void say(String fmt, Object... args) {
    System.out.println(args.length == 0 ? fmt : String.format(fmt, args));
    System.out.flush();
  }
}
