package io.slatestream.features;

import io.slatestream.avro.Item;
import io.slatestream.avro.state.DecayedCounts;
import io.slatestream.avro.state.ItemStats;
import io.slatestream.avro.state.RecentEvent;
import io.slatestream.avro.state.UserProfile;
import io.slatestream.config.JobConfig;
import io.slatestream.ranking.HeuristicScorer;
import java.io.Serializable;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * The one place features are computed, for the ranker and for the training-example log alike, so
 * a model learns from exactly the values it is later served. Every feature is defined here, in
 * spec order (a missing value is NaN, which XGBoost treats as missing):
 *
 * <pre>
 * user.likes.H, user.skips.H, user.quick_skips.H   decayed counts per configured half-life H, at serving time
 * user.like_rate                                   (likes + 1) / (likes + skips + 2) at the longest half-life
 * user.total_events_log                            ln(1 + all interactions ever)
 * user.events_in_session                           interactions in the current session
 * user.consecutive_skips                           skips in a row at the end of the session
 * user.minutes_since_last_event                    serving time minus the last event, minutes (NaN if none)
 * user.category_affinity                           decayed affinity to the item's category
 * user.creator_affinity                            decayed affinity to the item's creator
 * user.category_affinity_share                     that affinity over the sum of |affinities| (NaN if none)
 * user.category_recent.R                           the user's recent interactions (the last features.recent-items)
 *                                                  with the item's category, each decayed by its age at half-life R
 *                                                  (features.category-recent-half-life): how saturated with the
 *                                                  category the user is right now
 * item.popularity                                  the heuristic's popularity of the item
 * item.impressions_log, item.likes_log, item.skips_log  ln(1 + decayed count)
 * item.like_rate                                   (likes + 1) / (likes + skips + 2)
 * item.like_rate_lower                             that rate less one standard error of it,
 *                                                  r - sqrt(r (1 - r) / (likes + skips + 2)): low until answers confirm it
 * item.quick_skip_rate                             (quickSkips + 0.5) / (skips + 1)
 * item.age_hours                                   serving time minus publication, hours
 * item.duration_seconds                            the item's duration
 * slate.position                                   0-based position the item is scored for
 * </pre>
 *
 * <p>Half-lives are part of the names, so changing {@code features.half-lives} changes the spec id.
 */
public final class FeatureVectorBuilder implements Serializable {
  private static final long serialVersionUID = 1L;

  /** Bumped whenever a definition changes without a name changing. */
  public static final int VERSION = 1;

  /** The position feature: logged as shown, scored as 0 (see RankerFunction). */
  public static final String POSITION = "slate.position";

  /** The category saturation feature, before its half-life. */
  static final String CATEGORY_RECENT = "user.category_recent.";

  private final ProfileUpdater profiles;
  private final long[] halfLivesMs;
  private final long categoryRecentHalfLifeMs;
  private final String categoryRecentName;
  private final FeatureSpec spec;

  public FeatureVectorBuilder(JobConfig config) {
    this.profiles = new ProfileUpdater(config);
    this.halfLivesMs = config.halfLives.stream().mapToLong(Duration::toMillis).toArray();
    this.categoryRecentHalfLifeMs = config.categoryRecentHalfLife.toMillis();
    this.categoryRecentName = CATEGORY_RECENT + suffix(config.categoryRecentHalfLife);
    List<String> names = new ArrayList<>();
    for (Duration h : config.halfLives) {
      String suffix = suffix(h);
      names.add("user.likes." + suffix);
      names.add("user.skips." + suffix);
      names.add("user.quick_skips." + suffix);
    }
    names.addAll(List.of(
        "user.like_rate", "user.total_events_log", "user.events_in_session", "user.consecutive_skips",
        "user.minutes_since_last_event", "user.category_affinity", "user.creator_affinity",
        "user.category_affinity_share", categoryRecentName,
        "item.popularity", "item.impressions_log", "item.likes_log",
        "item.skips_log", "item.like_rate", "item.like_rate_lower", "item.quick_skip_rate", "item.age_hours",
        "item.duration_seconds", POSITION));
    this.spec = new FeatureSpec(VERSION, names);
  }

  public FeatureSpec spec() {
    return spec;
  }

  private static String suffix(Duration halfLife) {
    return org.apache.flink.util.TimeUtils.formatWithHighestUnit(halfLife).replace(" ", "");
  }

  /**
   * The user's recent interactions per category, each decayed by its age at {@code atMs}: what
   * {@code user.category_recent} reads, worked out once per slate rather than once per candidate.
   * {@code categoryOf} gives an item's category, or null for an item the catalog does not hold
   * (not counted).
   */
  public Map<String, Double> recentByCategory(UserProfile user, Function<String, String> categoryOf, long atMs) {
    if (user == null || user.getRecent().isEmpty()) {
      return Map.of();
    }
    Map<String, Double> out = new HashMap<>();
    for (RecentEvent r : user.getRecent()) {
      String category = categoryOf.apply(r.getItemId());
      if (category != null) {
        double w = Math.pow(0.5, Math.max(0, atMs - r.getEventTimeMs()) / (double) categoryRecentHalfLifeMs);
        out.merge(category, w, Double::sum);
      }
    }
    return out;
  }

