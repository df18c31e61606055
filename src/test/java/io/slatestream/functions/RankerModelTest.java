package io.slatestream.functions;

import static org.assertj.core.api.Assertions.assertThat;

import io.slatestream.avro.DeadLetter;
import io.slatestream.avro.Interaction;
import io.slatestream.avro.Item;
import io.slatestream.avro.ModelRelease;
import io.slatestream.avro.Slate;
import io.slatestream.avro.SlateItem;
import io.slatestream.avro.SlateRequest;
import io.slatestream.avro.TrainingExample;
import io.slatestream.avro.state.ItemStats;
import io.slatestream.avro.state.RankerBroadcast;
import io.slatestream.config.JobConfig;
import io.slatestream.features.FeatureVectorBuilder;
import io.slatestream.model.ModelTrainer;
import io.slatestream.model.TrainerConfig;
import io.slatestream.model.TrainingResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import ml.dmlc.xgboost4j.java.DMatrix;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.state.rocksdb.EmbeddedRocksDBStateBackend;
import org.apache.flink.streaming.api.operators.co.CoBroadcastWithKeyedOperator;
import org.apache.flink.streaming.util.KeyedBroadcastOperatorTestHarness;
import org.apache.flink.types.Either;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Scoring inside the ranker with a real XGBoost4J model trained by the project's trainer: releases
 * are loaded, verified and swapped; bad ones are refused while the previous model keeps serving;
 * in-job scores equal XGBoost's own predictions for the same vectors.
 */
class RankerModelTest {
  private static final long T0 = 1_700_000_000_000L;
  private static final KeySelector<Either<Interaction, SlateRequest>, String> BY_USER =
      e -> e.isLeft() ? e.left().getUserId() : e.right().getUserId();
  private static final JobConfig CONFIG = JobConfig.of(Map.of("slate.size", "5",
      "slate.debounce", "0 s", "rerank.max-per-category", "1000", "rerank.max-per-creator", "1000",
      "rerank.exploration-share", "0", "slate.min-request-interval", "0 ms"));
  private static final FeatureVectorBuilder VECTORS = new FeatureVectorBuilder(CONFIG);

  @TempDir static Path dir;
  static TrainingResult trained;
  static String sha256;
  static Path modelFile;

  private final List<KeyedBroadcastOperatorTestHarness<String, Either<Interaction, SlateRequest>, RankerBroadcast, Slate>> open =
      new ArrayList<>();

  /** A small model that learned: liked items (item.like_rate) in liked categories are better. */
  @BeforeAll
  static void train() throws Exception {
    Random r = new Random(11);
    List<String> names = VECTORS.spec().names();
    int likeRate = names.indexOf("item.like_rate");
    int affinity = names.indexOf("user.category_affinity");
    List<ModelTrainer.Example> examples = new ArrayList<>();
    for (int i = 0; i < 3000; i++) {
      float[] v = new float[names.size()];
      for (int f = 0; f < v.length; f++) {
        v[f] = r.nextFloat();
      }
      double logit = 4 * (v[likeRate] - 0.5) + 2 * (v[affinity] - 0.5);
      float label = r.nextDouble() < 1 / (1 + Math.exp(-logit)) ? 1f : 0f;
      examples.add(new ModelTrainer.Example(T0 + i * 1000L, v, label));
    }
    TrainerConfig tc = new TrainerConfig(0.2, 30, 5, 3, 0.3, 1.0, 1.0, 1.0, 7L, 1, false, java.util.Map.of());
    trained = new ModelTrainer(names, VECTORS.spec().id(), tc).train(examples);
    sha256 = trained.writeModel(dir.resolve("m1"), "m1");
    modelFile = dir.resolve("m1").resolve(TrainingResult.MODEL_FILE);
  }

  @AfterAll
  static void close() {
    trained.close();
  }

  @AfterEach
  void closeHarnesses() throws Exception {
    for (var h : open) {
      h.close();
    }
  }

