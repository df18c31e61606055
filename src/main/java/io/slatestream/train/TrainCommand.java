package io.slatestream.train;

import io.slatestream.avro.ModelRelease;
import io.slatestream.avro.TrainingExample;
import io.slatestream.config.CommandLine;
import io.slatestream.config.JobConfig;
import io.slatestream.features.FeatureVectorBuilder;
import io.slatestream.model.ExampleSelection;
import io.slatestream.model.ModelCard;
import io.slatestream.model.ModelTrainer;
import io.slatestream.model.TrainerConfig;
import io.slatestream.model.TrainingResult;
import io.slatestream.serde.AvroCodec;
import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.apache.avro.file.DataFileReader;
import org.apache.avro.specific.SpecificDatumReader;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;

/**
 * {@code train}: learns a model from the training examples the job itself logged, so it learns
 * from exactly the vectors that were served.
 *
 * <pre>
 *   --input PATH              Avro container file of TrainingExample, or a folder of *.avro (repeatable)
 *   --from-topic              also read the whole training-examples topic (job options below)
 *   --output DIR              where model.ubj and model-card.json are written (required)
 *   --version V               model version (default: m-&lt;UTC time&gt;)
 *   --publish                 send a ModelRelease for the written model to topic.model-releases
 *   --validation-fraction F   latest share of examples, by served time, held out (default 0.2)
 *   --max-rounds N --early-stopping N --max-depth N --eta X --min-child-weight X --seed N
 *   --examples answered|all   which impressions are rows (default answered, see ExampleSelection)
 *   --monotone true|false     the feature builder's monotone constraints (default true)
 *   --&lt;job option&gt; VALUE      e.g. --kafka.bootstrap.servers, --features.half-lives (must match the job's)
 * </pre>
 *
 * Labels: LIKE is positive; SKIP and QUICK_SKIP are negative; NO_ACTION (never answered) is left
 * out unless {@code --examples all} makes it negative too. Examples served within
 * {@code training.label-window} of the newest are left out (their silences are not labelled yet). Examples must all carry
 * the feature spec of the job configuration given here; anything else is refused, because a model
 * learned on other columns would be refused by the job anyway.
 */
public final class TrainCommand {

  /** What a run produced. */
  public record Outcome(Path modelFile, String sha256, ModelCard card, ModelRelease release) {}

  private TrainCommand() {}

  public static void main(String[] args) throws Exception {
    Outcome o = run(args);
    ModelCard.ValidationMetrics m = o.card().validationMetrics();
    System.out.printf("Model %s written to %s (sha256 %s)%n", o.release().getVersion(), o.modelFile(), o.sha256());
    System.out.printf("  train rows %d, validation rows %d%n", o.card().train().rows(),
        o.card().validation().rows());
    System.out.printf("  validation AUC %.4f, log loss %.4f, calibration error %.4f%n", m.auc(), m.logLoss(),
        m.expectedCalibrationError());
  }

  public static Outcome run(String... args) throws Exception {
    List<Path> inputs = new ArrayList<>();
    boolean fromTopic = false;
    boolean publish = false;
    Path output = null;
    String version = "m-" + Instant.now().toString().replaceAll("[:.]", "").replace("T", "-");
    TrainerConfig t = TrainerConfig.defaults();
    boolean monotone = true;
    ExampleSelection selection = ExampleSelection.ANSWERED;
    Map<String, String> jobOptions = new LinkedHashMap<>();
    for (CommandLine.Arg a : CommandLine.parse(args, Set.of("from-topic", "publish"))) {
      String v = a.value();
      switch (a.key()) {
        case "from-topic" -> fromTopic = CommandLine.bool(a);
        case "publish" -> publish = CommandLine.bool(a);
        case "input" -> inputs.add(Path.of(v));
        case "output" -> output = Path.of(v);
        case "version" -> version = v;
        case "validation-fraction" -> t = t.withValidationFraction(Double.parseDouble(v));
        case "max-rounds" -> t = t.withMaxRounds(Integer.parseInt(v));
        case "early-stopping" -> t = t.withEarlyStoppingRounds(Integer.parseInt(v));
        case "max-depth" -> t = t.withMaxDepth(Integer.parseInt(v));
        case "eta" -> t = t.withEta(Double.parseDouble(v));
        case "min-child-weight" -> t = t.withMinChildWeight(Double.parseDouble(v));
        case "seed" -> t = t.withSeed(Long.parseLong(v));
        case "examples" -> selection = ExampleSelection.parse(v);
        case "monotone" -> monotone = CommandLine.bool(a);
        default -> jobOptions.put(a.key(), v);
      }
    }
    if (output == null) {
      throw new IllegalArgumentException("--output DIR is required");
    }
    JobConfig config = JobConfig.of(jobOptions);
    t = t.withMonotone(monotone ? FeatureVectorBuilder.monotone() : Map.of());
    List<TrainingExample> examples = new ArrayList<>();
    for (Path p : inputs) {
      examples.addAll(readFiles(p));
    }
    if (fromTopic) {
      examples.addAll(readTopic(config));
    }
    if (examples.isEmpty()) {
      throw new IllegalArgumentException("No training examples: give --input files and/or --from-topic");
    }
    FeatureVectorBuilder spec = new FeatureVectorBuilder(config);
    TreeSet<String> specs = examples.stream().map(TrainingExample::getFeatureSpecId).collect(Collectors.toCollection(TreeSet::new));
    if (!specs.equals(new TreeSet<>(List.of(spec.spec().id())))) {
      throw new IllegalArgumentException("Examples carry feature specs " + specs + " but this configuration's spec is "
          + spec.spec().id() + ": train with the job's own feature options, on examples it logged");
    }

    examples = completeWindowsOnly(examples, config.labelWindow.toMillis());
    List<ModelTrainer.Example> rows = toRows(examples, selection);
    if (rows.isEmpty()) {
      throw new IllegalArgumentException("None of the " + examples.size() + " examples is a training row with --examples "
          + selection + " (no impression was answered)");
    }
    try (TrainingResult result = new ModelTrainer(spec.spec().names(), spec.spec().id(), t).train(rows)) {
      String sha = result.writeModel(output, version);
      Path modelFile = output.resolve(TrainingResult.MODEL_FILE).toAbsolutePath();
      ModelCard card = result.card(version, sha);
      ModelRelease release = new ModelRelease(version, modelFile.toUri().toString(), sha, spec.spec().id(),
          System.currentTimeMillis());
      if (publish) {
        publish(config, release);
      }
      return new Outcome(modelFile, sha, card, release);
    }
  }

