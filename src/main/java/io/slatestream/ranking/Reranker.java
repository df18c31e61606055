package io.slatestream.ranking;

import io.slatestream.avro.CandidateSource;
import io.slatestream.avro.SlateItem;
import java.io.Serializable;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.SplittableRandom;

/**
 * The last stage of a slate: turns scored candidates into the slate that is served, with
 * <b>diversity</b> (category and creator caps) and <b>exploration slots</b> (a share of positions
 * given to fresh or rarely shown items).
 *
 * <h2>Diversity: caps rather than MMR</h2>
 * Candidates are visited in descending score (ties by item id) and an item is taken unless its
 * category already holds {@link Settings#maxPerCategory()} items or its creator
 * {@link Settings#maxPerCreator()} items in the slate. The caps are <em>soft</em>: when they leave
 * the slate short, the remaining positions are filled, at the end, with the best skipped items, so
 * a slate is never shorter than what is available. An item whose category (or creator) is
 * {@code null} is not limited by that cap.
 *
 * <p>Caps were chosen over maximal marginal relevance (MMR). Caps cost one sort plus one linear
 * pass, O(n log n); every decision can be explained in one sentence ("skipped: a third item of
 * category X"); and the result is predictable — an operator knows, from two integers, the most of
 * one category or creator a user can see. MMR trades relevance against similarity continuously,
 * which spreads a slate more finely, but it needs a pairwise similarity between items (embeddings
 * we do not have), costs O(n·k) similarity evaluations for a slate of k, and its λ is hard to
 * reason about. The price of caps is coarseness: two items of different categories are "diverse"
 * however alike they are.
 *
 * <h2>Exploration</h2>
 * {@code round(explorationShare * size)} positions (clamped to 0..size, and to size - 1 when
 * size &gt; 1 so that the best candidate always stays at position 0) are given to items of the
 * exploration pool — already scored, typically with source {@code FRESH} set by the caller. A pool
 * item is eligible unless the candidates would fill the remaining positions with it anyway (it is
 * then not "exploration", and serving it twice is impossible). Which pool items (uniformly, within
 * the caps, softly) and which positions (uniformly over 1..n-1) are drawn from a
 * {@link SplittableRandom} seeded by a 64-bit mix of {@link Settings#seed()}, the user id and the
 * trigger key: the same state and trigger always give the same slate, so a replay reproduces its
 * slates, while different users and triggers get different draws. Exploration items count towards
 * the caps of the candidates that follow. Exploration items keep their own score and source; the
 * slate is ranked 0..n-1 in slate order, so scores are not necessarily descending along it.
 *
 * <p>If the candidates cannot fill the non-exploration positions, unused pool items (best score
 * first) fill the tail. With {@code explorationShare == 0} the pool is ignored entirely and the
 * result is exactly the capped greedy slate.
 *
 * <h2>Determinism and cost</h2>
 * The output depends only on the settings, the arguments' <em>contents</em>, the user id and the
 * trigger key, not on the order of the input lists (both are taken in a total order: score
 * descending with NaN last, then item id, source, category, creator); an item id appearing more
 * than once in a list is kept once, with its best entry. The inputs are not modified. Work is
 * O(n + k log n + m log m) for n candidates of which the slate looks at the best k, and m pool
 * items: the candidates are heapified and only their best are taken off the heap (a slate of ten
 * rarely looks past a few dozen of several hundred), the pool is sorted, then a few linear passes
 * with hash lookups and a partial shuffle.
 */
public final class Reranker implements Serializable {
  private static final long serialVersionUID = 1L;

  /**
   * Re-ranking settings.
   *
   * @param maxPerCategory at most this many items of one category per slate (soft); at least 1,
   *     {@link Integer#MAX_VALUE} for no cap
   * @param maxPerCreator at most this many items of one creator per slate (soft); at least 1,
   *     {@link Integer#MAX_VALUE} for no cap
   * @param explorationShare the share of positions given to exploration items, 0..1
   * @param seed the seed of the exploration draws, mixed with the user id and the trigger key
   */
  public record Settings(int maxPerCategory, int maxPerCreator, double explorationShare, long seed)
      implements Serializable {
    public Settings {
      if (maxPerCategory < 1) {
        throw new IllegalArgumentException("maxPerCategory must be >= 1, was " + maxPerCategory);
      }
      if (maxPerCreator < 1) {
        throw new IllegalArgumentException("maxPerCreator must be >= 1, was " + maxPerCreator);
      }
      if (!(explorationShare >= 0.0 && explorationShare <= 1.0)) {
        throw new IllegalArgumentException(
            "explorationShare must be within 0..1, was " + explorationShare);
      }
    }

    /** No caps and no exploration: {@link #rerank} is then the plain top-{@code size}. */
    public static Settings none() {
      return new Settings(Integer.MAX_VALUE, Integer.MAX_VALUE, 0.0, 0L);
    }
  }

