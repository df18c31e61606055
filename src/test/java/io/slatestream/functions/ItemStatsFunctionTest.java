package io.slatestream.functions;

import static org.assertj.core.api.Assertions.assertThat;

import io.slatestream.avro.Interaction;
import io.slatestream.avro.InteractionType;
import io.slatestream.avro.state.ItemStats;
import io.slatestream.avro.state.ServedItem;
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
import org.apache.flink.streaming.api.operators.co.KeyedCoProcessOperator;
import org.apache.flink.streaming.api.watermark.Watermark;
import org.apache.flink.streaming.util.KeyedTwoInputStreamOperatorTestHarness;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * Item statistics on the real RocksDB backend, driven by event time: likes and skips from the
 * interactions (first input), impressions from the items of served slates (second input).
 */
class ItemStatsFunctionTest {

  /** The operator as the job runs it: interactions and served items, both keyed by item. */
  static final class Harness extends KeyedTwoInputStreamOperatorTestHarness<String, Interaction, ServedItem, ItemStats> {
    Harness(JobConfig config) throws Exception {
      super(new KeyedCoProcessOperator<>(new ItemStatsFunction(config)), Interaction::getItemId,
          ServedItem::getItemId, Types.STRING, 128, 1, 0);
    }

    void processWatermark(long watermark) throws Exception {
      processBothWatermarks(new Watermark(watermark));
    }
  }

  private static final long T0 = 1_700_000_000_000L;
  private static final long SECOND = 1_000L;
  private static final long HOUR = 3_600_000L;

  private final List<Harness> open = new ArrayList<>();

  @AfterEach
  void closeHarnesses() throws Exception {
    for (var h : open) {
      h.close();
    }
  }

