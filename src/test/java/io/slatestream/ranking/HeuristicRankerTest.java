package io.slatestream.ranking;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import io.slatestream.avro.CandidateSource;
import io.slatestream.avro.Interaction;
import io.slatestream.avro.InteractionType;
import io.slatestream.avro.Item;
import io.slatestream.avro.SlateItem;
import io.slatestream.avro.state.CatalogEntry;
import io.slatestream.avro.state.ItemStats;
import io.slatestream.avro.state.UserProfile;
import io.slatestream.config.JobConfig;
import io.slatestream.features.ProfileUpdater;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class HeuristicRankerTest {

  private static final long T = 1_700_000_000_000L;

  private final ProfileUpdater features = new ProfileUpdater(JobConfig.defaults());

  private static Item item(String id, String category) {
    return Item.newBuilder().setItemId(id).setCategory(category).setCreatorId("c-" + id)
        .setDurationMs(1_000).setPublishedTimeMs(1).build();
  }

  private static CatalogEntry entry(String id, String category, double likes, double skips, double quickSkips) {
    return new CatalogEntry(item(id, category), new ItemStats(id, T, likes + skips, likes, skips, quickSkips));
  }

  private static double popularity(double likes, double skips, double quickSkips) {
    return Math.log(2 + likes) * (likes + 1) / (likes + skips + quickSkips + 2);
  }

  /** pop (category): p1 30 (music), p2 20 (sport), p3 10 (news), m1..m3 1 like (music), s1 1 skip (sport). */
  private static List<CatalogEntry> catalog() {
    return List.of(
        entry("p1", "music", 30, 0, 0),
        entry("p2", "sport", 20, 0, 0),
        entry("p3", "news", 10, 0, 0),
        entry("m1", "music", 1, 0, 0),
        entry("m2", "music", 1, 0, 0),
        entry("m3", "music", 1, 0, 0),
        entry("s1", "sport", 0, 1, 1));
  }

  private static CandidateIndex index(List<CatalogEntry> entries) {
    CandidateIndex idx = new CandidateIndex();
    entries.forEach(e -> idx.put(e.getItem().getItemId(), e));
    return idx;
  }

  private UserProfile profile(Object... itemTypeCategory) {
    UserProfile p = features.empty();
    for (int i = 0; i < itemTypeCategory.length; i += 3) {
      String id = (String) itemTypeCategory[i];
      InteractionType type = (InteractionType) itemTypeCategory[i + 1];
      String category = (String) itemTypeCategory[i + 2];
      Interaction e = Interaction.newBuilder().setEventId("e" + i).setUserId("u").setItemId(id).setType(type)
          .setWatchTimeMs(10_000).setEventTimeMs(T).build();
      features.apply(p, e, item(id, category));
    }
    return p;
  }

  private static List<String> ids(List<SlateItem> slate) {
    return slate.stream().map(SlateItem::getItemId).toList();
  }

  @Test
  void aColdUserGetsTheMostPopularItemsScoredByPopularity() {
    HeuristicRanker ranker = new HeuristicRanker(features, 100);
    List<SlateItem> slate = ranker.rank(null, index(catalog()), 4, T);
    assertThat(ids(slate)).containsExactly("p1", "p2", "p3", "m1");
    assertThat(slate).extracting(SlateItem::getRank).containsExactly(0, 1, 2, 3);
    assertThat(slate).extracting(SlateItem::getSource).containsOnly(CandidateSource.TRENDING_GLOBAL);
    assertThat(slate.get(0).getScore()).isCloseTo(popularity(30, 0, 0), within(1e-12));
    assertThat(slate.get(3).getScore()).isCloseTo(popularity(1, 0, 0), within(1e-12));
    // An empty profile is as cold as none.
    assertThat(ranker.rank(features.empty(), index(catalog()), 4, T)).isEqualTo(slate);
  }

  @Test
  void quickSkipsCountTwiceAgainstAnItem() {
    CandidateIndex idx = index(List.of(entry("slow", "x", 1, 1, 0), entry("quick", "x", 1, 1, 1)));
    List<SlateItem> slate = new HeuristicRanker(features, 10).rank(null, idx, 10, T);
    assertThat(ids(slate)).containsExactly("slow", "quick");
    assertThat(slate.get(1).getScore()).isCloseTo(popularity(1, 1, 1), within(1e-12));
  }

  @Test
  void seenItemsAreFilteredAndTheSlateIsShortWhenCandidatesRunOut() {
    HeuristicRanker ranker = new HeuristicRanker(features, 100);
    UserProfile p = profile("p1", InteractionType.SKIP, "music", "p3", InteractionType.SKIP, "news");
    List<SlateItem> slate = ranker.rank(p, index(catalog()), 100, T);
    assertThat(ids(slate)).doesNotContain("p1", "p3").hasSize(catalog().size() - 2);
    assertThat(slate).extracting(SlateItem::getRank).containsExactly(0, 1, 2, 3, 4);
  }

  @Test
  void candidatesSuppliedByTheRequestAreRankedWithTheirSourceAndUnknownOrSeenOnesAreIgnored() {
    // One candidate per source: globally only p1. The request adds m3 and s1, an unknown id,
    // and p3, which the user has seen.
    HeuristicRanker ranker = new HeuristicRanker(features, 1);
    UserProfile p = profile("p3", InteractionType.SKIP, "news");
    List<SlateItem> slate = ranker.rank(p, index(catalog()), List.of("m3", "nope", "s1", "p3"), 10, T);
    assertThat(ids(slate)).containsExactlyInAnyOrder("p1", "p2", "m3", "s1");
    assertThat(slate).filteredOn(i -> i.getItemId().equals("m3")).extracting(SlateItem::getSource)
        .containsExactly(CandidateSource.REQUEST);
    assertThat(slate).filteredOn(i -> i.getItemId().equals("p2")).extracting(SlateItem::getSource)
        .containsExactly(CandidateSource.TRENDING_GLOBAL);
  }

  @Test
  void aCreatorQuickSkippedRepeatedlyIsNotServedAgain() {
    // k1..k5 are all by creator "k"; the user quick-skips k1 and k2, or k1..k3.
    CandidateIndex idx = new CandidateIndex();
    for (int i = 1; i <= 5; i++) {
      Item it = Item.newBuilder(item("k" + i, "x")).setCreatorId("k").build();
      idx.put(it.getItemId(), new CatalogEntry(it, new ItemStats(it.getItemId(), T, 5.0, 5.0, 0.0, 0.0)));
    }
    idx.put("other", entry("other", "x", 1, 0, 0));
    HeuristicRanker ranker = new HeuristicRanker(features, 100, 3);
    UserProfile twice = quickSkips(idx, "k1", "k2");
    assertThat(ids(ranker.rank(twice, idx, 10, T))).containsExactly("k3", "k4", "k5", "other");
    UserProfile thrice = quickSkips(idx, "k1", "k2", "k3");
    assertThat(ids(ranker.rank(thrice, idx, 10, T))).containsExactly("other");
    assertThat(ranker.fatiguedCreators(thrice, idx)).containsExactly("k");
    // A slow skip is not fatigue, and 0 disables the filter.
    assertThat(ids(new HeuristicRanker(features, 100, 0).rank(thrice, idx, 10, T))).contains("k4", "k5");
  }

  private UserProfile quickSkips(CandidateIndex idx, String... itemIds) {
    UserProfile p = features.empty();
    for (String id : itemIds) {
      Interaction e = Interaction.newBuilder().setEventId("q" + id).setUserId("u").setItemId(id)
          .setType(InteractionType.SKIP).setWatchTimeMs(500).setEventTimeMs(T).build();
      features.apply(p, e, Item.newBuilder(item(id, "x")).setCreatorId("k").build());
    }
    return p;
  }

  @Test
  void aUserWhoHasSeenEverySourcesLeadersStillGetsAFullSlate() {
    // One candidate per source, and the user has seen the global leader p1: the source reaches
    // past what the user has seen instead of coming back empty.
    HeuristicRanker ranker = new HeuristicRanker(features, 1);
    UserProfile p = profile("p1", InteractionType.SKIP, "news");
    List<SlateItem> slate = ranker.rank(p, index(catalog()), 1, T);
    assertThat(ids(slate)).containsExactly("p2");
  }

  @Test
  void theUsersStrongestCategoriesAddCandidatesBeyondTheGlobalTop() {
    // Only 2 candidates per source: globally p1 and p2. A music fan also gets music's top 2.
    HeuristicRanker ranker = new HeuristicRanker(features, 2);
    assertThat(ids(ranker.rank(null, index(catalog()), 10, T))).containsExactly("p1", "p2");

    UserProfile fan = profile("p1", InteractionType.LIKE, "music");
    List<SlateItem> slate = ranker.rank(fan, index(catalog()), 10, T);
    // The fan has seen one item, so each source fetches 2 + 1: music's top three are p1 (seen,
    // filtered), m1 and m2 (m1..m3 tie: by id); the global top three add p2 and p3.
    double boosted = popularity(1, 0, 0) * (1 + Math.tanh(1.0));
    assertThat(ids(slate)).containsExactly("p2", "p3", "m1", "m2"); // 2.95, 2.28, 0.73 * 1.76 twice
    assertThat(slate.get(0).getScore()).isCloseTo(popularity(20, 0, 0), within(1e-12));
    assertThat(slate.get(0).getSource()).isEqualTo(CandidateSource.TRENDING_GLOBAL);
    assertThat(slate.get(2).getScore()).isCloseTo(boosted, within(1e-12));
    assertThat(slate.get(2).getSource()).isEqualTo(CandidateSource.USER_CATEGORY);
  }

  @Test
  void affinityReordersAndNegativeAffinityDemotes() {
    HeuristicRanker ranker = new HeuristicRanker(features, 100);
    CandidateIndex idx = index(List.of(entry("a1", "alpha", 5, 0, 0), entry("b1", "beta", 5, 0, 0),
        entry("g1", "gamma", 5, 0, 0)));
    UserProfile p = profile("x", InteractionType.LIKE, "gamma", "y", InteractionType.SKIP, "alpha");
    List<SlateItem> slate = ranker.rank(p, idx, 10, T);
    assertThat(ids(slate)).containsExactly("g1", "b1", "a1");
    double pop = popularity(5, 0, 0);
    assertThat(slate).extracting(SlateItem::getScore).containsExactly(
        pop * (1 + Math.tanh(1.0)), pop, pop * (1 + Math.tanh(-0.5)));

    // Read a week later, the affinity has decayed (3-day half-life): the boost is smaller.
    long weekLater = T + 7 * 24 * 3_600_000L;
    double decayedAffinity = Math.pow(2, -7.0 / 3.0);
    List<SlateItem> later = ranker.rank(p, idx, 10, weekLater);
    assertThat(later.get(0).getScore()).isCloseTo(pop * (1 + Math.tanh(decayedAffinity)), within(1e-12));
  }

  @Test
  void equalScoresAreOrderedByItemId() {
    List<CatalogEntry> same = new ArrayList<>();
    for (String id : List.of("d", "b", "e", "a", "c")) {
      same.add(entry(id, "x", 3, 1, 0));
    }
    assertThat(ids(new HeuristicRanker(features, 100).rank(null, index(same), 10, T)))
        .containsExactly("a", "b", "c", "d", "e");
  }

  @Test
  void theSameInputsGiveTheSameSlateWhateverTheInsertionOrder() {
    Random r = new Random(5);
    List<CatalogEntry> entries = new ArrayList<>();
    for (int i = 0; i < 200; i++) {
      entries.add(entry(String.format("i%03d", i), "cat" + (i % 7), r.nextInt(8), r.nextInt(4), r.nextInt(2)));
    }
    UserProfile p = profile("i001", InteractionType.LIKE, "cat1", "i002", InteractionType.LIKE, "cat2",
        "i003", InteractionType.SKIP, "cat3", "i008", InteractionType.LIKE, "cat1");
    HeuristicRanker ranker = new HeuristicRanker(features, 20);

    CandidateIndex idx = index(entries);
    List<SlateItem> reference = ranker.rank(p, idx, 25, T + 1_000);
    assertThat(reference).hasSize(25);
    assertThat(ranker.rank(p, idx, 25, T + 1_000)).isEqualTo(reference);
    for (long seed = 0; seed < 4; seed++) {
      List<CatalogEntry> shuffled = new ArrayList<>(entries);
      Collections.shuffle(shuffled, new Random(seed));
      assertThat(ranker.rank(p, index(shuffled), 25, T + 1_000)).isEqualTo(reference);
    }
    // Scores never increase down the slate, and ranks are positions.
    for (int i = 1; i < reference.size(); i++) {
      assertThat(reference.get(i).getScore()).isLessThanOrEqualTo(reference.get(i - 1).getScore());
      assertThat(reference.get(i).getRank()).isEqualTo(i);
    }
    assertThat(ids(reference)).doesNotContain("i001", "i002", "i003", "i008").doesNotHaveDuplicates();
    assertThat(p.getTotalEvents()).as("ranking reads the profile, never changes it").isEqualTo(4);
  }

  @Test
  void preRankingKeepsTheHeuristicsBestInRetrievalOrderAndEveryRequestedCandidate() {
    HeuristicRanker ranker = new HeuristicRanker(features, 100);
    CandidateIndex idx = index(catalog());
    UserProfile p = profile("m9", InteractionType.LIKE, "music");
    // Requested: s1 (the least popular item) and p3; then music, then the global top.
    List<HeuristicRanker.Retrieved> retrieved = ranker.retrieve(p, idx, List.of("s1", "p3"));
    List<HeuristicRanker.Scored> scores = ranker.score(p, retrieved, T);
    List<String> order = retrieved.stream().map(r -> r.candidate().itemId()).toList();
    assertThat(order).containsExactly("s1", "p3", "p1", "m1", "m2", "m3", "p2");

    List<HeuristicRanker.Retrieved> kept = HeuristicRanker.preRank(retrieved, scores, 3);
    // Besides the two requested: p1 and p2 by popularity, then m1 of the three tied music items
    // (equal scores break by item id), in the order retrieval found them.
    assertThat(kept).extracting(r -> r.candidate().itemId()).containsExactly("s1", "p3", "p1", "m1", "p2");
    assertThat(kept).extracting(HeuristicRanker.Retrieved::source).startsWith(CandidateSource.REQUEST,
        CandidateSource.REQUEST);
    // What the model would not improve on is not dropped: no more than keep, or keep 0.
    assertThat(HeuristicRanker.preRank(retrieved, scores, 5)).isSameAs(retrieved);
    assertThat(HeuristicRanker.preRank(retrieved, scores, 0)).isSameAs(retrieved);
  }
}
