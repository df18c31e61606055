package io.slatestream.features;

import io.slatestream.avro.Interaction;
import io.slatestream.avro.InteractionType;
import io.slatestream.avro.Item;
import io.slatestream.avro.state.DecayedCounts;
import io.slatestream.avro.state.RecentEvent;
import io.slatestream.avro.state.UserProfile;
import io.slatestream.config.JobConfig;
import java.io.Serializable;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Folds one interaction into a user's profile. Every decayed value is correct whatever order events
 * arrive in (see {@link Decay}); session counts treat an out-of-order event as part of the session
 * it falls in, if that is the current one.
 */
public final class ProfileUpdater implements Serializable {
  private static final long serialVersionUID = 1L;

  /** Signed affinity weights per signal. A quick skip says more than a skip. */
  public static final double LIKE_WEIGHT = 1.0;
  public static final double SKIP_WEIGHT = -0.5;
  public static final double QUICK_SKIP_WEIGHT = -1.0;

  /**
   * Bound on categories and creators remembered per user; the weakest (by absolute affinity) are
   * forgotten first, so one user cannot grow state without limit.
   */
  public static final int MAX_AFFINITY_KEYS = 64;

  /** Bound on interactions waiting for their item to reach the catalog. */
  public static final int MAX_UNRESOLVED = 32;

  private final long[] halfLivesMs;
  private final long affinityHalfLifeMs;
  private final long quickSkipMs;
  private final int recentItems;
  private final long sessionGapMs;

  public ProfileUpdater(JobConfig config) {
    this.halfLivesMs = config.halfLives.stream().mapToLong(Duration::toMillis).toArray();
    this.affinityHalfLifeMs = config.affinityHalfLife.toMillis();
    this.quickSkipMs = config.quickSkipThreshold.toMillis();
    this.recentItems = config.recentItems;
    this.sessionGapMs = config.sessionGap.toMillis();
  }

  public long affinityHalfLifeMs() {
    return affinityHalfLifeMs;
  }

  /** A SKIP watched for less than {@code features.quick-skip-threshold}. */
  public boolean isQuickSkip(InteractionType type, long watchTimeMs) {
    return type == InteractionType.SKIP && watchTimeMs < quickSkipMs;
  }

  public boolean isQuickSkip(RecentEvent e) {
    return isQuickSkip(e.getType(), e.getWatchTimeMs());
  }

  public boolean isQuickSkip(Interaction e) {
    return isQuickSkip(e.getType(), e.getWatchTimeMs());
  }

  /** A new, empty profile with one counter per configured half-life. */
  public UserProfile empty() {
    List<DecayedCounts> counters = new ArrayList<>();
    for (long h : halfLivesMs) {
      counters.add(new DecayedCounts(h, 0.0, 0.0, 0.0));
    }
    return UserProfile.newBuilder()
        .setCounters(counters)
        .setCategoryAffinity(new HashMap<>())
        .setCreatorAffinity(new HashMap<>())
        .setRecent(new ArrayList<>())
        .setUnresolved(new ArrayList<>())
        .build();
  }

  /**
   * Applies one interaction. {@code item} is the catalog record if known; without it only the
   * counters, recent items and session move.
   */
  public void apply(UserProfile p, Interaction e, Item item) {
    long t = e.getEventTimeMs();
    alignCounters(p);
    if (p.getTotalEvents() == 0) {
      p.setAnchorMs(t);
    }
    if (t > p.getAnchorMs()) {
      moveAnchor(p, t);
    }
    boolean quick = isQuickSkip(e);
    for (DecayedCounts c : p.getCounters()) {
      double w = Decay.factor(t, p.getAnchorMs(), c.getHalfLifeMs());
      if (e.getType() == InteractionType.LIKE) {
        c.setLikes(c.getLikes() + w);
      } else {
        c.setSkips(c.getSkips() + w);
        if (quick) {
          c.setQuickSkips(c.getQuickSkips() + w);
        }
      }
    }
    RecentEvent event = new RecentEvent(e.getItemId(), t, e.getType(), e.getWatchTimeMs());
    if (item != null) {
      addAffinity(p, event, item);
    } else {
      List<RecentEvent> unresolved = p.getUnresolved();
      unresolved.add(event);
      while (unresolved.size() > MAX_UNRESOLVED) {
        unresolved.remove(0);
      }
    }
    addRecent(p, event);
    updateSession(p, t);
    p.setLastEventMs(Math.max(p.getLastEventMs(), t));
    p.setTotalEvents(p.getTotalEvents() + 1);
  }

  /** Keeps exactly one counter per configured half-life, even if the configuration changed. */
  private void alignCounters(UserProfile p) {
    List<DecayedCounts> current = p.getCounters();
    if (current.size() == halfLivesMs.length) {
      boolean same = true;
      for (int i = 0; i < halfLivesMs.length && same; i++) {
        same = current.get(i).getHalfLifeMs() == halfLivesMs[i];
      }
      if (same) {
        return;
      }
    }
    Map<Long, DecayedCounts> byHalfLife = new HashMap<>();
    current.forEach(c -> byHalfLife.put(c.getHalfLifeMs(), c));
    List<DecayedCounts> aligned = new ArrayList<>();
    for (long h : halfLivesMs) {
      aligned.add(byHalfLife.getOrDefault(h, new DecayedCounts(h, 0.0, 0.0, 0.0)));
    }
    p.setCounters(aligned);
  }

