package io.slatestream.functions;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import io.slatestream.avro.CandidateSource;
import io.slatestream.avro.Interaction;
import io.slatestream.avro.InteractionType;
import io.slatestream.avro.Item;
import io.slatestream.avro.Slate;
import io.slatestream.avro.SlateItem;
import io.slatestream.avro.SlateRequest;
import io.slatestream.avro.SlateTrigger;
import io.slatestream.avro.state.CatalogEntry;
import io.slatestream.avro.state.IgnoredItems;
import io.slatestream.avro.state.ItemStats;
import io.slatestream.avro.state.RankerBroadcast;
import io.slatestream.avro.state.PendingSlate;
import io.slatestream.avro.Label;
import io.slatestream.avro.TrainingExample;
import io.slatestream.features.FeatureVectorBuilder;
import io.slatestream.avro.state.UserProfile;
import org.apache.flink.api.common.state.MapState;
import io.slatestream.config.JobConfig;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.runtime.state.KeyedStateBackend;
import org.apache.flink.runtime.state.TestableKeyedStateBackend;
import org.apache.flink.runtime.state.VoidNamespace;
import org.apache.flink.runtime.state.VoidNamespaceSerializer;
import org.apache.flink.state.rocksdb.EmbeddedRocksDBStateBackend;
import org.apache.flink.streaming.api.operators.co.CoBroadcastWithKeyedOperator;
import org.apache.flink.streaming.util.KeyedBroadcastOperatorTestHarness;
import org.apache.flink.types.Either;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The ranker on the real RocksDB backend: keyed by user, catalog and item statistics on the
 * broadcast side. Expected slates are computed here from the documented heuristic
 * ({@code popularity · (1 + tanh(affinity))}, ties by item id), not copied from a run.
 */
class RankerFunctionTest {

  private static final long T0 = 1_700_000_000_000L;
  private static final long SECOND = 1_000L;
  private static final long HOUR = 3_600_000L;

  private static final KeySelector<Either<Interaction, SlateRequest>, String> BY_USER =
      e -> e.isLeft() ? e.left().getUserId() : e.right().getUserId();

  private final List<KeyedBroadcastOperatorTestHarness<String, Either<Interaction, SlateRequest>, RankerBroadcast, Slate>>
      open = new ArrayList<>();

  @AfterEach
  void closeHarnesses() throws Exception {
    for (var h : open) {
      h.close();
    }
  }

  // ---- fixtures -------------------------------------------------------------------------------

  private static JobConfig config(Map<String, String> settings) {
    // Plain heuristic order: diversity caps and exploration are off here and tested on their own.
    Map<String, String> m = new HashMap<>(Map.of("slate.size", "3", "slate.max-size", "5", "slate.debounce", "5 s",
        "rerank.max-per-category", "1000", "rerank.max-per-creator", "1000", "rerank.exploration-share", "0",
        "slate.min-request-interval", "0 ms"));
    m.putAll(settings);
    return JobConfig.of(m);
  }

  private KeyedBroadcastOperatorTestHarness<String, Either<Interaction, SlateRequest>, RankerBroadcast, Slate> harness(
      JobConfig config, OperatorSubtaskState restoreFrom) throws Exception {
    var op = new CoBroadcastWithKeyedOperator<>(new RankerFunction(config), List.of(RankerFunction.CATALOG, RankerFunction.MODEL));
    var h = new KeyedBroadcastOperatorTestHarness<>(op, BY_USER, Types.STRING, 128, 1, 0);
    h.setStateBackend(new EmbeddedRocksDBStateBackend());
    h.setStateTtlProcessingTime(0);
    if (restoreFrom != null) {
      h.initializeState(restoreFrom);
    }
    h.open();
    open.add(h);
    return h;
  }

  private KeyedBroadcastOperatorTestHarness<String, Either<Interaction, SlateRequest>, RankerBroadcast, Slate> harness(
      Map<String, String> settings) throws Exception {
    return harness(config(settings), null);
  }

  private record Stats(double likes, double skips, double quickSkips) {}

  /** The catalog used by most tests: id → (category, stats). */
  private static final Map<String, String> CATEGORY = new LinkedHashMap<>();
  private static final Map<String, Stats> STATS = new LinkedHashMap<>();

  static {
    put("i1", "music", new Stats(20, 2, 0));
    put("i2", "music", new Stats(10, 1, 0));
    put("i3", "sport", new Stats(10, 1, 0)); // as popular as i2: the id decides
    put("i4", "sport", new Stats(3, 0, 0));
    put("i5", "news", new Stats(1, 3, 2));
    put("i6", "news", null); // no statistics yet
  }

  private static void put(String id, String category, Stats s) {
    CATEGORY.put(id, category);
    STATS.put(id, s);
  }

  private static Item item(String id, String category) {
    return Item.newBuilder().setItemId(id).setCategory(category).setCreatorId("creator-" + id)
        .setDurationMs(30_000).setPublishedTimeMs(T0 - HOUR).build();
  }

  private static ItemStats stats(String id, Stats s) {
    return new ItemStats(id, T0, s.likes() + s.skips(), s.likes(), s.skips(), s.quickSkips());
  }

  private static void loadCatalog(KeyedBroadcastOperatorTestHarness<String, Either<Interaction, SlateRequest>, RankerBroadcast, Slate> h)
      throws Exception {
    for (String id : CATEGORY.keySet()) {
      h.processBroadcastElement(new RankerBroadcast(id, item(id, CATEGORY.get(id))), T0 - HOUR);
      if (STATS.get(id) != null) {
        h.processBroadcastElement(new RankerBroadcast(id, stats(id, STATS.get(id))), T0 - HOUR);
      }
    }
  }

  /** The documented popularity, computed independently of the main code. */
  private static double popularity(Stats s) {
    double l = s == null ? 0 : s.likes();
    double k = s == null ? 0 : s.skips();
    double q = s == null ? 0 : s.quickSkips();
    return Math.log(2 + l) * (l + 1) / (l + k + q + 2);
  }

  private record Expected(String itemId, double score) {}

  /** The slate the heuristic should serve: score by popularity · (1 + tanh(affinity)), ties by id. */
  private static List<Expected> expectedSlate(Set<String> exclude, Map<String, Double> categoryAffinity, int size) {
    List<Expected> all = new ArrayList<>();
    for (String id : CATEGORY.keySet()) {
      if (!exclude.contains(id)) {
        double a = categoryAffinity.getOrDefault(CATEGORY.get(id), 0.0);
        all.add(new Expected(id, popularity(STATS.get(id)) * (1 + Math.tanh(a))));
      }
    }
    all.sort(Comparator.comparingDouble(Expected::score).reversed().thenComparing(Expected::itemId));
    return all.subList(0, Math.min(size, all.size()));
  }

  private static void assertSlateItems(Slate slate, List<Expected> expected) {
    assertThat(slate.getItems()).extracting(SlateItem::getItemId)
        .containsExactlyElementsOf(expected.stream().map(Expected::itemId).toList());
    for (int i = 0; i < expected.size(); i++) {
      SlateItem it = slate.getItems().get(i);
      assertThat(it.getRank()).isEqualTo(i);
      assertThat(it.getScore()).as("score of %s", it.getItemId()).isCloseTo(expected.get(i).score(), within(1e-12));
    }
  }

  private static Either<Interaction, SlateRequest> request(String requestId, String userId, int size, long timeMs) {
    return Either.Right(SlateRequest.newBuilder().setRequestId(requestId).setUserId(userId).setSlateSize(size)
        .setEventTimeMs(timeMs).build());
  }