  /**
   * Score descending (NaN last), then item id, then source, category and creator (nulls first),
   * so sorting is a total order. Written out rather than chained from key extractors: a slate
   * compares a few thousand pairs.
   */
  private static final Comparator<HeuristicRanker.Scored> ORDER = (a, b) -> {
    int c = Double.compare(sortKey(b.score()), sortKey(a.score()));
    if (c != 0) {
      return c;
    }
    c = a.candidate().itemId().compareTo(b.candidate().itemId());
    if (c != 0) {
      return c;
    }
    c = nullsFirst(a.source(), b.source());
    if (c != 0) {
      return c;
    }
    c = nullsFirst(a.candidate().category(), b.candidate().category());
    return c != 0 ? c : nullsFirst(a.candidate().creatorId(), b.candidate().creatorId());
  };

  private static <T extends Comparable<T>> int nullsFirst(T a, T b) {
    if (a == null) {
      return b == null ? 0 : -1;
    }
    return b == null ? 1 : a.compareTo(b);
  }

  private final Settings settings;

  public Reranker(Settings settings) {
    this.settings = Objects.requireNonNull(settings, "settings");
  }

  public Settings settings() {
    return settings;
  }

  /**
   * The slate: at most {@code size} items, diversified by the caps, with exploration items from
   * {@code explorationPool} at pseudo-random positions other than 0, ranked 0..n-1.
   *
   * @param scored the scored candidates, in any order (not modified)
   * @param explorationPool scored fresh or rarely shown items, in any order (not modified); may be
   *     empty
   * @param size the slate size, at least 0
   * @param userId the user, part of the exploration seed ({@code null} is treated as "")
   * @param triggerKey identifies the trigger (for example the request id's hash or the trigger
   *     event's time), part of the exploration seed
   */
  public List<SlateItem> rerank(
      List<HeuristicRanker.Scored> scored,
      List<HeuristicRanker.Scored> explorationPool,
      int size,
      String userId,
      long triggerKey) {
    if (size < 0) {
      throw new IllegalArgumentException("size must be >= 0, was " + size);
    }
    SortedDistinct candidates = new SortedDistinct(scored);
    if (size == 0) {
      return new ArrayList<>();
    }
    if (settings.explorationShare() == 0.0) {
      return ranked(greedy(candidates, size, new Counts(), Set.of()));
    }

    int target = explorationCount(settings.explorationShare(), size);
    List<HeuristicRanker.Scored> pool = new SortedDistinct(explorationPool).all();
    SplittableRandom random = new SplittableRandom(mixSeed(settings.seed(), userId, triggerKey));

    // Pool items the candidates would serve anyway, exploration or not, are not exploration.
    Set<String> reserved = new HashSet<>();
    for (HeuristicRanker.Scored s : greedy(candidates, size - target, new Counts(), Set.of())) {
      reserved.add(s.candidate().itemId());
    }
    List<HeuristicRanker.Scored> eligible = new ArrayList<>(pool.size());
    for (HeuristicRanker.Scored s : pool) {
      if (!reserved.contains(s.candidate().itemId())) {
        eligible.add(s);
      }
    }

    // Exploration items: a uniform draw from the eligible pool, within the caps (softly).
    Counts counts = new Counts();
    List<HeuristicRanker.Scored> exploration = drawWithinCaps(eligible, target, counts, random);
    Set<String> explorationIds = new HashSet<>();
    for (HeuristicRanker.Scored s : exploration) {
      explorationIds.add(s.candidate().itemId());
    }

    // The rest from the candidates, counting the exploration items towards the caps.
    List<HeuristicRanker.Scored> main =
        greedy(candidates, size - exploration.size(), counts, explorationIds);

    // Exploration positions: a uniform subset of 1..len-1 (0 only when there is no candidate).
    int len = main.size() + exploration.size();
    HeuristicRanker.Scored[] slate = new HeuristicRanker.Scored[len];
    int first = main.isEmpty() ? 0 : 1;
    int[] positions = drawPositions(first, len, exploration.size(), random);
    for (int i = 0; i < positions.length; i++) {
      slate[positions[i]] = exploration.get(i);
    }
    int next = 0;
    for (int i = 0; i < len; i++) {
      if (slate[i] == null) {
        slate[i] = main.get(next++);
      }
    }

    List<HeuristicRanker.Scored> out = new ArrayList<>(Arrays.asList(slate));
    if (out.size() < size) {
      // The candidates ran out: unused pool items, best first, fill the tail.
      Set<String> inSlate = new HashSet<>(explorationIds);
      for (HeuristicRanker.Scored s : main) {
        inSlate.add(s.candidate().itemId());
      }
      for (int i = 0; i < pool.size() && out.size() < size; i++) {
        HeuristicRanker.Scored s = pool.get(i);
        if (inSlate.add(s.candidate().itemId())) {
          out.add(s);
        }
      }
    }
    return ranked(out);
  }

