package io.slatestream.features;

import io.slatestream.avro.Item;
import io.slatestream.avro.state.DecayedCounts;
import io.slatestream.avro.state.ItemStats;
import io.slatestream.avro.state.UserProfile;
import io.slatestream.config.JobConfig;
import io.slatestream.ranking.HeuristicScorer;
import java.io.Serializable;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

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
 * item.popularity                                  the heuristic's popularity of the item
 * item.impressions_log, item.likes_log, item.skips_log  ln(1 + decayed count)
 * item.like_rate                                   (likes + 1) / (likes + skips + 2)
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

  private final ProfileUpdater profiles;
  private final long[] halfLivesMs;
  private final FeatureSpec spec;

  public FeatureVectorBuilder(JobConfig config) {
    this.profiles = new ProfileUpdater(config);
    this.halfLivesMs = config.halfLives.stream().mapToLong(Duration::toMillis).toArray();
    List<String> names = new ArrayList<>();
    for (Duration h : config.halfLives) {
      String suffix = org.apache.flink.util.TimeUtils.formatWithHighestUnit(h).replace(" ", "");
      names.add("user.likes." + suffix);
      names.add("user.skips." + suffix);
      names.add("user.quick_skips." + suffix);
    }
    names.addAll(List.of(
        "user.like_rate", "user.total_events_log", "user.events_in_session", "user.consecutive_skips",
        "user.minutes_since_last_event", "user.category_affinity", "user.creator_affinity",
        "user.category_affinity_share", "item.popularity", "item.impressions_log", "item.likes_log",
        "item.skips_log", "item.like_rate", "item.quick_skip_rate", "item.age_hours",
        "item.duration_seconds", POSITION));
    this.spec = new FeatureSpec(VERSION, names);
  }

  public FeatureSpec spec() {
    return spec;
  }

  /**
   * What a like can only rise (+1) or fall (-1) with, the other features held: affinity to the
   * item's category and creator, the item's like rate up, its quick-skip rate and its age down.
   * The trainer passes these to XGBoost as monotone constraints, so a model learned from one
   * policy's log cannot turn them around for candidates that policy never served.
   */
  public static Map<String, Integer> monotone() {
    return Map.of(
        "user.category_affinity", 1,
        "user.creator_affinity", 1,
        "user.category_affinity_share", 1,
        "item.like_rate", 1,
        "item.quick_skip_rate", -1,
        "item.age_hours", -1);
  }

  /**
   * Writes the features of {@code item} for {@code user} at {@code atMs} into {@code out} from
   * {@code offset}; {@code user} may be null (a cold user).
   */
  public void build(UserProfile user, Item item, ItemStats stats, int position, long atMs, float[] out, int offset) {
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

    double sAnchorLikes = stats == null ? 0 : stats.getLikes();
    double sSkips = stats == null ? 0 : stats.getSkips();
    double sQuick = stats == null ? 0 : stats.getQuickSkips();
    double sImpressions = stats == null ? 0 : stats.getImpressions();
    out[i++] = (float) HeuristicScorer.popularity(stats);
    out[i++] = (float) Math.log1p(sImpressions);
    out[i++] = (float) Math.log1p(sAnchorLikes);
    out[i++] = (float) Math.log1p(sSkips);
    out[i++] = (float) ((sAnchorLikes + 1) / (sAnchorLikes + sSkips + 2));
    out[i++] = (float) ((sQuick + 0.5) / (sSkips + 1));
    out[i++] = (float) (Math.max(0, atMs - item.getPublishedTimeMs()) / 3_600_000.0);
    out[i++] = (float) (item.getDurationMs() / 1000.0);
    out[i++] = position;
    if (i - offset != spec.size()) {
      throw new IllegalStateException("Feature builder wrote " + (i - offset) + " values for " + spec);
    }
  }

  /** One vector, for tests and the training log. */
  public float[] build(UserProfile user, Item item, ItemStats stats, int position, long atMs) {
    float[] out = new float[spec.size()];
    build(user, item, stats, position, atMs, out, 0);
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
