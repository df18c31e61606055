package io.slatestream.model;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.json.JsonReadFeature;
import java.util.Arrays;
import java.util.Objects;
import ml.dmlc.xgboost4j.java.Booster;
import ml.dmlc.xgboost4j.java.DMatrix;
import ml.dmlc.xgboost4j.java.XGBoost;
import ml.dmlc.xgboost4j.java.XGBoostError;

/**
 * A loaded, verified XGBoost binary classifier that scores one slate per call.
 *
 * <p><b>Scoring.</b> {@link #score(float[], int)} predicts all rows of a slate (row-major,
 * {@code NaN} = missing, exactly as in training) in one in-place call
 * ({@link Booster#inplace_predict}: XGBoost reads the Java array as a dense array and builds no
 * {@link DMatrix}; in the ranker's profile, with the small models the job trains, building one took
 * more CPU than walking the trees. See the README, Performance). The result is bit-identical to {@link Booster#predict(DMatrix)} on a
 * {@code DMatrix} of the same rows, one at a time or all together: every row is an independent sum
 * of the same tree outputs in the same order, followed by the same float sigmoid (see
 * {@code GbdtParityTest}).
 *
 * <p><b>Threads.</b> The model pins XGBoost to one OpenMP thread ({@code nthread=1}) so that a
 * Flink task slot uses one core and parallelism comes from Flink, not from OpenMP inside every
 * slot. The instance is safe to share, but calls are serialized (XGBoost4J's {@code predict} is
 * {@code synchronized} on the booster); the intended use is one instance per parallel task,
 * loaded by that task. Loading returns a fully verified model, so swapping a field that holds the
 * current model is an atomic switch; {@link #close()} the old one only once no call can still use it.
 *
 * <p><b>Native memory.</b> The booster lives in native memory; {@link #close()} frees it. A closed
 * model refuses to score.
 */
public final class GbdtModel implements AutoCloseable {

    /** The only objective whose output the ranker can use as a probability. */
    public static final String OBJECTIVE = "binary:logistic";

    private static final JsonFactory JSON_FACTORY =
            JsonFactory.builder().enable(JsonReadFeature.ALLOW_NON_NUMERIC_NUMBERS).build();

    private final Booster booster;
    private final String version;
    private final String featureSpecId;
    private final int numFeatures;
    private final int numTrees;
    private boolean closed;

    private GbdtModel(Booster booster, String version, String featureSpecId, int numFeatures, int numTrees) {
        this.booster = booster;
        this.version = version;
        this.featureSpecId = featureSpecId;
        this.numFeatures = numFeatures;
        this.numTrees = numTrees;
    }

    /**
     * Parses an XGBoost model (UBJSON or JSON, as written by {@code Booster.toByteArray}) and verifies
     * that it can serve: it parses, it is a {@value #OBJECTIVE} model, it expects exactly
     * {@code numFeatures} features, and a smoke prediction returns a probability.
     *
     * @throws ModelRejectedException with kind CORRUPT, UNSUPPORTED_OBJECTIVE, FEATURE_COUNT_MISMATCH
     *     or SMOKE_TEST_FAILED; native memory is released before it is thrown
     */
    public static GbdtModel load(byte[] bytes, String version, String featureSpecId, int numFeatures)
            throws ModelRejectedException {
        Objects.requireNonNull(bytes, "bytes");
        Objects.requireNonNull(version, "version");
        Objects.requireNonNull(featureSpecId, "featureSpecId");
        if (numFeatures <= 0) {
            throw new IllegalArgumentException("numFeatures must be positive: " + numFeatures);
        }
        if (bytes.length == 0) {
            throw new ModelRejectedException(ModelRejectedException.Kind.CORRUPT, "corrupt model: the file is empty");
        }
        Booster booster;
        try {
            booster = XGBoost.loadModel(bytes);
        } catch (XGBoostError | java.io.IOException | RuntimeException e) {
            throw new ModelRejectedException(
                    ModelRejectedException.Kind.CORRUPT, "corrupt model: " + XgbSupport.describe(e), e);
        }
        GbdtModel model = null;
        try {
            booster.setParam("nthread", 1);
            verifyObjective(booster);
            long modelFeatures = booster.getNumFeature();
            if (modelFeatures != numFeatures) {
                throw new ModelRejectedException(
                        ModelRejectedException.Kind.FEATURE_COUNT_MISMATCH,
                        "feature count mismatch: model has " + modelFeatures + " features, job provides "
                                + numFeatures);
            }
            model = new GbdtModel(booster, version, featureSpecId, numFeatures, booster.getNumBoostedRound());
            model.smokeTest();
            return model;
        } catch (XGBoostError | RuntimeException e) {
            booster.dispose();
            throw new ModelRejectedException(
                    ModelRejectedException.Kind.CORRUPT, "corrupt model: " + XgbSupport.describe(e), e);
        } catch (ModelRejectedException e) {
            booster.dispose();
            throw e;
        }
    }

