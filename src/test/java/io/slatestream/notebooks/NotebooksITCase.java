package io.slatestream.notebooks;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.MappingIterator;
import com.fasterxml.jackson.dataformat.csv.CsvMapper;
import com.fasterxml.jackson.dataformat.csv.CsvSchema;

import io.slatestream.avro.Interaction;
import io.slatestream.avro.Item;
import io.slatestream.avro.Label;
import io.slatestream.avro.Slate;
import io.slatestream.avro.SlateRequest;
import io.slatestream.avro.TrainingExample;
import io.slatestream.config.JobConfig;
import io.slatestream.inspect.CsvExport;
import io.slatestream.inspect.InspectCommand;
import io.slatestream.local.EmbeddedKafka;
import io.slatestream.local.Topics;
import io.slatestream.model.ModelCard;
import io.slatestream.ranking.HeuristicScorer;
import io.slatestream.serde.AvroCodec;
import io.slatestream.sim.Catalog;
import io.slatestream.sim.Population;
import io.slatestream.sim.ServedSlate;
import io.slatestream.sim.SimSettings;
import io.slatestream.sim.Simulator;
import io.slatestream.testing.TestJobs;
import io.slatestream.train.TrainCommand;
import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.BooleanSupplier;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.apache.avro.file.DataFileReader;
import org.apache.avro.file.DataFileWriter;
import org.apache.avro.specific.SpecificDatumReader;
import org.apache.avro.specific.SpecificDatumWriter;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.core.execution.SavepointFormatType;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.flink.util.FileUtils;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The analysis notebooks, executed headless the way an analyst runs them ({@code notebooks/run.sh},
 * which installs their Debian packages first), on data the project produced: the real job on a
 * real broker serves simulated users with the heuristic, the train command learns a model from
 * the examples the job logged and publishes it, the job rolls it out, serves with it and stops with
 * a savepoint, which the inspect command exports to CSV. The HTML lands in target/notebooks/. What
 * the notebooks print must be what the files they read say.
 */
class NotebooksITCase {

  @RegisterExtension
  static final MiniClusterExtension FLINK = new MiniClusterExtension(
      new MiniClusterResourceConfiguration.Builder().setNumberTaskManagers(1).setNumberSlotsPerTaskManager(2).build());

  private static final Path OUT = Path.of("target", "notebooks").toAbsolutePath();
  private static final Path DATA = OUT.resolve("data");

