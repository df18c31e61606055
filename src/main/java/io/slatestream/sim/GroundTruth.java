package io.slatestream.sim;

/**
 * How simulated users answer an item they are shown: the known truth that ranking is measured
 * against.
 *
 * <pre>
 * z(u, i, t)   = BASE + W_CATEGORY·pref(u, category(i)) + W_CREATOR·pref(u, creator(i))
 *                + W_QUALITY·quality(i) + W_FRESH·2^(−age(i, t) / FRESH_HALF_LIFE)
 *                − FATIGUE_MAX·(1 − 2^(−fatigue(u, category(i), t) / FATIGUE_HALF))
 * P(like | u, i, t, examined)      = σ(z)
 * P(quick skip | not liked)        = σ(−QUICK_SLOPE·(z − QUICK_MIDPOINT))   (a poor match is left at once)
 * P(examined | position p)         = EXAMINE_TOP · (1 + p)^−EXAMINE_DECAY      (position bias)
 * </pre>
 *
 * Fatigue is bounded: a user tires of a category they watch a lot, but does not come to dislike
 * a category they love (at most FATIGUE_MAX off, half of it after FATIGUE_HALF recent items of it).
 *
 * <p>A user scans a slate from the top; an item they do not examine gets no answer at all. So the like
 * probability of an item <em>at a position</em> is P(examined | p) · σ(z), and the logged labels carry
 * the position bias a ranker has to see through.
 */
public final class GroundTruth {
  static final double BASE = -2.2;
  static final double W_CATEGORY = 2.5;
  static final double W_CREATOR = 1.5;
  static final double W_QUALITY = 0.6;
  static final double W_FRESH = 0.5;
  static final double FRESH_HALF_LIFE_MS = 3 * 3_600_000.0;
  static final double FATIGUE_MAX = 1.0;
  static final double FATIGUE_HALF = 4.0;
  static final double QUICK_SLOPE = 1.2;
  static final double QUICK_MIDPOINT = -1.0;
  static final double EXAMINE_TOP = 0.8;
  static final double EXAMINE_DECAY = 0.8;

  private final Catalog catalog;
  private final Population population;

  GroundTruth(Catalog catalog, Population population) {
    this.catalog = catalog;
    this.population = population;
  }

  /** The logit z(u, i, t) above. */
  public double logit(int user, int item, long atMs) {
    int category = catalog.category(item);
    double ageMs = Math.max(0, atMs - catalog.publishedMs(item));
    return BASE
        + W_CATEGORY * population.categoryPreference(user, category)
        + W_CREATOR * population.creatorPreference(user, catalog.creator(item))
        + W_QUALITY * catalog.quality(item)
        + W_FRESH * Math.pow(0.5, ageMs / FRESH_HALF_LIFE_MS)
        - FATIGUE_MAX * (1 - Math.pow(0.5, population.fatigue(user, category, atMs) / FATIGUE_HALF));
  }

  /** P(like) of an item the user examines, at {@code atMs} (their fatigue included). */
  public double likeProbability(int user, int item, long atMs) {
    return sigmoid(logit(user, item, atMs));
  }

  /** P(quick skip) of an examined item the user does not like. */
  public double quickSkipProbability(int user, int item, long atMs) {
    return sigmoid(-QUICK_SLOPE * (logit(user, item, atMs) - QUICK_MIDPOINT));
  }

  /** P(the user examines, and so answers, the item at this 0-based position). */
  public static double examineProbability(int position) {
    return EXAMINE_TOP * Math.pow(1 + position, -EXAMINE_DECAY);
  }

  static double sigmoid(double z) {
    return 1 / (1 + Math.exp(-z));
  }
}
