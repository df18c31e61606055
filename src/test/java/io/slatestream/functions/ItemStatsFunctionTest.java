package io.slatestream.functions;

import static org.assertj.core.api.Assertions.assertThat;

import io.slatestream.avro.Interaction;
import io.slatestream.avro.InteractionType;
import io.slatestream.avro.state.ItemStats;
import io.slatestream.config.JobConfig;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.formats.avro.typeutils.AvroTypeInfo;
import org.apache.flink.runtime.state.KeyedStateBackend;
import org.apache.flink.runtime.state.TestableKeyedStateBackend;
import org.apache.flink.runtime.state.VoidNamespace;
import org.apache.flink.runtime.state.VoidNamespaceSerializer;
import org.apache.flink.state.rocksdb.EmbeddedRocksDBStateBackend;
import org.apache.flink.streaming.api.operators.KeyedProcessOperator;
import org.apache.flink.streaming.util.KeyedOneInputStreamOperatorTestHarness;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Item statistics on the real RocksDB backend, driven by event time. */
class ItemStatsFunctionTest {

  private static final long T0 = 1_700_000_000_000L;
  private static final long SECOND = 1_000L;
  private static final long HOUR = 3_600_000L;

  private final List<KeyedOneInputStreamOperatorTestHarness<String, Interaction, ItemStats>> open = new ArrayList<>();

  @AfterEach
  void closeHarnesses() throws Exception {
    for (var h : open) {
      h.close();
    }
  }

  private KeyedOneInputStreamOperatorTestHarness<String, Interaction, ItemStats> harness(Map<String, String> settings)
      throws Exception {
    Map<String, String> m = new HashMap<>(Map.of("items.half-life", "1 h", "items.stats-interval", "10 s"));
    m.putAll(settings);
    var h = new KeyedOneInputStreamOperatorTestHarness<>(
        new KeyedProcessOperator<>(new ItemStatsFunction(JobConfig.of(m))), Interaction::getItemId, Types.STRING, 128, 1, 0);
    h.setStateBackend(new EmbeddedRocksDBStateBackend());
    h.open();
    open.add(h);
    return h;
  }

  private static Interaction event(String itemId, InteractionType type, long watchMs, long timeMs) {
    return Interaction.newBuilder()
        .setEventId(itemId + "@" + timeMs + "/" + type + watchMs)
        .setUserId("u-" + (timeMs % 7))
        .setItemId(itemId)
        .setType(type)
        .setWatchTimeMs(watchMs)
        .setEventTimeMs(timeMs)
        .build();
  }

  private static void process(KeyedOneInputStreamOperatorTestHarness<String, Interaction, ItemStats> h, Interaction e)
      throws Exception {
    h.processElement(e, e.getEventTimeMs());
  }

  /** The item's statistics as held in keyed state. */
  private static ItemStats state(KeyedOneInputStreamOperatorTestHarness<String, Interaction, ItemStats> h, String itemId)
      throws Exception {
    KeyedStateBackend<String> backend = h.getOperator().getKeyedStateBackend();
    backend.setCurrentKey(itemId);
    ValueState<ItemStats> s = backend.getPartitionedState(VoidNamespace.INSTANCE, VoidNamespaceSerializer.INSTANCE,
        new ValueStateDescriptor<>("item-stats", new AvroTypeInfo<>(ItemStats.class)));
    return s.value();
  }

  private static long keysOf(KeyedOneInputStreamOperatorTestHarness<String, Interaction, ItemStats> h, String state) {
    try (var keys = h.getOperator().getKeyedStateBackend().getKeys(state, VoidNamespace.INSTANCE)) {
      return keys.count();
    }
  }

  private static int allEntries(KeyedOneInputStreamOperatorTestHarness<String, Interaction, ItemStats> h) {
    return ((TestableKeyedStateBackend<?>) h.getOperator().getKeyedStateBackend()).numKeyValueStateEntries();
  }

  private static double decay(long tRef, long t, long halfLife) {
    return Math.pow(2.0, -((double) (tRef - t)) / halfLife);
  }

  private static void assertSameStats(ItemStats actual, ItemStats expected) {
    assertThat(actual.getItemId()).isEqualTo(expected.getItemId());
    assertThat(actual.getAnchorMs()).isEqualTo(expected.getAnchorMs());
    assertClose(actual.getImpressions(), expected.getImpressions());
    assertClose(actual.getLikes(), expected.getLikes());
    assertClose(actual.getSkips(), expected.getSkips());
    assertClose(actual.getQuickSkips(), expected.getQuickSkips());
  }