  private KeyedBroadcastOperatorTestHarness<String, Either<Interaction, SlateRequest>, RankerBroadcast, Slate> harness(
      JobConfig config, OperatorSubtaskState restore) throws Exception {
    var op = new CoBroadcastWithKeyedOperator<>(new RankerFunction(config), List.of(RankerFunction.CATALOG, RankerFunction.MODEL));
    var h = new KeyedBroadcastOperatorTestHarness<>(op, BY_USER, Types.STRING, 128, 1, 0);
    h.setStateBackend(new EmbeddedRocksDBStateBackend());
    if (restore != null) {
      h.initializeState(restore);
    }
    h.open();
    open.add(h);
    return h;
  }

  private static final Map<String, Item> ITEMS = new HashMap<>();
  private static final Map<String, ItemStats> STATS = new HashMap<>();

  static {
    Random r = new Random(3);
    for (int i = 0; i < 30; i++) {
      String id = "i" + i;
      ITEMS.put(id, Item.newBuilder().setItemId(id).setCategory("c" + (i % 3)).setCreatorId("k" + (i % 5))
          .setDurationMs(20_000 + i).setPublishedTimeMs(T0 - 3_600_000L * i).build());
      double likes = r.nextInt(20);
      double skips = r.nextInt(20);
      STATS.put(id, new ItemStats(id, T0, likes + skips, likes, skips, (double) r.nextInt((int) skips + 1)));
    }
  }

  private static void loadCatalog(KeyedBroadcastOperatorTestHarness<String, Either<Interaction, SlateRequest>, RankerBroadcast, Slate> h)
      throws Exception {
    for (String id : ITEMS.keySet()) {
      h.processBroadcastElement(new RankerBroadcast(id, ITEMS.get(id)), T0);
      h.processBroadcastElement(new RankerBroadcast(id, STATS.get(id)), T0);
    }
  }

  private static ModelRelease release(String version, String uri, String checksum, String specId) {
    return new ModelRelease(version, uri, checksum, specId, T0);
  }

  private static Slate ask(KeyedBroadcastOperatorTestHarness<String, Either<Interaction, SlateRequest>, RankerBroadcast, Slate> h,
      String requestId) throws Exception {
    h.getOutput().clear();
    h.processElement(Either.Right(SlateRequest.newBuilder().setRequestId(requestId).setUserId("u").setSlateSize(0)
        .setEventTimeMs(T0).build()), T0);
    List<Slate> out = h.extractOutputValues();
    assertThat(out).hasSize(1);
    h.getOutput().clear();
    return out.get(0);
  }

  private static List<DeadLetter> refused(KeyedBroadcastOperatorTestHarness<String, Either<Interaction, SlateRequest>, RankerBroadcast, Slate> h) {
    var q = h.getSideOutput(RankerFunction.DEAD_LETTERS);
    List<DeadLetter> out = q == null ? List.of() : q.stream().map(r -> r.getValue()).toList();
    if (q != null) {
      q.clear();
    }
    return out;
  }

  /** XGBoost's own prediction for an item's vector as the ranker scores it (cold user, position 0). */
  private static float xgboost(String itemId) throws Exception {
    float[] row = VECTORS.build(null, Map.of(), ITEMS.get(itemId), STATS.get(itemId), 0, T0);
    DMatrix m = new DMatrix(row, 1, row.length, Float.NaN);
    try {
      return trained.booster().predict(m)[0][0];
    } finally {
      m.dispose();
    }
  }

