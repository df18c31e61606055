package io.slatestream.ranking;

import io.slatestream.avro.Item;
import io.slatestream.avro.state.CatalogEntry;
import java.util.Comparator;
import java.util.HashMap;
import java.util.Map;
import java.util.NavigableSet;
import java.util.TreeSet;
import java.util.function.Consumer;
import java.util.function.Predicate;

/**
 * The catalog ordered by popularity, globally and per category, so a slate scores a bounded
 * number of candidates instead of the whole catalog. It is a derived, in-memory view of the
 * ranker's broadcast state, rebuilt from that state after a restore; it is never checkpointed.
 * Ties are broken by item id so that every parallel instance, and every replay, orders alike.
 */
public final class CandidateIndex {

  /** One indexed item. */
  public record Candidate(String itemId, String category, String creatorId, double popularity) {}

  private static final Comparator<Candidate> BY_POPULARITY =
      Comparator.comparingDouble(Candidate::popularity).reversed().thenComparing(Candidate::itemId);

  private final Map<String, Candidate> byId = new HashMap<>();
  private final NavigableSet<Candidate> global = new TreeSet<>(BY_POPULARITY);
  private final Map<String, NavigableSet<Candidate>> byCategory = new HashMap<>();

  /** Carries its candidate, so a walk of the fresh pool needs no look-up per item. */
  private record Fresh(long publishedMs, String itemId, Candidate candidate) {}

  private static final Comparator<Fresh> NEWEST_FIRST =
      Comparator.comparingLong(Fresh::publishedMs).reversed().thenComparing(Fresh::itemId);
  private final NavigableSet<Fresh> fresh = new TreeSet<>(NEWEST_FIRST);
  private final Map<String, Long> published = new HashMap<>();

  /**
   * One instance per category name in use. Every update of an item arrives as a freshly
   * deserialized copy whose strings have no cached hash yet; candidates that keep the long-lived
   * instances (of their category, and of their own id from the item's first entry) are hashed once,
   * not on every slate that looks them up (a profile showed that hashing as a tenth of a slate).
   */
  private final Map<String, String> categoryNames = new HashMap<>();

  /** Adds, updates or (for a deleted or stats-only entry) removes one item. */
  public void put(String itemId, CatalogEntry entry) {
    Candidate previous = byId.get(itemId);
    remove(itemId);
    Item item = entry == null ? null : entry.getItem();
    if (item == null || item.getDeleted()) {
      return;
    }
    if (previous != null) {
      itemId = previous.itemId();
    }
    Candidate c = new Candidate(itemId, categoryNames.computeIfAbsent(item.getCategory(), k -> k),
        item.getCreatorId(), HeuristicScorer.popularity(entry.getStats()));
    byId.put(itemId, c);
    global.add(c);
    byCategory.computeIfAbsent(c.category(), k -> new TreeSet<>(BY_POPULARITY)).add(c);
    published.put(itemId, item.getPublishedTimeMs());
    fresh.add(new Fresh(item.getPublishedTimeMs(), itemId, c));
  }

  public void remove(String itemId) {
    Candidate old = byId.remove(itemId);
    Long publishedMs = published.remove(itemId);
    if (publishedMs != null) {
      fresh.remove(new Fresh(publishedMs, itemId, null)); // the order ignores the candidate
    }
    if (old != null) {
      global.remove(old);
      NavigableSet<Candidate> cat = byCategory.get(old.category());
      cat.remove(old);
      if (cat.isEmpty()) {
        byCategory.remove(old.category());
        categoryNames.remove(old.category());
      }
    }
  }

  public Candidate get(String itemId) {
    return byId.get(itemId);
  }

  public int size() {
    return byId.size();
  }

  /** The {@code k} most popular items overall, most popular first. */
  public void topGlobal(int k, Consumer<Candidate> sink) {
    take(global, k, sink);
  }

  /** The {@code k} most popular items of {@code category}, most popular first. */
  public void topInCategory(String category, int k, Consumer<Candidate> sink) {
    NavigableSet<Candidate> set = byCategory.get(category);
    if (set != null) {
      take(set, k, sink);
    }
  }

  /** The {@code k} most recently published items, newest first (ties by item id). */
  public void freshest(int k, Consumer<Candidate> sink) {
    freshest(k, Long.MIN_VALUE, sink);
  }

  /**
   * The {@code k} most recently published items published at or after {@code notBeforeMs}, newest
   * first (ties by item id): however quiet the catalog, an old item is never "fresh".
   */
  public void freshest(int k, long notBeforeMs, Consumer<Candidate> sink) {
    freshestWhile(k, notBeforeMs, c -> {
      sink.accept(c);
      return true;
    });
  }

  /**
   * As {@link #freshest(int, long, Consumer)}, stopping early once {@code visitor} returns false:
   * a caller that wants a few items out of many candidates (most of which it skips) does not walk
   * the rest.
   */
  public void freshestWhile(int k, long notBeforeMs, Predicate<Candidate> visitor) {
    int n = 0;
    for (Fresh f : fresh) {
      if (n++ >= k || f.publishedMs() < notBeforeMs || !visitor.test(f.candidate())) {
        return;
      }
    }
  }

  private static void take(NavigableSet<Candidate> set, int k, Consumer<Candidate> sink) {
    int n = 0;
    for (Candidate c : set) {
      if (n++ >= k) {
        return;
      }
      sink.accept(c);
    }
  }
}
