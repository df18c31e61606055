package io.slatestream.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import ml.dmlc.xgboost4j.java.Booster;
import ml.dmlc.xgboost4j.java.DMatrix;
import ml.dmlc.xgboost4j.java.XGBoost;
import ml.dmlc.xgboost4j.java.XGBoostError;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class GbdtModelTest {

    private static final int WIDTH = 8;
    private static Booster booster;
    private static byte[] ubj;

    @BeforeAll
    static void train() throws XGBoostError {
        booster = SyntheticData.referenceBooster(20, 4, WIDTH, 2_000, 11L);
        ubj = booster.toByteArray("ubj");
    }

    @AfterAll
    static void dispose() {
        booster.dispose();
    }

    @Test
    void loadsAndDescribesTheModel() throws Exception {
        try (GbdtModel model = GbdtModel.load(ubj, "v1", "spec-a", WIDTH)) {
            assertThat(model.version()).isEqualTo("v1");
            assertThat(model.featureSpecId()).isEqualTo("spec-a");
            assertThat(model.numFeatures()).isEqualTo(WIDTH);
            assertThat(model.numTrees()).isEqualTo(20);
            float smoke = model.smokeTest();
            assertThat(smoke).isBetween(0f, 1f);
        }
    }

    @Test
    void scoresAllRowsOfASlateLikeXgboostDoes() throws Exception {
        int rows = 37;
        float[] x = SyntheticData.rows(rows, WIDTH, 5L, 0.1);
        float[][] expected = predict(booster, x, rows);
        try (GbdtModel model = GbdtModel.load(ubj, "v1", "spec-a", WIDTH)) {
            float[] scores = model.score(x, rows);
            assertThat(scores).hasSize(rows);
            for (int i = 0; i < rows; i++) {
                assertThat(Float.floatToRawIntBits(scores[i]))
                        .as("row %d", i)
                        .isEqualTo(Float.floatToRawIntBits(expected[i][0]));
                assertThat(scores[i]).isBetween(0f, 1f);
            }
        }
    }

    @Test
    void jsonModelsLoadAndScoreTheSameAsUbj() throws Exception {
        float[] x = SyntheticData.rows(10, WIDTH, 6L, 0.0);
        try (GbdtModel fromUbj = GbdtModel.load(ubj, "v1", "s", WIDTH);
                GbdtModel fromJson = GbdtModel.load(booster.toByteArray("json"), "v1", "s", WIDTH)) {
            assertThat(fromJson.score(x, 10)).isEqualTo(fromUbj.score(x, 10));
        }
    }

    @Test
    void readsOnlyTheRowsAskedForFromALargerBuffer() throws Exception {
        float[] x = SyntheticData.rows(3, WIDTH, 8L, 0.0);
        float[] buffer = Arrays.copyOf(x, 10 * WIDTH);
        Arrays.fill(buffer, 3 * WIDTH, buffer.length, 1e6f);
        try (GbdtModel model = GbdtModel.load(ubj, "v1", "s", WIDTH)) {
            assertThat(model.score(buffer, 3)).isEqualTo(model.score(x, 3));
            assertThat(model.score(buffer, 0)).isEmpty();
        }
    }

    @Test
    void refusesABufferTooShortForTheRows() throws Exception {
        try (GbdtModel model = GbdtModel.load(ubj, "v1", "s", WIDTH)) {
            // XGBoost itself would happily score a narrower matrix; the model must not.
            assertThatThrownBy(() -> model.score(new float[2 * WIDTH - 1], 2))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("need " + (2 * WIDTH));
            assertThatThrownBy(() -> model.score(new float[WIDTH], -1)).isInstanceOf(IllegalArgumentException.class);
        }
    }

    @Test
    void aClosedModelRefusesToScore() throws Exception {
        GbdtModel model = GbdtModel.load(ubj, "v1", "s", WIDTH);
        model.close();
        model.close(); // idempotent
        assertThatThrownBy(() -> model.score(new float[WIDTH], 1))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("closed");
    }

    @Test
    void rejectsBytesThatAreNoModel() {
        assertThatThrownBy(() -> GbdtModel.load("not a model at all".getBytes(StandardCharsets.UTF_8), "v", "s", WIDTH))
                .isInstanceOfSatisfying(ModelRejectedException.class,
                        e -> assertThat(e.kind()).isEqualTo(ModelRejectedException.Kind.CORRUPT))
                .hasMessageStartingWith("corrupt model: ")
                .hasMessageNotContaining("Stack trace");
        assertThatThrownBy(() -> GbdtModel.load(new byte[0], "v", "s", WIDTH))
                .hasMessage("corrupt model: the file is empty");
        assertThatThrownBy(() -> GbdtModel.load(Arrays.copyOf(ubj, ubj.length / 2), "v", "s", WIDTH))
                .isInstanceOfSatisfying(ModelRejectedException.class,
                        e -> assertThat(e.kind()).isEqualTo(ModelRejectedException.Kind.CORRUPT));
    }

    @Test
    void rejectsAModelForAnotherFeatureCount() {
        assertThatThrownBy(() -> GbdtModel.load(ubj, "v", "s", WIDTH + 1))
                .isInstanceOfSatisfying(ModelRejectedException.class,
                        e -> assertThat(e.kind()).isEqualTo(ModelRejectedException.Kind.FEATURE_COUNT_MISMATCH))
                .hasMessage("feature count mismatch: model has " + WIDTH + " features, job provides " + (WIDTH + 1));
    }

    @Test
    void rejectsAModelThatDoesNotOutputProbabilities() throws Exception {
        Booster regression = trainWithObjective("reg:squarederror");
        try {
            byte[] bytes = regression.toByteArray("ubj");
            assertThatThrownBy(() -> GbdtModel.load(bytes, "v", "s", WIDTH))
                    .isInstanceOfSatisfying(ModelRejectedException.class,
                            e -> assertThat(e.kind()).isEqualTo(ModelRejectedException.Kind.UNSUPPORTED_OBJECTIVE))
                    .hasMessage("unsupported objective: model uses 'reg:squarederror', scoring needs 'binary:logistic'");
        } finally {
            regression.dispose();
        }
    }

    @Test
    void rejectsAModelWhoseSmokePredictionIsNotAProbability() throws Exception {
        // A real model whose leaf values were tampered with to NaN: it parses, but predicts NaN.
        String json = new String(booster.toByteArray("json"), StandardCharsets.UTF_8);
        Matcher m = Pattern.compile("\"split_conditions\":\\[([^\\]]*)\\]").matcher(json);
        StringBuilder tampered = new StringBuilder();
        while (m.find()) {
            String nan = m.group(1).replaceAll("[-+0-9.Ee]+", "NaN");
            m.appendReplacement(tampered, Matcher.quoteReplacement("\"split_conditions\":[" + nan + "]"));
        }
        m.appendTail(tampered);
        byte[] bytes = tampered.toString().getBytes(StandardCharsets.UTF_8);
        assertThatThrownBy(() -> GbdtModel.load(bytes, "v", "s", WIDTH))
                .isInstanceOfSatisfying(ModelRejectedException.class,
                        e -> assertThat(e.kind()).isEqualTo(ModelRejectedException.Kind.SMOKE_TEST_FAILED))
                .hasMessage("smoke prediction failed: all-zero row scored NaN, expected a probability in [0, 1]");
    }

    private static Booster trainWithObjective(String objective) throws XGBoostError {
        float[] x = SyntheticData.rows(300, WIDTH, 3L, 0.0);
        float[] y = new float[300];
        for (int i = 0; i < 300; i++) {
            y[i] = x[i * WIDTH] > 0 ? 1f : 0f;
        }
        DMatrix d = new DMatrix(x, 300, WIDTH, Float.NaN);
        try {
            d.setLabel(y);
            Map<String, Object> p = new HashMap<>();
            p.put("objective", objective);
            p.put("max_depth", 3);
            p.put("nthread", 1);
            p.put("verbose_eval", "false");
            return XGBoost.train(d, p, 5, new HashMap<>(), null, null, null, 0);
        } finally {
            d.dispose();
        }
    }

    static float[][] predict(Booster booster, float[] x, int rows) throws XGBoostError {
        DMatrix d = new DMatrix(x, rows, x.length / rows, Float.NaN);
        try {
            return booster.predict(d);
        } finally {
            d.dispose();
        }
    }
}
