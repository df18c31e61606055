package io.slatestream.replay;

import static org.assertj.core.api.Assertions.assertThat;

import io.slatestream.avro.InteractionType;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class TimelineTest {
  private static HistoryFiles.Interaction i(long line, String user, String item, InteractionType type, long t) {
    return new HistoryFiles.Interaction(line, user, item, type, 5_000, t);
  }

  private static final InteractionType LIKE = InteractionType.LIKE;
  private static final InteractionType SKIP = InteractionType.SKIP;

  private static Timeline timeline(List<HistoryFiles.Interaction> interactions, Duration warmUp,
      HistoryFiles.Item... items) {
    Map<String, HistoryFiles.Item> catalog = new LinkedHashMap<>();
    for (HistoryFiles.Item item : items) {
      catalog.put(item.itemId(), item);
    }
    return Timeline.of(new HistoryFiles.History(interactions, catalog, List.of()), warmUp);
  }

  @Test
  void feedsByTimeCatalogFirstAtEqualTimesThenByLine() {
    Timeline t = timeline(List.of(
            i(4, "u", "b", LIKE, 2_000),
            i(2, "u", "a", SKIP, 1_000),
            i(3, "v", "a", LIKE, 2_000)),
        Duration.ZERO,
        new HistoryFiles.Item(2, "a", "music", "ann", 500L, 0),
        new HistoryFiles.Item(3, "b", "music", null, null, 7)); // published at its first interaction
    assertThat(t.feed()).extracting(e -> e instanceof Timeline.CatalogRecord c ? "item " + c.item().getItemId()
            : "line " + ((Timeline.Event) e).source().line())
        .containsExactly("item a", "line 2", "item b", "line 3", "line 4");
    Timeline.CatalogRecord b = (Timeline.CatalogRecord) t.feed().get(2);
    assertThat(b.timeMs()).isEqualTo(2_000);
    assertThat(b.item().getPublishedTimeMs()).isEqualTo(2_000);
    assertThat(b.item().getCreatorId()).as("its own creator").isEqualTo("b");
    assertThat(b.item().getDurationMs()).isEqualTo(7);
    Timeline.Event e = (Timeline.Event) t.feed().get(1);
    assertThat(e.interaction().getEventId()).isEqualTo("line-2");
    assertThat(e.interaction().getSlateId()).isNull();
  }

  @Test
  void evaluatesLikesAfterTheUsersFirstMomentGroupedByInstant() {
    Timeline t = timeline(List.of(
            i(2, "u", "a", LIKE, 1_000),  // first moment: not evaluated
            i(3, "u", "b", LIKE, 1_000),  // same instant: still the first moment
            i(4, "v", "a", SKIP, 1_500),
            i(5, "u", "c", LIKE, 3_000),  // target (u, 3000)
            i(6, "u", "d", LIKE, 3_000),  // same target
            i(7, "u", "e", SKIP, 3_000),
            i(8, "v", "c", LIKE, 4_000),  // target (v, 4000)
            i(9, "w", "x", LIKE, 4_000)), // unknown item, w's first moment
        Duration.ZERO, new HistoryFiles.Item(2, "a", "m", null, 1L, 0));
    assertThat(t.likes()).isEqualTo(6);
    assertThat(t.likesAtFirstMoment()).isEqualTo(3);
    assertThat(t.evaluatedLikes()).isEqualTo(3);
    assertThat(t.targets()).hasSize(2);
    Timeline.Target u = t.targets().get(0);
    assertThat(u.userId()).isEqualTo("u");
    assertThat(u.timeMs()).isEqualTo(3_000);
    assertThat(u.likes()).extracting(HistoryFiles.Interaction::itemId).containsExactly("c", "d");
    assertThat(((Timeline.Event) t.feed().get(u.lastOwnBefore())).source().line()).as("u's last before 3000")
        .isEqualTo(3);
    Timeline.Target v = t.targets().get(1);
    assertThat(v.index()).isEqualTo(1);
    assertThat(((Timeline.Event) t.feed().get(v.lastOwnBefore())).source().line()).isEqualTo(4);
    assertThat(t.interactionsOnUnknownItems()).as("b, c, d, e, x are not in items.csv").isEqualTo(6);
  }

  @Test
  void warmUpFeedsButDoesNotEvaluate() {
    Timeline t = timeline(List.of(
            i(2, "u", "a", SKIP, 10_000),
            i(3, "u", "b", LIKE, 15_000),
            i(4, "u", "c", LIKE, 20_000)),
        Duration.ofSeconds(10));
    assertThat(t.likesInWarmUp()).isEqualTo(1);
    assertThat(t.targets()).extracting(Timeline.Target::timeMs).containsExactly(20_000L);
    assertThat(t.feed()).hasSize(3);
  }

  @Test
  void anInteractionBeforeItsItemsPublicationIsCounted() {
    Timeline t = timeline(List.of(i(2, "u", "a", LIKE, 1_000)), Duration.ZERO,
        new HistoryFiles.Item(2, "a", "m", null, 2_000L, 0));
    assertThat(t.interactionsBeforePublication()).isEqualTo(1);
    assertThat(t.feed().get(0)).isInstanceOf(Timeline.Event.class);
  }
}