  private Harness harness(Map<String, String> settings)
      throws Exception {
    Map<String, String> m = new HashMap<>(Map.of("items.half-life", "1 h", "items.stats-interval", "10 s"));
    m.putAll(settings);
    var h = new Harness(JobConfig.of(m));
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

  private static void process(Harness h, Interaction e)
      throws Exception {
    h.processElement1(e, e.getEventTimeMs());
  }

  private static ServedItem served(String itemId, long timeMs) {
    return new ServedItem(itemId, "slate@" + timeMs, timeMs);
  }

  private static void process(Harness h, ServedItem s) throws Exception {
    h.processElement2(s, s.getServedTimeMs());
  }

  /** The item's statistics as held in keyed state. */
  private static ItemStats state(Harness h, String itemId)
      throws Exception {
    KeyedStateBackend<String> backend = h.getOperator().getKeyedStateBackend();
    backend.setCurrentKey(itemId);
    ValueState<ItemStats> s = backend.getPartitionedState(VoidNamespace.INSTANCE, VoidNamespaceSerializer.INSTANCE,
        new ValueStateDescriptor<>("item-stats", new AvroTypeInfo<>(ItemStats.class)));
    return s.value();
  }

  private static long keysOf(Harness h, String state) {
    try (var keys = h.getOperator().getKeyedStateBackend().getKeys(state, VoidNamespace.INSTANCE)) {
      return keys.count();
    }
  }

  private static int allEntries(Harness h) {
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
    process(h, served("a", T0));
    process(h, served("a", T0));
    process(h, event("a", InteractionType.LIKE, 30_000, T0));
    process(h, served("a", T0 + HOUR / 2));
    process(h, event("a", InteractionType.SKIP, 5_000, T0 + HOUR / 2));
    process(h, served("a", T0 + HOUR));
    process(h, event("a", InteractionType.SKIP, 1_999, T0 + HOUR)); // quick
    process(h, event("a", InteractionType.SKIP, 2_000, T0 + HOUR)); // not quick
    h.processWatermark(T0 + HOUR + 10 * SECOND);

    List<ItemStats> out = h.extractOutputValues();
    assertThat(out).hasSize(1);
    ItemStats s = out.get(0);
    long tRef = T0 + HOUR;
    assertThat(s.getItemId()).isEqualTo("a");
    assertThat(s.getAnchorMs()).isEqualTo(tRef);
    assertClose(s.getImpressions(), 2 * decay(tRef, T0, HOUR) + decay(tRef, T0 + HOUR / 2, HOUR) + 1);
    assertClose(s.getLikes(), 0.5);
    assertClose(s.getSkips(), Math.pow(2, -0.5) + 2);
    assertClose(s.getQuickSkips(), 1.0);
    assertSameStats(state(h, "a"), s);
  }

  @Test
  void impressionsAreTheServedItemsAndInteractionsAreNotImpressions() throws Exception {
    var h = harness(Map.of());
    // "a" was served five times and liked once: one like per five impressions.
    for (int i = 0; i < 5; i++) {
      process(h, served("a", T0));
    }
    process(h, event("a", InteractionType.LIKE, 30_000, T0));
    // "b" was answered twice but never served by the job (the user found it elsewhere).
    process(h, event("b", InteractionType.LIKE, 30_000, T0));
    process(h, event("b", InteractionType.SKIP, 100, T0));
    // "c" was served and never answered: it is still an impression, and it is still broadcast.
    process(h, served("c", T0 + SECOND));
    assertThat(h.numEventTimeTimers()).as("an impression alone arms the emission too").isEqualTo(3);
    h.processWatermark(T0 + HOUR);

    Map<String, ItemStats> out = new HashMap<>();
    h.extractOutputValues().forEach(s -> out.put(s.getItemId(), s));
    assertThat(out).containsOnlyKeys("a", "b", "c");
    assertClose(out.get("a").getImpressions(), 5.0);
    assertClose(out.get("a").getLikes(), 1.0);
    assertThat(out.get("a").getLikes() / out.get("a").getImpressions()).isEqualTo(0.2);
    assertThat(out.get("b").getImpressions()).isZero();
    assertClose(out.get("b").getLikes(), 1.0);
    assertClose(out.get("b").getQuickSkips(), 1.0);
    assertClose(out.get("c").getImpressions(), 1.0);
    assertThat(out.get("c").getLikes() + out.get("c").getSkips()).isZero();
    for (String item : List.of("a", "b", "c")) {
      assertSameStats(state(h, item), out.get(item));
    }
  }

  @Test
  void outOfOrderEventsGiveTheSameStatsAsInOrder() throws Exception {
    Random r = new Random(7);
    // Interactions and impressions interleaved: impressions come one trip through Kafka later,
    // so in the job they are routinely behind the interactions they caused.
    List<Object> events = new ArrayList<>();
    for (int i = 0; i < 80; i++) {
      long t = T0 + (long) (r.nextDouble() * 6 * HOUR);
      String item = i % 3 == 0 ? "a" : "b";
      if (r.nextInt(3) == 0) {
        events.add(served(item, t));
      } else {
        InteractionType type = r.nextBoolean() ? InteractionType.LIKE : InteractionType.SKIP;
        events.add(event(item, type, r.nextInt(4_000), t));
      }
    }
    List<Object> inOrder = new ArrayList<>(events);
    inOrder.sort((x, y) -> Long.compare(timeOf(x), timeOf(y)));
    List<Object> shuffled = new ArrayList<>(events);
    Collections.shuffle(shuffled, new Random(8));
    List<Object> reversed = new ArrayList<>(inOrder);
    Collections.reverse(reversed);

    List<List<ItemStats>> outputs = new ArrayList<>();
    for (List<Object> order : List.of(inOrder, shuffled, reversed)) {
      var h = harness(Map.of());
      for (Object e : order) {
        if (e instanceof Interaction i) {
          process(h, i);
        } else {
          process(h, (ServedItem) e);
        }
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
    long tRef = events.stream().filter(e -> itemOf(e).equals("b")).mapToLong(ItemStatsFunctionTest::timeOf).max().orElseThrow();
    double likes = events.stream().filter(e -> e instanceof Interaction i && i.getItemId().equals("b")
            && i.getType() == InteractionType.LIKE)
        .mapToDouble(e -> decay(tRef, timeOf(e), HOUR)).sum();
    double impressions = events.stream().filter(e -> e instanceof ServedItem s && s.getItemId().equals("b"))
        .mapToDouble(e -> decay(tRef, timeOf(e), HOUR)).sum();
    assertThat(impressions).isPositive();
    assertClose(outputs.get(0).get(1).getLikes(), likes);
    assertClose(outputs.get(0).get(1).getImpressions(), impressions);
  }

  private static long timeOf(Object e) {
    return e instanceof Interaction i ? i.getEventTimeMs() : ((ServedItem) e).getServedTimeMs();
  }

  private static String itemOf(Object e) {
    return e instanceof Interaction i ? i.getItemId() : ((ServedItem) e).getItemId();
  }

  @Test
  void oneEmissionPerItemPerIntervalNoMatterHowManyInteractionsAndImpressions() throws Exception {
    var h = harness(Map.of());
    for (int i = 0; i < 100; i++) {
      process(h, event("a", InteractionType.LIKE, 10_000, T0 + i * 90)); // 200 events within 9 s
      process(h, served("a", T0 + i * 90));
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
        process(h, served(item, T0 + i * SECOND));
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
