package io.slatestream.ranking;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.slatestream.avro.CandidateSource;
import io.slatestream.avro.SlateItem;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.function.Function;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

class RerankerTest {

  private static HeuristicRanker.Scored item(String id, String category, String creator, double score) {
    return new HeuristicRanker.Scored(
        new CandidateIndex.Candidate(id, category, creator, score), CandidateSource.USER_CATEGORY, score);
  }

  private static HeuristicRanker.Scored fresh(String id, String category, String creator, double score) {
    return new HeuristicRanker.Scored(
        new CandidateIndex.Candidate(id, category, creator, 0.0), CandidateSource.FRESH, score);
  }

  private static Reranker reranker(int maxPerCategory, int maxPerCreator, double share) {
    return new Reranker(new Reranker.Settings(maxPerCategory, maxPerCreator, share, 42L));
  }

  private static List<String> ids(List<SlateItem> slate) {
    return slate.stream().map(SlateItem::getItemId).toList();
  }

  /**
   * 40 candidates: 4 categories (c0..c3) of 10, scores descending with the index, so the top 10
   * are all of c0; creator k%8, so each creator spans several categories.
   */
  private static List<HeuristicRanker.Scored> candidates() {
    List<HeuristicRanker.Scored> out = new ArrayList<>();
    for (int i = 0; i < 40; i++) {
      out.add(item(String.format("i%02d", i), "c" + (i / 10), "k" + (i % 8), 100 - i));
    }
    return out;
  }

  /** 20 fresh items in 10 categories (f0..f9) by 20 creators, low scores. */
  private static List<HeuristicRanker.Scored> pool() {
    List<HeuristicRanker.Scored> out = new ArrayList<>();
    for (int i = 0; i < 20; i++) {
      out.add(fresh(String.format("f%02d", i), "f" + (i % 10), "fk" + i, 1.0 + i / 100.0));
    }
    return out;
  }

  private static Map<String, Long> countBy(List<SlateItem> slate, List<HeuristicRanker.Scored> all,
      Function<CandidateIndex.Candidate, String> key) {
    Map<String, CandidateIndex.Candidate> byId = new HashMap<>();
    all.forEach(s -> byId.put(s.candidate().itemId(), s.candidate()));
    return slate.stream()
        .collect(Collectors.groupingBy(s -> key.apply(byId.get(s.getItemId())), Collectors.counting()));
  }

  private static void assertRanked(List<SlateItem> slate) {
    assertThat(slate).extracting(SlateItem::getRank)
        .containsExactlyElementsOf(IntStream.range(0, slate.size()).boxed().toList());
  }

  @Test
  void capsAreRespectedWhenThereAreEnoughDiverseCandidates() {
    List<SlateItem> slate = reranker(2, 1, 0.0).rerank(candidates(), List.of(), 8, "u", 1L);

    assertThat(slate).hasSize(8);
    assertThat(countBy(slate, candidates(), CandidateIndex.Candidate::category).values())
        .allSatisfy(n -> assertThat(n).isLessThanOrEqualTo(2));
    assertThat(countBy(slate, candidates(), CandidateIndex.Candidate::creatorId).values())
        .allSatisfy(n -> assertThat(n).isLessThanOrEqualTo(1));
    // Greedy by score: the two best of c0 (creators k0, k1), then the best of c1 whose creator is
    // unused (i10 is k2, i11 is k3), and so on.
    assertThat(ids(slate)).containsExactly("i00", "i01", "i10", "i11", "i20", "i21", "i30", "i31");
    assertRanked(slate);
  }

