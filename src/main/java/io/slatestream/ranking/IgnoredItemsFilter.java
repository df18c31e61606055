package io.slatestream.ranking;

import io.slatestream.avro.state.IgnoredItem;
import io.slatestream.avro.state.IgnoredItems;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * Items a user keeps ignoring are not served to them for a while. An impression <em>is
 * ignored</em> when its label window closes without an answer (the ranker labels it NO_ACTION); an
 * item with at least {@code filters.ignored-impressions} ignored impressions served within the
 * last {@code filters.ignored-window} of event time (counted back from the slate's trigger time) is
 * excluded from the user's slates. An answer to the item (like or skip) forgets its ignored
 * impressions: the user is no longer ignoring it.
 *
 * <p>Bounded: per item only the latest {@code filters.ignored-impressions} times are kept (older
 * ones cannot change the decision), times older than the window are pruned whenever the state is
 * written, and at most {@code filters.ignored-max-items} items are kept; beyond that the item
 * ignored least recently is evicted (ties by item id). A very active user therefore costs at most
 * {@code max-items × impressions} timestamps, and for them the filter remembers a shorter past.
 * Deterministic: the result depends only on the state and the arguments.
 */
public final class IgnoredItemsFilter implements Serializable {
  private static final long serialVersionUID = 1L;

  private final int threshold;
  private final long windowMs;
  private final int maxItems;

  /**
   * @param threshold ignored impressions within the window that exclude an item; 0 disables
   * @param windowMs how far back (event time) ignored impressions count
   * @param maxItems most items remembered per user
   */
  public IgnoredItemsFilter(int threshold, long windowMs, int maxItems) {
    if (threshold < 0 || windowMs <= 0 || maxItems <= 0) {
      throw new IllegalArgumentException("threshold >= 0, windowMs > 0 and maxItems > 0 required, got "
          + threshold + ", " + windowMs + ", " + maxItems);
    }
    this.threshold = threshold;
    this.windowMs = windowMs;
    this.maxItems = maxItems;
  }

  public boolean enabled() {
    return threshold > 0;
  }

  /** One unanswered impression: the item and when it was served. */
  public record Ignored(String itemId, long servedTimeMs) {}

  /**
   * The state after {@code ignored} impressions closed unanswered at {@code nowMs}: pruned to the
   * window ending at {@code nowMs} and to the bounds. {@code state} may be null (nothing yet); the
   * result is a new record, empty when nothing remains.
   */
  public IgnoredItems record(IgnoredItems state, List<Ignored> ignored, long nowMs) {
    Map<String, List<Long>> byItem = byItem(state);
    for (Ignored i : ignored) {
      byItem.computeIfAbsent(i.itemId(), k -> new ArrayList<>()).add(i.servedTimeMs());
    }
    long oldest = nowMs - windowMs;
    byItem.values().forEach(times -> {
      times.removeIf(t -> t < oldest);
      times.sort(null);
      if (times.size() > threshold) {
        times.subList(0, times.size() - threshold).clear();
      }
    });
    byItem.values().removeIf(List::isEmpty);
    if (byItem.size() > maxItems) {
      // Evict the items ignored least recently (their latest time is the oldest), ties by id.
      List<String> order = new ArrayList<>(byItem.keySet());
      order.sort(Comparator.<String>comparingLong(id -> last(byItem.get(id))).thenComparing(id -> id));
      order.subList(0, byItem.size() - maxItems).forEach(byItem::remove);
    }
    return toState(byItem);
  }

  /** Forgets an item the user answered. Returns true if the state changed. */
  public boolean forget(IgnoredItems state, String itemId) {
    if (state == null) {
      return false;
    }
    List<IgnoredItem> items = state.getItems();
    for (int i = 0; i < items.size(); i++) {
      if (items.get(i).getItemId().equals(itemId)) {
        // By index: the iterator of an Avro array read back from state does not support remove().
        items.remove(i);
        return true;
      }
    }
    return false;
  }

  /** Items excluded from a slate triggered at {@code atMs}. */
  public Set<String> excluded(IgnoredItems state, long atMs) {
    if (!enabled() || state == null) {
      return Set.of();
    }
    long oldest = atMs - windowMs;
    Set<String> out = new HashSet<>();
    for (IgnoredItem i : state.getItems()) {
      int n = 0;
      for (long t : i.getServedTimesMs()) {
        if (t >= oldest) {
          n++;
        }
      }
      if (n >= threshold) {
        out.add(i.getItemId());
      }
    }
    return out;
  }

  private static Map<String, List<Long>> byItem(IgnoredItems state) {
    Map<String, List<Long>> m = new TreeMap<>();
    if (state != null) {
      for (IgnoredItem i : state.getItems()) {
        m.put(i.getItemId(), new ArrayList<>(i.getServedTimesMs()));
      }
    }
    return m;
  }

  private static IgnoredItems toState(Map<String, List<Long>> byItem) {
    List<IgnoredItem> items = new ArrayList<>(byItem.size());
    byItem.forEach((id, times) -> items.add(new IgnoredItem(id, times)));
    return new IgnoredItems(items);
  }

  private static long last(List<Long> sortedTimes) {
    return sortedTimes.get(sortedTimes.size() - 1);
  }
}
