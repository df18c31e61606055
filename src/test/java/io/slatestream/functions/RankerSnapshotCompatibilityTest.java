package io.slatestream.functions;

import static org.assertj.core.api.Assertions.assertThat;

import io.slatestream.avro.Interaction;
import io.slatestream.avro.InteractionType;
import io.slatestream.avro.Item;
import io.slatestream.avro.Slate;
import io.slatestream.avro.SlateRequest;
import io.slatestream.avro.TrainingExample;
import io.slatestream.avro.state.ItemStats;
import io.slatestream.avro.state.RankerBroadcast;
import io.slatestream.config.JobConfig;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.state.rocksdb.EmbeddedRocksDBStateBackend;
import org.apache.flink.streaming.api.operators.co.CoBroadcastWithKeyedOperator;
import org.apache.flink.streaming.util.KeyedBroadcastOperatorTestHarness;
import org.apache.flink.streaming.util.OperatorSnapshotUtil;
import org.apache.flink.types.Either;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * State is forever: the ranker's state (profiles, catalog, model release, pending labels) as
 * written by each release is committed under src/test/resources/snapshots and must restore into
 * today's code and behave exactly as the same history run live, with one difference by design: a
 * slate served before the snapshot is labelled with the vector it was served with, so features
 * added since that release ({@link #ADDED_SINCE}) are not in it. When a release ships, generate
 * its snapshot with
 * {@code mvn test -Dtest=RankerSnapshotCompatibilityTest -Dslatestream.write-snapshot=v2} and
 * commit it; never replace an old one.
 */
class RankerSnapshotCompatibilityTest {
  private static final long T0 = 1_700_000_000_000L;
  private static final Path DIR = Path.of("src", "test", "resources", "snapshots");
  private static final KeySelector<Either<Interaction, SlateRequest>, String> BY_USER =
      e -> e.isLeft() ? e.left().getUserId() : e.right().getUserId();
  private static final JobConfig CONFIG = JobConfig.of(Map.of("slate.debounce", "0 s", "slate.size", "3",
      "slate.min-request-interval", "0 ms"));

  /**
   * Per snapshot, the features today's spec has that the release which wrote it did not: the
   * saturation and lower like-rate features came after ranker-v2.
   */
  private static final Map<String, List<String>> ADDED_SINCE = Map.of(
      "ranker-v1.snapshot", List.of("user.category_recent.15min", "item.like_rate_lower"),
      "ranker-v2.snapshot", List.of("user.category_recent.15min", "item.like_rate_lower"));

  static Stream<Path> snapshots() throws Exception {
    try (Stream<Path> s = Files.list(DIR)) {
      return s.filter(p -> p.getFileName().toString().startsWith("ranker-")).sorted().toList().stream();
    }
  }

  private static KeyedBroadcastOperatorTestHarness<String, Either<Interaction, SlateRequest>, RankerBroadcast, Slate>
      harness(OperatorSubtaskState restore) throws Exception {
    var op = new CoBroadcastWithKeyedOperator<>(new RankerFunction(CONFIG),
        List.of(RankerFunction.CATALOG, RankerFunction.MODEL));
    var h = new KeyedBroadcastOperatorTestHarness<>(op, BY_USER, Types.STRING, 128, 1, 0);
    h.setStateBackend(new EmbeddedRocksDBStateBackend());
    if (restore != null) {
      h.initializeState(restore);
    }
    h.open();
    return h;
  }

  /** The history every snapshot holds: a catalog, three interactions and one unanswered slate. */
  private static void history(KeyedBroadcastOperatorTestHarness<String, Either<Interaction, SlateRequest>, RankerBroadcast, Slate> h)
      throws Exception {
    for (int i = 1; i <= 8; i++) {
      String id = "i" + i;
      h.processBroadcastElement(new RankerBroadcast(id, Item.newBuilder().setItemId(id).setCategory("c" + (i % 3))
          .setCreatorId("k" + i).setDurationMs(1000L * i).setPublishedTimeMs(T0 - 3_600_000L * i).build()), T0);
      h.processBroadcastElement(new RankerBroadcast(id, new ItemStats(id, T0, 10.0 * i, 1.0 * i, 9.0 - i, 0.0)), T0);
    }
    h.processElement(interaction("i1", InteractionType.LIKE, 30_000, T0 + 1000), T0 + 1000);
    h.processElement(interaction("i2", InteractionType.SKIP, 500, T0 + 2000), T0 + 2000);
    h.processElement(interaction("i4", InteractionType.LIKE, 30_000, T0 + 3000), T0 + 3000);
    h.processElement(request("before", T0 + 4000), T0 + 4000);
  }

  private static Either<Interaction, SlateRequest> interaction(String item, InteractionType type, long watch, long t) {
    return Either.Left(Interaction.newBuilder().setEventId("e-" + item).setUserId("u").setItemId(item).setType(type)
        .setWatchTimeMs(watch).setEventTimeMs(t).build());
  }

  private static Either<Interaction, SlateRequest> request(String id, long t) {
    return Either.Right(SlateRequest.newBuilder().setRequestId(id).setUserId("u").setSlateSize(0).setEventTimeMs(t)
        .build());
  }

  /** What happens after the snapshot point: one more request, then the label windows close. */
  private static List<Object> continuation(
      KeyedBroadcastOperatorTestHarness<String, Either<Interaction, SlateRequest>, RankerBroadcast, Slate> h) throws Exception {
    h.getOutput().clear();
    h.processElement(request("after", T0 + 5000), T0 + 5000);
    h.processBroadcastWatermark(Long.MAX_VALUE);
    h.processWatermark(Long.MAX_VALUE);
    List<Object> out = new java.util.ArrayList<>();
    for (Slate s : h.extractOutputValues()) {
      out.add(s.getSlateId() + " " + s.getItems().stream().map(i -> i.getItemId() + "@" + i.getScore()).toList());
    }
    var examples = h.getSideOutput(RankerFunction.TRAINING_EXAMPLES);
    for (var r : examples) {
      TrainingExample e = r.getValue();
      out.add(new Example(e.getSlateId(), e.getItemId(), e.getLabel().toString(), e.getFeatureValues()));
    }
    return out;
  }

  /** One training example as compared: its slate, item, label and vector. */
  private record Example(String slateId, String itemId, String label, List<Float> values) {
    /** The same example without the given columns. */
    Example without(List<Integer> columns) {
      List<Float> kept = new java.util.ArrayList<>();
      for (int i = 0; i < values.size(); i++) {
        if (!columns.contains(i)) {
          kept.add(values.get(i));
        }
      }
      return new Example(slateId, itemId, label, kept);
    }
  }

  @ParameterizedTest
  @MethodSource("snapshots")
  void aSnapshotOfAnEarlierReleaseRestoresAndBehavesAsTheSameHistoryLive(Path snapshot) throws Exception {
    List<Object> live;
    List<String> servedBefore;
    try (var h = harness(null)) {
      history(h);
      servedBefore = h.extractOutputValues().stream().map(Slate::getSlateId).toList();
      live = continuation(h);
    }
    assertThat(live).as("the continuation serves a slate and closes labels").hasSizeGreaterThan(3);
    assertThat(servedBefore).as("a slate is pending at the snapshot").isNotEmpty();
    // The slates served before the snapshot keep the vectors of their release's spec.
    List<String> names = new io.slatestream.features.FeatureVectorBuilder(CONFIG).spec().names();
    List<String> added = ADDED_SINCE.getOrDefault(snapshot.getFileName().toString(), List.of());
    List<Object> expected = live.stream().map(o -> o instanceof Example e && servedBefore.contains(e.slateId())
        ? e.without(added.stream().map(names::indexOf).toList()) : o).toList();

    OperatorSubtaskState restoredState = OperatorSnapshotUtil.readStateHandle(snapshot.toString());
    try (var restored = harness(restoredState)) {
      assertThat(continuation(restored)).as("restored from %s", snapshot).isEqualTo(expected);
    }
  }

  @Test
  void thereIsASnapshotOfTheFirstRelease() throws Exception {
    assertThat(snapshots()).extracting(p -> p.getFileName().toString()).contains("ranker-v1.snapshot");
  }

  @Test
  @EnabledIfSystemProperty(named = "slatestream.write-snapshot", matches = "v\\d+")
  void writeTheSnapshotOfThisRelease() throws Exception {
    try (var h = harness(null)) {
      history(h);
      OperatorSnapshotUtil.writeStateHandle(h.snapshot(1L, 1L),
          DIR.resolve("ranker-" + System.getProperty("slatestream.write-snapshot") + ".snapshot").toString());
    }
  }
}
