package io.slatestream.model;

import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;
import ml.dmlc.xgboost4j.java.Booster;
import ml.dmlc.xgboost4j.java.DMatrix;
import ml.dmlc.xgboost4j.java.XGBoost;
import ml.dmlc.xgboost4j.java.XGBoostError;

/**
 * Trains the ranking model: a {@code binary:logistic} XGBoost classifier on a time split.
 *
 * <ol>
 *   <li>Examples are sorted by time (stable) and split at a time quantile: the earliest
 *       {@code 1 - validationFraction} of the rows train, the latest validate. Rows sharing the
 *       timestamp at the cut all go to the same side, so every train row is strictly earlier than
 *       every validation row. Nothing is shuffled across the split.</li>
 *   <li>XGBoost trains with {@code eval_metric=logloss} on {train, validation}, early-stopping on
 *       the validation part (the last watch, as XGBoost4J requires).</li>
 *   <li>If early stopping kept rounds past the best one, the model is retrained for exactly
 *       {@code bestIteration + 1} rounds with the same data, parameters and seed. With a fixed seed
 *       training is deterministic, so this is the early-stopped model cut at its best round and the
 *       saved model needs no tree limit at prediction time.</li>
 *   <li>Validation AUC, log loss and calibration of the final model are computed in Java
 *       ({@link Metrics}); importances come from XGBoost's gain statistics.</li>
 * </ol>
 *
 * Missing feature values are {@code NaN}, as at serving time. Labels must be 0 or 1.
 */
public final class ModelTrainer {

    /** One training row: when it was served, the served feature vector, and its 0/1 label. */
    public record Example(long timeMs, float[] features, float label) {
        public Example {
            Objects.requireNonNull(features, "features");
        }
    }

    /** The two parts of a time split; {@code splitTimeMs} is the first validation timestamp. */
    public record TimeSplit(List<Example> train, List<Example> validation, long splitTimeMs) {}

    private final List<String> featureNames;
    private final String featureSpecId;
    private final TrainerConfig config;

    public ModelTrainer(List<String> featureNames, String featureSpecId, TrainerConfig config) {
        this.featureNames = List.copyOf(featureNames);
        this.featureSpecId = Objects.requireNonNull(featureSpecId, "featureSpecId");
        this.config = Objects.requireNonNull(config, "config");
        if (this.featureNames.isEmpty()) {
            throw new IllegalArgumentException("no feature names");
        }
        Set<String> seen = new HashSet<>();
        for (String name : this.featureNames) {
            if (name.isBlank() || !seen.add(name)) {
                throw new IllegalArgumentException("feature names must be non-blank and unique: " + name);
            }
        }
        for (String name : config.monotone().keySet()) {
            if (!seen.contains(name)) {
                throw new IllegalArgumentException("monotone constraint on " + name + ", which is not a feature of "
                        + featureSpecId);
            }
        }
    }

    public List<String> featureNames() {
        return featureNames;
    }

    public String featureSpecId() {
        return featureSpecId;
    }

    public TrainerConfig config() {
        return config;
    }

    /** The XGBoost parameters this trainer uses (also recorded in the model card). */
    public Map<String, Object> params() {
        Map<String, Object> p = new HashMap<>();
        p.put("objective", GbdtModel.OBJECTIVE);
        p.put("eval_metric", "logloss");
        p.put("tree_method", "hist");
        p.put("max_depth", config.maxDepth());
        p.put("eta", config.eta());
        p.put("min_child_weight", config.minChildWeight());
        p.put("subsample", config.subsample());
        p.put("colsample_bytree", config.colsampleBytree());
        p.put("seed", config.seed());
        p.put("nthread", config.nthread());
        // Read by XGBoost4J's training loop only: print every round, or never. It must be the
        // String "false" (a Boolean is not recognized and would leave printing on).
        p.put("verbose_eval", config.verbose() ? "1" : "false");
        if (config.monotone().values().stream().anyMatch(d -> d != 0)) {
            // XGBoost's form: one direction per column, in column order.
            StringBuilder c = new StringBuilder("(");
            for (int i = 0; i < featureNames.size(); i++) {
                c.append(i == 0 ? "" : ",").append(config.monotone().getOrDefault(featureNames.get(i), 0));
            }
            p.put("monotone_constraints", c.append(')').toString());
        }
        return p;
    }

