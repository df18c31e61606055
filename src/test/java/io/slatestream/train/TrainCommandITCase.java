package io.slatestream.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.slatestream.avro.Label;
import io.slatestream.avro.ModelRelease;
import io.slatestream.avro.TrainingExample;
import io.slatestream.config.JobConfig;
import io.slatestream.features.FeatureVectorBuilder;
import io.slatestream.local.EmbeddedKafka;
import io.slatestream.local.Topics;
import io.slatestream.model.GbdtModel;
import io.slatestream.model.ModelLoader;
import io.slatestream.serde.AvroCodec;
import io.slatestream.testing.KafkaTopics;
import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.apache.avro.file.DataFileWriter;
import org.apache.avro.specific.SpecificDatumWriter;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The train command against a real broker: examples in from the topic, a release out. */
class TrainCommandITCase {
  private static final long T0 = 1_700_000_000_000L;

  /** Examples in the job's spec where likes follow the item's like rate and the user's affinity. */
  static List<TrainingExample> examples(JobConfig config, int n, long seed) {
    FeatureVectorBuilder b = new FeatureVectorBuilder(config);
    List<String> names = b.spec().names();
    int likeRate = names.indexOf("item.like_rate");
    int affinity = names.indexOf("user.category_affinity");
    Random r = new Random(seed);
    List<TrainingExample> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      List<Float> v = new ArrayList<>();
      for (int f = 0; f < names.size(); f++) {
        v.add(r.nextFloat());
      }
      double logit = 5 * (v.get(likeRate) - 0.5) + 3 * (v.get(affinity) - 0.5);
      Label label = r.nextDouble() < 1 / (1 + Math.exp(-logit)) ? Label.LIKE
          : r.nextBoolean() ? Label.NO_ACTION : Label.QUICK_SKIP;
      out.add(TrainingExample.newBuilder().setSlateId("s" + i / 10).setUserId("u" + i % 50).setItemId("i" + i)
          .setPosition(i % 10).setFeatureSpecId(b.spec().id()).setFeatureValues(v).setModelVersion("heuristic-v1")
          .setServedScore(0.5).setLabel(label).setServedTimeMs(T0 + i * 1000L).setLabelledTimeMs(T0 + i * 1000L + 500)
          .build());
    }
    return out;
  }

  @Test
  void trainsFromTheTopicAndPublishesAReleaseTheJobAccepts(@TempDir Path dir) throws Exception {
    try (EmbeddedKafka kafka = EmbeddedKafka.start(); KafkaTopics topics = new KafkaTopics(kafka.bootstrapServers())) {
      JobConfig config = JobConfig.of(Map.of("kafka.bootstrap.servers", kafka.bootstrapServers()));
      Topics.create(kafka, config, 2);
      AvroCodec<TrainingExample> codec = AvroCodec.of(TrainingExample.class);
      List<TrainingExample> sent = examples(config, 4000, 5);
      for (TrainingExample e : sent) {
        topics.send(config.topicTrainingExamples, e.getUserId(), codec.encode(e));
      }

      TrainCommand.Outcome o = TrainCommand.run("--from-topic", "--publish", "--output", dir.resolve("m1").toString(),
          "--version", "m1", "--max-rounds", "60", "--max-depth", "4", "--kafka.bootstrap.servers", kafka.bootstrapServers());

      // 4000 examples one second apart; the last label window (10 min = 600 examples) is left out,
      // and so are impressions nobody answered (NO_ACTION).
      long answered = sent.subList(0, 4000 - 600).stream().filter(e -> e.getLabel() != Label.NO_ACTION).count();
      assertThat(answered).isLessThan(4000 - 600);
      assertThat(o.card().train().rows() + o.card().validation().rows()).isEqualTo(answered);
      assertThat(o.card().params()).containsKey("monotone_constraints");
      assertThat(o.card().train().maxTimeMs()).isLessThanOrEqualTo(o.card().validation().minTimeMs());
      assertThat(o.card().validationMetrics().auc()).isGreaterThan(0.75);
      assertThat(Files.exists(dir.resolve("m1").resolve("model-card.json"))).isTrue();
      assertThat(ModelLoader.sha256Hex(Files.readAllBytes(o.modelFile()))).isEqualTo(o.sha256());

      List<ModelRelease> published = topics.readAll(config.topicModelReleases).stream().map(r -> {
        try {
          return AvroCodec.of(ModelRelease.class).decode(r.value());
        } catch (Exception e) {
          throw new AssertionError(e);
        }
      }).toList();
      assertThat(published).containsExactly(o.release());
      FeatureVectorBuilder spec = new FeatureVectorBuilder(config);
      try (GbdtModel m = new ModelLoader(spec.spec().id(), spec.spec().size()).load(published.get(0))) {
        assertThat(m.version()).isEqualTo("m1");
      }
    }
  }

  @Test
  void readsAvroFilesAndRefusesExamplesOfAnotherFeatureSpec(@TempDir Path dir) throws Exception {
    JobConfig config = JobConfig.defaults();
    Path file = dir.resolve("examples.avro");
    try (DataFileWriter<TrainingExample> w = new DataFileWriter<>(new SpecificDatumWriter<>(TrainingExample.class))) {
      w.create(TrainingExample.getClassSchema(), new File(file.toString()));
      for (TrainingExample e : examples(config, 2000, 9)) {
        w.append(e);
      }
    }
    TrainCommand.Outcome o = TrainCommand.run("--input", file.toString(), "--output", dir.resolve("m").toString(),
        "--max-rounds", "40", "--max-depth", "3");
    assertThat(o.card().validationMetrics().auc()).isGreaterThan(0.7);
    // Every impression a row, and no monotone constraints, when asked.
    TrainCommand.Outcome all = TrainCommand.run("--input", file.toString(), "--output", dir.resolve("all").toString(),
        "--max-rounds", "40", "--max-depth", "3", "--examples", "all", "--monotone", "false");
    assertThat(all.card().train().rows() + all.card().validation().rows()).isEqualTo(2000 - 600)
        .isGreaterThan(o.card().train().rows() + o.card().validation().rows());
    assertThat(all.card().params()).doesNotContainKey("monotone_constraints");
    assertThat(o.release().getFeatureSpecId()).isEqualTo(new FeatureVectorBuilder(config).spec().id());

    // The same examples, read with other half-lives: another spec, refused before training.
    assertThatThrownBy(() -> TrainCommand.run("--input", file.toString(), "--output", dir.resolve("x").toString(),
        "--features.half-lives", "1 h;1 d"))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("feature spec");
  }
}