  private static Either<Interaction, SlateRequest> interaction(String userId, String itemId, InteractionType type,
      long watchMs, long timeMs) {
    return Either.Left(Interaction.newBuilder().setEventId(userId + "/" + itemId + "@" + timeMs).setUserId(userId)
        .setItemId(itemId).setType(type).setWatchTimeMs(watchMs).setEventTimeMs(timeMs).build());
  }

  private static void send(KeyedBroadcastOperatorTestHarness<String, Either<Interaction, SlateRequest>, RankerBroadcast, Slate> h,
      Either<Interaction, SlateRequest> e) throws Exception {
    h.processElement(e, e.isLeft() ? e.left().getEventTimeMs() : e.right().getEventTimeMs());
  }

  /** Sends one request and returns the one slate it must produce. */
  private static Slate ask(KeyedBroadcastOperatorTestHarness<String, Either<Interaction, SlateRequest>, RankerBroadcast, Slate> h,
      String requestId, String userId, int size, long timeMs) throws Exception {
    h.getOutput().clear();
    send(h, request(requestId, userId, size, timeMs));
    List<Slate> out = h.extractOutputValues();
    assertThat(out).as("exactly one slate per request, at once").hasSize(1);
    h.getOutput().clear();
    return out.get(0);
  }

  /**
   * Moves event time on both inputs: the operator's watermark is the minimum of the keyed and the
   * broadcast input, as in the job where the catalog and statistics streams carry watermarks too.
   */
  private static void advance(KeyedBroadcastOperatorTestHarness<String, Either<Interaction, SlateRequest>, RankerBroadcast, Slate> h,
      long watermark) throws Exception {
    h.processBroadcastWatermark(watermark);
    h.processWatermark(watermark);
  }

  private static List<Slate> drain(KeyedBroadcastOperatorTestHarness<String, Either<Interaction, SlateRequest>, RankerBroadcast, Slate> h) {
    List<Slate> out = h.extractOutputValues();
    h.getOutput().clear();
    return out;
  }

  private static UserProfile profile(KeyedBroadcastOperatorTestHarness<String, Either<Interaction, SlateRequest>, RankerBroadcast, Slate> h,
      JobConfig config, String userId) throws Exception {
    KeyedStateBackend<String> backend = h.getOperator().getKeyedStateBackend();
    backend.setCurrentKey(userId);
    ValueState<UserProfile> s = backend.getPartitionedState(VoidNamespace.INSTANCE, VoidNamespaceSerializer.INSTANCE,
        RankerFunction.profileDescriptor(config));
    return s.value();
  }

  private static long profileKeys(KeyedBroadcastOperatorTestHarness<String, Either<Interaction, SlateRequest>, RankerBroadcast, Slate> h) {
    return stateKeys(h, "user-profile");
  }

  private static long stateKeys(KeyedBroadcastOperatorTestHarness<String, Either<Interaction, SlateRequest>, RankerBroadcast, Slate> h,
      String state) {
    try (var keys = h.getOperator().getKeyedStateBackend().getKeys(state, VoidNamespace.INSTANCE)) {
      return keys.count();
    }
  }

  private static IgnoredItems ignoredItems(KeyedBroadcastOperatorTestHarness<String, Either<Interaction, SlateRequest>, RankerBroadcast, Slate> h,
      JobConfig config, String userId) throws Exception {
    KeyedStateBackend<String> backend = h.getOperator().getKeyedStateBackend();
    backend.setCurrentKey(userId);
    return backend.getPartitionedState(VoidNamespace.INSTANCE, VoidNamespaceSerializer.INSTANCE,
        RankerFunction.ignoredDescriptor(config)).value();
  }

  /** Served slates awaiting labels, over all users. */
  private static int pendingSlates(KeyedBroadcastOperatorTestHarness<String, Either<Interaction, SlateRequest>, RankerBroadcast, Slate> h)
      throws Exception {
    KeyedStateBackend<String> backend = h.getOperator().getKeyedStateBackend();
    List<String> users;
    try (var keys = backend.getKeys("pending-slates", VoidNamespace.INSTANCE)) {
      users = keys.toList();
    }
    int n = 0;
    for (String user : users) {
      backend.setCurrentKey(user);
      MapState<String, PendingSlate> m = backend.getPartitionedState(VoidNamespace.INSTANCE,
          VoidNamespaceSerializer.INSTANCE, RankerFunction.PENDING_SLATES);
      for (var ignored : m.keys()) {
        n++;
      }
    }
    return n;
  }

  /** Event-time timers other than label-window timers (one per pending slate in these tests). */
  private static int debounceTimers(KeyedBroadcastOperatorTestHarness<String, Either<Interaction, SlateRequest>, RankerBroadcast, Slate> h)
      throws Exception {
    return h.numEventTimeTimers() - pendingSlates(h);
  }

  private static int allKeyedEntries(KeyedBroadcastOperatorTestHarness<String, Either<Interaction, SlateRequest>, RankerBroadcast, Slate> h) {
    return ((TestableKeyedStateBackend<?>) h.getOperator().getKeyedStateBackend()).numKeyValueStateEntries();
  }

  // ---- requests -------------------------------------------------------------------------------

  @Test
  void aRequestFromAColdUserGetsTheGloballyMostPopularItemsAtOnce() throws Exception {
    var h = harness(Map.of());
    loadCatalog(h);
    long t = T0 + 42;
    Slate s = ask(h, "r1", "cold", 5, t);

    assertThat(s.getTrigger()).isEqualTo(SlateTrigger.REQUEST);
    assertThat(s.getRequestId()).isEqualTo("r1");
    assertThat(s.getUserId()).isEqualTo("cold");
    assertThat(s.getTriggerEventTimeMs()).isEqualTo(t);
    assertThat(s.getModelVersion()).isEqualTo("heuristic-v1");
    assertThat(s.getGeneratedAtMs()).isCloseTo(System.currentTimeMillis(), within(60_000L));
    assertThat(s.getSlateId()).isNotBlank();
    assertSlateItems(s, expectedSlate(Set.of(), Map.of(), 5));
    assertThat(s.getItems()).extracting(SlateItem::getItemId).startsWith("i1", "i2", "i3"); // i2/i3 tie: by id
    assertThat(s.getItems()).extracting(SlateItem::getSource).containsOnly(CandidateSource.TRENDING_GLOBAL);
    assertThat(debounceTimers(h)).isZero();
    assertThat(pendingSlates(h)).as("the served items await their labels").isEqualTo(1);
    assertThat(profileKeys(h)).as("a request does not create a profile").isZero();

    Slate again = ask(h, "r2", "cold", 5, t);
    assertThat(again.getSlateId()).as("every slate has its own id").isNotEqualTo(s.getSlateId());
    assertThat(again.getItems()).isEqualTo(s.getItems());
  }

