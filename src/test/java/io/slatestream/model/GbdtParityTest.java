package io.slatestream.model;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Arrays;
import ml.dmlc.xgboost4j.java.Booster;
import ml.dmlc.xgboost4j.java.DMatrix;
import ml.dmlc.xgboost4j.java.XGBoost;
import ml.dmlc.xgboost4j.java.XGBoostError;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * In-job scores equal XGBoost4J's own predictions, bit for bit, for the reference model (100 trees,
 * depth 6, 30 features): the slate-batched {@link GbdtModel#score} against {@link Booster#predict}
 * called one row at a time. Exact equality is expected, not a tolerance: XGBoost's CPU predictor
 * computes each row independently (sum of the same leaf values in tree order, in float, then the
 * same float sigmoid), so neither batch size nor thread count can change the bits.
 */
class GbdtParityTest {

    private static final int TREES = 100;
    private static final int DEPTH = 6;
    private static final int WIDTH = 30;
    private static final int ROWS = 500;

    private static Booster reference;
    private static byte[] bytes;
    private static float[] rows;

    @BeforeAll
    static void setUp() throws XGBoostError {
        reference = SyntheticData.referenceBooster(TREES, DEPTH, WIDTH, 20_000, 42L);
        bytes = reference.toByteArray("ubj");
        rows = SyntheticData.rows(ROWS, WIDTH, 99L, 0.05);
        Arrays.fill(rows, 0, WIDTH, 0f); // an all-zero row
        Arrays.fill(rows, WIDTH, 2 * WIDTH, Float.NaN); // an all-missing row
        for (int j = 0; j < WIDTH; j++) { // extreme values
            rows[2 * WIDTH + j] = j % 2 == 0 ? Float.MAX_VALUE : -Float.MAX_VALUE;
        }
    }

    @AfterAll
    static void tearDown() {
        reference.dispose();
    }

    @Test
    void theReferenceModelHasTheAdvertisedShape() throws XGBoostError {
        assertThat(reference.getNumBoostedRound()).isEqualTo(TREES);
        assertThat(reference.getNumFeature()).isEqualTo(WIDTH);
        int maxDepth = 0;
        for (String tree : reference.getModelDump((String) null, false)) {
            for (String line : tree.split("\n")) {
                if (line.contains("leaf=")) {
                    maxDepth = Math.max(maxDepth, (int) line.chars().takeWhile(c -> c == '\t').count());
                }
            }
        }
        assertThat(maxDepth).isEqualTo(DEPTH);
    }

    @Test
    void batchedScoresEqualOneRowAtATimePredictionsBitForBit() throws Exception {
        float[] oneByOne = new float[ROWS];
        for (int i = 0; i < ROWS; i++) {
            DMatrix single = new DMatrix(Arrays.copyOfRange(rows, i * WIDTH, (i + 1) * WIDTH), 1, WIDTH, Float.NaN);
            try {
                oneByOne[i] = reference.predict(single)[0][0];
            } finally {
                single.dispose();
            }
        }
        try (GbdtModel model = GbdtModel.load(bytes, "ref", "spec", WIDTH)) {
            assertBitIdentical(model.score(rows, ROWS), oneByOne, "one call of 500 rows");
            // slates of 100, each from its own offset
            for (int s = 0; s < ROWS / 100; s++) {
                float[] slate = Arrays.copyOfRange(rows, s * 100 * WIDTH, (s + 1) * 100 * WIDTH);
                assertBitIdentical(model.score(slate, 100), Arrays.copyOfRange(oneByOne, s * 100, (s + 1) * 100),
                        "slate " + s);
            }
            // the in-job model, one row per call, too
            float[] jobOneByOne = new float[ROWS];
            for (int i = 0; i < ROWS; i++) {
                jobOneByOne[i] = model.score(Arrays.copyOfRange(rows, i * WIDTH, (i + 1) * WIDTH), 1)[0];
            }
            assertBitIdentical(jobOneByOne, oneByOne, "GbdtModel one row per call");
            // a reused buffer larger than the slate: only its first rows are read
            float[] buffer = Arrays.copyOf(rows, rows.length + 7 * WIDTH);
            Arrays.fill(buffer, 100 * WIDTH, buffer.length, Float.MAX_VALUE);
            assertBitIdentical(model.score(buffer, 100), Arrays.copyOf(oneByOne, 100), "first 100 rows of a larger buffer");
        }
    }

    @Test
    void threadCountDoesNotChangeTheBits() throws Exception {
        Booster multi = XGBoost.loadModel(bytes);
        try (GbdtModel model = GbdtModel.load(bytes, "ref", "spec", WIDTH)) {
            multi.setParam("nthread", 4);
            DMatrix all = new DMatrix(rows, ROWS, WIDTH, Float.NaN);
            try {
                float[][] raw = multi.predict(all);
                float[] expected = new float[ROWS];
                for (int i = 0; i < ROWS; i++) {
                    expected[i] = raw[i][0];
                }
                assertBitIdentical(model.score(rows, ROWS), expected, "nthread 4 vs 1");
            } finally {
                all.dispose();
            }
        } finally {
            multi.dispose();
        }
    }

    private static void assertBitIdentical(float[] actual, float[] expected, String what) {
        assertThat(actual).as(what).hasSameSizeAs(expected);
        for (int i = 0; i < expected.length; i++) {
            assertThat(Float.floatToRawIntBits(actual[i]))
                    .as("%s, row %d: %s vs %s", what, i, actual[i], expected[i])
                    .isEqualTo(Float.floatToRawIntBits(expected[i]));
        }
    }
}
