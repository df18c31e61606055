package io.slatestream.ranking;

import io.slatestream.avro.CandidateSource;
import io.slatestream.avro.SlateItem;
import io.slatestream.avro.state.RecentEvent;
import io.slatestream.avro.state.UserProfile;
import io.slatestream.features.ProfileUpdater;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Retrieves candidates from the index, filters what the user has already interacted with, scores
 * them with {@link HeuristicScorer} and returns the best {@code size}. Candidates: the most
 * popular items of the user's strongest categories, then the most popular overall (a user with no
 * history gets only the latter). Deterministic: equal scores are ordered by item id.
 */
public final class HeuristicRanker implements Serializable {
  private static final long serialVersionUID = 1L;

  /** How many of the user's strongest categories are searched. */
  public static final int TOP_CATEGORIES = 3;

  private final ProfileUpdater features;
  private final int candidatesPerCategory;

  /** Creator fatigue threshold; 0 disables the filter. */
  private final int creatorQuickSkips;

  public HeuristicRanker(ProfileUpdater features, int candidatesPerCategory) {
    this(features, candidatesPerCategory, 0);
  }

  /**
   * @param creatorQuickSkips items of a creator the user quick-skipped this many times among their
   *     recent interactions are not served (0 disables)
   */
  public HeuristicRanker(ProfileUpdater features, int candidatesPerCategory, int creatorQuickSkips) {
    this.creatorQuickSkips = creatorQuickSkips;
    this.features = features;
    this.candidatesPerCategory = candidatesPerCategory;
  }

  /** A retrieved candidate, with where it came from. */
  public record Retrieved(CandidateIndex.Candidate candidate, CandidateSource source) {}

  /** A scored candidate, with where it came from. */
  public record Scored(CandidateIndex.Candidate candidate, CandidateSource source, double score) {}

  /**
   * Candidates for one slate, in retrieval order, without the items the user has already
   * interacted with: the most popular of the user's strongest categories, then the global top.
   */
  public List<Retrieved> retrieve(UserProfile profile, CandidateIndex index) {
    return retrieve(profile, index, null);
  }

  /**
   * As {@link #retrieve(UserProfile, CandidateIndex)}, with the candidates an external retrieval
   * service supplied in the request first (source REQUEST). Ids the catalog does not know, or
   * knows as deleted, are ignored: a slate only ever holds servable items.
   */
  public List<Retrieved> retrieve(UserProfile profile, CandidateIndex index, List<String> requested) {
    return retrieve(profile, index, requested, exclusions(profile, index));
  }

  /**
   * What a user is not served: items already interacted with, items they kept ignoring (see
   * {@link IgnoredItemsFilter}), and fatigued creators.
   */
  public record Exclusions(Set<String> seenItems, Set<String> ignoredItems, Set<String> fatiguedCreators) {
    boolean excludes(CandidateIndex.Candidate c) {
      return seenItems.contains(c.itemId()) || ignoredItems.contains(c.itemId())
          || fatiguedCreators.contains(c.creatorId());
    }
  }

  /** The user's exclusions, computed once per slate for retrieval and the exploration pool. */
  public Exclusions exclusions(UserProfile profile, CandidateIndex index) {
    return exclusions(profile, index, Set.of());
  }

  /** As {@link #exclusions(UserProfile, CandidateIndex)}, with the items the user kept ignoring. */
  public Exclusions exclusions(UserProfile profile, CandidateIndex index, Set<String> ignoredItems) {
    Set<String> seen = new HashSet<>();
    if (profile != null) {
      for (RecentEvent r : profile.getRecent()) {
        seen.add(r.getItemId());
      }
    }
    return new Exclusions(seen, ignoredItems, fatiguedCreators(profile, index));
  }