  @Test
  void aColdUserGetsAFullDiverseSlateOfTrendingItemsWithAFreshOneToExplore() throws Exception {
    // The shipped re-ranking settings (caps 4 per category and 2 per creator, 10 % exploration);
    // retrieval takes the top 20 of a catalog of 33, so the new items are not retrieved as trending.
    JobConfig config = config(Map.of("slate.size", "10", "slate.max-size", "100", "rerank.max-per-category", "4",
        "rerank.max-per-creator", "2", "rerank.exploration-share", "0.1", "ranking.candidates-per-category", "20"));
    var h = harness(config, null);
    // Five categories of six items; c0 holds the six most popular, c1 the next six, and so on.
    // All were published a month ago, except three new items nobody has engaged with yet.
    for (int c = 0; c < 5; c++) {
      for (int k = 0; k < 6; k++) {
        String id = "c" + c + "-" + k;
        Item old = Item.newBuilder(item(id, "c" + c)).setPublishedTimeMs(T0 - 30 * 24 * HOUR).build();
        h.processBroadcastElement(new RankerBroadcast(id, old), T0 - HOUR);
        h.processBroadcastElement(new RankerBroadcast(id, new ItemStats(id, T0, 200.0, 100.0 - 6 * c - k, 5.0, 0.0)),
            T0 - HOUR);
      }
    }
    for (int k = 0; k < 3; k++) {
      h.processBroadcastElement(new RankerBroadcast("new-" + k, item("new-" + k, "c4")), T0 - HOUR);
    }

    Slate s = ask(h, "r1", "cold", 0, T0);
    List<SlateItem> items = s.getItems();
    assertThat(items).hasSize(10).extracting(SlateItem::getRank).containsExactly(0, 1, 2, 3, 4, 5, 6, 7, 8, 9);
    assertThat(items.get(0).getItemId()).as("the most popular item leads").isEqualTo("c0-0");
    Map<String, Long> perCategory = items.stream().collect(java.util.stream.Collectors.groupingBy(
        i -> i.getItemId().startsWith("new-") ? "c4" : i.getItemId().substring(0, 2),
        java.util.stream.Collectors.counting()));
    assertThat(perCategory.values()).as("at most 4 of a category: %s", perCategory).allMatch(n -> n <= 4);
    assertThat(perCategory.keySet()).hasSizeGreaterThanOrEqualTo(3);
    List<SlateItem> fresh = items.stream().filter(i -> i.getSource() == CandidateSource.FRESH).toList();
    assertThat(fresh).as("one exploration slot of ten, never the first").singleElement()
        .satisfies(i -> assertThat(i.getRank()).isPositive())
        .satisfies(i -> assertThat(i.getItemId()).isIn("new-0", "new-1", "new-2"));
    assertThat(items).filteredOn(i -> i.getSource() != CandidateSource.FRESH)
        .extracting(SlateItem::getSource).containsOnly(CandidateSource.TRENDING_GLOBAL);
    // Same state, same trigger: the same slate.
    h.getOutput().clear();
    send(h, request("r1", "cold", 0, T0));
    assertThat(drain(h).get(0).getItems()).isEqualTo(items);

    // Had the three new items been published over a week ago, nothing would be fresh enough to explore.
    var stale = harness(config(Map.of("slate.size", "10", "slate.max-size", "100", "rerank.exploration-share", "0.1",
        "items.fresh-max-age", "1 min", "ranking.candidates-per-category", "1")), null);
    for (int k = 0; k < 3; k++) {
      stale.processBroadcastElement(new RankerBroadcast("new-" + k, item("new-" + k, "c4")), T0 - HOUR);
    }
    stale.processBroadcastElement(new RankerBroadcast("c0-0", item("c0-0", "c0")), T0 - HOUR);
    assertThat(ask(stale, "r1", "cold", 0, T0).getItems()).extracting(SlateItem::getSource)
        .doesNotContain(CandidateSource.FRESH);
  }

  @Test
  void theRequestedSizeIsClampedToTheMaximumAndZeroMeansTheDefault() throws Exception {
    var h = harness(Map.of()); // slate.size 3, slate.max-size 5, 6 items in the catalog
    loadCatalog(h);
    assertThat(ask(h, "r0", "u", 0, T0).getItems()).hasSize(3);
    assertThat(ask(h, "r1", "u", 1, T0).getItems()).hasSize(1);
    assertThat(ask(h, "r4", "u", 4, T0).getItems()).hasSize(4);
    assertThat(ask(h, "r5", "u", 5, T0).getItems()).hasSize(5);
    assertThat(ask(h, "r50", "u", 50, T0).getItems()).hasSize(5);
    assertSlateItems(ask(h, "r51", "u", Integer.MAX_VALUE, T0), expectedSlate(Set.of(), Map.of(), 5));

    // With more room than items, the slate holds every item once.
    var wide = harness(Map.of("slate.max-size", "100"));
    loadCatalog(wide);
    assertSlateItems(ask(wide, "r", "u", 100, T0), expectedSlate(Set.of(), Map.of(), 100));
    assertThat(ask(wide, "r", "u", 100, T0).getItems()).hasSize(CATEGORY.size());
  }

  @Test
  void itemsTheUserInteractedWithNeverAppear() throws Exception {
    var h = harness(Map.of("slate.max-size", "100"));
    loadCatalog(h);
    send(h, interaction("u", "i1", InteractionType.LIKE, 30_000, T0));
    send(h, interaction("u", "i3", InteractionType.SKIP, 500, T0 + SECOND));
    advance(h, T0 + HOUR); // let the debounced interaction slate go out too
    List<Slate> interactionSlates = drain(h);
    assertThat(interactionSlates).hasSize(2);
    for (Slate s : interactionSlates) {
      assertThat(s.getTrigger()).isEqualTo(SlateTrigger.INTERACTION);
      assertThat(s.getItems()).extracting(SlateItem::getItemId).doesNotContain("i1");
    }
    assertThat(interactionSlates.get(1).getItems()).extracting(SlateItem::getItemId).doesNotContain("i1", "i3");

    Slate s = ask(h, "r", "u", 100, T0 + SECOND);
    assertThat(s.getItems()).extracting(SlateItem::getItemId).doesNotContain("i1", "i3").hasSize(CATEGORY.size() - 2);
    // music was liked (+1), sport quick-skipped (−1), both at the anchor the request reads at.
    assertSlateItems(s, expectedSlate(Set.of("i1", "i3"), Map.of("music", decayed(1.0, SECOND), "sport", -1.0), 100));
  }

  /** A value stored one step earlier, decayed over {@code ms} with the default 3-day affinity half-life. */
  private static double decayed(double v, long ms) {
    return v * Math.pow(2.0, -((double) ms) / (3 * 24 * HOUR));
  }

  @Test
  void deletedItemsNeverAppear() throws Exception {
    var h = harness(Map.of("slate.max-size", "100"));
    loadCatalog(h);
    Item deleted = Item.newBuilder(item("i1", "music")).setDeleted(true).build();
    h.processBroadcastElement(new RankerBroadcast("i1", deleted), T0);
    h.processBroadcastElement(new RankerBroadcast("i2", null), T0); // a catalog tombstone
    assertThat(h.getBroadcastState(RankerFunction.CATALOG).contains("i1")).as("deleted from the catalog state").isFalse();
    assertThat(h.getBroadcastState(RankerFunction.CATALOG).contains("i2")).isFalse();
    // Statistics that arrive after a deletion do not bring the item back.
    h.processBroadcastElement(new RankerBroadcast("i1", stats("i1", new Stats(100, 0, 0))), T0);

    Slate s = ask(h, "r", "u", 100, T0);
    assertSlateItems(s, expectedSlate(Set.of("i1", "i2"), Map.of(), 100));

    // Re-publishing an item brings it back, with the statistics that arrived meanwhile.
    h.processBroadcastElement(new RankerBroadcast("i1", item("i1", "music")), T0);
    Slate back = ask(h, "r2", "u", 1, T0);
    assertThat(back.getItems()).extracting(SlateItem::getItemId).containsExactly("i1");
    assertThat(back.getItems().get(0).getScore()).isCloseTo(popularity(new Stats(100, 0, 0)), within(1e-12));
  }

