package io.slatestream.features;

import static org.assertj.core.api.Assertions.assertThat;

import io.slatestream.avro.Interaction;
import io.slatestream.avro.InteractionType;
import io.slatestream.avro.Item;
import io.slatestream.avro.state.DecayedCounts;
import io.slatestream.avro.state.RecentEvent;
import io.slatestream.avro.state.UserProfile;
import io.slatestream.config.JobConfig;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The per-user features: every decayed value is checked against the closed form
 * {@code Σ w·2^(-(t_ref − t_i)/h)} computed here, independently of {@link ProfileUpdater}, and must
 * not depend on the order in which the same events arrive.
 */
class ProfileUpdaterTest {

  private static final long T0 = 1_700_000_000_000L;
  private static final long SECOND = 1_000L;
  private static final long MINUTE = 60 * SECOND;
  private static final long HOUR = 60 * MINUTE;
  private static final long DAY = 24 * HOUR;

  /** Half-lives used throughout unless a test says otherwise. */
  private static final long[] HALF_LIVES = {HOUR, DAY, 7 * DAY};
  private static final long AFFINITY_HALF_LIFE = 3 * DAY;

  private static final List<String> CATEGORIES = List.of("music", "sport", "news", "comedy");
  private static final List<String> CREATORS = List.of("ann", "bob", "cid");

  private static JobConfig config(Map<String, String> extra) {
    Map<String, String> m = new HashMap<>();
    m.put("features.half-lives", "1 h;1 d;7 d");
    m.put("features.affinity-half-life", "3 d");
    m.put("features.quick-skip-threshold", "2 s");
    m.put("features.session-gap", "30 min");
    m.put("features.recent-items", "50");
    m.putAll(extra);
    return JobConfig.of(m);
  }

  private static ProfileUpdater updater() {
    return new ProfileUpdater(config(Map.of()));
  }

  private static Interaction event(String itemId, InteractionType type, long watchMs, long timeMs) {
    return Interaction.newBuilder()
        .setEventId(itemId + "@" + timeMs)
        .setUserId("u1")
        .setItemId(itemId)
        .setType(type)
        .setWatchTimeMs(watchMs)
        .setEventTimeMs(timeMs)
        .build();
  }

  private static Item item(String itemId, String category, String creator) {
    return Item.newBuilder()
        .setItemId(itemId)
        .setCategory(category)
        .setCreatorId(creator)
        .setDurationMs(30_000)
        .setPublishedTimeMs(T0 - DAY)
        .build();
  }

  /** One input event with the catalog record it refers to. */
  private record Ev(Interaction interaction, Item item) {}