  private void moveAnchor(UserProfile p, long t) {
    long from = p.getAnchorMs();
    for (DecayedCounts c : p.getCounters()) {
      double f = Decay.factor(from, t, c.getHalfLifeMs());
      c.setLikes(c.getLikes() * f);
      c.setSkips(c.getSkips() * f);
      c.setQuickSkips(c.getQuickSkips() * f);
    }
    double f = Decay.factor(from, t, affinityHalfLifeMs);
    p.getCategoryAffinity().replaceAll((k, v) -> v * f);
    p.getCreatorAffinity().replaceAll((k, v) -> v * f);
    p.setAnchorMs(t);
  }

  private void addAffinity(UserProfile p, RecentEvent e, Item item) {
    boolean quick = isQuickSkip(e);
    double signal = e.getType() == InteractionType.LIKE ? LIKE_WEIGHT : quick ? QUICK_SKIP_WEIGHT : SKIP_WEIGHT;
    double w = signal * Decay.factor(e.getEventTimeMs(), p.getAnchorMs(), affinityHalfLifeMs);
    addAffinity(p.getCategoryAffinity(), item.getCategory(), w);
    addAffinity(p.getCreatorAffinity(), item.getCreatorId(), w);
  }

  /**
   * Adds the affinity of interactions whose items have since reached the catalog. The result is
   * the same as if the item had been known when the interaction arrived.
   *
   * @return whether the profile changed
   */
  public boolean resolve(UserProfile p, java.util.function.Function<String, Item> catalog) {
    List<RecentEvent> unresolved = p.getUnresolved();
    boolean changed = false;
    for (int i = 0; i < unresolved.size(); ) {
      Item item = catalog.apply(unresolved.get(i).getItemId());
      if (item != null) {
        addAffinity(p, unresolved.remove(i), item);
        changed = true;
      } else {
        i++;
      }
    }
    return changed;
  }

  private static void addAffinity(Map<String, Double> m, String key, double w) {
    m.merge(key, w, Double::sum);
    if (m.size() > MAX_AFFINITY_KEYS) {
      String weakest = null;
      double min = Double.MAX_VALUE;
      for (Map.Entry<String, Double> en : m.entrySet()) {
        double a = Math.abs(en.getValue());
        if (a < min || (a == min && en.getKey().compareTo(weakest) < 0)) {
          min = a;
          weakest = en.getKey();
        }
      }
      m.remove(weakest);
    }
  }

  private void addRecent(UserProfile p, RecentEvent event) {
    List<RecentEvent> recent = p.getRecent();
    RecentEvent r = RecentEvent.newBuilder(event).build();
    int i = recent.size();
    while (i > 0 && recent.get(i - 1).getEventTimeMs() > r.getEventTimeMs()) {
      i--;
    }
    recent.add(i, r);
    while (recent.size() > recentItems) {
      recent.remove(0); // the oldest in event time
    }
  }

  private void updateSession(UserProfile p, long t) {
    if (p.getTotalEvents() == 0) {
      p.setSessionStartMs(t);
      p.setEventsInSession(1);
    } else if (t >= p.getLastEventMs()) {
      if (t - p.getLastEventMs() > sessionGapMs) {
        p.setSessionStartMs(t);
        p.setEventsInSession(1);
      } else {
        p.setEventsInSession(p.getEventsInSession() + 1);
      }
    } else if (t >= p.getSessionStartMs() - sessionGapMs) {
      // Late, but within reach of the current session: it belongs to it.
      p.setSessionStartMs(Math.min(p.getSessionStartMs(), t));
      p.setEventsInSession(p.getEventsInSession() + 1);
    }
    // Older still: it belongs to a past session and leaves the current one alone.
  }

  /** Skips in a row at the end of the current session, in event-time order. */
  public static int consecutiveSkips(UserProfile p) {
    int n = 0;
    List<RecentEvent> recent = p.getRecent();
    for (int i = recent.size() - 1; i >= 0; i--) {
      RecentEvent r = recent.get(i);
      if (r.getType() != InteractionType.SKIP || r.getEventTimeMs() < p.getSessionStartMs()) {
        break;
      }
      n++;
    }
    return n;
  }

  /** Decayed category affinity read at {@code atMs}. */
  public double categoryAffinity(UserProfile p, String category, long atMs) {
    Double v = p.getCategoryAffinity().get(category);
    return v == null ? 0.0 : Decay.at(v, p.getAnchorMs(), atMs, affinityHalfLifeMs);
  }

  /** The user's categories by descending affinity (positive ones only). */
  public static List<String> topCategories(UserProfile p, int n) {
    return p.getCategoryAffinity().entrySet().stream()
        .filter(en -> en.getValue() > 0)
        .sorted(Map.Entry.<String, Double>comparingByValue(Comparator.reverseOrder()).thenComparing(Map.Entry.comparingByKey()))
        .limit(n)
        .map(Map.Entry::getKey)
        .toList();
  }
}
