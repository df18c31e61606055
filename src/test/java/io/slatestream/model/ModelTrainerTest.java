package io.slatestream.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import io.slatestream.avro.ModelRelease;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ModelTrainerTest {

    private static final String SPEC = "spec-test-1";
    private static final List<String> NAMES = SyntheticData.featureNames(SyntheticData.SIGNAL_WIDTH);
    private static final int N = 6_000;

    private static List<ModelTrainer.Example> examples;
    private static TrainingResult result;

    @TempDir
    Path dir;

    @BeforeAll
    static void train() throws Exception {
        examples = SyntheticData.signalExamples(N, 2024L);
        result = new ModelTrainer(NAMES, SPEC, TrainerConfig.defaults()).train(examples);
    }

    @AfterAll
    static void close() {
        result.close();
    }

    @Test
    void learnsAKnownSignalAndRanksItsFeaturesFirst() {
        ModelCard.ValidationMetrics m = result.validationMetrics();
        assertThat(m.auc()).isGreaterThan(0.75);
        assertThat(m.logLoss()).isLessThan(Math.log(2)); // better than a coin
        assertThat(m.expectedCalibrationError()).isLessThan(0.05);

        List<ModelCard.FeatureImportance> importances = result.featureImportances();
        assertThat(importances).hasSize(SyntheticData.SIGNAL_WIDTH);
        Set<String> signal = Arrays.stream(SyntheticData.SIGNAL_FEATURES).mapToObj(j -> "f" + j).collect(Collectors.toSet());
        assertThat(importances.subList(0, 3)).extracting(ModelCard.FeatureImportance::feature)
                .containsExactlyInAnyOrderElementsOf(signal);
        double weakestSignal = importances.stream().filter(i -> signal.contains(i.feature()))
                .mapToDouble(ModelCard.FeatureImportance::gain).min().orElseThrow();
        double strongestNoise = importances.stream().filter(i -> !signal.contains(i.feature()))
                .mapToDouble(ModelCard.FeatureImportance::gain).max().orElseThrow();
        assertThat(weakestSignal).as("average gain per split").isGreaterThan(strongestNoise);
    }

    @Test
    void trainsOnTheEarlierPartAndValidatesOnTheLater() {
        ModelTrainer.TimeSplit split = ModelTrainer.split(examples, 0.2);
        long maxTrain = split.train().stream().mapToLong(ModelTrainer.Example::timeMs).max().orElseThrow();
        long minValidation = split.validation().stream().mapToLong(ModelTrainer.Example::timeMs).min().orElseThrow();
        assertThat(maxTrain).isLessThanOrEqualTo(minValidation);
        assertThat(maxTrain).as("equal timestamps stay on one side").isLessThan(minValidation);
        assertThat(split.splitTimeMs()).isEqualTo(minValidation);
        assertThat(split.train().size() + split.validation().size()).isEqualTo(N);
        assertThat(split.validation().size()).isBetween(N / 5 - 2, N / 5 + 2);
        // sorted by time inside each part, nothing shuffled across
        assertThat(split.train()).isSortedAccordingTo((a, b) -> Long.compare(a.timeMs(), b.timeMs()));
        assertThat(split.validation()).isSortedAccordingTo((a, b) -> Long.compare(a.timeMs(), b.timeMs()));

        // the trained result reports the same windows
        assertThat(result.trainWindow().maxTimeMs()).isEqualTo(maxTrain).isLessThanOrEqualTo(result.validationWindow().minTimeMs());
        assertThat(result.validationWindow().minTimeMs()).isEqualTo(minValidation);
        assertThat(result.trainWindow().rows()).isEqualTo(split.train().size());
        assertThat(result.validationWindow().rows()).isEqualTo(split.validation().size());
        assertThat(result.validationPredictions()).hasSize(split.validation().size());
    }

    @Test
    void splitKeepsRowsWithTheCutTimestampTogether() {
        // cut index 5 falls inside the block of 3s -> the whole block validates
        ModelTrainer.TimeSplit s = ModelTrainer.split(timed(1, 2, 3, 3, 3, 3, 3, 4, 5, 6), 0.5);
        assertThat(times(s.train())).containsExactly(1L, 2L);
        assertThat(s.splitTimeMs()).isEqualTo(3);
        // the block of 5s starts at index 0 -> it trains, the later rows validate
        s = ModelTrainer.split(timed(9, 5, 5, 9, 5, 5), 0.5);
        assertThat(times(s.train())).containsExactly(5L, 5L, 5L, 5L);
        assertThat(times(s.validation())).containsExactly(9L, 9L);
        assertThatThrownBy(() -> ModelTrainer.split(timed(7, 7, 7), 0.2))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("one timestamp");
    }

    @Test
    void cutsTheModelAtTheBestIterationAndAgreesWithXgboostOnLogLoss() throws Exception {
        TrainerConfig eager = TrainerConfig.defaults().withEta(0.3).withMaxRounds(300).withEarlyStoppingRounds(10);
        try (TrainingResult r = new ModelTrainer(NAMES, SPEC, eager).train(examples)) {
            assertThat(r.numTrees()).isEqualTo(r.bestIteration() + 1).isLessThan(300);
            assertThat(r.booster().getNumBoostedRound()).isEqualTo(r.numTrees());
            // the Java log loss of the cut model equals XGBoost's own best validation score
            assertThat(r.validationMetrics().logLoss()).isCloseTo(r.bestValidationLogLoss(), within(1e-6));
        }
    }

    @Test
    void aMonotoneFeatureOnlyEverRaisesTheScore() throws Exception {
        // f0 helps up to 0.5 and hurts after it; f1 helps throughout. Constrained to +1, the model
        // may not learn the downturn; unconstrained, it does (so the constraint is what holds).
        SplittableRandom r = new SplittableRandom(7);
        List<ModelTrainer.Example> rows = new ArrayList<>();
        for (int i = 0; i < 6_000; i++) {
            float f0 = (float) r.nextDouble();
            float f1 = (float) r.nextDouble();
            double z = 3 * (f0 < 0.5 ? f0 : 1 - f0) * 2 + 2 * f1 - 2;
            float label = r.nextDouble() < 1 / (1 + Math.exp(-z)) ? 1f : 0f;
            rows.add(new ModelTrainer.Example(i, new float[] {f0, f1}, label));
        }
        List<String> names = List.of("f0", "f1");
        TrainerConfig monotone = TrainerConfig.defaults().withMaxRounds(80).withMonotone(Map.of("f0", 1));
        try (TrainingResult constrained = new ModelTrainer(names, SPEC, monotone).train(rows);
                TrainingResult free = new ModelTrainer(names, SPEC, monotone.withMonotone(Map.of()))
                        .train(rows);
                GbdtModel c = GbdtModel.load(constrained.modelBytes(), "c", SPEC, 2);
                GbdtModel f = GbdtModel.load(free.modelBytes(), "f", SPEC, 2)) {
            assertThat(constrained.card("c", "x").params()).containsEntry("monotone_constraints", "(1,0)");
            float[] grid = new float[2 * 21];
            for (int k = 0; k <= 20; k++) {
                grid[2 * k] = k / 20f;
                grid[2 * k + 1] = 0.5f;
            }
            float[] cs = c.score(grid, 21);
            float[] fs = f.score(grid, 21);
            for (int k = 1; k <= 20; k++) {
                assertThat(cs[k]).as("constrained at f0 = %s", k / 20.0).isGreaterThanOrEqualTo(cs[k - 1]);
            }
            assertThat(fs[20]).as("unconstrained learns the downturn").isLessThan(fs[10]);
        }
        assertThatThrownBy(() -> new ModelTrainer(names, SPEC, monotone.withMonotone(Map.of("f9", 1))))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("f9");
    }

    @Test
    void trainingIsRepeatableWithAFixedSeed() throws Exception {
        TrainerConfig sampled = TrainerConfig.defaults().withSubsample(0.8).withColsampleBytree(0.8).withMaxRounds(40);
        List<ModelTrainer.Example> small = examples.subList(0, 3_000);
        try (TrainingResult a = new ModelTrainer(NAMES, SPEC, sampled).train(small);
                TrainingResult b = new ModelTrainer(NAMES, SPEC, sampled).train(small)) {
            assertThat(a.modelBytes()).isEqualTo(b.modelBytes());
        }
    }

    @Test
    void writesTheModelAndItsCard() throws Exception {
        String sha = result.writeModel(dir, "2024-06-01-a");
        Path modelFile = dir.resolve(TrainingResult.MODEL_FILE);
        Path cardFile = dir.resolve(TrainingResult.CARD_FILE);
        assertThat(sha).isEqualTo(ModelLoader.sha256Hex(Files.readAllBytes(modelFile)));
        try (var files = Files.list(dir)) {
            assertThat(files.map(p -> p.getFileName().toString())).containsExactlyInAnyOrder("model.ubj", "model-card.json");
        }

        String json = Files.readString(cardFile);
        assertThat(json).contains("\n  \"featureSpecId\" : \"" + SPEC + "\"");
        ModelCard card = ModelCard.read(cardFile);
        assertThat(card.version()).isEqualTo("2024-06-01-a");
        assertThat(card.featureSpecId()).isEqualTo(SPEC);
        assertThat(card.modelFile()).isEqualTo("model.ubj");
        assertThat(card.modelFormat()).isEqualTo("ubj");
        assertThat(card.modelSha256()).isEqualTo(sha);
        assertThat(card.xgboostVersion()).isEqualTo("3.0.4");
        assertThat(card.objective()).isEqualTo("binary:logistic");
        assertThat(card.params()).containsEntry("max_depth", "4").containsEntry("min_child_weight", "5.0").containsEntry("nthread", "1")
                .containsEntry("eval_metric", "logloss").containsEntry("seed", "42");
        assertThat(card.numFeatures()).isEqualTo(10);
        assertThat(card.featureNames()).isEqualTo(NAMES);
        assertThat(card.numTrees()).isEqualTo(result.numTrees());
        assertThat(card.train().rows() + card.validation().rows()).isEqualTo(N);
        assertThat(card.train().maxTimeMs()).isLessThan(card.validation().minTimeMs());
        assertThat(card.splitTimeMs()).isEqualTo(card.validation().minTimeMs());
        assertThat(card.validationMetrics()).isEqualTo(result.validationMetrics());
        assertThat(card.validationMetrics().calibration()).hasSize(10);
        assertThat(card.validationMetrics().calibration().stream().mapToLong(ModelCard.CalibrationBin::count).sum())
                .isEqualTo(card.validation().rows());
        assertThat(card.featureImportances()).isEqualTo(result.featureImportances());
    }

    @Test
    void aWrittenModelScoresExactlyAsInTraining() throws Exception {
        String sha = result.writeModel(dir, "v-parity");
        byte[] bytes = Files.readAllBytes(dir.resolve(TrainingResult.MODEL_FILE));
        float[] rows = result.validationFeatures();
        float[] expected = result.validationPredictions();
        int n = expected.length;

        try (GbdtModel model = GbdtModel.load(bytes, "v-parity", SPEC, NAMES.size())) {
            assertBitIdentical(model.score(rows, n), expected);
        }
        // and the same through the release path the job uses
        ModelRelease release = ModelRelease.newBuilder()
                .setVersion("v-parity")
                .setModelUri(dir.resolve(TrainingResult.MODEL_FILE).toUri().toString())
                .setChecksum(sha)
                .setFeatureSpecId(SPEC)
                .setCreatedTimeMs(0L)
                .build();
        try (GbdtModel model = new ModelLoader(SPEC, NAMES.size()).load(release)) {
            assertBitIdentical(model.score(rows, n), expected);
        }
    }

    @Test
    void refusesUnusableData() {
        ModelTrainer trainer = new ModelTrainer(NAMES, SPEC, TrainerConfig.defaults());
        List<ModelTrainer.Example> bad = new ArrayList<>(examples.subList(0, 100));
        bad.set(7, new ModelTrainer.Example(1L, new float[10], 0.5f));
        assertThatThrownBy(() -> trainer.train(bad)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("labels must be 0 or 1");

        List<ModelTrainer.Example> narrow = new ArrayList<>(examples.subList(0, 100));
        narrow.set(3, new ModelTrainer.Example(1L, new float[9], 1f));
        assertThatThrownBy(() -> trainer.train(narrow)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("has 9 features, spec has 10");

        // validation part (latest 20 %) has only negatives
        List<ModelTrainer.Example> oneClass = IntStream.range(0, 100)
                .mapToObj(i -> new ModelTrainer.Example(i, new float[10], i < 80 && i % 2 == 0 ? 1f : 0f))
                .collect(Collectors.toList());
        assertThatThrownBy(() -> trainer.train(oneClass)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("validation part (20 rows) has only one class");
    }

    private static void assertBitIdentical(float[] actual, float[] expected) {
        assertThat(actual).hasSameSizeAs(expected);
        for (int i = 0; i < expected.length; i++) {
            assertThat(Float.floatToRawIntBits(actual[i])).as("row %d: %s vs %s", i, actual[i], expected[i])
                    .isEqualTo(Float.floatToRawIntBits(expected[i]));
        }
    }

    private static List<ModelTrainer.Example> timed(long... times) {
        List<ModelTrainer.Example> out = new ArrayList<>();
        for (long t : times) {
            out.add(new ModelTrainer.Example(t, new float[1], 0f));
        }
        return out;
    }

    private static List<Long> times(List<ModelTrainer.Example> part) {
        return part.stream().map(ModelTrainer.Example::timeMs).collect(Collectors.toList());
    }
}