  /**
   * What a like can only rise (+1) or fall (-1) with, the other features held: affinity to the
   * item's category and creator and the item's lower like rate up; the item's quick-skip rate and
   * its age down. The trainer passes these to XGBoost as monotone constraints, so a model learned
   * from one policy's log cannot turn them around for candidates that policy never served.
   *
   * <p>Left free, as measured with {@code mvn -Peval} (README, Evaluation): {@code item.like_rate},
   * whose prior puts an item nobody has answered at 1/2, above most items users have answered (held
   * to rise, it made the model serve the unknown before the known good); and the saturation
   * feature, which also says which categories the user chooses to watch: less likeable with every
   * recent item of the category, but only for the same affinity.
   */
  public static Map<String, Integer> monotone() {
    return Map.of(
        "user.category_affinity", 1,
        "user.creator_affinity", 1,
        "user.category_affinity_share", 1,
        "item.like_rate_lower", 1,
        "item.quick_skip_rate", -1,
        "item.age_hours", -1);
  }

  /**
   * Writes the features of {@code item} for {@code user} at {@code atMs} into {@code out} from
   * {@code offset}; {@code user} may be null (a cold user). {@code recent} is the user's
   * {@link #recentByCategory} at {@code atMs}.
   */
  public void build(UserProfile user, Map<String, Double> recent, Item item, ItemStats stats, int position, long atMs,
      float[] out, int offset) {
    int i = offset;
    double longestLikes = 0;
    double longestSkips = 0;
    long longest = -1;
    for (long h : halfLivesMs) {
      DecayedCounts c = user == null ? null : counter(user, h);
      double likes = c == null ? 0 : Decay.at(c.getLikes(), user.getAnchorMs(), atMs, h);
      double skips = c == null ? 0 : Decay.at(c.getSkips(), user.getAnchorMs(), atMs, h);
      double quick = c == null ? 0 : Decay.at(c.getQuickSkips(), user.getAnchorMs(), atMs, h);
      out[i++] = (float) likes;
      out[i++] = (float) skips;
      out[i++] = (float) quick;
      if (h > longest) {
        longest = h;
        longestLikes = likes;
        longestSkips = skips;
      }
    }
    out[i++] = (float) ((longestLikes + 1) / (longestLikes + longestSkips + 2));
    out[i++] = (float) Math.log1p(user == null ? 0 : user.getTotalEvents());
    out[i++] = user == null ? 0f : user.getEventsInSession();
    out[i++] = user == null ? 0f : ProfileUpdater.consecutiveSkips(user);
    out[i++] = user == null || user.getTotalEvents() == 0
        ? Float.NaN : (float) (Math.max(0, atMs - user.getLastEventMs()) / 60_000.0);
    double catAffinity = user == null ? 0 : profiles.categoryAffinity(user, item.getCategory(), atMs);
    out[i++] = (float) catAffinity;
    out[i++] = (float) (user == null ? 0 : creatorAffinity(user, item.getCreatorId(), atMs));
    double total = 0;
    if (user != null) {
      for (double v : user.getCategoryAffinity().values()) {
        total += Math.abs(Decay.at(v, user.getAnchorMs(), atMs, profiles.affinityHalfLifeMs()));
      }
    }
    out[i++] = total == 0 ? Float.NaN : (float) (catAffinity / total);
    out[i++] = (float) recent.getOrDefault(item.getCategory(), 0.0).doubleValue();

    double sAnchorLikes = stats == null ? 0 : stats.getLikes();
    double sSkips = stats == null ? 0 : stats.getSkips();
    double sQuick = stats == null ? 0 : stats.getQuickSkips();
    double sImpressions = stats == null ? 0 : stats.getImpressions();
    out[i++] = (float) HeuristicScorer.popularity(stats);
    out[i++] = (float) Math.log1p(sImpressions);
    out[i++] = (float) Math.log1p(sAnchorLikes);
    out[i++] = (float) Math.log1p(sSkips);
    double likeRate = (sAnchorLikes + 1) / (sAnchorLikes + sSkips + 2);
    out[i++] = (float) likeRate;
    out[i++] = (float) (likeRate - Math.sqrt(likeRate * (1 - likeRate) / (sAnchorLikes + sSkips + 2)));
    out[i++] = (float) ((sQuick + 0.5) / (sSkips + 1));
    out[i++] = (float) (Math.max(0, atMs - item.getPublishedTimeMs()) / 3_600_000.0);
    out[i++] = (float) (item.getDurationMs() / 1000.0);
    out[i++] = position;
    if (i - offset != spec.size()) {
      throw new IllegalStateException("Feature builder wrote " + (i - offset) + " values for " + spec);
    }
  }

  /** One vector, for tests and the training log. */
  public float[] build(UserProfile user, Map<String, Double> recent, Item item, ItemStats stats, int position,
      long atMs) {
    float[] out = new float[spec.size()];
    build(user, recent, item, stats, position, atMs, out, 0);
    return out;
  }

  private double creatorAffinity(UserProfile p, String creator, long atMs) {
    Double v = p.getCreatorAffinity().get(creator);
    return v == null ? 0.0 : Decay.at(v, p.getAnchorMs(), atMs, profiles.affinityHalfLifeMs());
  }

  private static DecayedCounts counter(UserProfile p, long halfLifeMs) {
    for (DecayedCounts c : p.getCounters()) {
      if (c.getHalfLifeMs() == halfLifeMs) {
        return c;
      }
    }
    return null;
  }
}