  @Test
  void capsHoldOverTheWholeSlateWithExploration() {
    List<HeuristicRanker.Scored> all = new ArrayList<>(candidates());
    all.addAll(pool());
    for (int u = 0; u < 50; u++) {
      List<SlateItem> slate = reranker(2, 1, 0.3).rerank(candidates(), pool(), 10, "user-" + u, u);
      assertThat(slate).hasSize(10);
      assertThat(countBy(slate, all, CandidateIndex.Candidate::category).values())
          .allSatisfy(n -> assertThat(n).isLessThanOrEqualTo(2));
      assertThat(countBy(slate, all, CandidateIndex.Candidate::creatorId).values())
          .allSatisfy(n -> assertThat(n).isLessThanOrEqualTo(1));
    }
  }

  @Test
  void capsAreSoftWhenThereIsNotEnoughDiversity() {
    List<HeuristicRanker.Scored> scored = List.of(
        item("a1", "A", "x1", 10), item("a2", "A", "x2", 9), item("a3", "A", "x3", 8),
        item("a4", "A", "x4", 7), item("b1", "B", "x5", 6.5));

    List<SlateItem> slate = reranker(2, 5, 0.0).rerank(scored, List.of(), 4, "u", 1L);

    // Within the caps: a1, a2, b1; the slate is then filled with the best skipped item, a3.
    assertThat(ids(slate)).containsExactly("a1", "a2", "b1", "a3");
    assertRanked(slate);
    // Nothing is left out when everything is asked for.
    assertThat(reranker(1, 1, 0.0).rerank(scored, List.of(), 10, "u", 1L)).hasSize(5);
  }

  @Test
  void creatorCapIsSoftToo() {
    List<HeuristicRanker.Scored> scored = List.of(
        item("a", "A", "same", 5), item("b", "B", "same", 4), item("c", "C", "same", 3),
        item("d", "D", "other", 1));

    assertThat(ids(reranker(9, 1, 0.0).rerank(scored, List.of(), 3, "u", 1L)))
        .containsExactly("a", "d", "b");
  }

  @Test
  void withinTheCapsOrderIsByScoreThenItemId() {
    List<HeuristicRanker.Scored> scored = List.of(
        item("c", "X", "k1", 5), item("a", "Y", "k2", 5), item("b", "Z", "k3", 5),
        item("z", "W", "k4", 9), item("m", "V", "k5", 1));

    List<SlateItem> slate = reranker(3, 3, 0.0).rerank(scored, List.of(), 5, "u", 1L);
    assertThat(ids(slate)).containsExactly("z", "a", "b", "c", "m");
    assertThat(slate).extracting(SlateItem::getScore).containsExactly(9.0, 5.0, 5.0, 5.0, 1.0);

    // The id decides which of two equal scores gets the category's only place.
    List<HeuristicRanker.Scored> tied = List.of(
        item("q2", "T", "k1", 3), item("q1", "T", "k2", 3), item("r", "U", "k3", 2));
    assertThat(ids(reranker(1, 9, 0.0).rerank(tied, List.of(), 3, "u", 1L)))
        .containsExactly("q1", "r", "q2");
  }

  @Test
  void explorationTakesRoundShareTimesSizeItemsFromThePoolNeverAtPositionZero() {
    Set<String> poolIds = pool().stream().map(s -> s.candidate().itemId()).collect(Collectors.toSet());
    for (int u = 0; u < 200; u++) {
      List<SlateItem> slate = reranker(3, 3, 0.25).rerank(candidates(), pool(), 10, "user-" + u, u);

      assertThat(slate).hasSize(10);
      List<SlateItem> explored =
          slate.stream().filter(s -> s.getSource() == CandidateSource.FRESH).toList();
      assertThat(explored).hasSize(3); // round(0.25 * 10) = round(2.5) = 3
      assertThat(ids(explored)).allMatch(poolIds::contains);
      assertThat(ids(slate)).doesNotHaveDuplicates();
      assertThat(slate.get(0).getItemId()).isEqualTo("i00");
      assertThat(slate.get(0).getSource()).isEqualTo(CandidateSource.USER_CATEGORY);
      // Exploration items keep their own score.
      assertThat(explored).allSatisfy(s -> assertThat(s.getScore()).isBetween(1.0, 1.2));
      // The non-exploration items are the capped greedy ones, in order.
      assertThat(ids(slate.stream().filter(s -> s.getSource() != CandidateSource.FRESH).toList()))
          .containsExactly("i00", "i01", "i02", "i10", "i11", "i12", "i20");
      assertRanked(slate);
    }
  }