  @Test
  void categoryAffinityPutsTheLikedCategoryAheadOfAnEquallyPopularOne() throws Exception {
    var h = harness(Map.of("slate.max-size", "100"));
    Stats same = new Stats(5, 1, 0);
    // Ids chosen so that the id tie-break alone would put beta first.
    for (String[] it : new String[][] {{"b1", "beta"}, {"b2", "beta"}, {"za1", "alpha"}, {"za2", "alpha"}, {"za0", "alpha"}}) {
      h.processBroadcastElement(new RankerBroadcast(it[0], item(it[0], it[1])), T0);
      h.processBroadcastElement(new RankerBroadcast(it[0], stats(it[0], same)), T0);
    }
    double pop = popularity(same);

    Slate cold = ask(h, "r0", "cold", 4, T0);
    assertThat(cold.getItems()).extracting(SlateItem::getItemId).containsExactly("b1", "b2", "za0", "za1");
    assertThat(cold.getItems()).extracting(SlateItem::getScore).containsOnly(pop);

    send(h, interaction("fan", "za0", InteractionType.LIKE, 30_000, T0));
    drain(h);
    Slate fan = ask(h, "r1", "fan", 4, T0);
    assertThat(fan.getItems()).extracting(SlateItem::getItemId).containsExactly("za1", "za2", "b1", "b2");
    double boosted = pop * (1 + Math.tanh(1.0));
    assertThat(fan.getItems()).extracting(SlateItem::getScore).containsExactly(boosted, boosted, pop, pop);
    assertThat(fan.getItems().get(0).getSource()).isEqualTo(CandidateSource.USER_CATEGORY);

    // A skip of beta pushes beta below an unknown category's weight of 1.
    send(h, interaction("critic", "b1", InteractionType.SKIP, 10_000, T0));
    drain(h);
    Slate critic = ask(h, "r2", "critic", 4, T0);
    assertThat(critic.getItems()).extracting(SlateItem::getItemId).containsExactly("za0", "za1", "za2", "b2");
    assertThat(critic.getItems().get(3).getScore()).isCloseTo(pop * (1 + Math.tanh(-0.5)), within(1e-12));
  }

  // ---- interactions and debounce --------------------------------------------------------------

  @Test
  void interactionSlatesAreDebouncedToOnePerQuietPeriod() throws Exception {
    var h = harness(Map.of("slate.max-size", "100"));
    loadCatalog(h);

    send(h, interaction("u", "i5", InteractionType.SKIP, 100, T0));
    List<Slate> first = drain(h);
    assertThat(first).as("the first interaction gets a slate at once").hasSize(1);
    assertThat(first.get(0).getTrigger()).isEqualTo(SlateTrigger.INTERACTION);
    assertThat(first.get(0).getRequestId()).isNull();
    assertThat(first.get(0).getTriggerEventTimeMs()).isEqualTo(T0);
    assertThat(first.get(0).getItems()).hasSize(3).extracting(SlateItem::getItemId).doesNotContain("i5");
    assertThat(debounceTimers(h)).isZero();

    send(h, interaction("u", "i4", InteractionType.LIKE, 30_000, T0 + SECOND));
    send(h, interaction("u", "i6", InteractionType.SKIP, 5_000, T0 + 2 * SECOND));
    send(h, interaction("u", "i2", InteractionType.LIKE, 30_000, T0 + 3 * SECOND));
    assertThat(drain(h)).as("nothing while the user keeps interacting").isEmpty();
    assertThat(debounceTimers(h)).as("exactly one pending slate").isEqualTo(1);

    advance(h, T0 + 5 * SECOND - 1);
    assertThat(drain(h)).isEmpty();
    advance(h, T0 + 5 * SECOND);
    List<Slate> second = drain(h);
    assertThat(second).hasSize(1);
    assertThat(second.get(0).getTrigger()).isEqualTo(SlateTrigger.INTERACTION);
    assertThat(second.get(0).getTriggerEventTimeMs()).as("the last interaction it covers").isEqualTo(T0 + 3 * SECOND);
    assertThat(second.get(0).getItems()).extracting(SlateItem::getItemId).containsExactlyInAnyOrder("i1", "i3");
    assertThat(second.get(0).getSlateId()).isNotEqualTo(first.get(0).getSlateId());
    assertThat(debounceTimers(h)).isZero();

    // Within 5 s of that slate: again held back to one more, when the watermark gets there.
    send(h, interaction("u", "i3", InteractionType.LIKE, 30_000, T0 + 6 * SECOND));
    assertThat(drain(h)).isEmpty();
    assertThat(debounceTimers(h)).isEqualTo(1);
    advance(h, T0 + 10 * SECOND);
    assertThat(drain(h)).hasSize(1);
    advance(h, T0 + HOUR);
    assertThat(drain(h)).isEmpty();
    assertThat(debounceTimers(h)).isZero();
  }

  @Test
  void anInteractionAfterTheQuietPeriodCancelsThePendingSlate() throws Exception {
    var h = harness(Map.of());
    loadCatalog(h);
    send(h, interaction("u", "i5", InteractionType.SKIP, 100, T0));
    assertThat(drain(h)).hasSize(1);
    send(h, interaction("u", "i6", InteractionType.SKIP, 100, T0 + SECOND));
    assertThat(drain(h)).isEmpty();
    assertThat(debounceTimers(h)).isEqualTo(1);

    // The watermark lags; this interaction is past the quiet period and gets its slate at once.
    send(h, interaction("u", "i4", InteractionType.SKIP, 100, T0 + 6 * SECOND));
    List<Slate> now = drain(h);
    assertThat(now).hasSize(1);
    assertThat(now.get(0).getTriggerEventTimeMs()).isEqualTo(T0 + 6 * SECOND);
    assertThat(debounceTimers(h)).as("the pending slate is cancelled").isZero();

    advance(h, T0 + HOUR);
    assertThat(drain(h)).as("no second slate for the same interactions").isEmpty();
  }

  @Test
  void debounceZeroDisablesInteractionSlates() throws Exception {
    var h = harness(Map.of("slate.debounce", "0 s"));
    loadCatalog(h);
    for (int i = 0; i < 5; i++) {
      send(h, interaction("u", "i" + (i + 1), InteractionType.LIKE, 30_000, T0 + i * SECOND));
    }
    advance(h, T0 + HOUR);
    assertThat(drain(h)).isEmpty();
    assertThat(h.numEventTimeTimers()).isZero();
    assertThat(ask(h, "r", "u", 3, T0 + HOUR).getItems()).extracting(SlateItem::getItemId).containsExactly("i6");
  }