  /**
   * The number of exploration positions in a slate of {@code size}: {@code round(share * size)},
   * within 0..size, and at most size - 1 when size &gt; 1 (position 0 stays the best candidate).
   */
  public static int explorationCount(double share, int size) {
    if (size <= 0) {
      return 0;
    }
    long k = Math.round(share * size);
    k = Math.max(0, Math.min(size, k));
    if (size > 1) {
      k = Math.min(k, size - 1);
    }
    return (int) k;
  }

  /**
   * The seed of one slate's draws: a SplitMix64-style mix of the configured seed, a 64-bit
   * FNV-1a hash of the user id's UTF-8 bytes, and the trigger key.
   */
  static long mixSeed(long seed, String userId, long triggerKey) {
    long h = mix64(seed ^ 0x9E3779B97F4A7C15L);
    h = mix64(h ^ fnv1a64(userId == null ? "" : userId));
    h = mix64((h + 0x9E3779B97F4A7C15L) ^ triggerKey);
    return h;
  }

  private static long fnv1a64(String s) {
    long h = 0xcbf29ce484222325L;
    for (byte b : s.getBytes(StandardCharsets.UTF_8)) {
      h ^= (b & 0xff);
      h *= 0x100000001b3L;
    }
    return h;
  }

  /** The SplitMix64 / murmur3 finaliser: every input bit affects every output bit. */
  private static long mix64(long z) {
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return z ^ (z >>> 31);
  }

  private static double sortKey(double score) {
    return Double.isNaN(score) ? Double.NEGATIVE_INFINITY : score;
  }

  /**
   * The input in {@link #ORDER}, one entry (the first in that order) per item id, produced lazily:
   * a slate of ten takes its items from the first few dozen of several hundred candidates, so the
   * candidates are heapified (linear) and only the prefix that is asked for is taken off the heap,
   * instead of sorting them all. The input is not modified.
   */
  private static final class SortedDistinct {
    private final HeuristicRanker.Scored[] heap;
    private int heapSize;
    private final List<HeuristicRanker.Scored> prefix = new ArrayList<>();
    private final Set<String> ids = new HashSet<>();

    SortedDistinct(List<HeuristicRanker.Scored> in) {
      heap = in == null ? new HeuristicRanker.Scored[0] : in.toArray(new HeuristicRanker.Scored[0]);
      for (HeuristicRanker.Scored s : heap) {
        Objects.requireNonNull(s, "scored item");
        Objects.requireNonNull(s.candidate(), "scored item's candidate");
        Objects.requireNonNull(s.candidate().itemId(), "scored item's id");
      }
      heapSize = heap.length;
      for (int i = heapSize / 2 - 1; i >= 0; i--) {
        siftDown(i);
      }
    }

    /** Whether there is an {@code i}-th item (taking items off the heap up to it). */
    boolean has(int i) {
      while (prefix.size() <= i && heapSize > 0) {
        HeuristicRanker.Scored next = heap[0];
        heap[0] = heap[--heapSize];
        heap[heapSize] = null;
        siftDown(0);
        if (ids.add(next.candidate().itemId())) {
          prefix.add(next);
        }
      }
      return i < prefix.size();
    }

    HeuristicRanker.Scored get(int i) {
      if (!has(i)) {
        throw new IndexOutOfBoundsException(i);
      }
      return prefix.get(i);
    }

    /** All items, in order. */
    List<HeuristicRanker.Scored> all() {
      has(Integer.MAX_VALUE - 1);
      return prefix;
    }

