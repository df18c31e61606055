package io.slatestream.ranking;

import io.slatestream.avro.state.ItemStats;

/**
 * The score that serves before any model exists, so that a fresh deployment can collect its own
 * training data:
 *
 * <pre>
 *   popularity(item)      = ln(2 + likes) * (likes + 1) / (likes + skips + quickSkips + 2)
 *   affinityWeight(u, c)  = 1 + tanh(affinity(u, c))            in (0, 2); 1 for an unknown category
 *   score(u, item)        = popularity(item) * affinityWeight(u, category(item))
 * </pre>
 *
 * Popularity is engagement volume (log-damped, so one viral item does not take every slate) times a
 * Laplace-smoothed like rate (a new item starts at 1/2 rather than at 0 or 1). Quick skips count
 * twice against an item: once as a skip and once more as a quick skip. All counts are the item's
 * decayed statistics.
 */
public final class HeuristicScorer {
  private HeuristicScorer() {}

  public static final String VERSION = "heuristic-v1";

  public static double popularity(ItemStats s) {
    if (s == null) {
      return popularity(0, 0, 0);
    }
    return popularity(s.getLikes(), s.getSkips(), s.getQuickSkips());
  }

  public static double popularity(double likes, double skips, double quickSkips) {
    return Math.log(2.0 + likes) * (likes + 1.0) / (likes + skips + quickSkips + 2.0);
  }

  public static double affinityWeight(double affinity) {
    return 1.0 + Math.tanh(affinity);
  }

  public static double score(double popularity, double affinity) {
    return popularity * affinityWeight(affinity);
  }
}