  /**
   * Drops the examples served within one label window of the newest: for those, answers have
   * been logged but silences (NO_ACTION, emitted when the window closes) not yet, so keeping them
   * would make the latest data, the validation part, look far more engaged than it was.
   */
  static List<TrainingExample> completeWindowsOnly(List<TrainingExample> examples, long labelWindowMs) {
    long newest = examples.stream().mapToLong(TrainingExample::getServedTimeMs).max().orElse(Long.MIN_VALUE);
    List<TrainingExample> kept = examples.stream()
        .filter(e -> e.getServedTimeMs() <= newest - labelWindowMs).toList();
    if (kept.isEmpty()) {
      throw new IllegalArgumentException("All " + examples.size() + " examples were served within the last label"
          + " window (" + labelWindowMs + " ms), whose silences are not labelled yet");
    }
    return kept;
  }

  /** One row per selected example, at its served time; the label is 1 for a like. */
  public static List<ModelTrainer.Example> toRows(List<TrainingExample> examples, ExampleSelection selection) {
    List<ModelTrainer.Example> rows = new ArrayList<>(examples.size());
    for (TrainingExample e : examples) {
      if (!selection.keeps(e.getLabel())) {
        continue;
      }
      float[] v = new float[e.getFeatureValues().size()];
      for (int i = 0; i < v.length; i++) {
        v[i] = e.getFeatureValues().get(i);
      }
      rows.add(new ModelTrainer.Example(e.getServedTimeMs(), v, ExampleSelection.target(e.getLabel())));
    }
    return rows;
  }

  static List<TrainingExample> readFiles(Path p) throws Exception {
    List<Path> files;
    if (Files.isDirectory(p)) {
      try (Stream<Path> s = Files.list(p)) {
        files = s.filter(f -> f.toString().endsWith(".avro")).sorted().toList();
      }
    } else {
      files = List.of(p);
    }
    List<TrainingExample> out = new ArrayList<>();
    for (Path f : files) {
      try (DataFileReader<TrainingExample> r =
          new DataFileReader<>(new File(f.toString()), new SpecificDatumReader<>(TrainingExample.class))) {
        r.forEach(out::add);
      }
    }
    return out;
  }

  /** Everything on the training-examples topic up to its end offsets now. */
  public static List<TrainingExample> readTopic(JobConfig config) throws Exception {
    Properties p = config.kafka().toProperties();
    p.put("isolation.level", "read_committed");
    p.put("key.deserializer", "org.apache.kafka.common.serialization.ByteArrayDeserializer");
    p.put("value.deserializer", "org.apache.kafka.common.serialization.ByteArrayDeserializer");
    AvroCodec<TrainingExample> codec = AvroCodec.of(TrainingExample.class);
    List<TrainingExample> out = new ArrayList<>();
    try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p)) {
      List<TopicPartition> parts = c.partitionsFor(config.topicTrainingExamples).stream()
          .map(i -> new TopicPartition(i.topic(), i.partition())).toList();
      c.assign(parts);
      c.seekToBeginning(parts);
      Map<TopicPartition, Long> end = c.endOffsets(parts);
      while (parts.stream().anyMatch(tp -> c.position(tp) < end.get(tp))) {
        for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(500))) {
          out.add(codec.decode(r.value()));
        }
      }
    }
    return out;
  }

  public static void publish(JobConfig config, ModelRelease release) throws Exception {
    Properties p = config.kafka().toProperties();
    p.put("key.serializer", "org.apache.kafka.common.serialization.ByteArraySerializer");
    p.put("value.serializer", "org.apache.kafka.common.serialization.ByteArraySerializer");
    try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p)) {
      producer.send(new ProducerRecord<>(config.topicModelReleases,
          release.getVersion().getBytes(StandardCharsets.UTF_8), AvroCodec.of(ModelRelease.class).encode(release))).get();
    }
  }
}