  /** A mix of likes, skips and quick skips spread over four days, in random arrival order. */
  private static List<Ev> randomEvents(long seed, int n) {
    Random r = new Random(seed);
    List<Ev> events = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      long t = T0 + (long) (r.nextDouble() * 4 * DAY);
      InteractionType type = r.nextInt(3) == 0 ? InteractionType.LIKE : InteractionType.SKIP;
      long watch = r.nextInt(5_000); // roughly 40% of skips are quick
      String itemId = "i" + i;
      Item item = item(itemId, CATEGORIES.get(r.nextInt(CATEGORIES.size())), CREATORS.get(r.nextInt(CREATORS.size())));
      events.add(new Ev(event(itemId, type, watch, t), item));
    }
    return events;
  }

  private static UserProfile applyAll(ProfileUpdater u, List<Ev> events) {
    UserProfile p = u.empty();
    for (Ev e : events) {
      u.apply(p, e.interaction(), e.item());
    }
    return p;
  }

  /** The signed affinity weight of one event, as documented in the schema. */
  private static double signal(Interaction e) {
    if (e.getType() == InteractionType.LIKE) {
      return 1.0;
    }
    return e.getWatchTimeMs() < 2_000 ? -1.0 : -0.5;
  }

  private static double decay(long tRef, long t, long halfLife) {
    return Math.pow(2.0, -((double) (tRef - t)) / halfLife);
  }

  /** |actual − expected| within 1e-9 of the magnitude {@code scale} of the summed terms. */
  private static void assertClose(double actual, double expected, double scale, String what) {
    double tol = 1e-9 * Math.max(scale, 1e-300);
    assertThat(Math.abs(actual - expected)).as("%s: actual %s expected %s", what, actual, expected).isLessThanOrEqualTo(tol);
  }

  private static void assertProfilesEquivalent(UserProfile a, UserProfile b) {
    assertThat(b.getAnchorMs()).isEqualTo(a.getAnchorMs());
    assertThat(b.getCounters()).hasSameSizeAs(a.getCounters());
    for (int i = 0; i < a.getCounters().size(); i++) {
      DecayedCounts x = a.getCounters().get(i);
      DecayedCounts y = b.getCounters().get(i);
      assertThat(y.getHalfLifeMs()).isEqualTo(x.getHalfLifeMs());
      assertClose(y.getLikes(), x.getLikes(), Math.abs(x.getLikes()), "likes h=" + x.getHalfLifeMs());
      assertClose(y.getSkips(), x.getSkips(), Math.abs(x.getSkips()), "skips h=" + x.getHalfLifeMs());
      assertClose(y.getQuickSkips(), x.getQuickSkips(), Math.abs(x.getQuickSkips()), "quickSkips h=" + x.getHalfLifeMs());
    }
    assertMapsClose(b.getCategoryAffinity(), a.getCategoryAffinity(), "category");
    assertMapsClose(b.getCreatorAffinity(), a.getCreatorAffinity(), "creator");
    assertThat(b.getRecent()).isEqualTo(a.getRecent());
    assertThat(b.getTotalEvents()).isEqualTo(a.getTotalEvents());
    assertThat(b.getLastEventMs()).isEqualTo(a.getLastEventMs());
  }

  private static void assertMapsClose(Map<String, Double> actual, Map<String, Double> expected, String what) {
    assertThat(actual.keySet()).as(what + " keys").isEqualTo(expected.keySet());
    for (String k : expected.keySet()) {
      double scale = Math.max(Math.abs(expected.get(k)), 1.0); // sums of signed terms can cancel
      assertClose(actual.get(k), expected.get(k), scale, what + " " + k);
    }
  }

  @Test
  void decayedCountersEqualTheClosedFormAtEveryHalfLife() {
    List<Ev> events = randomEvents(11, 60);
    UserProfile p = applyAll(updater(), events);

    long tRef = events.stream().mapToLong(e -> e.interaction().getEventTimeMs()).max().orElseThrow();
    assertThat(p.getAnchorMs()).isEqualTo(tRef);
    assertThat(p.getCounters()).extracting(DecayedCounts::getHalfLifeMs).containsExactly(HOUR, DAY, 7 * DAY);

    int quickSkips = 0;
    for (int i = 0; i < HALF_LIVES.length; i++) {
      long h = HALF_LIVES[i];
      double likes = 0;
      double skips = 0;
      double quick = 0;
      for (Ev ev : events) {
        Interaction e = ev.interaction();
        double w = decay(tRef, e.getEventTimeMs(), h);
        if (e.getType() == InteractionType.LIKE) {
          likes += w;
        } else {
          skips += w;
          if (e.getWatchTimeMs() < 2_000) {
            quick += w;
            if (i == 0) {
              quickSkips++;
            }
          }
        }
      }
      DecayedCounts c = p.getCounters().get(i);
      assertClose(c.getLikes(), likes, likes, "likes h=" + h);
      assertClose(c.getSkips(), skips, skips, "skips h=" + h);
      assertClose(c.getQuickSkips(), quick, quick, "quickSkips h=" + h);
    }
    // The random mix really exercised all three signals.
    assertThat(quickSkips).isGreaterThan(3);
    assertThat(p.getTotalEvents()).isEqualTo(events.size());
  }

  @Test
  void affinitiesEqualTheClosedFormWithTheAffinityHalfLife() {
    List<Ev> events = randomEvents(12, 60);
    UserProfile p = applyAll(updater(), events);
    long tRef = p.getAnchorMs();

    Map<String, Double> category = new HashMap<>();
    Map<String, Double> creator = new HashMap<>();
    Map<String, Double> categoryScale = new HashMap<>();
    for (Ev ev : events) {
      double term = signal(ev.interaction()) * decay(tRef, ev.interaction().getEventTimeMs(), AFFINITY_HALF_LIFE);
      category.merge(ev.item().getCategory(), term, Double::sum);
      creator.merge(ev.item().getCreatorId(), term, Double::sum);
      categoryScale.merge(ev.item().getCategory(), Math.abs(term), Double::sum);
    }
    assertMapsClose(p.getCategoryAffinity(), category, "category");
    assertMapsClose(p.getCreatorAffinity(), creator, "creator");

    // Read later, an affinity decays with the affinity half-life; read earlier, it never grows.
    String music = "music";
    double stored = p.getCategoryAffinity().get(music);
    ProfileUpdater u = updater();
    assertClose(u.categoryAffinity(p, music, tRef + AFFINITY_HALF_LIFE), stored / 2, categoryScale.get(music), "read later");
    assertThat(u.categoryAffinity(p, music, tRef - DAY)).isEqualTo(stored);
    assertThat(u.categoryAffinity(p, "never-seen", tRef)).isZero();
  }

  @Test
  void theSameEventsInAnyOrderGiveTheSameProfile() {
    List<Ev> events = randomEvents(13, 40);
    ProfileUpdater u = updater();

    List<Ev> byTime = new ArrayList<>(events);
    byTime.sort(Comparator.comparingLong(e -> e.interaction().getEventTimeMs()));
    UserProfile reference = applyAll(u, byTime);

    List<List<Ev>> orders = new ArrayList<>();
    List<Ev> newestFirst = new ArrayList<>(byTime);
    Collections.reverse(newestFirst); // every event after the first is older than the anchor
    orders.add(newestFirst);
    for (long seed = 1; seed <= 5; seed++) {
      List<Ev> shuffled = new ArrayList<>(events);
      Collections.shuffle(shuffled, new Random(seed));
      orders.add(shuffled);
    }
    // The newest event in the middle: half of the events arrive after the anchor jumped past them.
    List<Ev> middle = new ArrayList<>(byTime.subList(0, 20));
    middle.add(byTime.get(byTime.size() - 1));
    middle.addAll(byTime.subList(20, byTime.size() - 1));
    orders.add(middle);

    for (List<Ev> order : orders) {
      assertProfilesEquivalent(reference, applyAll(u, order));
    }
  }

  @Test
  void aQuickSkipIsASkipWatchedForLessThanTwoSeconds() {
    ProfileUpdater u = updater();
    assertThat(u.isQuickSkip(event("a", InteractionType.SKIP, 0, T0))).isTrue();
    assertThat(u.isQuickSkip(event("a", InteractionType.SKIP, 1_999, T0))).isTrue();
    assertThat(u.isQuickSkip(event("a", InteractionType.SKIP, 2_000, T0))).isFalse();
    assertThat(u.isQuickSkip(event("a", InteractionType.LIKE, 0, T0))).isFalse();

    UserProfile quick = u.empty();
    u.apply(quick, event("a", InteractionType.SKIP, 1_999, T0), item("a", "music", "ann"));
    UserProfile slow = u.empty();
    u.apply(slow, event("a", InteractionType.SKIP, 2_000, T0), item("a", "music", "ann"));

    for (int i = 0; i < HALF_LIVES.length; i++) {
      assertThat(quick.getCounters().get(i).getSkips()).isEqualTo(1.0);
      assertThat(quick.getCounters().get(i).getQuickSkips()).isEqualTo(1.0);
      assertThat(quick.getCounters().get(i).getLikes()).isZero();
      assertThat(slow.getCounters().get(i).getSkips()).isEqualTo(1.0);
      assertThat(slow.getCounters().get(i).getQuickSkips()).isZero();
    }
    assertThat(quick.getCategoryAffinity()).containsExactly(Map.entry("music", -1.0));
    assertThat(slow.getCategoryAffinity()).containsExactly(Map.entry("music", -0.5));
  }

  @Test
  void affinityWeightsPerSignalDecayWithTheAffinityHalfLife() {
    ProfileUpdater u = updater();
    UserProfile p = u.empty();
    u.apply(p, event("a", InteractionType.LIKE, 30_000, T0), item("a", "music", "ann"));
    u.apply(p, event("b", InteractionType.SKIP, 5_000, T0), item("b", "sport", "bob"));
    u.apply(p, event("c", InteractionType.SKIP, 500, T0), item("c", "news", "cid"));
    assertThat(p.getCategoryAffinity()).containsOnly(Map.entry("music", 1.0), Map.entry("sport", -0.5), Map.entry("news", -1.0));
    assertThat(p.getCreatorAffinity()).containsOnly(Map.entry("ann", 1.0), Map.entry("bob", -0.5), Map.entry("cid", -1.0));

    // One affinity half-life later a like of "music" by "bob": the old values halve, then add.
    u.apply(p, event("d", InteractionType.LIKE, 30_000, T0 + AFFINITY_HALF_LIFE), item("d", "music", "bob"));
    assertThat(p.getAnchorMs()).isEqualTo(T0 + AFFINITY_HALF_LIFE);
    assertClose(p.getCategoryAffinity().get("music"), 0.5 + 1.0, 1.5, "music");
    assertClose(p.getCategoryAffinity().get("sport"), -0.25, 0.25, "sport");
    assertClose(p.getCategoryAffinity().get("news"), -0.5, 0.5, "news");
    assertClose(p.getCreatorAffinity().get("bob"), -0.25 + 1.0, 1.25, "bob");
    assertClose(p.getCreatorAffinity().get("ann"), 0.5, 0.5, "ann");

    // An interaction without a catalog record moves counters but no affinity.
    Map<String, Double> before = new HashMap<>(p.getCategoryAffinity());
    u.apply(p, event("zz", InteractionType.LIKE, 30_000, T0 + AFFINITY_HALF_LIFE), null);
    assertThat(p.getCategoryAffinity()).isEqualTo(before);
    assertThat(p.getCounters().get(0).getLikes()).isGreaterThan(1.0);
  }

  @Test
  void recentKeepsTheLastNByEventTimeInEventTimeOrder() {
    ProfileUpdater u = new ProfileUpdater(config(Map.of("features.recent-items", "5")));
    UserProfile p = u.empty();
    long[] offsets = {7, 2, 9, 0, 5, 1, 8, 3, 6, 4}; // minutes, arriving out of order
    for (long m : offsets) {
      u.apply(p, event("i" + m, InteractionType.LIKE, 10_000, T0 + m * MINUTE), null);
    }
    assertThat(p.getRecent()).extracting(RecentEvent::getItemId).containsExactly("i5", "i6", "i7", "i8", "i9");
    assertThat(p.getRecent()).extracting(RecentEvent::getEventTimeMs)
        .containsExactly(T0 + 5 * MINUTE, T0 + 6 * MINUTE, T0 + 7 * MINUTE, T0 + 8 * MINUTE, T0 + 9 * MINUTE);

    // Older than everything kept: it does not displace a newer one.
    u.apply(p, event("old", InteractionType.SKIP, 100, T0 - HOUR), null);
    assertThat(p.getRecent()).extracting(RecentEvent::getItemId).containsExactly("i5", "i6", "i7", "i8", "i9");
    // Late but newer than the oldest kept: it takes its place in time order.
    u.apply(p, event("late", InteractionType.SKIP, 100, T0 + 6 * MINUTE + 30 * SECOND), null);
    assertThat(p.getRecent()).extracting(RecentEvent::getItemId).containsExactly("i6", "late", "i7", "i8", "i9");
    RecentEvent late = p.getRecent().get(1);
    assertThat(late.getType()).isEqualTo(InteractionType.SKIP);
    assertThat(late.getWatchTimeMs()).isEqualTo(100);
  }

  @Test
  void aGapLongerThanTheSessionGapStartsANewSession() {
    ProfileUpdater u = updater();
    UserProfile p = u.empty();
    u.apply(p, event("a", InteractionType.LIKE, 10_000, T0), null);
    u.apply(p, event("b", InteractionType.LIKE, 10_000, T0 + 10 * MINUTE), null);
    // Exactly the session gap: still the same session (only a longer gap ends it).
    u.apply(p, event("c", InteractionType.LIKE, 10_000, T0 + 40 * MINUTE), null);
    assertThat(p.getSessionStartMs()).isEqualTo(T0);
    assertThat(p.getEventsInSession()).isEqualTo(3);

    long next = T0 + 70 * MINUTE + 1; // 30 min + 1 ms after the last event
    u.apply(p, event("d", InteractionType.LIKE, 10_000, next), null);
    assertThat(p.getSessionStartMs()).isEqualTo(next);
    assertThat(p.getEventsInSession()).isEqualTo(1);
    assertThat(p.getLastEventMs()).isEqualTo(next);
  }

  @Test
  void lateEventsCountInTheSessionTheyFallIn() {
    ProfileUpdater u = updater();
    UserProfile p = u.empty();
    u.apply(p, event("a", InteractionType.LIKE, 10_000, T0), null); // session 1
    long s2 = T0 + 2 * HOUR;
    u.apply(p, event("b", InteractionType.LIKE, 10_000, s2), null); // session 2
    u.apply(p, event("c", InteractionType.LIKE, 10_000, s2 + 20 * MINUTE), null);
    assertThat(p.getEventsInSession()).isEqualTo(2);

    // Late, inside the current session: counts, the session start and the last event stay.
    u.apply(p, event("d", InteractionType.LIKE, 10_000, s2 + 10 * MINUTE), null);
    assertThat(p.getEventsInSession()).isEqualTo(3);
    assertThat(p.getSessionStartMs()).isEqualTo(s2);
    assertThat(p.getLastEventMs()).isEqualTo(s2 + 20 * MINUTE);

    // Late, just before the current session but within the gap of it: it belongs to it.
    u.apply(p, event("e", InteractionType.LIKE, 10_000, s2 - 10 * MINUTE), null);
    assertThat(p.getEventsInSession()).isEqualTo(4);
    assertThat(p.getSessionStartMs()).isEqualTo(s2 - 10 * MINUTE);

    // Late, belonging to the earlier session: the current session is left alone.
    u.apply(p, event("f", InteractionType.LIKE, 10_000, T0 + 5 * MINUTE), null);
    assertThat(p.getEventsInSession()).isEqualTo(4);
    assertThat(p.getSessionStartMs()).isEqualTo(s2 - 10 * MINUTE);
    assertThat(p.getTotalEvents()).isEqualTo(6);
  }

  @Test
  void consecutiveSkipsCountsTrailingSkipsOfTheCurrentSessionInEventTimeOrder() {
    ProfileUpdater u = updater();
    UserProfile p = u.empty();
    assertThat(ProfileUpdater.consecutiveSkips(p)).isZero();

    // Two skips in an earlier session do not carry over into the next one.
    u.apply(p, event("a", InteractionType.SKIP, 100, T0), null);
    u.apply(p, event("b", InteractionType.SKIP, 100, T0 + MINUTE), null);
    assertThat(ProfileUpdater.consecutiveSkips(p)).isEqualTo(2);
    long s2 = T0 + 3 * HOUR;
    u.apply(p, event("c", InteractionType.SKIP, 5_000, s2), null);
    assertThat(ProfileUpdater.consecutiveSkips(p)).isEqualTo(1);

    u.apply(p, event("d", InteractionType.LIKE, 10_000, s2 + MINUTE), null);
    assertThat(ProfileUpdater.consecutiveSkips(p)).isZero();
    u.apply(p, event("e", InteractionType.SKIP, 100, s2 + 2 * MINUTE), null);
    u.apply(p, event("f", InteractionType.SKIP, 100, s2 + 4 * MINUTE), null);
    assertThat(ProfileUpdater.consecutiveSkips(p)).isEqualTo(2);

    // A late skip that falls between the two: three in a row in event-time order.
    u.apply(p, event("g", InteractionType.SKIP, 100, s2 + 3 * MINUTE), null);
    assertThat(ProfileUpdater.consecutiveSkips(p)).isEqualTo(3);
    // A late like that falls between them: the run is broken at that point in event time.
    u.apply(p, event("h", InteractionType.LIKE, 10_000, s2 + 3 * MINUTE + 30 * SECOND), null);
    assertThat(ProfileUpdater.consecutiveSkips(p)).isEqualTo(1);
  }

  @Test
  void theAffinityMapsAreBoundedAndForgetTheWeakestKey() {
    ProfileUpdater u = updater();
    UserProfile p = u.empty();
    int max = ProfileUpdater.MAX_AFFINITY_KEYS;
    // One weak key (a plain skip, |−0.5|) and max−1 strong keys (likes, |1|), all at the same time.
    u.apply(p, event("weak", InteractionType.SKIP, 5_000, T0), item("weak", "weak-cat", "weak-creator"));
    for (int i = 0; i < max - 1; i++) {
      String id = String.format("s%02d", i);
      u.apply(p, event(id, InteractionType.LIKE, 10_000, T0), item(id, "cat-" + id, "creator-" + id));
    }
    assertThat(p.getCategoryAffinity()).hasSize(max).containsKey("weak-cat");
    assertThat(p.getCreatorAffinity()).hasSize(max).containsKey("weak-creator");

    // A new strong key makes room by evicting the weakest one.
    u.apply(p, event("new", InteractionType.SKIP, 100, T0), item("new", "new-cat", "new-creator"));
    assertThat(p.getCategoryAffinity()).hasSize(max).doesNotContainKey("weak-cat").containsEntry("new-cat", -1.0);
    assertThat(p.getCreatorAffinity()).hasSize(max).doesNotContainKey("weak-creator").containsEntry("new-creator", -1.0);

    // A new key weaker than all others is itself the weakest: it is the one forgotten.
    u.apply(p, event("meh", InteractionType.SKIP, 5_000, T0), item("meh", "meh-cat", "meh-creator"));
    assertThat(p.getCategoryAffinity()).hasSize(max).doesNotContainKey("meh-cat").containsKey("new-cat");

    // Decay makes an old key weak: 10 half-lives later, an old |1| is worth about 0.001.
    long later = T0 + 10 * AFFINITY_HALF_LIFE;
    u.apply(p, event("fresh", InteractionType.SKIP, 5_000, later), item("fresh", "fresh-cat", "fresh-creator"));
    assertThat(p.getCategoryAffinity()).hasSize(max).containsKey("fresh-cat");
    // Of the 64 equally weak old keys, the one evicted is the first by key (deterministic tie-break).
    assertThat(p.getCategoryAffinity()).doesNotContainKey("cat-s00").containsKey("cat-s01");
  }

  @Test
  void aChangeOfHalfLivesKeepsTheCountersStillConfiguredAndAddsZeroedOnes() {
    List<Ev> events = randomEvents(21, 30);
    ProfileUpdater before = new ProfileUpdater(config(Map.of("features.half-lives", "1 h;1 d")));
    UserProfile p = applyAll(before, events);
    long anchor = p.getAnchorMs();
    assertThat(p.getCounters()).extracting(DecayedCounts::getHalfLifeMs).containsExactly(HOUR, DAY);

    // The new configuration drops 1 h, keeps 1 d, adds 7 d. The next event is older than the anchor.
    ProfileUpdater after = new ProfileUpdater(config(Map.of("features.half-lives", "1 d;7 d")));
    long late = anchor - 2 * DAY;
    Interaction next = event("next", InteractionType.LIKE, 10_000, late);
    after.apply(p, next, null);

    assertThat(p.getAnchorMs()).isEqualTo(anchor);
    assertThat(p.getCounters()).extracting(DecayedCounts::getHalfLifeMs).containsExactly(DAY, 7 * DAY);
    double likes = decay(anchor, late, DAY);
    double skips = 0;
    for (Ev ev : events) {
      double w = decay(anchor, ev.interaction().getEventTimeMs(), DAY);
      if (ev.interaction().getType() == InteractionType.LIKE) {
        likes += w;
      } else {
        skips += w;
      }
    }
    DecayedCounts day = p.getCounters().get(0);
    assertClose(day.getLikes(), likes, likes, "kept 1 d likes");
    assertClose(day.getSkips(), skips, skips, "kept 1 d skips");
    // The new counter starts from zero: it holds only the one event applied since.
    DecayedCounts week = p.getCounters().get(1);
    assertClose(week.getLikes(), decay(anchor, late, 7 * DAY), 1.0, "new 7 d likes");
    assertThat(week.getSkips()).isZero();
    assertThat(week.getQuickSkips()).isZero();
  }

  @Test
  void decayFactorMovesValuesBothWaysAndReadingLaterNeverGrows() {
    assertThat(Decay.factor(0, HOUR, HOUR)).isEqualTo(0.5);
    assertThat(Decay.factor(HOUR, 0, HOUR)).isEqualTo(2.0);
    assertThat(Decay.factor(5, 5, HOUR)).isEqualTo(1.0);
    assertClose(Decay.factor(0, 3 * HOUR, 2 * HOUR), Math.pow(2, -1.5), 1, "1.5 half-lives");
    assertThat(Decay.at(8.0, T0, T0 + 3 * DAY, DAY)).isEqualTo(1.0);
    assertThat(Decay.at(8.0, T0, T0 - DAY, DAY)).isEqualTo(8.0);
    assertThat(Decay.at(8.0, T0, T0, DAY)).isEqualTo(8.0);
  }
}