    /**
     * Sorts by time and splits at the {@code 1 - validationFraction} quantile of the rows, moving the
     * cut so that rows with equal timestamps stay on one side.
     *
     * @throws IllegalArgumentException if fewer than two distinct timestamps exist
     */
    public static TimeSplit split(List<Example> examples, double validationFraction) {
        List<Example> sorted = new ArrayList<>(examples);
        sorted.sort(Comparator.comparingLong(Example::timeMs)); // stable: equal times keep input order
        int n = sorted.size();
        if (n < 2) {
            throw new IllegalArgumentException("need at least 2 examples to split by time, got " + n);
        }
        int cut = (int) Math.floor(n * (1 - validationFraction));
        cut = Math.max(1, Math.min(n - 1, cut));
        long cutTime = sorted.get(cut).timeMs();
        int first = cut;
        while (first > 0 && sorted.get(first - 1).timeMs() == cutTime) {
            first--;
        }
        if (first > 0) {
            cut = first; // everything at cutTime validates
        } else {
            int after = cut;
            while (after < n && sorted.get(after).timeMs() == cutTime) {
                after++;
            }
            if (after == n) {
                throw new IllegalArgumentException("all " + n + " examples share one timestamp; cannot split by time");
            }
            cut = after; // everything at cutTime trains
        }
        return new TimeSplit(
                Collections.unmodifiableList(sorted.subList(0, cut)),
                Collections.unmodifiableList(sorted.subList(cut, n)),
                sorted.get(cut).timeMs());
    }

    /**
     * Trains on the examples (any order).
     *
     * @throws IllegalArgumentException for unusable data: wrong vector width, labels other than 0/1,
     *     infinite feature values, a part without both classes, a single timestamp
     * @throws XGBoostError if XGBoost fails
     */
    public TrainingResult train(List<Example> examples) throws XGBoostError {
        int width = featureNames.size();
        for (Example e : examples) {
            if (e.features().length != width) {
                throw new IllegalArgumentException("example at " + e.timeMs() + " has " + e.features().length
                        + " features, spec has " + width);
            }
            if (e.label() != 0f && e.label() != 1f) {
                throw new IllegalArgumentException("example at " + e.timeMs() + " has label " + e.label()
                        + "; labels must be 0 or 1");
            }
            for (float v : e.features()) {
                if (Float.isInfinite(v)) {
                    throw new IllegalArgumentException("example at " + e.timeMs()
                            + " has an infinite feature value (use NaN for missing)");
                }
            }
        }
        TimeSplit split = split(examples, config.validationFraction());
        ModelCard.DataWindow trainWindow = window(split.train(), "train");
        ModelCard.DataWindow validationWindow = window(split.validation(), "validation");

        float[] trainX = rowMajor(split.train(), width);
        float[] trainY = labels(split.train());
        float[] validationX = rowMajor(split.validation(), width);
        float[] validationY = labels(split.validation());
        String[] names = featureNames.toArray(new String[0]);
        Map<String, Object> params = params();

        DMatrix dtrain = null;
        DMatrix dvalidation = null;
        Booster earlyStopped = null;
        Booster model = null;
        try {
            dtrain = new DMatrix(trainX, split.train().size(), width, Float.NaN);
            dtrain.setLabel(trainY);
            dtrain.setFeatureNames(names);
            dvalidation = new DMatrix(validationX, split.validation().size(), width, Float.NaN);
            dvalidation.setLabel(validationY);
            dvalidation.setFeatureNames(names);

            Map<String, DMatrix> watches = new LinkedHashMap<>();
            watches.put("train", dtrain);
            watches.put("validation", dvalidation); // last watch = the one early stopping follows
            float[][] history = new float[watches.size()][config.maxRounds()];
            earlyStopped = XGBoost.train(dtrain, params, config.maxRounds(), watches, history, null, null,
                    config.earlyStoppingRounds());
            int rounds = earlyStopped.getNumBoostedRound();
            String bestAttr = earlyStopped.getAttr("best_iteration");
            int bestIteration = config.earlyStoppingRounds() > 0 && bestAttr != null
                    ? Integer.parseInt(bestAttr)
                    : rounds - 1;
            double bestValidationLogLoss = history[1][bestIteration];

            if (bestIteration + 1 < rounds) {
                model = XGBoost.train(dtrain, params, bestIteration + 1, new HashMap<>(), null, null, null, 0);
                earlyStopped.dispose();
            } else {
                model = earlyStopped;
            }
            earlyStopped = null;
            model.setAttr("best_iteration", String.valueOf(bestIteration));
            model.setAttr("best_score", String.valueOf((float) bestValidationLogLoss));

            float[][] raw = model.predict(dvalidation);
            float[] validationPredictions = new float[raw.length];
            for (int i = 0; i < raw.length; i++) {
                validationPredictions[i] = raw[i][0];
            }
            List<ModelCard.CalibrationBin> calibration = Metrics.calibration(validationPredictions, validationY);
            double meanPrediction = 0;
            for (float p : validationPredictions) {
                meanPrediction += p;
            }
            meanPrediction /= validationPredictions.length;
            ModelCard.ValidationMetrics metrics = new ModelCard.ValidationMetrics(
                    Metrics.auc(validationPredictions, validationY),
                    Metrics.logLoss(validationPredictions, validationY),
                    Metrics.expectedCalibrationError(calibration),
                    meanPrediction,
                    (double) validationWindow.positives() / validationWindow.rows(),
                    calibration);

            Map<String, String> recordedParams = new TreeMap<>();
            params.forEach((k, v) -> recordedParams.put(k, String.valueOf(v)));
            recordedParams.put("num_boost_round", String.valueOf(config.maxRounds()));
            recordedParams.put("early_stopping_rounds", String.valueOf(config.earlyStoppingRounds()));
            recordedParams.put("validation_fraction", String.valueOf(config.validationFraction()));

            TrainingResult result = new TrainingResult(
                    model, featureNames, featureSpecId, recordedParams, model.getNumBoostedRound(), bestIteration,
                    bestValidationLogLoss, split.splitTimeMs(), trainWindow, validationWindow, metrics,
                    importances(model, names), validationX, validationY, validationPredictions);
            model = null; // owned by the result now
            return result;
        } finally {
            if (earlyStopped != null) {
                earlyStopped.dispose();
            }
            if (model != null) {
                model.dispose();
            }
            if (dtrain != null) {
                dtrain.dispose();
            }
            if (dvalidation != null) {
                dvalidation.dispose();
            }
        }
    }