    private static void verifyObjective(Booster booster) throws XGBoostError, ModelRejectedException {
        String objective;
        try {
            objective = objectiveName(booster.toByteArray("json"));
        } catch (java.io.IOException e) {
            throw new ModelRejectedException(
                    ModelRejectedException.Kind.CORRUPT,
                    "corrupt model: cannot read its configuration: " + XgbSupport.describe(e), e);
        }
        if (!OBJECTIVE.equals(objective)) {
            throw new ModelRejectedException(
                    ModelRejectedException.Kind.UNSUPPORTED_OBJECTIVE,
                    "unsupported objective: model uses '" + objective + "', scoring needs '" + OBJECTIVE + "'");
        }
    }

    /**
     * {@code learner.objective.name} of an XGBoost JSON model, streamed (the trees are skipped, not
     * materialized). XGBoost writes non-finite floats as bare {@code NaN}/{@code Infinity}, so those
     * tokens are allowed.
     */
    static String objectiveName(byte[] json) throws java.io.IOException {
        try (JsonParser p = JSON_FACTORY.createParser(json)) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                return "";
            }
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String field = p.currentName();
                JsonToken value = p.nextToken();
                if ("learner".equals(field) && value == JsonToken.START_OBJECT) {
                    while (p.nextToken() == JsonToken.FIELD_NAME) {
                        String learnerField = p.currentName();
                        JsonToken learnerValue = p.nextToken();
                        if ("objective".equals(learnerField) && learnerValue == JsonToken.START_OBJECT) {
                            while (p.nextToken() == JsonToken.FIELD_NAME) {
                                String objectiveField = p.currentName();
                                p.nextToken();
                                if ("name".equals(objectiveField)) {
                                    return p.getValueAsString("");
                                }
                                p.skipChildren();
                            }
                            return "";
                        }
                        p.skipChildren();
                    }
                    return "";
                }
                p.skipChildren();
            }
            return "";
        }
    }

    /**
     * Predicts an all-zero row and an all-missing row; both must be finite probabilities.
     *
     * @return the prediction for the all-zero row
     */
    public float smokeTest() throws ModelRejectedException {
        float[] rows = new float[2 * numFeatures];
        Arrays.fill(rows, numFeatures, rows.length, Float.NaN);
        float[] p;
        try {
            p = score(rows, 2);
        } catch (RuntimeException e) {
            throw new ModelRejectedException(
                    ModelRejectedException.Kind.SMOKE_TEST_FAILED,
                    "smoke prediction failed: " + XgbSupport.describe(e.getCause() != null ? e.getCause() : e),
                    e);
        }
        for (int i = 0; i < p.length; i++) {
            if (!Float.isFinite(p[i]) || p[i] < 0f || p[i] > 1f) {
                throw new ModelRejectedException(
                        ModelRejectedException.Kind.SMOKE_TEST_FAILED,
                        "smoke prediction failed: " + (i == 0 ? "all-zero" : "all-missing")
                                + " row scored " + p[i] + ", expected a probability in [0, 1]");
            }
        }
        return p[0];
    }

    /**
     * Scores all rows of one slate in one native prediction call.
     *
     * @param rowsRowMajor features, row-major, {@code numFeatures()} values per row, {@code NaN} for
     *     missing; only the first {@code rows * numFeatures()} values are read, so a larger buffer can
     *     be reused across slates
     * @param rows number of rows (may be 0)
     * @return the probability of a positive label, one per row, in row order
     * @throws IllegalArgumentException if the buffer holds fewer than {@code rows * numFeatures()} values
     * @throws IllegalStateException if the model is closed or XGBoost fails natively
     */
    public synchronized float[] score(float[] rowsRowMajor, int rows) {
        Objects.requireNonNull(rowsRowMajor, "rowsRowMajor");
        if (closed) {
            throw new IllegalStateException("model " + version + " is closed");
        }
        if (rows < 0) {
            throw new IllegalArgumentException("rows must be >= 0: " + rows);
        }
        long needed = (long) rows * numFeatures;
        if (rowsRowMajor.length < needed) {
            throw new IllegalArgumentException(
                    rows + " rows of " + numFeatures + " features need " + needed + " values, got "
                            + rowsRowMajor.length);
        }
        if (rows == 0) {
            return new float[0];
        }
        try {
            float[][] out = booster.inplace_predict(rowsRowMajor, rows, numFeatures, Float.NaN);
            float[] scores = new float[rows];
            for (int i = 0; i < rows; i++) {
                scores[i] = out[i][0];
            }
            return scores;
        } catch (XGBoostError e) {
            throw new IllegalStateException(
                    "XGBoost prediction failed for model " + version + ": " + XgbSupport.describe(e), e);
        }
    }

    public String version() {
        return version;
    }

    public String featureSpecId() {
        return featureSpecId;
    }

    public int numFeatures() {
        return numFeatures;
    }

    /** Number of boosting rounds (trees, for a binary model) in the model. */
    public int numTrees() {
        return numTrees;
    }

    /** Frees the native booster. Idempotent. */
    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            booster.dispose();
        }
    }

    @Override
    public String toString() {
        return "GbdtModel{version=" + version + ", featureSpecId=" + featureSpecId + ", features=" + numFeatures
                + ", trees=" + numTrees + (closed ? ", closed" : "") + "}";
    }
}