  private static void assertClose(double actual, double expected) {
    assertThat(Math.abs(actual - expected)).as("actual %s expected %s", actual, expected)
        .isLessThanOrEqualTo(1e-9 * Math.max(Math.abs(expected), 1e-12));
  }

  @Test
  void decayedCountsMatchTheClosedForm() throws Exception {
    var h = harness(Map.of());
    process(h, event("a", InteractionType.LIKE, 30_000, T0));
    process(h, event("a", InteractionType.SKIP, 5_000, T0 + HOUR / 2));
    process(h, event("a", InteractionType.SKIP, 1_999, T0 + HOUR)); // quick
    process(h, event("a", InteractionType.SKIP, 2_000, T0 + HOUR)); // not quick
    h.processWatermark(T0 + HOUR + 10 * SECOND);

    List<ItemStats> out = h.extractOutputValues();
    assertThat(out).hasSize(1);
    ItemStats s = out.get(0);
    long tRef = T0 + HOUR;
    assertThat(s.getItemId()).isEqualTo("a");
    assertThat(s.getAnchorMs()).isEqualTo(tRef);
    assertClose(s.getImpressions(), decay(tRef, T0, HOUR) + decay(tRef, T0 + HOUR / 2, HOUR) + 2);
    assertClose(s.getLikes(), 0.5);
    assertClose(s.getSkips(), Math.pow(2, -0.5) + 2);
    assertClose(s.getQuickSkips(), 1.0);
    assertSameStats(state(h, "a"), s);
  }

  @Test
  void outOfOrderEventsGiveTheSameStatsAsInOrder() throws Exception {
    Random r = new Random(7);
    List<Interaction> events = new ArrayList<>();
    for (int i = 0; i < 50; i++) {
      long t = T0 + (long) (r.nextDouble() * 6 * HOUR);
      InteractionType type = r.nextBoolean() ? InteractionType.LIKE : InteractionType.SKIP;
      events.add(event(i % 3 == 0 ? "a" : "b", type, r.nextInt(4_000), t));
    }
    List<Interaction> inOrder = new ArrayList<>(events);
    inOrder.sort((x, y) -> Long.compare(x.getEventTimeMs(), y.getEventTimeMs()));
    List<Interaction> shuffled = new ArrayList<>(events);
    Collections.shuffle(shuffled, new Random(8));
    List<Interaction> reversed = new ArrayList<>(inOrder);
    Collections.reverse(reversed);

    List<List<ItemStats>> outputs = new ArrayList<>();
    for (List<Interaction> order : List.of(inOrder, shuffled, reversed)) {
      var h = harness(Map.of());
      for (Interaction e : order) {
        process(h, e);
      }
      h.processWatermark(T0 + 7 * HOUR);
      List<ItemStats> out = new ArrayList<>(h.extractOutputValues());
      out.sort((x, y) -> x.getItemId().compareTo(y.getItemId()));
      assertThat(out).extracting(ItemStats::getItemId).containsExactly("a", "b");
      assertSameStats(state(h, "a"), out.get(0));
      assertSameStats(state(h, "b"), out.get(1));
      outputs.add(out);
    }
    for (List<ItemStats> out : outputs.subList(1, outputs.size())) {
      assertSameStats(out.get(0), outputs.get(0).get(0));
      assertSameStats(out.get(1), outputs.get(0).get(1));
    }
    // And they equal the closed form, computed here.
    long tRef = events.stream().filter(e -> e.getItemId().equals("b")).mapToLong(Interaction::getEventTimeMs).max().orElseThrow();
    double likes = events.stream().filter(e -> e.getItemId().equals("b") && e.getType() == InteractionType.LIKE)
        .mapToDouble(e -> decay(tRef, e.getEventTimeMs(), HOUR)).sum();
    assertClose(outputs.get(0).get(1).getLikes(), likes);
  }