  /** As {@link #retrieve(UserProfile, CandidateIndex, List)}, with exclusions already computed. */
  public List<Retrieved> retrieve(UserProfile profile, CandidateIndex index, List<String> requested,
      Exclusions excluded) {
    // Seen and ignored items are filtered after retrieval, so each source fetches that many more:
    // a user who has seen a category's leaders still gets a full slate from it.
    int perSource = candidatesPerCategory + excluded.seenItems().size() + excluded.ignoredItems().size();
    // Each candidate is kept with the first source that proposed it (no second look-up in the
    // index). An excluded item is left out whichever source proposes it, so it is dropped as it
    // comes; the map is sized for every source's share so that it never rehashes.
    int sources = (profile == null ? 0 : TOP_CATEGORIES) + 1;
    int expected = (requested == null ? 0 : requested.size()) + sources * perSource;
    RetrievedList out = new RetrievedList(expected, excluded);
    if (requested != null) {
      for (String id : requested) {
        CandidateIndex.Candidate c = index.get(id);
        if (c != null) {
          out.offer(c, CandidateSource.REQUEST);
        }
      }
    }
    if (profile != null) {
      for (String category : ProfileUpdater.topCategories(profile, TOP_CATEGORIES)) {
        index.topInCategory(category, perSource, c -> out.offer(c, CandidateSource.USER_CATEGORY));
      }
    }
    index.topGlobal(perSource, c -> out.offer(c, CandidateSource.TRENDING_GLOBAL));
    return out;
  }

  /**
   * Retrieved candidates in retrieval order, with their ids indexed: the exploration pool asks
   * whether an item was retrieved already without building a set of its own.
   */
  private static final class RetrievedList extends java.util.AbstractList<Retrieved>
      implements java.util.RandomAccess {
    private final ArrayList<Retrieved> list;
    private final HashMap<String, Retrieved> byId;
    private final Exclusions excluded;

    RetrievedList(int expected, Exclusions excluded) {
      this.list = new ArrayList<>(expected);
      this.byId = new HashMap<>((int) (expected / 0.75f) + 1);
      this.excluded = excluded;
    }

    void offer(CandidateIndex.Candidate c, CandidateSource source) {
      if (!byId.containsKey(c.itemId()) && !excluded.excludes(c)) {
        Retrieved r = new Retrieved(c, source);
        byId.put(c.itemId(), r);
        list.add(r);
      }
    }

    boolean containsId(String itemId) {
      return byId.containsKey(itemId);
    }

    @Override
    public Retrieved get(int i) {
      return list.get(i);
    }

    @Override
    public int size() {
      return list.size();
    }
  }

  /** Creators the user quick-skipped at least {@code creatorQuickSkips} times among recent events. */
  public Set<String> fatiguedCreators(UserProfile profile, CandidateIndex index) {
    if (profile == null || creatorQuickSkips <= 0) {
      return Set.of();
    }
    Map<String, Integer> quickSkips = new java.util.HashMap<>();
    for (RecentEvent r : profile.getRecent()) {
      CandidateIndex.Candidate c = index.get(r.getItemId());
      if (c != null && features.isQuickSkip(r)) {
        quickSkips.merge(c.creatorId(), 1, Integer::sum);
      }
    }
    Set<String> fatigued = new HashSet<>();
    quickSkips.forEach((creator, n) -> {
      if (n >= creatorQuickSkips) {
        fatigued.add(creator);
      }
    });
    return fatigued;
  }

  /**
   * Exploration candidates: the {@code poolSize} most recently published items, published at or
   * after {@code notBeforeMs}, that are neither retrieved already nor excluded for the user, with
   * source FRESH.
   */
  public List<Retrieved> explorationPool(CandidateIndex index, List<Retrieved> retrieved, int poolSize,
      long notBeforeMs, Exclusions excluded) {
    List<Retrieved> pool = new ArrayList<>();
    if (poolSize <= 0) {
      return pool;
    }
    // Skipped: the seen, the ignored and the retrieved items. The walk covers at most poolSize +
    // skipped items (enough whatever is skipped), and stops as soon as the pool is full: with
    // hundreds of retrieved candidates skipped, most of the walk is otherwise wasted on every slate.
    java.util.function.Predicate<String> wasRetrieved;
    int skipped;
    if (retrieved instanceof RetrievedList r && r.excluded == excluded) {
      // Retrieval already left out every excluded item: the retrieved ids are none of them.
      wasRetrieved = r::containsId;
      skipped = excludedItems(excluded) + r.size();
    } else {
      Set<String> skip = new HashSet<>(excluded.seenItems());
      skip.addAll(excluded.ignoredItems());
      retrieved.forEach(x -> skip.add(x.candidate().itemId()));
      wasRetrieved = skip::contains;
      skipped = skip.size();
    }
    index.freshestWhile(poolSize + skipped, notBeforeMs, c -> {
      if (!wasRetrieved.test(c.itemId()) && !excluded.excludes(c)) {
        pool.add(new Retrieved(c, CandidateSource.FRESH));
      }
      return pool.size() < poolSize;
    });
    return pool;
  }