  @Test
  void bothNotebooksRunHeadlessOnWhatTheJobAndTheTrainerProduced() throws Exception {
    FileUtils.deleteDirectory(OUT.toFile());
    Files.createDirectories(DATA);
    Path modelDir = DATA.resolve("m1");
    Path examplesFile = DATA.resolve("training-examples.avro");
    Path stateDir = DATA.resolve("inspect");
    long t0 = System.nanoTime();
    String savepointPath = produce(modelDir, examplesFile);
    InspectCommand.run("--savepoint", savepointPath, "--output", stateDir.toString());
    long t1 = System.nanoTime();

    // Minutes only where the Debian packages are still to be installed; seconds otherwise.
    run(List.of("bash", "notebooks/run.sh", OUT.toString(), "notebooks/model.ipynb", "notebooks/savepoint-analysis.ipynb"),
        Map.of("SLATESTREAM_MODEL_DIR", modelDir.toString(),
            "SLATESTREAM_EXAMPLES", examplesFile.toString(),
            "SLATESTREAM_STATE_DIR", stateDir.toString(),
            "NOTEBOOK_CELL_TIMEOUT", "120",
            // Kept out of the home directory: the kernel's profile and matplotlib's font cache.
            "IPYTHONDIR", Files.createDirectories(OUT.resolve("ipython")).toString(),
            "MPLCONFIGDIR", Files.createDirectories(OUT.resolve("matplotlib")).toString()),
        Duration.ofMinutes(10));
    System.out.printf("Notebooks: data produced and exported in %.1f s, notebooks executed in %.1f s%n",
        (t1 - t0) / 1e9, (System.nanoTime() - t1) / 1e9);

    String model = Files.readString(OUT.resolve("model.html"));
    assertThat(model).contains("python: /usr/bin/python3");
    ModelCard card = ModelCard.read(modelDir.resolve("model-card.json"));
    Matcher auc = Pattern.compile("model m1: validation AUC ([0-9.]+)").matcher(model);
    assertThat(auc.find()).as("the notebook prints the model's AUC").isTrue();
    assertThat(Double.parseDouble(auc.group(1))).isCloseTo(card.validationMetrics().auc(), within(1e-6));
    assertThat(images(model)).as("calibration, feature importance, lift plots").isEqualTo(3);

    Map<String, String> phases = phases(examplesFile);
    assertThat(phases).as("the examples hold both phases").containsKeys(HeuristicScorer.VERSION, "m1");
    Matcher printed = Pattern.compile("phase (\\S+): (\\d+ likes of \\d+ impressions)").matcher(model);
    Map<String, String> shown = new TreeMap<>();
    while (printed.find()) {
      shown.put(printed.group(1), printed.group(2));
    }
    assertThat(shown).isEqualTo(phases);

    String savepoint = Files.readString(OUT.resolve("savepoint-analysis.html"));
    assertThat(savepoint).contains("python: /usr/bin/python3");
    List<Map<String, String>> users = csv(stateDir.resolve(CsvExport.USERS));
    assertThat(users).as("users with state in the savepoint").hasSizeGreaterThan(50);
    assertThat(savepoint).contains("users: " + users.size() + "\n")
        .contains("user category affinities: " + csv(stateDir.resolve(CsvExport.USER_CATEGORIES)).size() + "\n")
        .contains("items: " + csv(stateDir.resolve(CsvExport.ITEMS)).size() + "\n");
    long cold = users.stream().filter(u -> Long.parseLong(u.get("total_events")) < 5).count();
    assertThat(savepoint).contains("cold users (fewer than 5 events): " + cold + " of " + users.size());
    assertThat(images(savepoint)).as("feature, affinity, cold/active and item plots").isEqualTo(4);
  }

  /**
   * Like rate by phase as the notebook defines it: the examples served before the last label
   * window (the window read from the NO_ACTION examples, labelled when it closes), by model version.
   */
  private static Map<String, String> phases(Path examplesFile) throws Exception {
    List<TrainingExample> all = new ArrayList<>();
    try (DataFileReader<TrainingExample> r =
        new DataFileReader<>(examplesFile.toFile(), new SpecificDatumReader<>(TrainingExample.class))) {
      r.forEach(all::add);
    }
    long window = all.stream().filter(e -> e.getLabel() == Label.NO_ACTION)
        .mapToLong(e -> e.getLabelledTimeMs() - e.getServedTimeMs()).max().orElseThrow();
    long cut = all.stream().mapToLong(TrainingExample::getServedTimeMs).max().orElseThrow() - window;
    return all.stream().filter(e -> e.getServedTimeMs() <= cut)
        .collect(Collectors.groupingBy(TrainingExample::getModelVersion, TreeMap::new, Collectors.collectingAndThen(
            Collectors.toList(), l -> l.stream().filter(e -> e.getLabel() == Label.LIKE).count() + " likes of "
                + l.size() + " impressions")));
  }

