package io.slatestream.ranking;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.slatestream.avro.state.IgnoredItem;
import io.slatestream.avro.state.IgnoredItems;
import io.slatestream.ranking.IgnoredItemsFilter.Ignored;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/** The ignored-items rule and its bounds, on the state record alone. */
class IgnoredItemsFilterTest {
  private static final long T0 = 1_700_000_000_000L;
  private static final long HOUR = 3_600_000L;

  private final IgnoredItemsFilter filter = new IgnoredItemsFilter(3, 6 * HOUR, 4);

  private static Map<String, List<Long>> times(IgnoredItems s) {
    return s.getItems().stream().collect(Collectors.toMap(IgnoredItem::getItemId, IgnoredItem::getServedTimesMs));
  }

  @Test
  void anItemIsExcludedFromItsThresholdOfIgnoredImpressionsWithinTheWindow() {
    IgnoredItems s = filter.record(null, List.of(new Ignored("a", T0), new Ignored("b", T0)), T0 + 1);
    s = filter.record(s, List.of(new Ignored("a", T0 + HOUR)), T0 + HOUR);
    assertThat(filter.excluded(s, T0 + HOUR)).isEmpty();
    s = filter.record(s, List.of(new Ignored("a", T0 + 2 * HOUR)), T0 + 2 * HOUR);
    assertThat(filter.excluded(s, T0 + 2 * HOUR)).containsExactly("a");
    assertThat(filter.excluded(s, T0 + 6 * HOUR)).as("the window includes its start").containsExactly("a");
    assertThat(filter.excluded(s, T0 + 6 * HOUR + 1)).isEmpty();
    assertThat(filter.excluded(null, T0)).isEmpty();
  }

  @Test
  void onlyTheLatestThresholdTimesAreKeptAndOldOnesArePruned() {
    IgnoredItems s = null;
    for (int k = 0; k < 10; k++) {
      s = filter.record(s, List.of(new Ignored("a", T0 + k * HOUR)), T0 + k * HOUR);
    }
    assertThat(times(s).get("a")).containsExactly(T0 + 7 * HOUR, T0 + 8 * HOUR, T0 + 9 * HOUR);
    s = filter.record(s, List.of(new Ignored("b", T0 + 20 * HOUR)), T0 + 20 * HOUR);
    assertThat(times(s)).as("a's times are all older than the window").containsOnlyKeys("b");
  }

  @Test
  void beyondMaxItemsTheLeastRecentlyIgnoredIsEvictedTiesById() {
    IgnoredItems s = filter.record(null, List.of(new Ignored("d", T0 + 3), new Ignored("c", T0 + 1),
        new Ignored("b", T0 + 1), new Ignored("a", T0 + 2), new Ignored("e", T0 + 4)), T0 + 5);
    assertThat(times(s)).containsOnlyKeys("a", "c", "d", "e"); // b and c tie on the oldest: b goes
    s = filter.record(s, List.of(new Ignored("c", T0 + 10), new Ignored("f", T0 + 10)), T0 + 10);
    assertThat(times(s)).containsOnlyKeys("c", "d", "e", "f");
    assertThat(s.getItems()).extracting(IgnoredItem::getItemId).as("kept in id order: deterministic")
        .containsExactly("c", "d", "e", "f");
  }

  @Test
  void forgettingRemovesOneItemAndReportsWhetherAnythingChanged() {
    IgnoredItems s = filter.record(null, List.of(new Ignored("a", T0), new Ignored("b", T0)), T0);
    assertThat(filter.forget(s, "a")).isTrue();
    assertThat(filter.forget(s, "a")).isFalse();
    assertThat(filter.forget(null, "a")).isFalse();
    assertThat(times(s)).containsOnlyKeys("b");
  }

  @Test
  void zeroDisablesAndBadBoundsAreRefused() {
    IgnoredItemsFilter off = new IgnoredItemsFilter(0, HOUR, 1);
    assertThat(off.enabled()).isFalse();
    assertThat(off.excluded(filter.record(null, List.of(new Ignored("a", T0)), T0), T0)).isEmpty();
    assertThatThrownBy(() -> new IgnoredItemsFilter(3, 0, 1)).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> new IgnoredItemsFilter(3, HOUR, 0)).isInstanceOf(IllegalArgumentException.class);
  }
}
