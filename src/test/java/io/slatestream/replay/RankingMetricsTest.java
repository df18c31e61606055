package io.slatestream.replay;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.util.List;
import org.junit.jupiter.api.Test;

class RankingMetricsTest {

  @Test
  void ranksCountOnlyWithinTheCutOff() {
    List<String> slate = List.of("a", "b", "c", "d");
    assertThat(RankingMetrics.rank(slate, "a", 10)).isEqualTo(1);
    assertThat(RankingMetrics.rank(slate, "c", 10)).isEqualTo(3);
    assertThat(RankingMetrics.rank(slate, "c", 2)).as("beyond k").isZero();
    assertThat(RankingMetrics.rank(slate, "z", 10)).isZero();
    assertThat(RankingMetrics.rank(List.of(), "a", 10)).isZero();
  }

  /**
   * Five likes ranked 1, 3, not at all, 10 and 11 with k = 10, worked by hand:
   * hit rate = 3/5 = 0.6; NDCG = (1/log2(2) + 1/log2(4) + 0 + 1/log2(11) + 0) / 5
   * = (1 + 0.5 + 0.289065...) / 5 = 0.357813...
   */
  @Test
  void hitRateAndNdcgOfAHandWorkedCase() {
    List<String> slate = List.of("i1", "i2", "i3", "i4", "i5", "i6", "i7", "i8", "i9", "i10", "i11");
    RankingMetrics.Summary s = new RankingMetrics.Summary();
    for (String liked : List.of("i1", "i3", "nowhere", "i10", "i11")) {
      s.add(RankingMetrics.rank(slate, liked, 10));
    }
    assertThat(s.hitRate.count()).isEqualTo(5);
    assertThat(s.hitRate.mean()).isCloseTo(0.6, within(1e-12));
    assertThat(s.ndcg.mean()).isCloseTo((1 + 0.5 + 0.2890648263178879) / 5, within(1e-12));
    assertThat(RankingMetrics.ndcg(2)).isCloseTo(0.6309297535714575, within(1e-12));
  }

  /** 1, 0, 1, 1: mean 0.75, sample standard deviation 0.5, so 1.96 · 0.5 / √4 = 0.49. */
  @Test
  void confidenceIntervalIsTheNormalApproximationWithTheSampleDeviation() {
    RankingMetrics.Mean m = new RankingMetrics.Mean();
    assertThat(m.mean()).isNaN();
    m.add(1);
    assertThat(m.ci95()).as("one value has no spread").isNaN();
    m.add(0);
    m.add(1);
    m.add(1);
    assertThat(m.mean()).isCloseTo(0.75, within(1e-12));
    assertThat(m.ci95()).isCloseTo(0.49, within(1e-12));
  }
}
