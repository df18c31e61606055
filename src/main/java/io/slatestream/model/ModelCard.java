package io.slatestream.model;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * What a trained model is, written as {@code model-card.json} next to the model file: which features
 * and spec it expects, what data it saw (time windows and row counts of the train and validation
 * parts), how it did on the validation part (AUC, log loss, calibration) and which features it uses.
 *
 * @param version model version (also the {@code ModelRelease} version)
 * @param featureSpecId feature spec the model was trained on; a job computing another spec refuses it
 * @param modelFile file name of the model next to the card
 * @param modelFormat {@code ubj} (XGBoost UBJSON)
 * @param modelSha256 lower-case hex sha256 of the model file (the {@code ModelRelease} checksum)
 * @param createdTimeMs when the card was written
 * @param xgboostVersion XGBoost4J version that trained the model
 * @param objective XGBoost objective
 * @param params all booster parameters used for training
 * @param numFeatures number of features per row
 * @param featureNames feature names in column order
 * @param numTrees trees in the model (rounds up to and including the best iteration)
 * @param bestIteration zero-based best round found by early stopping on the validation part
 * @param bestValidationLogLoss XGBoost's own validation log loss at the best round
 * @param splitTimeMs the time split: train rows are strictly before it, validation rows at or after
 * @param train rows, positives and time window of the train part
 * @param validation rows, positives and time window of the validation part
 * @param validationMetrics metrics of the final model on the validation part, computed in Java
 * @param featureImportances per feature, sorted by total gain descending (unused features have 0)
 */
public record ModelCard(
        String version,
        String featureSpecId,
        String modelFile,
        String modelFormat,
        String modelSha256,
        long createdTimeMs,
        String xgboostVersion,
        String objective,
        Map<String, String> params,
        int numFeatures,
        List<String> featureNames,
        int numTrees,
        int bestIteration,
        double bestValidationLogLoss,
        long splitTimeMs,
        DataWindow train,
        DataWindow validation,
        ValidationMetrics validationMetrics,
        List<FeatureImportance> featureImportances) {

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /** Rows of one part of the data and the event-time window they cover (inclusive). */
    public record DataWindow(long rows, long positives, long minTimeMs, long maxTimeMs) {}

    /**
     * @param auc rank-based ROC AUC (ties count one half)
     * @param logLoss mean negative log-likelihood
     * @param expectedCalibrationError row-weighted mean |mean prediction − observed rate| over bins
     * @param meanPrediction mean predicted probability
     * @param positiveRate observed positive rate
     * @param calibration 10 equal-width bins of the predicted probability
     */
    public record ValidationMetrics(
            double auc,
            double logLoss,
            double expectedCalibrationError,
            double meanPrediction,
            double positiveRate,
            List<CalibrationBin> calibration) {}

    /** One calibration bin [lower, upper); mean prediction and observed rate are null when empty. */
    public record CalibrationBin(double lower, double upper, long count, Double meanPredicted, Double observedRate) {}

    /**
     * @param feature feature name
     * @param totalGain summed loss reduction of all splits on the feature
     * @param gain average loss reduction per split on the feature
     * @param splits number of splits on the feature
     */
    public record FeatureImportance(String feature, double totalGain, double gain, long splits) {}

    public String toJson() {
        try {
            return JSON.writeValueAsString(this);
        } catch (IOException e) {
            throw new IllegalStateException("cannot serialize model card", e);
        }
    }

    public void write(Path file) throws IOException {
        Files.writeString(file, toJson() + System.lineSeparator());
    }

    public static ModelCard read(Path file) throws IOException {
        return JSON.readValue(file.toFile(), ModelCard.class);
    }

    public static ModelCard fromJson(String json) throws IOException {
        return JSON.readValue(json, ModelCard.class);
    }
}
