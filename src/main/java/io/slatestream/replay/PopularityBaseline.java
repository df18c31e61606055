package io.slatestream.replay;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * The reference the job is compared with: the items with the most likes so far, the same for
 * everyone, less what the user has already seen.
 *
 * <p>It observes the interactions the replay has fed to the job, in feed order, so it ranks from
 * exactly the past the job was given. Ranking: like count (not decayed), most first, ties by item
 * id; items without a like are never ranked, so a young history can give fewer than k. Excluded,
 * as the job excludes them: the items of the user's last {@code recentItems} interactions (the
 * job's {@code features.recent-items}; a like, a skip or a quick skip alike).
 */
public final class PopularityBaseline {

  private record Ranked(String itemId, long likes) {}

  private static final Comparator<Ranked> MOST_LIKED =
      Comparator.comparingLong(Ranked::likes).reversed().thenComparing(Ranked::itemId);

  private final int recentItems;
  private final Map<String, Long> likes = new HashMap<>();
  private final TreeSet<Ranked> ranking = new TreeSet<>(MOST_LIKED);
  private final Map<String, ArrayDeque<String>> recent = new HashMap<>();

  public PopularityBaseline(int recentItems) {
    if (recentItems < 0) {
      throw new IllegalArgumentException("recentItems must be >= 0, was " + recentItems);
    }
    this.recentItems = recentItems;
  }

  /** One interaction fed to the job. */
  public void observe(String userId, String itemId, boolean like) {
    if (recentItems > 0) {
      ArrayDeque<String> seen = recent.computeIfAbsent(userId, u -> new ArrayDeque<>());
      seen.addLast(itemId);
      if (seen.size() > recentItems) {
        seen.removeFirst();
      }
    }
    if (like) {
      long before = likes.getOrDefault(itemId, 0L);
      if (before > 0) {
        ranking.remove(new Ranked(itemId, before));
      }
      likes.put(itemId, before + 1);
      ranking.add(new Ranked(itemId, before + 1));
    }
  }

  /** Items of the user's last {@code recentItems} interactions. */
  public Set<String> seen(String userId) {
    ArrayDeque<String> seen = recent.get(userId);
    return seen == null ? Set.of() : new HashSet<>(seen);
  }

  /** The {@code k} most liked items the user has not seen, most liked first. */
  public List<String> top(String userId, int k) {
    Set<String> seen = seen(userId);
    List<String> out = new ArrayList<>(k);
    for (Ranked r : ranking) {
      if (out.size() == k) {
        break;
      }
      if (!seen.contains(r.itemId())) {
        out.add(r.itemId());
      }
    }
    return out;
  }

  public long likes(String itemId) {
    return likes.getOrDefault(itemId, 0L);
  }
}