  @Test
  void outOfOrderInteractionsGiveTheSameFeaturesAsInOrder() throws Exception {
    // Which interaction slates are served depends on arrival order (debouncing), and so what the
    // user left unanswered: the ignored-items filter is off, this is about features.
    JobConfig config = config(Map.of("slate.max-size", "100", "filters.ignored-impressions", "0"));
    Random r = new Random(3);
    List<Either<Interaction, SlateRequest>> events = new ArrayList<>();
    List<String> ids = new ArrayList<>(CATEGORY.keySet());
    for (int i = 0; i < 12; i++) {
      String id = ids.get(r.nextInt(ids.size()));
      InteractionType type = r.nextBoolean() ? InteractionType.LIKE : InteractionType.SKIP;
      events.add(interaction("u", id, type, r.nextInt(4_000), T0 + (long) (r.nextDouble() * 2 * HOUR)));
    }
    List<Either<Interaction, SlateRequest>> inOrder = new ArrayList<>(events);
    inOrder.sort(Comparator.comparingLong(e -> e.left().getEventTimeMs()));
    List<Either<Interaction, SlateRequest>> shuffled = new ArrayList<>(events);
    Collections.shuffle(shuffled, new Random(4));

    List<UserProfile> profiles = new ArrayList<>();
    List<Slate> slates = new ArrayList<>();
    for (var order : List.of(inOrder, shuffled)) {
      var h = harness(config, null);
      loadCatalog(h);
      for (var e : order) {
        send(h, e);
      }
      advance(h, T0 + 3 * HOUR);
      profiles.add(profile(h, config, "u"));
      slates.add(ask(h, "r", "u", 100, T0 + 3 * HOUR));
    }
    UserProfile a = profiles.get(0);
    UserProfile b = profiles.get(1);
    assertThat(b.getAnchorMs()).isEqualTo(a.getAnchorMs());
    assertThat(b.getTotalEvents()).isEqualTo(12);
    assertThat(b.getRecent()).isEqualTo(a.getRecent());
    for (int i = 0; i < a.getCounters().size(); i++) {
      assertThat(b.getCounters().get(i).getLikes()).isCloseTo(a.getCounters().get(i).getLikes(), within(1e-9));
      assertThat(b.getCounters().get(i).getSkips()).isCloseTo(a.getCounters().get(i).getSkips(), within(1e-9));
      assertThat(b.getCounters().get(i).getQuickSkips()).isCloseTo(a.getCounters().get(i).getQuickSkips(), within(1e-9));
    }
    assertThat(b.getCategoryAffinity().keySet()).isEqualTo(a.getCategoryAffinity().keySet());
    a.getCategoryAffinity().forEach((k, v) -> assertThat(b.getCategoryAffinity().get(k)).isCloseTo(v, within(1e-9)));
    assertThat(slates.get(1).getItems()).extracting(SlateItem::getItemId)
        .containsExactlyElementsOf(slates.get(0).getItems().stream().map(SlateItem::getItemId).toList());
    for (int i = 0; i < slates.get(0).getItems().size(); i++) {
      assertThat(slates.get(1).getItems().get(i).getScore()).isCloseTo(slates.get(0).getItems().get(i).getScore(), within(1e-9));
    }
  }

  // ---- state ----------------------------------------------------------------------------------

  @Test
  void keyedStateGrowsByOneEntryPerUserAndNotForRequests() throws Exception {
    var h = harness(Map.of());
    loadCatalog(h);
    assertThat(allKeyedEntries(h)).isZero();
    for (int u = 1; u <= 4; u++) {
      send(h, interaction("user-" + u, "i1", InteractionType.LIKE, 30_000, T0));
      send(h, interaction("user-" + u, "i2", InteractionType.LIKE, 30_000, T0 + 10 * SECOND)); // after the quiet period
      assertThat(profileKeys(h)).isEqualTo(u);
      assertThat(pendingSlates(h)).as("two served slates per user await labels").isEqualTo(2 * u);
      assertThat(debounceTimers(h)).as("no pending debounce").isZero();
      assertThat(stateKeys(h, "pending-slate-index")).as("an index of pending slates per served user").isEqualTo(u);
      assertThat(allKeyedEntries(h)).as("a profile and a pending-slate index per user, one entry per pending slate; nothing else")
          .isEqualTo(2 * u + pendingSlates(h));
    }
    ask(h, "r", "someone-new", 3, T0);
    assertThat(profileKeys(h)).as("a request writes no profile").isEqualTo(4);
    assertThat(pendingSlates(h)).as("only the impressions it served").isEqualTo(9);
    advance(h, T0 + HOUR);
    assertThat(pendingSlates(h)).as("label windows closed").isZero();
    assertThat(stateKeys(h, "ignored-items")).as("every user served a slate nobody answered").isEqualTo(5);
    assertThat(stateKeys(h, "pending-slate-index")).as("every served user, the index empty until it expires with the user")
        .isEqualTo(5);
    assertThat(allKeyedEntries(h)).as("one profile per user; one ignored-items record and one index per served user remain")
        .isEqualTo(4 + 5 + 5);
  }

  @Test
  void anExpiredUserIsServedColdAgain() throws Exception {
    JobConfig config = config(Map.of("state.user-ttl", "1 h", "slate.max-size", "100"));
    var h = harness(config, null);
    loadCatalog(h);
    List<Expected> coldSlate = expectedSlate(Set.of(), Map.of(), 100);

    h.setStateTtlProcessingTime(0);
    send(h, interaction("u", "i1", InteractionType.LIKE, 30_000, T0));
    drain(h);
    assertThat(profile(h, config, "u")).isNotNull();

    // A request just before expiry still sees the profile, and does not keep it alive.
    h.setStateTtlProcessingTime(HOUR - 1);
    Slate warm = ask(h, "r1", "u", 100, T0);
    assertThat(warm.getItems()).extracting(SlateItem::getItemId).doesNotContain("i1");

    h.setStateTtlProcessingTime(HOUR + 1);
    assertThat(profile(h, config, "u")).as("expired").isNull();
    Slate cold = ask(h, "r2", "u", 100, T0);
    assertSlateItems(cold, coldSlate);
    assertThat(cold.getItems()).extracting(SlateItem::getItemId).contains("i1");

    // The next interaction starts a fresh profile: only the new event counts.
    send(h, interaction("u", "i2", InteractionType.LIKE, 30_000, T0 + HOUR));
    UserProfile fresh = profile(h, config, "u");
    assertThat(fresh.getTotalEvents()).isEqualTo(1);
    assertThat(fresh.getRecent()).hasSize(1);
    assertThat(drain(h)).as("a fresh profile has no debounce history: a slate at once").hasSize(1);
  }

  @Test
  void aRestoredInstanceKeepsProfilesAndTheCatalog() throws Exception {
    JobConfig config = config(Map.of("slate.max-size", "100"));
    var h = harness(config, null);
    loadCatalog(h);
    h.processBroadcastElement(new RankerBroadcast("i4", (Object) null), T0); // deleted before the snapshot
    send(h, interaction("u", "i1", InteractionType.LIKE, 30_000, T0));
    send(h, interaction("u", "i3", InteractionType.SKIP, 100, T0));
    advance(h, T0 + HOUR);
    drain(h);
    OperatorSubtaskState snapshot = h.snapshot(1, 1);
    Slate before = ask(h, "r", "u", 100, T0 + HOUR);
    Slate coldBefore = ask(h, "r", "cold", 100, T0 + HOUR);

    var restored = harness(config, snapshot);
    Map<String, CatalogEntry> catalog = new HashMap<>();
    for (var en : restored.getBroadcastState(RankerFunction.CATALOG).immutableEntries()) {
      catalog.put(en.getKey(), en.getValue());
    }
    assertThat(catalog.keySet()).containsExactlyInAnyOrder("i1", "i2", "i3", "i5", "i6");
    assertThat(catalog.get("i1").getStats().getLikes()).isEqualTo(20.0);
    assertThat(profile(restored, config, "u").getTotalEvents()).isEqualTo(2);

    Slate after = ask(restored, "r", "u", 100, T0 + HOUR);
    assertThat(after.getItems()).isEqualTo(before.getItems());
    assertThat(after.getSlateId()).as("same state, same trigger: same slate").isEqualTo(before.getSlateId());
    assertThat(after.getItems()).extracting(SlateItem::getItemId).doesNotContain("i1", "i3", "i4");
    assertThat(ask(restored, "r", "cold", 100, T0 + HOUR).getItems()).isEqualTo(coldBefore.getItems());
  }

