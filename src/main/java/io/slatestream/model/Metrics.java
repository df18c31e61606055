package io.slatestream.model;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Validation metrics of a binary classifier, computed in Java from predicted probabilities and 0/1
 * labels (independent of XGBoost's own evaluation, so the model card is checkable).
 */
public final class Metrics {

    /** The probability of the observed class is floored at EPS in log loss, as in XGBoost's logloss. */
    public static final double LOG_LOSS_EPS = 1e-16;

    /** Number of equal-width probability bins of the calibration table. */
    public static final int CALIBRATION_BINS = 10;

    private Metrics() {}

    /**
     * Area under the ROC curve, computed as the Mann–Whitney statistic with average ranks: the
     * probability that a random positive scores above a random negative, ties counting one half.
     *
     * @return the AUC, or {@code NaN} when one of the classes is absent
     * @throws IllegalArgumentException if a label is not 0 or 1 or lengths differ
     */
    public static double auc(float[] predictions, float[] labels) {
        checkInputs(predictions, labels);
        int n = predictions.length;
        Integer[] order = new Integer[n];
        for (int i = 0; i < n; i++) {
            order[i] = i;
        }
        Arrays.sort(order, (a, b) -> Float.compare(predictions[a], predictions[b]));
        double positiveRankSum = 0;
        long positives = 0;
        int i = 0;
        while (i < n) {
            int j = i;
            while (j + 1 < n && predictions[order[j + 1]] == predictions[order[i]]) {
                j++;
            }
            double averageRank = (i + 1 + j + 1) / 2.0; // ranks are 1-based, ties share their mean rank
            for (int k = i; k <= j; k++) {
                if (labels[order[k]] == 1f) {
                    positiveRankSum += averageRank;
                    positives++;
                }
            }
            i = j + 1;
        }
        long negatives = n - positives;
        if (positives == 0 || negatives == 0) {
            return Double.NaN;
        }
        return (positiveRankSum - positives * (positives + 1) / 2.0) / ((double) positives * negatives);
    }

    /**
     * NDCG@k of one ranked list: the items ordered by descending prediction (ties keep their given
     * order), gain = label, discount = 1 / log2(rank + 1) with 1-based ranks, normalised by the DCG
     * of the ideal order of the same labels.
     *
     * @return NDCG@k in [0, 1], or {@code NaN} when no label is positive (nothing to rank well)
     * @throws IllegalArgumentException if a label is not 0 or 1, lengths differ or k &lt; 1
     */
    public static double ndcg(float[] predictions, float[] labels, int k) {
        checkInputs(predictions, labels);
        if (k < 1) {
            throw new IllegalArgumentException("k must be positive: " + k);
        }
        int n = predictions.length;
        Integer[] order = new Integer[n];
        for (int i = 0; i < n; i++) {
            order[i] = i;
        }
        Arrays.sort(order, (a, b) -> Float.compare(predictions[b], predictions[a])); // stable
        int positives = 0;
        for (float l : labels) {
            positives += l == 1f ? 1 : 0;
        }
        if (positives == 0) {
            return Double.NaN;
        }
        double dcg = 0;
        double ideal = 0;
        for (int r = 0; r < Math.min(k, n); r++) {
            double discount = 1.0 / (Math.log(r + 2) / Math.log(2));
            dcg += labels[order[r]] * discount;
            ideal += r < positives ? discount : 0;
        }
        return dcg / ideal;
    }

    /** Mean negative log-likelihood; the observed class's probability is floored at {@link #LOG_LOSS_EPS}. */
    public static double logLoss(float[] predictions, float[] labels) {
        checkInputs(predictions, labels);
        if (predictions.length == 0) {
            return Double.NaN;
        }
        double sum = 0;
        for (int i = 0; i < predictions.length; i++) {
            // float -> double is exact, so 1 - p is the exact probability of the other class
            double p = labels[i] == 1f ? predictions[i] : 1.0 - predictions[i];
            sum -= Math.log(Math.max(p, LOG_LOSS_EPS));
        }
        return sum / predictions.length;
    }

    /**
     * Calibration table: {@value #CALIBRATION_BINS} equal-width bins of the predicted probability
     * ([0, 0.1), [0.1, 0.2), …, [0.9, 1.0]); per bin the number of rows, their mean prediction and
     * their observed positive rate (both {@code null} for an empty bin).
     */
    public static List<ModelCard.CalibrationBin> calibration(float[] predictions, float[] labels) {
        checkInputs(predictions, labels);
        long[] count = new long[CALIBRATION_BINS];
        double[] sumPredicted = new double[CALIBRATION_BINS];
        double[] sumLabel = new double[CALIBRATION_BINS];
        for (int i = 0; i < predictions.length; i++) {
            int bin = Math.min((int) (predictions[i] * CALIBRATION_BINS), CALIBRATION_BINS - 1);
            bin = Math.max(bin, 0);
            count[bin]++;
            sumPredicted[bin] += predictions[i];
            sumLabel[bin] += labels[i];
        }
        List<ModelCard.CalibrationBin> bins = new ArrayList<>(CALIBRATION_BINS);
        for (int b = 0; b < CALIBRATION_BINS; b++) {
            bins.add(new ModelCard.CalibrationBin(
                    (double) b / CALIBRATION_BINS,
                    (double) (b + 1) / CALIBRATION_BINS,
                    count[b],
                    count[b] == 0 ? null : sumPredicted[b] / count[b],
                    count[b] == 0 ? null : sumLabel[b] / count[b]));
        }
        return bins;
    }

    /** Expected calibration error: the row-weighted mean |mean prediction − observed rate| over bins. */
    public static double expectedCalibrationError(List<ModelCard.CalibrationBin> bins) {
        long total = 0;
        double weighted = 0;
        for (ModelCard.CalibrationBin bin : bins) {
            if (bin.count() > 0) {
                total += bin.count();
                weighted += bin.count() * Math.abs(bin.meanPredicted() - bin.observedRate());
            }
        }
        return total == 0 ? Double.NaN : weighted / total;
    }

    private static void checkInputs(float[] predictions, float[] labels) {
        if (predictions.length != labels.length) {
            throw new IllegalArgumentException(
                    predictions.length + " predictions but " + labels.length + " labels");
        }
        for (int i = 0; i < labels.length; i++) {
            if (labels[i] != 0f && labels[i] != 1f) {
                throw new IllegalArgumentException("label " + labels[i] + " at row " + i + " is not 0 or 1");
            }
            if (Float.isNaN(predictions[i])) {
                throw new IllegalArgumentException("prediction at row " + i + " is NaN");
            }
        }
    }
}