  @Test
  void aReleaseIsSwappedInAndScoresEqualXgboostsOwnPredictions() throws Exception {
    var h = harness(CONFIG, null);
    loadCatalog(h);
    assertThat(ask(h, "before").getModelVersion()).isEqualTo("heuristic-v1");

    h.processBroadcastElement(new RankerBroadcast("m1", release("m1", modelFile.toUri().toString(), sha256,
        VECTORS.spec().id())), T0);
    assertThat(refused(h)).isEmpty();
    Slate s = ask(h, "after");
    assertThat(s.getModelVersion()).isEqualTo("m1");
    assertThat(s.getItems()).hasSize(5);
    // Bit-identical: the ranker's batched call and XGBoost's one-row call give the same float.
    for (SlateItem item : s.getItems()) {
      assertThat(item.getScore()).as("score of %s", item.getItemId()).isEqualTo((double) xgboost(item.getItemId()));
    }
    // And it is the model's best five of all 30 candidates, not the heuristic's.
    List<String> best = new ArrayList<>(ITEMS.keySet());
    Map<String, Float> all = new HashMap<>();
    for (String id : best) {
      all.put(id, xgboost(id));
    }
    best.sort((a, b) -> all.get(b).equals(all.get(a)) ? a.compareTo(b) : Float.compare(all.get(b), all.get(a)));
    assertThat(s.getItems()).extracting(SlateItem::getItemId).containsExactlyElementsOf(best.subList(0, 5));

    // The training log holds the vector that was scored, with the position it was shown at.
    h.processBroadcastWatermark(Long.MAX_VALUE);
    h.processWatermark(Long.MAX_VALUE);
    var examples = h.getSideOutput(RankerFunction.TRAINING_EXAMPLES).stream().map(r -> r.getValue())
        .filter(e -> e.getSlateId().equals(s.getSlateId())).toList();
    assertThat(examples).hasSize(5);
    int position = VECTORS.spec().names().indexOf(FeatureVectorBuilder.POSITION);
    for (TrainingExample e : examples) {
      float[] scored = VECTORS.build(null, Map.of(), ITEMS.get(e.getItemId()), STATS.get(e.getItemId()), 0, T0);
      scored[position] = e.getPosition();
      List<Float> expected = new ArrayList<>();
      for (float f : scored) {
        expected.add(f);
      }
      assertThat(e.getFeatureValues()).isEqualTo(expected);
      assertThat(e.getModelVersion()).isEqualTo("m1");
    }
  }

  @Test
  void theModelScoresTheHeuristicsBestCandidatesAndEveryOneARequestSupplied() throws Exception {
    var h = harness(CONFIG.with(Map.of("ranking.model-candidates", "8")), null);
    loadCatalog(h);
    // The heuristic's best 8 of the 30 (a cold user: by popularity), and its worst two.
    List<String> heuristicOrder = ask(h, "heuristic", 30, null).getItems().stream().map(SlateItem::getItemId).toList();
    assertThat(heuristicOrder).hasSize(30);
    h.processBroadcastElement(new RankerBroadcast("m1", release("m1", modelFile.toUri().toString(), sha256,
        VECTORS.spec().id())), T0);

    // Asked for all 30, the model ranks only the 8 it scored, by its own scores.
    Slate s = ask(h, "model", 30, null);
    assertThat(s.getModelVersion()).isEqualTo("m1");
    assertThat(s.getItems()).extracting(SlateItem::getItemId)
        .containsExactlyInAnyOrderElementsOf(heuristicOrder.subList(0, 8));
    for (SlateItem item : s.getItems()) {
      assertThat(item.getScore()).as("score of %s", item.getItemId()).isEqualTo((double) xgboost(item.getItemId()));
    }
    assertThat(s.getItems()).extracting(SlateItem::getScore).isSortedAccordingTo(java.util.Comparator.reverseOrder());

    // Candidates a request supplies are scored whatever the heuristic thinks of them.
    List<String> worst = heuristicOrder.subList(28, 30);
    Slate supplied = ask(h, "supplied", 30, worst);
    assertThat(supplied.getItems()).extracting(SlateItem::getItemId).hasSize(10).containsAll(worst)
        .containsAll(heuristicOrder.subList(0, 8));
  }

  private static Slate ask(KeyedBroadcastOperatorTestHarness<String, Either<Interaction, SlateRequest>, RankerBroadcast, Slate> h,
      String requestId, int size, List<String> candidates) throws Exception {
    h.getOutput().clear();
    h.processElement(Either.Right(SlateRequest.newBuilder().setRequestId(requestId).setUserId("u").setSlateSize(size)
        .setCandidateItemIds(candidates).setEventTimeMs(T0).build()), T0);
    List<Slate> out = h.extractOutputValues();
    assertThat(out).hasSize(1);
    h.getOutput().clear();
    return out.get(0);
  }