  // ---- training examples ----------------------------------------------------------------------

  private static List<TrainingExample> examples(
      KeyedBroadcastOperatorTestHarness<String, Either<Interaction, SlateRequest>, RankerBroadcast, Slate> h) {
    var q = h.getSideOutput(RankerFunction.TRAINING_EXAMPLES);
    List<TrainingExample> out = q == null ? List.of() : q.stream().map(r -> r.getValue()).toList();
    if (q != null) {
      q.clear();
    }
    return out;
  }

  private static Either<Interaction, SlateRequest> answer(Slate s, int position, InteractionType type, long watchMs, long t) {
    Interaction e = interaction(s.getUserId(), s.getItems().get(position).getItemId(), type, watchMs, t).left();
    return Either.Left(Interaction.newBuilder(e).setSlateId(s.getSlateId()).setPosition(position).build());
  }

  private static List<Float> servedVector(JobConfig config, String itemId, int position, long servedMs) {
    float[] v = new FeatureVectorBuilder(config).build(null, Map.of(), item(itemId, CATEGORY.get(itemId)),
        STATS.get(itemId) == null ? null : stats(itemId, STATS.get(itemId)), position, servedMs);
    List<Float> out = new ArrayList<>();
    for (float f : v) {
      out.add(f);
    }
    return out;
  }

  @Test
  void answersAreJoinedWithTheExactServedVectorAndSilenceClosesAsNoAction() throws Exception {
    JobConfig config = config(Map.of("slate.debounce", "0 s", "training.label-window", "10 min"));
    var h = harness(config, null);
    loadCatalog(h);
    Slate s = ask(h, "r1", "u", 3, T0);
    assertThat(examples(h)).isEmpty();

    send(h, answer(s, 1, InteractionType.LIKE, 30_000, T0 + SECOND));
    send(h, answer(s, 0, InteractionType.SKIP, 100, T0 + 2 * SECOND));
    List<TrainingExample> answered = examples(h);
    assertThat(answered).extracting(TrainingExample::getLabel).containsExactly(Label.LIKE, Label.QUICK_SKIP);
    TrainingExample like = answered.get(0);
    assertThat(like.getSlateId()).isEqualTo(s.getSlateId());
    assertThat(like.getUserId()).isEqualTo("u");
    assertThat(like.getItemId()).isEqualTo(s.getItems().get(1).getItemId());
    assertThat(like.getPosition()).isEqualTo(1);
    assertThat(like.getServedScore()).isEqualTo(s.getItems().get(1).getScore());
    assertThat(like.getModelVersion()).isEqualTo("heuristic-v1");
    assertThat(like.getFeatureSpecId()).isEqualTo(new FeatureVectorBuilder(config).spec().id());
    assertThat(like.getServedTimeMs()).isEqualTo(T0);
    assertThat(like.getLabelledTimeMs()).isEqualTo(T0 + SECOND);
    // The vector served, computed from the state at serving time: the answers that followed
    // changed the user's profile, but not what the model will learn from.
    assertThat(like.getFeatureValues()).isEqualTo(servedVector(config, like.getItemId(), 1, T0));
    assertThat(answered.get(1).getFeatureValues()).isEqualTo(servedVector(config, answered.get(1).getItemId(), 0, T0));

    send(h, answer(s, 1, InteractionType.LIKE, 30_000, T0 + 3 * SECOND));
    assertThat(examples(h)).as("an impression is labelled once").isEmpty();

    advance(h, T0 + 10 * 60 * SECOND - 1);
    assertThat(examples(h)).isEmpty();
    advance(h, T0 + 10 * 60 * SECOND);
    List<TrainingExample> silent = examples(h);
    assertThat(silent).hasSize(1);
    assertThat(silent.get(0).getLabel()).isEqualTo(Label.NO_ACTION);
    assertThat(silent.get(0).getPosition()).isEqualTo(2);
    assertThat(silent.get(0).getLabelledTimeMs()).isEqualTo(T0 + 10 * 60 * SECOND);
    assertThat(silent.get(0).getFeatureValues()).isEqualTo(servedVector(config, silent.get(0).getItemId(), 2, T0));
    assertThat(pendingSlates(h)).isZero();
    assertThat(h.numEventTimeTimers()).isZero();
  }

  @Test
  void anAnswerAfterTheWindowIsNotALabelAndASlowSkipIsASkip() throws Exception {
    JobConfig config = config(Map.of("slate.debounce", "0 s", "training.label-window", "1 min"));
    var h = harness(config, null);
    loadCatalog(h);
    Slate s = ask(h, "r1", "u", 2, T0);
    send(h, answer(s, 0, InteractionType.SKIP, 5_000, T0 + SECOND));
    send(h, answer(s, 1, InteractionType.LIKE, 30_000, T0 + 61 * SECOND)); // the watermark lags, the window has closed
    assertThat(examples(h)).extracting(TrainingExample::getLabel).containsExactly(Label.SKIP);
    advance(h, T0 + HOUR);
    assertThat(examples(h)).extracting(TrainingExample::getLabel, TrainingExample::getPosition)
        .containsExactly(org.assertj.core.groups.Tuple.tuple(Label.NO_ACTION, 1));
  }

  @Test
  void slatesPendingWithoutAnIndexAreLabelledDroppedAndClosedAsWithOne() throws Exception {
    // Releases 1 and 2 kept no pending-slate index: a restored user has slates in the map only.
    JobConfig config = config(Map.of("slate.debounce", "0 s", "training.max-pending-slates", "2",
        "training.label-window", "10 min"));
    List<List<String>> runs = new ArrayList<>();
    for (boolean dropIndex : new boolean[] {false, true}) {
      var h = harness(config, null);
      loadCatalog(h);
      Slate first = ask(h, "r1", "u", 3, T0);
      Slate second = ask(h, "r2", "u", 3, T0 + SECOND);
      send(h, answer(first, 0, InteractionType.LIKE, 30_000, T0 + 2 * SECOND));
      if (dropIndex) {
        KeyedStateBackend<String> backend = h.getOperator().getKeyedStateBackend();
        backend.setCurrentKey("u");
        backend.getPartitionedState(VoidNamespace.INSTANCE, VoidNamespaceSerializer.INSTANCE,
            RankerFunction.pendingIndexDescriptor(config)).clear();
        assertThat(stateKeys(h, "pending-slate-index")).isZero();
      }
      send(h, answer(second, 2, InteractionType.SKIP, 100, T0 + 3 * SECOND));
      ask(h, "r3", "u", 3, T0 + 4 * SECOND); // the bound: the first slate goes
      send(h, answer(first, 1, InteractionType.LIKE, 30_000, T0 + 5 * SECOND)); // no longer pending
      assertThat(pendingSlates(h)).isEqualTo(2);
      advance(h, T0 + HOUR);
      assertThat(pendingSlates(h)).isZero();
      assertThat(h.numEventTimeTimers()).isZero();
      List<String> log = new ArrayList<>();
      for (TrainingExample e : examples(h)) {
        log.add(e.getSlateId() + " " + e.getItemId() + " " + e.getLabel() + " " + e.getLabelledTimeMs());
      }
      runs.add(log);
    }
    assertThat(runs.get(0)).as("LIKE, QUICK_SKIP, then NO_ACTION for the second and third slates' rest")
        .hasSize(2 + 2 + 3);
    assertThat(runs.get(1)).containsExactlyElementsOf(runs.get(0));
  }