    private static List<ModelCard.FeatureImportance> importances(Booster booster, String[] names)
            throws XGBoostError {
        Map<String, Double> totalGain = booster.getScore(names, "total_gain");
        Map<String, Double> gain = booster.getScore(names, "gain");
        Map<String, Integer> splits = booster.getFeatureScore(names);
        List<ModelCard.FeatureImportance> out = new ArrayList<>(names.length);
        for (String name : names) {
            out.add(new ModelCard.FeatureImportance(
                    name,
                    totalGain.getOrDefault(name, 0.0),
                    gain.getOrDefault(name, 0.0),
                    splits.getOrDefault(name, 0)));
        }
        out.sort(Comparator.comparingDouble(ModelCard.FeatureImportance::totalGain).reversed()
                .thenComparing(ModelCard.FeatureImportance::feature));
        return List.copyOf(out);
    }

    private static ModelCard.DataWindow window(List<Example> part, String name) {
        long positives = 0;
        for (Example e : part) {
            if (e.label() == 1f) {
                positives++;
            }
        }
        if (positives == 0 || positives == part.size()) {
            throw new IllegalArgumentException("the " + name + " part (" + part.size()
                    + " rows) has only one class; need both likes and non-likes to train and validate");
        }
        return new ModelCard.DataWindow(
                part.size(), positives, part.get(0).timeMs(), part.get(part.size() - 1).timeMs());
    }

    private static float[] rowMajor(List<Example> part, int width) {
        float[] out = new float[part.size() * width];
        for (int i = 0; i < part.size(); i++) {
            System.arraycopy(part.get(i).features(), 0, out, i * width, width);
        }
        return out;
    }

    private static float[] labels(List<Example> part) {
        float[] out = new float[part.size()];
        for (int i = 0; i < part.size(); i++) {
            out[i] = part.get(i).label();
        }
        return out;
    }
}