  @Test
  void usersInTheHoldoutKeepTheHeuristicWhileTheModelServesEveryoneElse() throws Exception {
    JobConfig config = CONFIG.with(Map.of("model.holdout-share", "0.5"));
    var h = harness(config, null);
    loadCatalog(h);
    h.processBroadcastElement(new RankerBroadcast("m1", release("m1", modelFile.toUri().toString(), sha256,
        VECTORS.spec().id())), T0);
    io.slatestream.ranking.ModelHoldout holdout = new io.slatestream.ranking.ModelHoldout(0.5);
    int held = 0;
    for (int i = 0; i < 40; i++) {
      String user = "user-" + i;
      h.processElement(Either.Right(SlateRequest.newBuilder().setRequestId("r" + i).setUserId(user).setSlateSize(0)
          .setEventTimeMs(T0).build()), T0);
      List<Slate> out = h.extractOutputValues();
      h.getOutput().clear();
      assertThat(out).hasSize(1);
      boolean heldOut = holdout.holdsOut(user);
      held += heldOut ? 1 : 0;
      assertThat(out.get(0).getModelVersion()).as(user).isEqualTo(heldOut ? "heuristic-v1" : "m1");
    }
    assertThat(held).as("both groups present").isBetween(5, 35);
  }

  @Test
  void badReleasesAreRefusedWithAReasonAndThePreviousModelKeepsServing() throws Exception {
    var h = harness(CONFIG, null);
    loadCatalog(h);
    String uri = modelFile.toUri().toString();
    String spec = VECTORS.spec().id();

    h.processBroadcastElement(new RankerBroadcast("bad0", release("bad0", uri, "0".repeat(64), spec)), T0);
    assertThat(refused(h)).singleElement().satisfies(d -> {
      assertThat(d.getError()).contains("bad0").contains("checksum").contains("still serving heuristic-v1");
      assertThat(d.getSourceTopic()).isEqualTo(CONFIG.topicModelReleases);
    });
    assertThat(ask(h, "r0").getModelVersion()).isEqualTo("heuristic-v1");

    h.processBroadcastElement(new RankerBroadcast("m1", release("m1", uri, sha256, spec)), T0);
    assertThat(ask(h, "r1").getModelVersion()).isEqualTo("m1");

    Path corrupt = dir.resolve("corrupt.ubj");
    Files.write(corrupt, new byte[] {1, 2, 3, 4, 5});
    String corruptSha = io.slatestream.model.ModelLoader.sha256Hex(Files.readAllBytes(corrupt));
    List<ModelRelease> bad = List.of(
        release("bad1", uri, sha256, "fs1-000000000000"),
        release("bad2", dir.resolve("missing.ubj").toUri().toString(), sha256, spec),
        release("bad3", corrupt.toUri().toString(), corruptSha, spec));
    for (ModelRelease r : bad) {
      h.processBroadcastElement(new RankerBroadcast(r.getVersion(), r), T0);
    }
    List<DeadLetter> reasons = refused(h);
    assertThat(reasons).hasSize(3).allSatisfy(d -> assertThat(d.getError()).contains("still serving m1"));
    assertThat(reasons.get(0).getError()).containsIgnoringCase("feature spec");
    assertThat(ask(h, "r2").getModelVersion()).isEqualTo("m1");
  }

  @Test
  void theServingModelIsReloadedAfterARestoreAndCanComeFromConfiguration() throws Exception {
    var h = harness(CONFIG, null);
    loadCatalog(h);
    h.processBroadcastElement(new RankerBroadcast("m1", release("m1", modelFile.toUri().toString(), sha256,
        VECTORS.spec().id())), T0);
    Slate before = ask(h, "r1");
    OperatorSubtaskState snapshot = h.snapshot(1L, 1L);

    var restored = harness(CONFIG, snapshot);
    Slate after = ask(restored, "r1");
    assertThat(after.getModelVersion()).isEqualTo("m1");
    assertThat(after.getItems()).isEqualTo(before.getItems());

    JobConfig configured = CONFIG.with(Map.of("model.uri", modelFile.toUri().toString(), "model.checksum", sha256,
        "model.version", "m1-initial"));
    var fresh = harness(configured, null);
    loadCatalog(fresh);
    Slate initial = ask(fresh, "r1");
    assertThat(initial.getModelVersion()).isEqualTo("m1-initial");
    assertThat(initial.getItems()).extracting(SlateItem::getItemId)
        .containsExactlyElementsOf(before.getItems().stream().map(SlateItem::getItemId).toList());
  }
}
