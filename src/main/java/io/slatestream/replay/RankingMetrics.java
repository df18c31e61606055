package io.slatestream.replay;

import java.util.List;

/**
 * Top-k metrics of a ranked list against one relevant item (the item the user liked next).
 *
 * <pre>
 *   rank      1-based position of the liked item in the list; none if it is not among the first k
 *   hit@k     1 if ranked, else 0
 *   NDCG@k    1 / log2(rank + 1) if ranked, else 0    (one relevant item: the ideal DCG is 1)
 * </pre>
 *
 * Averaged over evaluated likes, each with a 95 % confidence interval from the normal
 * approximation (mean ± 1.96 · s / √n, s the sample standard deviation).
 */
public final class RankingMetrics {
  private RankingMetrics() {}

  /** The 1-based rank of {@code item} among the first {@code k} of {@code ranked}, or 0. */
  public static int rank(List<String> ranked, String item, int k) {
    int n = Math.min(k, ranked.size());
    for (int i = 0; i < n; i++) {
      if (ranked.get(i).equals(item)) {
        return i + 1;
      }
    }
    return 0;
  }

  public static double hit(int rank) {
    return rank > 0 ? 1.0 : 0.0;
  }

  public static double ndcg(int rank) {
    return rank > 0 ? 1.0 / (Math.log(rank + 1) / Math.log(2)) : 0.0;
  }

  /** A running mean with its 95 % confidence interval. */
  public static final class Mean {
    private long n;
    private double sum;
    private double sumOfSquares;

    public void add(double x) {
      n++;
      sum += x;
      sumOfSquares += x * x;
    }

    public long count() {
      return n;
    }

    public double mean() {
      return n == 0 ? Double.NaN : sum / n;
    }

    /** Half-width of the 95 % confidence interval of the mean; NaN below two values. */
    public double ci95() {
      if (n < 2) {
        return Double.NaN;
      }
      double variance = Math.max(0, (sumOfSquares - sum * sum / n) / (n - 1));
      return 1.96 * Math.sqrt(variance / n);
    }
  }

  /** Hit rate and NDCG of one ranker over the evaluated likes. */
  public static final class Summary {
    public final Mean hitRate = new Mean();
    public final Mean ndcg = new Mean();

    public void add(int rank) {
      hitRate.add(hit(rank));
      ndcg.add(ndcg(rank));
    }
  }
}