  @Test
  void pendingImpressionsAreBoundedPerUser() throws Exception {
    JobConfig config = config(Map.of("slate.debounce", "0 s", "training.max-pending-slates", "2"));
    var h = harness(config, null);
    loadCatalog(h);
    Slate first = ask(h, "r1", "u", 3, T0);
    Slate second = ask(h, "r2", "u", 3, T0 + SECOND);
    Slate third = ask(h, "r3", "u", 3, T0 + 2 * SECOND);
    assertThat(pendingSlates(h)).isEqualTo(2);
    advance(h, T0 + HOUR);
    List<TrainingExample> closed = examples(h);
    assertThat(closed).hasSize(6).extracting(TrainingExample::getSlateId)
        .containsOnly(second.getSlateId(), third.getSlateId()).doesNotContain(first.getSlateId());
    assertThat(pendingSlates(h)).isZero();
  }

  @Test
  void pendingImpressionsSurviveARestore() throws Exception {
    JobConfig config = config(Map.of("slate.debounce", "0 s"));
    var h = harness(config, null);
    loadCatalog(h);
    Slate s = ask(h, "r1", "u", 3, T0);
    OperatorSubtaskState snapshot = h.snapshot(1L, 1L);

    var restored = harness(config, snapshot);
    send(restored, answer(s, 2, InteractionType.LIKE, 30_000, T0 + SECOND));
    advance(restored, T0 + HOUR);
    List<TrainingExample> out = examples(restored);
    assertThat(out).extracting(TrainingExample::getLabel)
        .containsExactlyInAnyOrder(Label.LIKE, Label.NO_ACTION, Label.NO_ACTION);
    for (TrainingExample e : out) {
      assertThat(e.getFeatureValues()).isEqualTo(servedVector(config, e.getItemId(), e.getPosition(), T0));
    }
  }

  // ---- re-ranking -----------------------------------------------------------------------------

  @Test
  void aCategoryCapMakesRoomForTheNextCategory() throws Exception {
    // i1 and i2 are music, i3 sport; i2 and i3 tie on score and the id would pick i2.
    Map<String, String> plain = Map.of("ranking.candidates-per-category", "3", "slate.max-size", "100");
    var h = harness(plain);
    loadCatalog(h);
    assertThat(ask(h, "r", "u", 2, T0).getItems()).extracting(SlateItem::getItemId).containsExactly("i1", "i2");

    var capped = harness(Map.of("ranking.candidates-per-category", "3", "slate.max-size", "100",
        "rerank.max-per-category", "1"));
    loadCatalog(capped);
    assertThat(ask(capped, "r", "u", 2, T0).getItems()).extracting(SlateItem::getItemId).containsExactly("i1", "i3");
  }

  @Test
  void explorationGivesFreshItemsSlotsBelowTheTopAndAReplayReproducesIt() throws Exception {
    // Retrieval surfaces only the global top 2 (i1, i2); exploration takes items it did not
    // surface: the 3 freshest are f1, f2 and then i3 (the rest tie on publication time: by id).
    JobConfig config = config(Map.of("rerank.exploration-share", "0.5", "items.fresh-pool-size", "3",
        "slate.max-size", "100", "ranking.candidates-per-category", "2"));
    var h = harness(config, null);
    loadCatalog(h);
    Item fresh1 = Item.newBuilder(item("f1", "music")).setPublishedTimeMs(T0 - 1).build();
    Item fresh2 = Item.newBuilder(item("f2", "sport")).setPublishedTimeMs(T0 - 2).build();
    h.processBroadcastElement(new RankerBroadcast("f1", fresh1), T0);
    h.processBroadcastElement(new RankerBroadcast("f2", fresh2), T0);

    List<SlateItem> items = ask(h, "r1", "u", 4, T0).getItems();
    assertThat(items).hasSize(4).extracting(SlateItem::getRank).containsExactly(0, 1, 2, 3);
    assertThat(items.get(0).getItemId()).as("the best candidate keeps the top").isEqualTo("i1");
    assertThat(items).filteredOn(i -> i.getSource() == CandidateSource.FRESH).hasSize(2)
        .extracting(SlateItem::getItemId).doesNotHaveDuplicates().isSubsetOf("f1", "f2", "i3");
    assertThat(items).extracting(SlateItem::getItemId).contains("i2");

    // The same state and trigger in another instance give the same slate.
    var replay = harness(config, null);
    loadCatalog(replay);
    replay.processBroadcastElement(new RankerBroadcast("f1", fresh1), T0);
    replay.processBroadcastElement(new RankerBroadcast("f2", fresh2), T0);
    assertThat(ask(replay, "r1", "u", 4, T0).getItems()).isEqualTo(items);
  }

  // ---- creator fatigue ------------------------------------------------------------------------

  @Test
  void aCreatorTheUserQuickSkippedThreeTimesIsNotServedEvenToExplore() throws Exception {
    // k1..k5 are by creator "k"; k4 and k5 are new, so they are in the exploration pool too.
    Map<String, String> settings = Map.of("slate.debounce", "0 s", "slate.max-size", "100",
        "rerank.exploration-share", "0.5", "items.fresh-pool-size", "10");
    List<Slate> slates = new ArrayList<>();
    for (String threshold : List.of("3", "0")) {
      Map<String, String> m = new HashMap<>(settings);
      m.put("filters.creator-quick-skips", threshold);
      var h = harness(config(m), null);
      loadCatalog(h);
      for (int i = 1; i <= 5; i++) {
        Item it = Item.newBuilder(item("k" + i, "music")).setCreatorId("k")
            .setPublishedTimeMs(i >= 4 ? T0 - 1 : T0 - HOUR).build();
        h.processBroadcastElement(new RankerBroadcast(it.getItemId(), it), T0 - HOUR);
        h.processBroadcastElement(new RankerBroadcast(it.getItemId(), stats(it.getItemId(), new Stats(30, 0, 0))),
            T0 - HOUR);
      }
      for (int i = 1; i <= 3; i++) {
        send(h, interaction("u", "k" + i, InteractionType.SKIP, 500, T0 + i * SECOND)); // quick skips
      }
      slates.add(ask(h, "r", "u", 8, T0 + 10 * SECOND));
    }
    assertThat(ids(slates.get(0))).as("fatigued: the six items by other creators").hasSize(6)
        .noneMatch(id -> id.startsWith("k"));
    assertThat(ids(slates.get(1))).as("with the filter off").contains("k4", "k5");
  }

  // ---- ignored items --------------------------------------------------------------------------

  private static List<String> ids(Slate s) {
    return s.getItems().stream().map(SlateItem::getItemId).toList();
  }

  private static JobConfig ignoring(Map<String, String> more) {
    Map<String, String> m = new HashMap<>(Map.of("slate.debounce", "0 s", "training.label-window", "10 min",
        "filters.ignored-impressions", "3", "filters.ignored-window", "6 h", "slate.max-size", "100"));
    m.putAll(more);
    return config(m);
  }

