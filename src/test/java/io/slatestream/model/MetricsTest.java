package io.slatestream.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class MetricsTest {

    @Test
    void aucOfAHandComputableCase() {
        // Pairs (positive, negative): (0.35,0.1)=1 (0.35,0.4)=0 (0.8,0.1)=1 (0.8,0.4)=1 -> 3/4
        float[] p = {0.1f, 0.4f, 0.35f, 0.8f};
        float[] y = {0, 0, 1, 1};
        assertThat(Metrics.auc(p, y)).isEqualTo(0.75);
    }

    @Test
    void ndcgOfAHandComputableCase() {
        // ranked by score: labels 0, 1, 0, 1 -> DCG@4 = 1/log2(3) + 1/log2(5); ideal 1, 1, 0, 0 -> 1 + 1/log2(3)
        float[] p = {0.7f, 0.1f, 0.9f, 0.8f};
        float[] y = {0, 1, 0, 1};
        double log2of3 = Math.log(3) / Math.log(2);
        double log2of5 = Math.log(5) / Math.log(2);
        assertThat(Metrics.ndcg(p, y, 10)).isCloseTo((1 / log2of3 + 1 / log2of5) / (1 + 1 / log2of3), within(1e-12));
        // @2: only the first two ranks count
        assertThat(Metrics.ndcg(p, y, 2)).isCloseTo((1 / log2of3) / (1 + 1 / log2of3), within(1e-12));
        // the ideal order scores 1, no positive is undefined
        assertThat(Metrics.ndcg(new float[] {0.2f, 0.9f}, new float[] {0, 1}, 10)).isEqualTo(1.0);
        assertThat(Metrics.ndcg(new float[] {0.2f, 0.9f}, new float[] {0, 0}, 10)).isNaN();
        assertThatThrownBy(() -> Metrics.ndcg(p, y, 0)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void aucCountsTiesAsOneHalf() {
        // positives {0.5, 0.9}, negatives {0.5, 0.2}: (0.5,0.5)=0.5, (0.5,0.2)=1, (0.9,*)=1+1 -> 3.5/4
        float[] p = {0.5f, 0.5f, 0.2f, 0.9f};
        float[] y = {1, 0, 0, 1};
        assertThat(Metrics.auc(p, y)).isEqualTo(0.875);
        // all predictions equal: no information, 0.5
        assertThat(Metrics.auc(new float[] {0.3f, 0.3f, 0.3f}, new float[] {1, 0, 1})).isEqualTo(0.5);
    }

    @Test
    void aucExtremesAndSingleClass() {
        assertThat(Metrics.auc(new float[] {0.1f, 0.2f, 0.8f, 0.9f}, new float[] {0, 0, 1, 1})).isEqualTo(1.0);
        assertThat(Metrics.auc(new float[] {0.1f, 0.2f, 0.8f, 0.9f}, new float[] {1, 1, 0, 0})).isEqualTo(0.0);
        assertThat(Metrics.auc(new float[] {0.1f, 0.2f}, new float[] {1, 1})).isNaN();
    }

    @Test
    void aucEqualsPairwiseCountOnRandomDataWithManyTies() {
        Random random = new Random(7);
        int n = 400;
        float[] p = new float[n];
        float[] y = new float[n];
        for (int i = 0; i < n; i++) {
            p[i] = random.nextInt(20) / 20f; // heavy ties
            y[i] = random.nextDouble() < 0.2 + 0.6 * p[i] ? 1 : 0;
        }
        double wins = 0;
        long pairs = 0;
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) {
                if (y[i] == 1 && y[j] == 0) {
                    pairs++;
                    wins += p[i] > p[j] ? 1 : p[i] == p[j] ? 0.5 : 0;
                }
            }
        }
        assertThat(Metrics.auc(p, y)).isCloseTo(wins / pairs, within(1e-12));
    }

    @Test
    void logLossOfAHandComputableCase() {
        float[] p = {0.8f, 0.3f};
        float[] y = {1, 0};
        double expected = -(Math.log((double) 0.8f) + Math.log(1 - (double) 0.3f)) / 2;
        assertThat(Metrics.logLoss(p, y)).isCloseTo(expected, within(1e-15));
        // a confident wrong answer is floored at eps, not infinite (as XGBoost's logloss does)
        assertThat(Metrics.logLoss(new float[] {1f}, new float[] {0})).isCloseTo(-Math.log(Metrics.LOG_LOSS_EPS),
                within(1e-6));
    }

    @Test
    void calibrationBinsCountMeanAndObservedRate() {
        float[] p = {0.05f, 0.05f, 0.15f, 0.95f, 1.0f, 0.55f};
        float[] y = {0, 1, 0, 1, 1, 0};
        List<ModelCard.CalibrationBin> bins = Metrics.calibration(p, y);
        assertThat(bins).hasSize(10);
        assertThat(bins.get(0).count()).isEqualTo(2);
        assertThat(bins.get(0).meanPredicted()).isCloseTo(0.05, within(1e-7));
        assertThat(bins.get(0).observedRate()).isEqualTo(0.5);
        assertThat(bins.get(1).count()).isEqualTo(1);
        assertThat(bins.get(2).count()).isZero();
        assertThat(bins.get(2).meanPredicted()).isNull();
        assertThat(bins.get(5).count()).isEqualTo(1);
        assertThat(bins.get(9).count()).isEqualTo(2); // 1.0 falls in the last bin
        assertThat(bins.get(9).observedRate()).isEqualTo(1.0);
        assertThat(bins.stream().mapToLong(ModelCard.CalibrationBin::count).sum()).isEqualTo(6);
        // ECE: bin0 |0.05-0.5|*2, bin1 |0.15-0|*1, bin5 |0.55-0|*1, bin9 |0.975-1|*2, over 6
        double ece = (2 * 0.45 + 0.15 + 0.55 + 2 * 0.025) / 6;
        assertThat(Metrics.expectedCalibrationError(bins)).isCloseTo(ece, within(1e-6));
    }

    @Test
    void rejectsNonBinaryLabels() {
        assertThatThrownBy(() -> Metrics.auc(new float[] {0.5f}, new float[] {0.5f}))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("not 0 or 1");
    }
}