  @Test
  void oneEmissionPerItemPerIntervalNoMatterHowManyInteractions() throws Exception {
    var h = harness(Map.of());
    for (int i = 0; i < 100; i++) {
      process(h, event("a", InteractionType.LIKE, 10_000, T0 + i * 90)); // 100 events within 9 s
    }
    process(h, event("b", InteractionType.SKIP, 10_000, T0 + 3 * SECOND));
    assertThat(h.numEventTimeTimers()).as("one pending timer per item").isEqualTo(2);
    assertThat(h.extractOutputValues()).isEmpty();

    // a's timer is at T0 + 10 s (its first event + the interval), b's at T0 + 13 s.
    h.processWatermark(T0 + 10 * SECOND - 1);
    assertThat(h.extractOutputValues()).isEmpty();
    h.processWatermark(T0 + 10 * SECOND);
    assertThat(h.extractOutputValues()).extracting(ItemStats::getItemId).containsExactly("a");
    assertThat(h.numEventTimeTimers()).isEqualTo(1);
    assertThat(h.extractOutputValues().get(0).getImpressions()).isGreaterThan(99.0).isLessThanOrEqualTo(100.0);
    h.processWatermark(T0 + 13 * SECOND);
    assertThat(h.extractOutputValues()).extracting(ItemStats::getItemId).containsExactly("a", "b");
    assertThat(h.numEventTimeTimers()).isZero();

    // Much later nothing more is emitted without new interactions.
    h.processWatermark(T0 + HOUR);
    assertThat(h.extractOutputValues()).hasSize(2);

    // A late interaction (behind the watermark) arms its timer one interval after the watermark.
    process(h, event("a", InteractionType.SKIP, 100, T0 + 20 * SECOND));
    process(h, event("a", InteractionType.SKIP, 100, T0 + 30 * SECOND));
    assertThat(h.numEventTimeTimers()).isEqualTo(1);
    h.processWatermark(T0 + HOUR + 10 * SECOND - 1);
    assertThat(h.extractOutputValues()).hasSize(2);
    h.processWatermark(T0 + HOUR + 10 * SECOND);
    List<ItemStats> out = h.extractOutputValues();
    assertThat(out).hasSize(3);
    assertThat(out.get(2).getItemId()).isEqualTo("a");
    assertThat(out.get(2).getQuickSkips()).isGreaterThan(0.0);
    assertSameStats(state(h, "a"), out.get(2));
  }

  @Test
  void emittedStatsAreTheStateAsItIsWhenTheTimerFires() throws Exception {
    var h = harness(Map.of());
    process(h, event("a", InteractionType.LIKE, 10_000, T0));
    ItemStats afterFirst = ItemStats.newBuilder(state(h, "a")).build();
    process(h, event("a", InteractionType.LIKE, 10_000, T0 + 5 * SECOND));
    h.processWatermark(T0 + 10 * SECOND);
    ItemStats emitted = h.extractOutputValues().get(0);
    assertSameStats(emitted, state(h, "a"));
    assertThat(emitted.getLikes()).isGreaterThan(afterFirst.getLikes());
    // A copy: a later update of the state does not change what was already sent.
    process(h, event("a", InteractionType.SKIP, 10_000, T0 + 11 * SECOND));
    assertThat(emitted.getSkips()).isZero();
    assertThat(state(h, "a").getSkips()).isEqualTo(1.0);
  }

  @Test
  void statePerItemIsOneStatsEntryPlusAPendingEmissionUntilItFires() throws Exception {
    var h = harness(Map.of());
    assertThat(allEntries(h)).isZero();
    for (String item : List.of("a", "b", "c")) {
      for (int i = 0; i < 5; i++) {
        process(h, event(item, InteractionType.LIKE, 10_000, T0 + i * SECOND));
      }
    }
    assertThat(keysOf(h, "item-stats")).isEqualTo(3);
    assertThat(keysOf(h, "pending-emit")).isEqualTo(3);
    assertThat(h.numEventTimeTimers()).isEqualTo(3);
    int pending = allEntries(h);

    h.processWatermark(T0 + HOUR);
    assertThat(h.extractOutputValues()).hasSize(3);
    assertThat(keysOf(h, "item-stats")).as("statistics stay").isEqualTo(3);
    assertThat(keysOf(h, "pending-emit")).as("pending emissions are cleared").isZero();
    assertThat(h.numEventTimeTimers()).isZero();
    // Each item dropped its pending-emit entry and its timer (RocksDB keeps timers in state too).
    assertThat(allEntries(h)).isEqualTo(3).isLessThan(pending);
  }
}