  @Test
  void explorationChoicesCoverThePoolAndThePositions() {
    Set<String> chosen = new HashSet<>();
    Set<Integer> positions = new HashSet<>();
    for (int u = 0; u < 1_000; u++) {
      List<SlateItem> slate = reranker(3, 3, 0.2).rerank(candidates(), pool(), 10, "user-" + u, 7L);
      for (SlateItem s : slate) {
        if (s.getSource() == CandidateSource.FRESH) {
          chosen.add(s.getItemId());
          positions.add(s.getRank());
        }
      }
    }
    assertThat(chosen).hasSize(pool().size());
    assertThat(positions).containsExactlyInAnyOrder(1, 2, 3, 4, 5, 6, 7, 8, 9);
  }

  @Test
  void poolItemsTheCandidatesServeAnywayAreNotDuplicated() {
    // The pool holds the best candidates themselves: they are served once, as candidates.
    List<HeuristicRanker.Scored> poolWithOverlap = new ArrayList<>(pool());
    poolWithOverlap.add(fresh("i00", "c0", "k0", 100));
    poolWithOverlap.add(fresh("i10", "c1", "k2", 90));
    for (int u = 0; u < 100; u++) {
      List<SlateItem> slate =
          reranker(3, 3, 0.3).rerank(candidates(), poolWithOverlap, 10, "user-" + u, u);
      assertThat(ids(slate)).doesNotHaveDuplicates().hasSize(10).contains("i00", "i10");
      assertThat(slate.get(0).getItemId()).isEqualTo("i00");
      assertThat(slate.stream().filter(s -> s.getSource() == CandidateSource.FRESH)
          .map(SlateItem::getItemId)).hasSize(3).doesNotContain("i00", "i10");
    }
  }

  @Test
  void theSameInputsGiveTheSameSlateWhateverTheListOrder() {
    List<SlateItem> first = reranker(2, 2, 0.3).rerank(candidates(), pool(), 10, "alice", 123L);
    List<SlateItem> again = reranker(2, 2, 0.3).rerank(candidates(), pool(), 10, "alice", 123L);
    assertThat(again).isEqualTo(first);

    Random random = new Random(1);
    for (int i = 0; i < 20; i++) {
      List<HeuristicRanker.Scored> scored = new ArrayList<>(candidates());
      List<HeuristicRanker.Scored> pool = new ArrayList<>(pool());
      Collections.shuffle(scored, random);
      Collections.shuffle(pool, random);
      List<HeuristicRanker.Scored> scoredCopy = List.copyOf(scored);
      List<HeuristicRanker.Scored> poolCopy = List.copyOf(pool);

      assertThat(reranker(2, 2, 0.3).rerank(scored, pool, 10, "alice", 123L)).isEqualTo(first);
      // The inputs are not modified.
      assertThat(scored).isEqualTo(scoredCopy);
      assertThat(pool).isEqualTo(poolCopy);
    }
  }