  @Test
  void anItemServedThreeTimesWithoutAnAnswerIsLeftOutUntilTheWindowLetsTheFirstGo() throws Exception {
    JobConfig config = ignoring(Map.of());
    var h = harness(config, null);
    loadCatalog(h);
    List<String> top = expectedSlate(Set.of(), Map.of(), 3).stream().map(Expected::itemId).toList();
    for (int k = 0; k < 3; k++) {
      Slate s = ask(h, "r" + k, "u", 3, T0 + k * HOUR);
      assertThat(ids(s)).as("served again while fewer than 3 impressions were ignored").isEqualTo(top);
      advance(h, T0 + k * HOUR + 10 * 60 * SECOND); // the label window closes: NO_ACTION
    }
    IgnoredItems state = ignoredItems(h, config, "u");
    assertThat(state.getItems()).extracting(i -> i.getItemId()).containsExactlyElementsOf(top);
    assertThat(state.getItems()).allSatisfy(i -> assertThat(i.getServedTimesMs())
        .containsExactly(T0, T0 + HOUR, T0 + 2 * HOUR));

    assertSlateItems(ask(h, "r3", "u", 3, T0 + 3 * HOUR), expectedSlate(Set.copyOf(top), Map.of(), 3));
    // Six hours after the first ignored impression it still counts; a millisecond later it does not.
    assertThat(ids(ask(h, "r4", "u", 3, T0 + 6 * HOUR))).doesNotContainAnyElementsOf(top);
    assertSlateItems(ask(h, "r5", "u", 3, T0 + 6 * HOUR + 1), expectedSlate(Set.of(), Map.of(), 3));
    assertThat(ids(ask(h, "r6", "other", 3, T0 + 3 * HOUR))).as("per user").isEqualTo(top);
  }

  @Test
  void anAnswerForgetsTheItemsIgnoredImpressions() throws Exception {
    // One recent item, so an answered item is soon no longer filtered as seen.
    JobConfig config = ignoring(Map.of("features.recent-items", "1"));
    var h = harness(config, null);
    loadCatalog(h);
    Slate first = ask(h, "r0", "u", 3, T0);
    assertThat(ids(first)).containsExactly("i1", "i2", "i3");
    advance(h, T0 + 10 * 60 * SECOND);
    Slate second = ask(h, "r1", "u", 3, T0 + HOUR);
    assertThat(ids(second)).containsExactly("i1", "i2", "i3");
    send(h, answer(second, 0, InteractionType.LIKE, 30_000, T0 + HOUR + SECOND)); // i1 answered
    assertThat(ignoredItems(h, config, "u").getItems()).extracting(i -> i.getItemId())
        .as("the answer forgot i1's ignored impression").containsExactly("i2", "i3");
    advance(h, T0 + HOUR + 10 * 60 * SECOND);
    Slate third = ask(h, "r2", "u", 3, T0 + 2 * HOUR);
    assertThat(ids(third)).as("i1 is seen now").doesNotContain("i1").contains("i2", "i3");
    advance(h, T0 + 2 * HOUR + 10 * 60 * SECOND);
    send(h, interaction("u", "i6", InteractionType.LIKE, 30_000, T0 + 2 * HOUR + 20 * 60 * SECOND)); // i1 leaves recent

    Slate after = ask(h, "r3", "u", 3, T0 + 3 * HOUR);
    assertThat(ids(after)).as("i2 and i3 ignored three times; i1 answered, so never").contains("i1")
        .doesNotContain("i2", "i3", "i6");
    assertThat(ignoredItems(h, config, "u").getItems()).extracting(i -> i.getItemId()).doesNotContain("i1");
  }

  @Test
  void zeroDisablesTheIgnoredItemsFilterAndItsState() throws Exception {
    JobConfig config = ignoring(Map.of("filters.ignored-impressions", "0"));
    var h = harness(config, null);
    loadCatalog(h);
    for (int k = 0; k < 4; k++) {
      assertThat(ids(ask(h, "r" + k, "u", 3, T0 + k * HOUR))).containsExactly("i1", "i2", "i3");
      advance(h, T0 + k * HOUR + 10 * 60 * SECOND);
    }
    assertThat(stateKeys(h, "ignored-items")).isZero();
  }

  @Test
  void theIgnoredItemsStateStaysBoundedForAVeryActiveUser() throws Exception {
    JobConfig config = ignoring(Map.of("filters.ignored-impressions", "2", "filters.ignored-max-items", "5",
        "training.label-window", "1 min", "slate.max-size", "100"));
    var h = harness(config, null);
    loadCatalog(h);
    for (int k = 0; k < 40; k++) { // forty more items, each less popular than the one before
      String id = String.format("x%02d", k);
      h.processBroadcastElement(new RankerBroadcast(id, item(id, "cat-" + k % 4)), T0 - HOUR);
      h.processBroadcastElement(new RankerBroadcast(id, new ItemStats(id, T0, 100.0, 60.0 - k, 1.0, 0.0)), T0 - HOUR);
    }
    Set<String> servedEver = new java.util.HashSet<>();
    int excludedEver = 0;
    for (int k = 0; k < 200; k++) { // a slate every two minutes for over six hours, never answered
      long t = T0 + k * 2 * 60 * SECOND;
      IgnoredItems before = ignoredItems(h, config, "u");
      List<String> excluded = before == null ? List.of() : before.getItems().stream()
          .filter(i -> i.getServedTimesMs().stream().filter(x -> x >= t - 6 * HOUR).count() >= 2)
          .map(i -> i.getItemId()).toList();
      List<String> served = ids(ask(h, "r" + k, "u", 5, t));
      assertThat(served).as("slate %d", k).hasSize(5).noneMatch(excluded::contains);
      excludedEver += excluded.size();
      servedEver.addAll(served);
      advance(h, t + 60 * SECOND);
      IgnoredItems state = ignoredItems(h, config, "u");
      assertThat(state.getItems()).as("after slate %d", k).hasSizeLessThanOrEqualTo(5)
          .allSatisfy(i -> assertThat(i.getServedTimesMs()).hasSizeBetween(1, 2));
    }
    assertThat(excludedEver).as("the filter was at work").isPositive();
    assertThat(servedEver).as("ignored items made room for others").hasSizeGreaterThan(5);
    assertThat(pendingSlates(h)).isZero();
    assertThat(allKeyedEntries(h)).as("one ignored-items record and the (empty) pending-slate index; a request-only user"
        + " has no profile").isEqualTo(2);
  }

  // ---- request rate ---------------------------------------------------------------------------

  @Test
  void requestsFasterThanTheUsersRateAreDeadLetteredWithTheReason() throws Exception {
    var h = harness(Map.of("slate.min-request-interval", "1 s"));
    loadCatalog(h);
    ask(h, "r1", "u", 3, T0);
    send(h, request("r2", "u", 3, T0 + 999));
    assertThat(drain(h)).as("no slate for r2").isEmpty();
    var refused = h.getSideOutput(RankerFunction.DEAD_LETTERS);
    assertThat(refused).singleElement().satisfies(r -> {
      assertThat(r.getValue().getError()).startsWith("rate-limited: request r2 came 999 ms after");
      assertThat(r.getValue().getSourceTopic()).isEqualTo("slate-requests");
    });
    ask(h, "r3", "u", 3, T0 + 1000);
    ask(h, "r4", "other-user", 3, T0 + 1000); // per user
  }
}