    private void siftDown(int i) {
      HeuristicRanker.Scored x = heap[i];
      int half = heapSize >>> 1;
      while (i < half) {
        int child = 2 * i + 1;
        int right = child + 1;
        if (right < heapSize && ORDER.compare(heap[right], heap[child]) < 0) {
          child = right;
        }
        if (ORDER.compare(x, heap[child]) <= 0) {
          break;
        }
        heap[i] = heap[child];
        i = child;
      }
      if (heapSize > 0) {
        heap[i] = x;
      }
    }
  }

  /**
   * Up to {@code want} of {@code sorted} (minus {@code exclude}), greedily within the caps given
   * {@code counts} (updated), then the best skipped ones if the caps left it short.
   */
  private List<HeuristicRanker.Scored> greedy(
      SortedDistinct sorted, int want, Counts counts, Set<String> exclude) {
    List<HeuristicRanker.Scored> taken = new ArrayList<>(Math.max(0, want));
    List<HeuristicRanker.Scored> skipped = new ArrayList<>();
    for (int i = 0; taken.size() < want && sorted.has(i); i++) {
      HeuristicRanker.Scored s = sorted.get(i);
      if (exclude.contains(s.candidate().itemId())) {
        continue;
      }
      if (counts.allows(s.candidate())) {
        counts.add(s.candidate());
        taken.add(s);
      } else {
        skipped.add(s);
      }
    }
    for (int i = 0; i < skipped.size() && taken.size() < want; i++) {
      counts.add(skipped.get(i).candidate());
      taken.add(skipped.get(i));
    }
    return taken;
  }

  /**
   * Up to {@code want} items of {@code items} in a uniformly random order (a lazy Fisher-Yates
   * shuffle), within the caps given {@code counts} (updated), then skipped ones in drawn order.
   */
  private List<HeuristicRanker.Scored> drawWithinCaps(
      List<HeuristicRanker.Scored> items, int want, Counts counts, SplittableRandom random) {
    List<HeuristicRanker.Scored> drawn = new ArrayList<>(Math.min(want, items.size()));
    if (want <= 0 || items.isEmpty()) {
      return drawn;
    }
    List<HeuristicRanker.Scored> deck = new ArrayList<>(items);
    List<HeuristicRanker.Scored> skipped = new ArrayList<>();
    int n = deck.size();
    for (int i = 0; i < n && drawn.size() < want; i++) {
      int j = i + random.nextInt(n - i);
      HeuristicRanker.Scored s = deck.get(j);
      deck.set(j, deck.get(i));
      deck.set(i, s);
      if (counts.allows(s.candidate())) {
        counts.add(s.candidate());
        drawn.add(s);
      } else {
        skipped.add(s);
      }
    }
    for (int i = 0; i < skipped.size() && drawn.size() < want; i++) {
      counts.add(skipped.get(i).candidate());
      drawn.add(skipped.get(i));
    }
    return drawn;
  }

  /** {@code k} distinct positions drawn uniformly from {@code from..to-1}, in random order. */
  private static int[] drawPositions(int from, int to, int k, SplittableRandom random) {
    int n = to - from;
    int[] all = new int[n];
    for (int i = 0; i < n; i++) {
      all[i] = from + i;
    }
    for (int i = 0; i < k; i++) {
      int j = i + random.nextInt(n - i);
      int t = all[j];
      all[j] = all[i];
      all[i] = t;
    }
    return Arrays.copyOf(all, k);
  }

  private static List<SlateItem> ranked(List<HeuristicRanker.Scored> slate) {
    List<SlateItem> out = new ArrayList<>(slate.size());
    for (int i = 0; i < slate.size(); i++) {
      HeuristicRanker.Scored s = slate.get(i);
      out.add(new SlateItem(s.candidate().itemId(), s.score(), i, s.source()));
    }
    return out;
  }

  /** Items per category and per creator in the slate so far. */
  private final class Counts {
    private final Map<String, Integer> categories = new HashMap<>();
    private final Map<String, Integer> creators = new HashMap<>();

    boolean allows(CandidateIndex.Candidate c) {
      return (c.category() == null
              || categories.getOrDefault(c.category(), 0) < settings.maxPerCategory())
          && (c.creatorId() == null
              || creators.getOrDefault(c.creatorId(), 0) < settings.maxPerCreator());
    }

    void add(CandidateIndex.Candidate c) {
      if (c.category() != null) {
        categories.merge(c.category(), 1, Integer::sum);
      }
      if (c.creatorId() != null) {
        creators.merge(c.creatorId(), 1, Integer::sum);
      }
    }
  }
}