  @Test
  void aReplayAfterSerializationGivesTheSameSlate() throws Exception {
    Reranker reranker = reranker(2, 2, 0.3);
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
      out.writeObject(reranker);
    }
    Reranker copy;
    try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(bytes.toByteArray()))) {
      copy = (Reranker) in.readObject();
    }
    assertThat(copy.settings()).isEqualTo(reranker.settings());
    assertThat(copy.rerank(candidates(), pool(), 10, "bob", 9L))
        .isEqualTo(reranker.rerank(candidates(), pool(), 10, "bob", 9L));
  }

  /** The exploration part of a slate: which pool item at which position. */
  private static List<String> explorationChoice(List<SlateItem> slate) {
    return slate.stream().filter(s -> s.getSource() == CandidateSource.FRESH)
        .map(s -> s.getRank() + ":" + s.getItemId()).toList();
  }

  @Test
  void differentUsersTriggersAndSeedsGetDifferentExplorationChoices() {
    Reranker reranker = reranker(3, 3, 0.3);
    Set<List<String>> byUser = new HashSet<>();
    Set<List<String>> byTrigger = new HashSet<>();
    Set<List<String>> bySeed = new HashSet<>();
    for (int i = 0; i < 50; i++) {
      byUser.add(explorationChoice(reranker.rerank(candidates(), pool(), 10, "user-" + i, 1L)));
      byTrigger.add(explorationChoice(reranker.rerank(candidates(), pool(), 10, "user-1", i)));
      bySeed.add(explorationChoice(new Reranker(new Reranker.Settings(3, 3, 0.3, i))
          .rerank(candidates(), pool(), 10, "user-1", 1L)));
    }
    // 3 of 20 items at 3 of 9 positions: collisions among 50 good draws are rare.
    assertThat(byUser).hasSizeGreaterThanOrEqualTo(45);
    assertThat(byTrigger).hasSizeGreaterThanOrEqualTo(45);
    assertThat(bySeed).hasSizeGreaterThanOrEqualTo(45);
  }

  @Test
  void userIdsWithTheSameStringHashStillDiffer() {
    // "Aa" and "BB" have the same String.hashCode(); the seed must not collapse them.
    assertThat("Aa".hashCode()).isEqualTo("BB".hashCode());
    Reranker reranker = reranker(3, 3, 0.3);
    int differ = 0;
    for (long t = 0; t < 50; t++) {
      if (!explorationChoice(reranker.rerank(candidates(), pool(), 10, "Aa", t))
          .equals(explorationChoice(reranker.rerank(candidates(), pool(), 10, "BB", t)))) {
        differ++;
      }
    }
    assertThat(differ).isGreaterThanOrEqualTo(45);
  }

  @Test
  void shareZeroIsThePlainCappedGreedySlateAndIgnoresThePool() {
    List<SlateItem> withPool = reranker(2, 1, 0.0).rerank(candidates(), pool(), 8, "u", 5L);
    assertThat(ids(withPool)).containsExactly("i00", "i01", "i10", "i11", "i20", "i21", "i30", "i31");
    assertThat(withPool).noneMatch(s -> s.getSource() == CandidateSource.FRESH);

    // Without caps it is exactly the heuristic's top-k.
    List<SlateItem> uncapped = new Reranker(Reranker.Settings.none())
        .rerank(candidates(), pool(), 12, "u", 5L);
    assertThat(uncapped).isEqualTo(HeuristicRanker.top(new ArrayList<>(candidates()), 12));
  }

  @Test
  void anEmptyPoolMeansNoExplorationAndStillAFullSlate() {
    List<SlateItem> slate = reranker(2, 2, 0.4).rerank(candidates(), List.of(), 10, "u", 5L);
    assertThat(slate).hasSize(10);
    assertThat(slate).isEqualTo(reranker(2, 2, 0.0).rerank(candidates(), List.of(), 10, "u", 5L));
    assertRanked(slate);
  }

  @Test
  void aPoolAlreadyInsideTheSlateMeansNoExplorationAndStillAFullSlate() {
    List<HeuristicRanker.Scored> pool = List.of(fresh("i00", "c0", "k0", 1), fresh("i01", "c0", "k1", 1));
    List<SlateItem> slate = reranker(99, 99, 0.3).rerank(candidates(), pool, 10, "u", 5L);
    assertThat(ids(slate)).containsExactlyElementsOf(
        IntStream.range(0, 10).mapToObj(i -> String.format("i%02d", i)).toList());
    assertThat(slate).noneMatch(s -> s.getSource() == CandidateSource.FRESH);
  }

  @Test
  void whenCandidatesRunOutThePoolFillsTheSlate() {
    List<HeuristicRanker.Scored> scored = List.of(item("a", "A", "x", 9), item("b", "B", "y", 8));
    List<SlateItem> slate = reranker(2, 2, 0.2).rerank(scored, pool(), 6, "u", 3L);

    assertThat(slate).hasSize(6);
    assertThat(ids(slate)).doesNotHaveDuplicates().contains("a", "b");
    assertThat(slate.get(0).getItemId()).isEqualTo("a");
    assertThat(slate.stream().filter(s -> s.getSource() == CandidateSource.FRESH)).hasSize(4);
    assertRanked(slate);

    // No candidates at all: the pool is all there is.
    assertThat(reranker(2, 2, 0.2).rerank(List.of(), pool(), 6, "u", 3L)).hasSize(6);
  }

  @Test
  void aSlateOfOneWithFullShareIsTheExplorationItem() {
    List<SlateItem> one = reranker(2, 2, 1.0).rerank(candidates(), pool(), 1, "u", 3L);
    assertThat(one).hasSize(1);
    assertThat(one.get(0).getSource()).isEqualTo(CandidateSource.FRESH);
    assertThat(one.get(0).getRank()).isZero();

    // With a share that rounds to 0 the best candidate is served.
    assertThat(ids(reranker(2, 2, 0.4).rerank(candidates(), pool(), 1, "u", 3L)))
        .containsExactly("i00");
    // With a full share and a larger slate the best candidate still leads.
    List<SlateItem> all = reranker(9, 9, 1.0).rerank(candidates(), pool(), 5, "u", 3L);
    assertThat(ids(all).get(0)).isEqualTo("i00");
    assertThat(all.subList(1, 5)).allMatch(s -> s.getSource() == CandidateSource.FRESH);
  }

  @Test
  void explorationCountIsRoundShareTimesSizeKeepingPositionZero() {
    assertThat(Reranker.explorationCount(0.25, 10)).isEqualTo(3);
    assertThat(Reranker.explorationCount(0.2, 10)).isEqualTo(2);
    assertThat(Reranker.explorationCount(0.04, 10)).isZero();
    assertThat(Reranker.explorationCount(0.0, 10)).isZero();
    assertThat(Reranker.explorationCount(1.0, 1)).isEqualTo(1);
    assertThat(Reranker.explorationCount(1.0, 5)).isEqualTo(4);
    assertThat(Reranker.explorationCount(0.5, 0)).isZero();
  }

  @Test
  void duplicateIdsAreServedOnceWithTheirBestEntry() {
    List<HeuristicRanker.Scored> scored = List.of(
        item("a", "A", "x", 1), item("b", "B", "y", 5), item("a", "A", "x", 7));
    List<SlateItem> slate = reranker(9, 9, 0.0).rerank(scored, List.of(), 5, "u", 1L);
    assertThat(ids(slate)).containsExactly("a", "b");
    assertThat(slate.get(0).getScore()).isEqualTo(7.0);
  }

  @Test
  void sizeZeroIsEmptyAndBadSettingsAreRejected() {
    assertThat(reranker(2, 2, 0.3).rerank(candidates(), pool(), 0, "u", 1L)).isEmpty();
    assertThatThrownBy(() -> reranker(2, 2, 0.3).rerank(candidates(), pool(), -1, "u", 1L))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> new Reranker.Settings(0, 1, 0.1, 1))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("maxPerCategory");
    assertThatThrownBy(() -> new Reranker.Settings(1, 0, 0.1, 1))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("maxPerCreator");
    assertThatThrownBy(() -> new Reranker.Settings(1, 1, 1.5, 1))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("explorationShare");
    assertThatThrownBy(() -> new Reranker.Settings(1, 1, Double.NaN, 1))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("explorationShare");
  }
}