  /** Runs {@code command} in the project directory; fails unless it exits with 0 in time. */
  private static void run(List<String> command, Map<String, String> env, Duration timeout) throws Exception {
    ProcessBuilder b = new ProcessBuilder(command).redirectErrorStream(true);
    b.environment().putAll(env);
    Process p = b.start();
    // Read while it runs: a full pipe would block it.
    CompletableFuture<byte[]> output = CompletableFuture.supplyAsync(() -> {
      try {
        return p.getInputStream().readAllBytes();
      } catch (java.io.IOException e) {
        throw new java.io.UncheckedIOException(e);
      }
    });
    boolean ended = p.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS);
    if (!ended) {
      p.destroyForcibly().waitFor();
    }
    String log = new String(output.get(), StandardCharsets.UTF_8);
    assertThat(ended).as("%s ended within %s:%n%s", command, timeout, log).isTrue();
    assertThat(p.exitValue()).as("exit code of %s:%n%s", command, log).isZero();
  }

  /** The rows of a CSV file with a header, by column name. */
  private static List<Map<String, String>> csv(Path file) throws Exception {
    try (MappingIterator<Map<String, String>> rows = new CsvMapper().readerForMapOf(String.class)
        .with(CsvSchema.emptySchema().withHeader()).readValues(file.toFile())) {
      return rows.readAll();
    }
  }

  private static int images(String html) {
    return html.split("<img src=\"data:image/png;base64,", -1).length - 1;
  }

  /**
   * The job serves simulated users, first with the heuristic; the train command learns from what
   * it logged and publishes m1; the job serves with m1 and stops with a savepoint. Writes the
   * model and the logged examples; returns the savepoint's path.
   */
  private static String produce(Path modelDir, Path examplesFile) throws Exception {
    try (EmbeddedKafka kafka = EmbeddedKafka.start()) {
      JobConfig config = JobConfig.of(Map.of(
          "kafka.bootstrap.servers", kafka.bootstrapServers(),
          "source.starting-offsets", "EARLIEST",
          "slate.debounce", "1 s",
          "training.label-window", "3 s",
          // The simulated users keep interacting, a slate a second each: at the default bound of
          // 2 their slates are dropped before a 3 s window closes, and the lift plot needs some
          // that closed unanswered (NO_ACTION).
          "training.max-pending-slates", "8"));
      Topics.create(kafka, config, 2);
      JobClient job = TestJobs.slatestream(config, 2, false).executeAsync("notebooks");
      String savepoint = null;
      Map<Integer, ServedSlate> latest = new ConcurrentHashMap<>();
      List<TrainingExample> logged = Collections.synchronizedList(new ArrayList<>());
      AtomicBoolean stop = new AtomicBoolean();
      AtomicReference<Exception> readerFailure = new AtomicReference<>();
      Thread reader = new Thread(() -> {
        try {
          follow(kafka.bootstrapServers(), config, latest, logged, stop);
        } catch (Exception e) {
          readerFailure.set(e);
        }
      }, "outputs");
      reader.start();
      try (KafkaProducer<byte[], byte[]> producer = producer(kafka.bootstrapServers())) {
        // Simulated users read the slates served to them and answer, so both phases have likes.
        Simulator users = new Simulator(new SimSettings(150, 120, 6, 20, 250, 0, 0, 7L), System.currentTimeMillis(),
            outbox(config, producer), latest::get);
        users.publishCatalog();
        // Likes grow as profiles form: wait until the trainer's own split (the earliest 80 % by
        // served time to train on, the rest to validate) has likes on both sides.
        simulateUntil(users, readerFailure, "liked and unliked heuristic examples to train and validate on",
            () -> trainable(logged, config.labelWindow.toMillis(), 40, 10));

        TrainCommand.run("--from-topic", "--publish", "--output", modelDir.toString(), "--version", "m1",
            "--max-rounds", "30", "--training.label-window", config.labelWindow.toMillis() + " ms",
            "--kafka.bootstrap.servers", kafka.bootstrapServers());
        simulateUntil(users, readerFailure, "liked and unliked examples served by m1",
            () -> labelled(logged, "m1", config.labelWindow.toMillis(), 60));
        savepoint = job.stopWithSavepoint(false, DATA.resolve("savepoints").toUri().toString(),
            SavepointFormatType.CANONICAL).get(2, TimeUnit.MINUTES);
      } finally {
        stop.set(true);
        reader.join();
        if (savepoint == null) {
          job.cancel().get();
        }
      }

      try (DataFileWriter<TrainingExample> w = new DataFileWriter<>(new SpecificDatumWriter<>(TrainingExample.class))) {
        w.create(TrainingExample.getClassSchema(), new File(examplesFile.toString()));
        for (TrainingExample e : logged) {
          w.append(e);
        }
      }
      return savepoint;
    }
  }

  /** Runs the simulated users on the wall clock until {@code done}; fails after 90 s. */
  private static void simulateUntil(Simulator users, AtomicReference<Exception> readerFailure, String what,
      BooleanSupplier done) throws Exception {
    long deadline = System.currentTimeMillis() + 90_000;
    while (!done.getAsBoolean()) {
      assertThat(readerFailure.get()).isNull();
      assertThat(System.currentTimeMillis()).as("%s within 90 s", what).isLessThan(deadline);
      users.advanceTo(System.currentTimeMillis());
      Thread.sleep(5);
    }
  }

  /** Whether {@code version} served at least {@code n} liked and {@code n} other items before the last window. */
  private static boolean labelled(List<TrainingExample> logged, String version, long windowMs, int n) {
    List<TrainingExample> complete = complete(logged, windowMs).stream()
        .filter(e -> e.getModelVersion().equals(version)).toList();
    return likedAndNot(complete, n);
  }

  /** Whether the earliest 80 % of the complete examples and the rest hold enough likes and others. */
  private static boolean trainable(List<TrainingExample> logged, long windowMs, int nTrain, int nValidation) {
    List<TrainingExample> complete = complete(logged, windowMs);
    int split = (int) (complete.size() * 0.8);
    return likedAndNot(complete.subList(0, split), nTrain)
        && likedAndNot(complete.subList(split, complete.size()), nValidation);
  }

  /** The examples served before the last label window, by served time. */
  private static List<TrainingExample> complete(List<TrainingExample> logged, long windowMs) {
    synchronized (logged) {
      long cut = logged.stream().mapToLong(TrainingExample::getServedTimeMs).max().orElse(0) - windowMs;
      return logged.stream().filter(e -> e.getServedTimeMs() <= cut)
          .sorted(Comparator.comparingLong(TrainingExample::getServedTimeMs)).toList();
    }
  }

  private static boolean likedAndNot(List<TrainingExample> examples, int n) {
    long likes = examples.stream().filter(e -> e.getLabel() == Label.LIKE).count();
    return likes >= n && examples.size() - likes >= n;
  }

  /** Keeps the latest slate of every user (which the simulated users read) and every logged example. */
  private static void follow(String bootstrap, JobConfig config, Map<Integer, ServedSlate> latest,
      List<TrainingExample> logged, AtomicBoolean stop) throws Exception {
    Properties p = new Properties();
    p.put("bootstrap.servers", bootstrap);
    p.put("group.id", "notebooks-it");
    p.put("auto.offset.reset", "earliest");
    AvroCodec<Slate> slates = AvroCodec.of(Slate.class);
    AvroCodec<TrainingExample> examples = AvroCodec.of(TrainingExample.class);
    try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
      c.subscribe(List.of(config.topicRecommendations, config.topicTrainingExamples));
      while (!stop.get()) {
        for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(200))) {
          if (r.topic().equals(config.topicRecommendations)) {
            Slate s = slates.decode(r.value());
            int[] items = s.getItems().stream().mapToInt(i -> Catalog.parseItemId(i.getItemId())).toArray();
            latest.put(Population.parseUserId(s.getUserId()), new ServedSlate(s.getSlateId(), items, s.getModelVersion()));
          } else {
            logged.add(examples.decode(r.value()));
          }
        }
      }
    }
  }

  /** The simulator's records to the job's input topics. */
  private static Simulator.Outbox outbox(JobConfig config, KafkaProducer<byte[], byte[]> producer) {
    return new Simulator.Outbox() {
      private final AvroCodec<Item> items = AvroCodec.of(Item.class);
      private final AvroCodec<Interaction> interactions = AvroCodec.of(Interaction.class);
      private final AvroCodec<SlateRequest> requests = AvroCodec.of(SlateRequest.class);

      @Override
      public void item(Item item) {
        send(config.topicItems, item.getItemId(), items.encode(item));
      }

      @Override
      public void interaction(Interaction e) {
        send(config.topicInteractions, e.getUserId(), interactions.encode(e));
      }

      @Override
      public void request(SlateRequest r) {
        send(config.topicSlateRequests, r.getUserId(), requests.encode(r));
      }

      @Override
      public void raw(String key, byte[] value) {
        send(config.topicInteractions, key, value);
      }

      private void send(String topic, String key, byte[] value) {
        producer.send(new ProducerRecord<>(topic, key.getBytes(StandardCharsets.UTF_8), value));
      }
    };
  }

  private static KafkaProducer<byte[], byte[]> producer(String bootstrap) {
    Properties p = new Properties();
    p.put("bootstrap.servers", bootstrap);
    p.put("linger.ms", "5");
    return new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer());
  }
}
