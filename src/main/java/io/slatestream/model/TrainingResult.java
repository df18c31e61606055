package io.slatestream.model;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Map;
import ml.dmlc.xgboost4j.java.Booster;
import ml.dmlc.xgboost4j.java.XGBoostError;

/**
 * A trained model with its validation metrics. Owns the native booster: {@link #close()} it.
 */
public final class TrainingResult implements AutoCloseable {

    /** Model file name inside the directory written by {@link #writeModel}. */
    public static final String MODEL_FILE = "model.ubj";
    /** Model card file name inside the directory written by {@link #writeModel}. */
    public static final String CARD_FILE = "model-card.json";
    /** Serialization format of {@link #MODEL_FILE}: XGBoost's UBJSON (floats stored bit-exactly). */
    public static final String MODEL_FORMAT = "ubj";

    private final Booster booster;
    private final List<String> featureNames;
    private final String featureSpecId;
    private final Map<String, String> params;
    private final int numTrees;
    private final int bestIteration;
    private final double bestValidationLogLoss;
    private final long splitTimeMs;
    private final ModelCard.DataWindow train;
    private final ModelCard.DataWindow validation;
    private final ModelCard.ValidationMetrics validationMetrics;
    private final List<ModelCard.FeatureImportance> featureImportances;
    private final float[] validationFeatures;
    private final float[] validationLabels;
    private final float[] validationPredictions;

    TrainingResult(
            Booster booster,
            List<String> featureNames,
            String featureSpecId,
            Map<String, String> params,
            int numTrees,
            int bestIteration,
            double bestValidationLogLoss,
            long splitTimeMs,
            ModelCard.DataWindow train,
            ModelCard.DataWindow validation,
            ModelCard.ValidationMetrics validationMetrics,
            List<ModelCard.FeatureImportance> featureImportances,
            float[] validationFeatures,
            float[] validationLabels,
            float[] validationPredictions) {
        this.booster = booster;
        this.featureNames = List.copyOf(featureNames);
        this.featureSpecId = featureSpecId;
        this.params = Map.copyOf(params);
        this.numTrees = numTrees;
        this.bestIteration = bestIteration;
        this.bestValidationLogLoss = bestValidationLogLoss;
        this.splitTimeMs = splitTimeMs;
        this.train = train;
        this.validation = validation;
        this.validationMetrics = validationMetrics;
        this.featureImportances = featureImportances;
        this.validationFeatures = validationFeatures;
        this.validationLabels = validationLabels;
        this.validationPredictions = validationPredictions;
    }

    /** The trained booster (cut at the best iteration). Owned by this result. */
    public Booster booster() {
        return booster;
    }

    public List<String> featureNames() {
        return featureNames;
    }

    public String featureSpecId() {
        return featureSpecId;
    }

    public int numTrees() {
        return numTrees;
    }

    public int bestIteration() {
        return bestIteration;
    }

    /** XGBoost's own validation log loss at the best round (Java's is in {@link #validationMetrics()}). */
    public double bestValidationLogLoss() {
        return bestValidationLogLoss;
    }

    public long splitTimeMs() {
        return splitTimeMs;
    }

    public ModelCard.DataWindow trainWindow() {
        return train;
    }

    public ModelCard.DataWindow validationWindow() {
        return validation;
    }

    public ModelCard.ValidationMetrics validationMetrics() {
        return validationMetrics;
    }

    public List<ModelCard.FeatureImportance> featureImportances() {
        return featureImportances;
    }

    /** Validation rows, row-major, in time order (a copy). */
    public float[] validationFeatures() {
        return validationFeatures.clone();
    }

    public float[] validationLabels() {
        return validationLabels.clone();
    }

    /** The final booster's predictions on the validation rows, from one predict call (a copy). */
    public float[] validationPredictions() {
        return validationPredictions.clone();
    }

    /** The model serialized as {@value #MODEL_FORMAT}, exactly the bytes {@link #writeModel} writes. */
    public byte[] modelBytes() throws XGBoostError {
        return booster.toByteArray(MODEL_FORMAT);
    }

    /** The card for this model under the given version and model checksum. */
    public ModelCard card(String version, String modelSha256) {
        return new ModelCard(
                version,
                featureSpecId,
                MODEL_FILE,
                MODEL_FORMAT,
                modelSha256,
                System.currentTimeMillis(),
                XgbSupport.xgboostVersion(),
                GbdtModel.OBJECTIVE,
                new java.util.TreeMap<>(params),
                featureNames.size(),
                featureNames,
                numTrees,
                bestIteration,
                bestValidationLogLoss,
                splitTimeMs,
                train,
                validation,
                validationMetrics,
                featureImportances);
    }

    /**
     * Writes {@value #MODEL_FILE} and {@value #CARD_FILE} into {@code dir} (created if needed). The
     * model file is written to a temporary name and moved into place, so a reader never sees half of it.
     *
     * @return lower-case hex sha256 of the model file, the checksum for its {@code ModelRelease}
     */
    public String writeModel(Path dir, String version) throws IOException, XGBoostError {
        Files.createDirectories(dir);
        byte[] bytes = modelBytes();
        String sha256 = XgbSupport.sha256Hex(bytes);
        Path target = dir.resolve(MODEL_FILE);
        Path tmp = Files.createTempFile(dir, MODEL_FILE, ".tmp");
        try {
            Files.write(tmp, bytes);
            Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } finally {
            Files.deleteIfExists(tmp);
        }
        card(version, sha256).write(dir.resolve(CARD_FILE));
        return sha256;
    }

    @Override
    public void close() {
        booster.dispose();
    }
}
