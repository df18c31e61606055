package io.slatestream.replay;

import io.slatestream.avro.Interaction;
import io.slatestream.avro.InteractionType;
import io.slatestream.avro.Item;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A history in the order the replay feeds it: every interaction and every catalog item on one
 * event-time line, and the likes to evaluate on it.
 *
 * <p><b>Order.</b> By time; at equal times catalog items before interactions (an item published at
 * {@code t} can be answered at {@code t}), then by line in their file.
 *
 * <p><b>Catalog defaults.</b> An item enters the catalog at its {@code published_ms}; without one,
 * at its first interaction, or at the start of the history if nobody interacted with it. An empty
 * {@code creator_id} makes the item its own creator (so creator caps and creator fatigue treat it
 * alone, rather than lumping every unknown creator together); an empty {@code duration_ms} is 0.
 *
 * <p><b>What is evaluated.</b> A <em>target</em> is a user and an instant {@code t} at which they
 * liked one or more items, evaluated if the user has an interaction strictly before {@code t} (a
 * user's first moment has no history to go on) and {@code t} is at least {@code warmUp} after the
 * history's first interaction. Every item liked at that instant is one evaluated like.
 */
public final class Timeline {

  /** One record to feed: a catalog item or an interaction. */
  public sealed interface Entry permits CatalogRecord, Event {
    long timeMs();
  }

  /** A catalog item, fed when it becomes available. */
  public record CatalogRecord(long timeMs, Item item) implements Entry {}

  /** An interaction as the job receives it, and the line it came from. */
  public record Event(long timeMs, HistoryFiles.Interaction source, Interaction interaction) implements Entry {}

  /**
   * A user's like(s) at one instant, to be evaluated with one slate requested just before it.
   *
   * @param lastOwnBefore feed index of the user's last interaction before {@code timeMs}
   */
  public record Target(int index, String userId, long timeMs, List<HistoryFiles.Interaction> likes,
      int lastOwnBefore) {}

  private final List<Entry> feed;
  private final List<Target> targets;
  private final long startMs;
  private final long likes;
  private final long likesAtFirstMoment;
  private final long likesInWarmUp;
  private final long interactionsOnUnknownItems;
  private final long interactionsBeforePublication;

  private Timeline(List<Entry> feed, List<Target> targets, long startMs, long likes, long likesAtFirstMoment,
      long likesInWarmUp, long interactionsOnUnknownItems, long interactionsBeforePublication) {
    this.feed = feed;
    this.targets = targets;
    this.startMs = startMs;
    this.likes = likes;
    this.likesAtFirstMoment = likesAtFirstMoment;
    this.likesInWarmUp = likesInWarmUp;
    this.interactionsOnUnknownItems = interactionsOnUnknownItems;
    this.interactionsBeforePublication = interactionsBeforePublication;
  }

  public static Timeline of(HistoryFiles.History history, Duration warmUp) {
    List<HistoryFiles.Interaction> interactions = new ArrayList<>(history.interactions());
    if (interactions.isEmpty()) {
      throw new IllegalArgumentException("No usable interactions: nothing to replay");
    }
    interactions.sort(Comparator.comparingLong(HistoryFiles.Interaction::timeMs)
        .thenComparingLong(HistoryFiles.Interaction::line));
    long start = interactions.get(0).timeMs();
    Map<String, Long> firstInteraction = new HashMap<>();
    for (HistoryFiles.Interaction i : interactions) {
      firstInteraction.putIfAbsent(i.itemId(), i.timeMs());
    }

    List<Entry> feed = new ArrayList<>(interactions.size() + history.items().size());
    Map<String, Long> available = new HashMap<>();
    for (HistoryFiles.Item i : history.items().values()) {
      long published = i.publishedMs() != null ? i.publishedMs() : firstInteraction.getOrDefault(i.itemId(), start);
      available.put(i.itemId(), published);
      feed.add(new CatalogRecord(published, Item.newBuilder()
          .setItemId(i.itemId())
          .setCategory(i.category())
          .setCreatorId(i.creatorId() == null ? i.itemId() : i.creatorId())
          .setDurationMs(i.durationMs())
          .setPublishedTimeMs(published)
          .build()));
    }
    long unknown = 0;
    long beforePublication = 0;
    for (HistoryFiles.Interaction i : interactions) {
      Long at = available.get(i.itemId());
      if (at == null) {
        unknown++;
      } else if (i.timeMs() < at) {
        beforePublication++;
      }
      feed.add(new Event(i.timeMs(), i, Interaction.newBuilder()
          .setEventId("line-" + i.line())
          .setUserId(i.userId())
          .setItemId(i.itemId())
          .setType(i.type())
          .setWatchTimeMs(i.watchTimeMs())
          .setEventTimeMs(i.timeMs())
          .build()));
    }
    feed.sort(Comparator.comparingLong(Entry::timeMs)
        .thenComparingInt(e -> e instanceof CatalogRecord ? 0 : 1)
        .thenComparingLong(e -> e instanceof CatalogRecord c ? 0 : ((Event) e).source().line()));

    // Per user, walking the feed: the last interaction strictly before the current instant, and the
    // likes of the current instant.
    long warmUpEnd = start + warmUp.toMillis();
    long likes = 0;
    long firstMoment = 0;
    long inWarmUp = 0;
    Map<String, UserWalk> users = new HashMap<>();
    List<Target> targets = new ArrayList<>();
    for (int n = 0; n < feed.size(); n++) {
      if (!(feed.get(n) instanceof Event e)) {
        continue;
      }
      HistoryFiles.Interaction i = e.source();
      UserWalk w = users.computeIfAbsent(i.userId(), u -> new UserWalk());
      if (i.timeMs() != w.instantMs) {
        w.lastBefore = w.lastAtInstant;
        w.instantMs = i.timeMs();
        w.target = null;
      }
      w.lastAtInstant = n;
      if (i.type() != InteractionType.LIKE) {
        continue;
      }
      likes++;
      if (w.lastBefore < 0) {
        firstMoment++;
      } else if (i.timeMs() < warmUpEnd) {
        inWarmUp++;
      } else {
        if (w.target == null) {
          w.target = new Target(-1, i.userId(), i.timeMs(), new ArrayList<>(), w.lastBefore);
          targets.add(w.target);
        }
        w.target.likes().add(i);
      }
    }
    // Targets were created in feed order, i.e. by time; number them in that order.
    List<Target> numbered = new ArrayList<>(targets.size());
    for (Target t : targets) {
      numbered.add(new Target(numbered.size(), t.userId(), t.timeMs(), List.copyOf(t.likes()), t.lastOwnBefore()));
    }
    return new Timeline(List.copyOf(feed), List.copyOf(numbered), start, likes, firstMoment, inWarmUp, unknown,
        beforePublication);
  }

  private static final class UserWalk {
    long instantMs = Long.MIN_VALUE;
    int lastBefore = -1;
    int lastAtInstant = -1;
    Target target;
  }

  public List<Entry> feed() {
    return feed;
  }

  /** The targets, by time (then by the feed position of their first like). */
  public List<Target> targets() {
    return targets;
  }

  /** Time of the history's first interaction. */
  public long startMs() {
    return startMs;
  }

  public long likes() {
    return likes;
  }

  public long evaluatedLikes() {
    return targets.stream().mapToLong(t -> t.likes().size()).sum();
  }

  /** Likes at a user's first moment in the history: nothing to go on, not evaluated. */
  public long likesAtFirstMoment() {
    return likesAtFirstMoment;
  }

  public long likesInWarmUp() {
    return likesInWarmUp;
  }

  /** Interactions naming an item items.csv does not have: fed, but such items are never in the catalog. */
  public long interactionsOnUnknownItems() {
    return interactionsOnUnknownItems;
  }

  /** Interactions before their item's published time: fed, the item is not in the catalog yet. */
  public long interactionsBeforePublication() {
    return interactionsBeforePublication;
  }
}
