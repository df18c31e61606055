package io.slatestream.ranking;

import io.slatestream.avro.CandidateSource;
import io.slatestream.avro.SlateItem;
import io.slatestream.avro.state.RecentEvent;
import io.slatestream.avro.state.UserProfile;
import io.slatestream.features.ProfileUpdater;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
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
    // Each candidate is kept with the first source that proposed it (no second look-up in the index).
    Map<String, Retrieved> candidates = new LinkedHashMap<>();
    if (requested != null) {
      for (String id : requested) {
        CandidateIndex.Candidate c = index.get(id);
        if (c != null) {
          candidates.putIfAbsent(id, new Retrieved(c, CandidateSource.REQUEST));
        }
      }
    }
    if (profile != null) {
      for (String category : ProfileUpdater.topCategories(profile, TOP_CATEGORIES)) {
        index.topInCategory(category, perSource,
            c -> candidates.putIfAbsent(c.itemId(), new Retrieved(c, CandidateSource.USER_CATEGORY)));
      }
    }
    index.topGlobal(perSource,
        c -> candidates.putIfAbsent(c.itemId(), new Retrieved(c, CandidateSource.TRENDING_GLOBAL)));
    List<Retrieved> out = new ArrayList<>(candidates.size());
    for (Retrieved r : candidates.values()) {
      if (!excluded.excludes(r.candidate())) {
        out.add(r);
      }
    }
    return out;
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
    Set<String> skip = new HashSet<>(excluded.seenItems());
    skip.addAll(excluded.ignoredItems());
    retrieved.forEach(r -> skip.add(r.candidate().itemId()));
    List<Retrieved> pool = new ArrayList<>();
    if (poolSize <= 0) {
      return pool;
    }
    // Walks at most poolSize + skipped items (enough whatever is skipped), and stops as soon as the
    // pool is full: with hundreds of retrieved candidates in the skip set, most of the walk is
    // otherwise wasted on every slate.
    index.freshestWhile(poolSize + skip.size(), notBeforeMs, c -> {
      if (!skip.contains(c.itemId()) && !excluded.excludes(c)) {
        pool.add(new Retrieved(c, CandidateSource.FRESH));
      }
      return pool.size() < poolSize;
    });
    return pool;
  }

  /** Heuristic scores of retrieved candidates, in the same order. */
  public List<Scored> score(UserProfile profile, List<Retrieved> retrieved, long atMs) {
    List<Scored> scored = new ArrayList<>(retrieved.size());
    for (Retrieved r : retrieved) {
      CandidateIndex.Candidate c = r.candidate();
      double affinity = profile == null ? 0.0 : features.categoryAffinity(profile, c.category(), atMs);
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
