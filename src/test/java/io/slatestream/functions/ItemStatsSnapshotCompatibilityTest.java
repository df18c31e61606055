package io.slatestream.functions;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import io.slatestream.avro.Interaction;
import io.slatestream.avro.InteractionType;
import io.slatestream.avro.state.ItemStats;
import io.slatestream.avro.state.ServedItem;
import io.slatestream.config.JobConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.state.rocksdb.EmbeddedRocksDBStateBackend;
import org.apache.flink.streaming.util.OperatorSnapshotUtil;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * State is forever: the item-statistics state as written by each release is committed under
 * src/test/resources/snapshots and must restore into today's operator and behave exactly as the
 * same history run live. v1 was written when interactions were the operator's only input and
 * each counted as an impression; today's operator has the served items as a second input, under
 * the same uid and state names, and its restored v1 impressions carry on decaying like any other. When a release ships, generate its snapshot with
 * {@code mvn test -Dtest=ItemStatsSnapshotCompatibilityTest -Dslatestream.write-snapshot=v2} and
 * commit it; never replace an old one.
 */
class ItemStatsSnapshotCompatibilityTest {
  private static final long T0 = 1_700_000_000_000L;
  private static final Path DIR = Path.of("src", "test", "resources", "snapshots");
  private static final JobConfig CONFIG = JobConfig.of(Map.of("items.half-life", "1 h", "items.stats-interval", "10 s"));

  static Stream<Path> snapshots() throws Exception {
    try (Stream<Path> s = Files.list(DIR)) {
      return s.filter(p -> p.getFileName().toString().startsWith("item-stats-")).sorted().toList().stream();
    }
  }

  private static ItemStatsFunctionTest.Harness harness(OperatorSubtaskState restore) throws Exception {
    var h = new ItemStatsFunctionTest.Harness(CONFIG);
    h.setStateBackend(new EmbeddedRocksDBStateBackend());
    if (restore != null) {
      h.initializeState(restore);
    }
    h.open();
    return h;
  }

  /**
   * The history every snapshot holds: a and b emitted once, then b and c updated again with their
   * emissions pending (state and timers).
   */
  private static void history(ItemStatsFunctionTest.Harness h) throws Exception {
    interaction(h, "a", InteractionType.LIKE, 30_000, T0);
    interaction(h, "a", InteractionType.SKIP, 500, T0 + 1_000);
    interaction(h, "b", InteractionType.SKIP, 5_000, T0 + 2_000);
    h.processWatermark(T0 + 20_000);
    interaction(h, "b", InteractionType.LIKE, 40_000, T0 + 30_000);
    interaction(h, "c", InteractionType.LIKE, 40_000, T0 + 31_000);
  }

  private static void interaction(ItemStatsFunctionTest.Harness h, String item, InteractionType type, long watch, long t)
      throws Exception {
    h.processElement1(Interaction.newBuilder().setEventId("e-" + item + t).setUserId("u").setItemId(item)
        .setType(type).setWatchTimeMs(watch).setEventTimeMs(t).build(), t);
  }

  /**
   * After the snapshot point: the pending emissions fire, then impressions and interactions of old
   * and new items, then everything is emitted.
   */
  private static List<ItemStats> continuation(ItemStatsFunctionTest.Harness h) throws Exception {
    h.getOutput().clear();
    h.processWatermark(T0 + 45_000);
    for (String item : List.of("a", "c", "d")) {
      h.processElement2(new ServedItem(item, "s1", T0 + 50_000), T0 + 50_000);
    }
    interaction(h, "a", InteractionType.LIKE, 30_000, T0 + 51_000);
    interaction(h, "d", InteractionType.SKIP, 100, T0 + 52_000);
    h.processWatermark(Long.MAX_VALUE);
    return new ArrayList<>(h.extractOutputValues());
  }

  /**
   * Impressions the snapshot's release counted during {@link #history}, per item and event time:
   * v1 counted every interaction as one; later releases count served items only (none in it).
   */
  private static Map<String, List<Long>> impressionsCountedBy(Path snapshot) {
    if (!snapshot.getFileName().toString().equals("item-stats-v1.snapshot")) {
      return Map.of();
    }
    return Map.of("a", List.of(T0, T0 + 1_000), "b", List.of(T0 + 2_000, T0 + 30_000), "c", List.of(T0 + 31_000));
  }

  @ParameterizedTest
  @MethodSource("snapshots")
  void aSnapshotOfAnEarlierReleaseRestoresAndBehavesAsTheSameHistoryLive(Path snapshot) throws Exception {
    List<ItemStats> live;
    try (var h = harness(null)) {
      history(h);
      live = continuation(h);
    }
    // b and c pending at the snapshot, then a, c and d updated after it.
    assertThat(live).as("the continuation emits the pending and the new updates").hasSize(5);

    try (var restored = harness(OperatorSnapshotUtil.readStateHandle(snapshot.toString()))) {
      assertThat(restored.numEventTimeTimers()).as("the pending emissions of b and c").isEqualTo(2);
      List<ItemStats> after = continuation(restored);
      assertThat(after).as("restored from %s", snapshot).hasSameSizeAs(live);
      Map<String, List<Long>> counted = impressionsCountedBy(snapshot);
      for (int i = 0; i < live.size(); i++) {
        ItemStats l = live.get(i);
        ItemStats r = after.get(i);
        String what = r + " vs live " + l;
        assertThat(r.getItemId()).as(what).isEqualTo(l.getItemId());
        assertThat(r.getAnchorMs()).as(what).isEqualTo(l.getAnchorMs());
        assertThat(r.getLikes()).as(what).isCloseTo(l.getLikes(), within(1e-12));
        assertThat(r.getSkips()).as(what).isCloseTo(l.getSkips(), within(1e-12));
        assertThat(r.getQuickSkips()).as(what).isCloseTo(l.getQuickSkips(), within(1e-12));
        double restoredExtra = counted.getOrDefault(r.getItemId(), List.of()).stream()
            .mapToDouble(t -> Math.pow(2.0, -(double) (r.getAnchorMs() - t) / 3_600_000L)).sum();
        assertThat(r.getImpressions()).as(what).isCloseTo(l.getImpressions() + restoredExtra, within(1e-12));
      }
    }
  }

  @Test
  void thereIsASnapshotOfTheFirstRelease() throws Exception {
    assertThat(snapshots()).extracting(p -> p.getFileName().toString()).contains("item-stats-v1.snapshot");
  }

  @Test
  @EnabledIfSystemProperty(named = "slatestream.write-snapshot", matches = "v\\d+")
  void writeTheSnapshotOfThisRelease() throws Exception {
    try (var h = harness(null)) {
      history(h);
      OperatorSnapshotUtil.writeStateHandle(h.snapshot(1L, 1L),
          DIR.resolve("item-stats-" + System.getProperty("slatestream.write-snapshot") + ".snapshot").toString());
    }
  }
}
