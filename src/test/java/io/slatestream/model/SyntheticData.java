package io.slatestream.model;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import ml.dmlc.xgboost4j.java.Booster;
import ml.dmlc.xgboost4j.java.DMatrix;
import ml.dmlc.xgboost4j.java.XGBoost;
import ml.dmlc.xgboost4j.java.XGBoostError;

/** Seeded synthetic data and reference models for the model tests and the scoring benchmark. */
public final class SyntheticData {

    /** Features 2, 5 and 7 carry the signal in {@link #signalExamples}; the other 7 are noise. */
    public static final int[] SIGNAL_FEATURES = {2, 5, 7};
    public static final int SIGNAL_WIDTH = 10;

    private SyntheticData() {}

    public static List<String> featureNames(int width) {
        List<String> names = new ArrayList<>(width);
        for (int j = 0; j < width; j++) {
            names.add("f" + j);
        }
        return names;
    }

    /**
     * {@code n} examples of 10 standard-normal features; label ~ Bernoulli(sigmoid(1.5·x2 − 1.2·x5 +
     * 1.0·x7 + N(0, 0.5))). Timestamps advance one second per three rows (so equal timestamps occur),
     * and the list is returned shuffled, so a trainer must sort it itself.
     */
    public static List<ModelTrainer.Example> signalExamples(int n, long seed) {
        Random random = new Random(seed);
        List<ModelTrainer.Example> out = new ArrayList<>(n);
        long t0 = 1_700_000_000_000L;
        for (int i = 0; i < n; i++) {
            float[] x = new float[SIGNAL_WIDTH];
            for (int j = 0; j < SIGNAL_WIDTH; j++) {
                x[j] = (float) random.nextGaussian();
            }
            double margin = 1.5 * x[2] - 1.2 * x[5] + 1.0 * x[7] + 0.5 * random.nextGaussian();
            float label = random.nextDouble() < 1 / (1 + Math.exp(-margin)) ? 1f : 0f;
            out.add(new ModelTrainer.Example(t0 + (i / 3) * 1000L, x, label));
        }
        Collections.shuffle(out, new Random(seed + 1));
        return out;
    }

    /** Row-major standard-normal rows; a share {@code nanRate} of the values is NaN (missing). */
    public static float[] rows(int rows, int width, long seed, double nanRate) {
        Random random = new Random(seed);
        float[] out = new float[rows * width];
        for (int i = 0; i < out.length; i++) {
            out[i] = random.nextDouble() < nanRate ? Float.NaN : (float) random.nextGaussian();
        }
        return out;
    }

    /**
     * The reference model of the parity test and the benchmark: {@code trees} rounds of depth
     * {@code depth} on {@code width} features, trained without early stopping on a non-linear signal
     * that keeps trees at full depth. Deterministic for a given seed (nthread 1).
     */
    public static Booster referenceBooster(int trees, int depth, int width, int rows, long seed) throws XGBoostError {
        Random random = new Random(seed);
        float[] x = rows(rows, width, seed, 0.02);
        float[] y = new float[rows];
        for (int i = 0; i < rows; i++) {
            double margin = 0;
            for (int j = 0; j < width; j++) {
                float v = x[i * width + j];
                if (!Float.isNaN(v)) {
                    margin += (j % 3 == 0 ? 0.4 : j % 3 == 1 ? -0.25 : 0.1) * v;
                }
            }
            float a = nanToZero(x[i * width]);
            float b = nanToZero(x[i * width + 1]);
            float c = nanToZero(x[i * width + 2]);
            margin += 0.8 * a * b + Math.sin(2 * c) + random.nextGaussian() * 0.3;
            y[i] = random.nextDouble() < 1 / (1 + Math.exp(-margin)) ? 1f : 0f;
        }
        DMatrix train = new DMatrix(x, rows, width, Float.NaN);
        try {
            train.setLabel(y);
            Map<String, Object> params = new HashMap<>();
            params.put("objective", "binary:logistic");
            params.put("tree_method", "hist");
            params.put("max_depth", depth);
            params.put("eta", 0.1);
            params.put("min_child_weight", 1.0);
            params.put("seed", seed);
            params.put("nthread", 1);
            params.put("verbose_eval", "false"); // a String: XGBoost4J ignores a Boolean here
            return XGBoost.train(train, params, trees, new HashMap<>(), null, null, null, 0);
        } finally {
            train.dispose();
        }
    }

    private static float nanToZero(float v) {
        return Float.isNaN(v) ? 0f : v;
    }
}