  /** How many distinct items are seen or ignored. */
  private static int excludedItems(Exclusions excluded) {
    int n = excluded.seenItems().size();
    for (String id : excluded.ignoredItems()) {
      if (!excluded.seenItems().contains(id)) {
        n++;
      }
    }
    return n;
  }

  /**
   * The first stage of a model's ranking: every candidate the request supplied (source REQUEST: a
   * client asked for those to be ranked) and the best {@code keep} of the others by their
   * heuristic {@code scores} (same order as {@code retrieved}; ties by item id, as everywhere), in
   * retrieval order, so that the model builds vectors for and scores only those. All of them when
   * there are no more than {@code keep} others, or {@code keep} is 0.
   */
  public static List<Retrieved> preRank(List<Retrieved> retrieved, List<Scored> scores, int keep) {
    if (scores.size() != retrieved.size()) {
      throw new IllegalArgumentException(scores.size() + " scores for " + retrieved.size() + " candidates");
    }
    List<Integer> others = new ArrayList<>(retrieved.size());
    for (int i = 0; i < retrieved.size(); i++) {
      if (retrieved.get(i).source() != CandidateSource.REQUEST) {
        others.add(i);
      }
    }
    if (keep <= 0 || others.size() <= keep) {
      return retrieved;
    }
    others.sort(Comparator.<Integer>comparingDouble(i -> -scores.get(i).score())
        .thenComparing(i -> retrieved.get(i).candidate().itemId()));
    boolean[] dropped = new boolean[retrieved.size()];
    for (int i = keep; i < others.size(); i++) {
      dropped[others.get(i)] = true;
    }
    List<Retrieved> out = new ArrayList<>(retrieved.size() - (others.size() - keep));
    for (int i = 0; i < dropped.length; i++) {
      if (!dropped[i]) {
        out.add(retrieved.get(i));
      }
    }
    return out;
  }

  /**
   * What the model scores of {@code retrieved}: {@link #preRank} by this heuristic's scores, which
   * are computed only when there are more than {@code keep} candidates.
   */
  public List<Retrieved> forModel(UserProfile profile, List<Retrieved> retrieved, int keep, long atMs) {
    return keep <= 0 || retrieved.size() <= keep ? retrieved : preRank(retrieved, score(profile, retrieved, atMs), keep);
  }

  /** Heuristic scores of retrieved candidates, in the same order. */
  public List<Scored> score(UserProfile profile, List<Retrieved> retrieved, long atMs) {
    List<Scored> scored = new ArrayList<>(retrieved.size());
    // Candidates come in runs of one category (a category's top items), so the affinity of the
    // previous candidate's category is usually the one needed again.
    String lastCategory = null;
    double lastAffinity = 0.0;
    for (Retrieved r : retrieved) {
      CandidateIndex.Candidate c = r.candidate();
      double affinity;
      if (profile == null) {
        affinity = 0.0;
      } else if (lastCategory != null && lastCategory.equals(c.category())) {
        affinity = lastAffinity;
      } else {
        affinity = features.categoryAffinity(profile, c.category(), atMs);
        lastCategory = c.category();
        lastAffinity = affinity;
      }
      scored.add(new Scored(c, r.source(), HeuristicScorer.score(c.popularity(), affinity)));
    }
    return scored;
  }

  /** The heuristic's slate: {@link #retrieve}, score, and keep the best {@code size}. */
  public List<SlateItem> rank(UserProfile profile, CandidateIndex index, int size, long atMs) {
    return rank(profile, index, null, size, atMs);
  }

  /** With candidates supplied by the request. */
  public List<SlateItem> rank(UserProfile profile, CandidateIndex index, List<String> requested, int size, long atMs) {
    return top(score(profile, retrieve(profile, index, requested), atMs), size);
  }

  /** The best {@code size} by descending score, ties by item id, ranked 0..n-1. */
  public static List<SlateItem> top(List<Scored> scored, int size) {
    scored.sort(Comparator.comparingDouble(Scored::score).reversed()
        .thenComparing(s -> s.candidate().itemId()));
    List<SlateItem> slate = new ArrayList<>(Math.min(size, scored.size()));
    for (int i = 0; i < scored.size() && i < size; i++) {
      Scored s = scored.get(i);
      slate.add(new SlateItem(s.candidate().itemId(), s.score(), i, s.source()));
    }
    return slate;
  }
}
