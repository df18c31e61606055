package io.slatestream.functions;

import io.slatestream.avro.Interaction;
import io.slatestream.avro.Item;
import io.slatestream.avro.Slate;
import io.slatestream.avro.SlateItem;
import io.slatestream.avro.SlateRequest;
import io.slatestream.avro.SlateTrigger;
import io.slatestream.avro.DeadLetter;
import io.slatestream.avro.ModelRelease;
import io.slatestream.model.GbdtModel;
import io.slatestream.model.ModelLoader;
import io.slatestream.model.ModelRejectedException;
import io.slatestream.serde.AvroCodec;
import io.slatestream.serde.DecodingDeserializer;
import org.apache.flink.metrics.Gauge;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import io.slatestream.avro.InteractionType;
import io.slatestream.avro.Label;
import io.slatestream.avro.TrainingExample;
import io.slatestream.avro.state.Impression;
import io.slatestream.avro.state.PendingSlate;
import io.slatestream.avro.state.PendingSlateIndex;
import io.slatestream.avro.state.PendingSlateRef;
import io.slatestream.features.FeatureVectorBuilder;
import java.util.ArrayList;
import org.apache.flink.api.common.state.MapState;
import org.apache.flink.api.common.state.MapStateDescriptor;
import org.apache.flink.util.OutputTag;
import io.slatestream.avro.state.CatalogEntry;
import io.slatestream.avro.state.IgnoredItems;
import io.slatestream.avro.state.ItemStats;
import io.slatestream.avro.state.RankerBroadcast;
import io.slatestream.avro.state.UserProfile;
import io.slatestream.config.JobConfig;
import io.slatestream.features.ProfileUpdater;
import io.slatestream.ranking.CandidateIndex;
import io.slatestream.ranking.HeuristicRanker;
import io.slatestream.ranking.HeuristicScorer;
import io.slatestream.ranking.IgnoredItemsFilter;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.BroadcastState;
import org.apache.flink.api.common.state.MapStateDescriptor;
import org.apache.flink.api.common.state.ReadOnlyBroadcastState;
import org.apache.flink.api.common.state.StateTtlConfig;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.formats.avro.typeutils.AvroTypeInfo;
import org.apache.flink.metrics.Counter;
import org.apache.flink.streaming.api.functions.co.KeyedBroadcastProcessFunction;
import org.apache.flink.types.Either;
import org.apache.flink.util.Collector;

/**
 * Keyed by user. Folds interactions into the user's profile (RocksDB), answers every slate request
 * at once, and after interactions emits a slate too, debounced per user: the first interaction
 * after a quiet period gets a slate immediately, and while the user keeps interacting at most one
 * more follows per {@code slate.debounce} of event time, from an event-time timer. The broadcast
 * side holds the catalog and the items' statistics, identical on every parallel instance.
 */
public final class RankerFunction
    extends KeyedBroadcastProcessFunction<String, Either<Interaction, SlateRequest>, RankerBroadcast, Slate> {
  private static final long serialVersionUID = 1L;

  /**
   * The catalog with item statistics, by item id. An entry is never changed once stored (an update
   * stores a new one), so a checkpoint shares the entries instead of deep-copying ten thousands of
   * Avro records on the task thread ({@link io.slatestream.serde.ImmutableAvroTypeInfo}); the bytes
   * and serializer snapshot are those of plain Avro.
   */
  public static final MapStateDescriptor<String, CatalogEntry> CATALOG = new MapStateDescriptor<>("catalog",
      Types.STRING, new io.slatestream.serde.ImmutableAvroTypeInfo<>(CatalogEntry.class));

  /** Served feature vectors joined with the label that followed. */
  public static final OutputTag<TrainingExample> TRAINING_EXAMPLES =
      new OutputTag<>("training-examples", new AvroTypeInfo<>(TrainingExample.class));

  /** The release being served, under {@link #CURRENT}; restored with the job, reloaded on start. */
  public static final MapStateDescriptor<String, ModelRelease> MODEL =
      new MapStateDescriptor<>("model-release", Types.STRING, new AvroTypeInfo<>(ModelRelease.class));

  private static final String CURRENT = "current";

  /** What the ranker refuses, with the reason: model releases that fail verification, and slate
   * requests beyond a user's rate. */
  public static final OutputTag<DeadLetter> DEAD_LETTERS =
      new OutputTag<>("ranker-dead-letters", new AvroTypeInfo<>(DeadLetter.class));

  /** Event time of the user's last answered request; short-lived, only for the rate bound. */
  public static ValueStateDescriptor<Long> lastRequestDescriptor(JobConfig config) {
    ValueStateDescriptor<Long> d = new ValueStateDescriptor<>("last-request", Types.LONG);
    d.enableTimeToLive(StateTtlConfig.newBuilder(
            java.time.Duration.ofMillis(Math.max(60_000L, config.minRequestInterval.toMillis() * 10)))
        .cleanupInRocksdbCompactFilter(1000).build());
    return d;
  }

  private static final Logger LOG = LoggerFactory.getLogger(RankerFunction.class);

  private static final long NO_TIMER = Long.MIN_VALUE;

  private final JobConfig config;
  private final ProfileUpdater features;
  private final HeuristicRanker ranker;
  private final io.slatestream.ranking.Reranker reranker;
  private final IgnoredItemsFilter ignoredFilter;
  private final io.slatestream.ranking.ModelHoldout holdout;
  private final long debounceMs;
  private final long freshMaxAgeMs;
  private final FeatureVectorBuilder vectors;
  private final long labelWindowMs;
  private final int positionFeature;
  private final AvroCodec<SlateRequest> requestCodec = AvroCodec.of(SlateRequest.class);
  private final AvroCodec<ModelRelease> releaseCodec = AvroCodec.of(ModelRelease.class);

  private transient ValueState<UserProfile> profiles;
  private transient ValueState<IgnoredItems> ignored;
  private transient ValueState<Long> lastRequest;
  private transient Counter rateLimited;
  private transient MapState<String, PendingSlate> pendingSlates;
  private transient ValueState<PendingSlateIndex> pendingIndex;
  private transient Counter trainingExamples;
  private transient Counter impressionsDropped;
  private transient CandidateIndex index;
  private transient GbdtModel model;
  private transient boolean modelRestored;
  private transient ModelLoader loader;
  private transient Counter candidatesScored;
  private transient Counter releasesRefused;
  private transient org.apache.flink.metrics.Histogram latencyMs;
  private transient Counter slatesEmitted;
  private transient Counter clampedRequests;

  public RankerFunction(JobConfig config) {
    this.config = config;
    this.features = new ProfileUpdater(config);
    this.ranker = new HeuristicRanker(features, config.candidatesPerCategory, config.creatorQuickSkips);
    this.reranker = new io.slatestream.ranking.Reranker(new io.slatestream.ranking.Reranker.Settings(
        config.maxPerCategory, config.maxPerCreator, config.explorationShare, config.rerankSeed));
    this.ignoredFilter = new IgnoredItemsFilter(config.ignoredImpressions, config.ignoredWindow.toMillis(),
        config.ignoredMaxItems);
    this.holdout = new io.slatestream.ranking.ModelHoldout(config.modelHoldoutShare);
    this.debounceMs = config.slateDebounce.toMillis();
    this.freshMaxAgeMs = config.freshMaxAge.toMillis();
    this.vectors = new FeatureVectorBuilder(config);
    this.labelWindowMs = config.labelWindow.toMillis();
    this.positionFeature = vectors.spec().names().indexOf(FeatureVectorBuilder.POSITION);
  }

  /** Served slates awaiting labels, by slate id. Cleared by their label timers, so no TTL. */
  public static final MapStateDescriptor<String, PendingSlate> PENDING_SLATES =
      new MapStateDescriptor<>("pending-slates", Types.STRING, new AvroTypeInfo<>(PendingSlate.class));

  /**
   * The ids, served times and answered impressions of the user's pending slates: serving,
   * answering and closing a slate read this one small value instead of scanning {@link
   * #PENDING_SLATES} in RocksDB (a prefix seek through every level), and a label is written here,
   * not into the slate with its vectors. TTL'd like the profile; never outlives its slates in
   * practice (a label window is minutes), and a missing index is rebuilt from the map.
   */
  public static ValueStateDescriptor<PendingSlateIndex> pendingIndexDescriptor(JobConfig config) {
    return perUser(new ValueStateDescriptor<>("pending-slate-index", new AvroTypeInfo<>(PendingSlateIndex.class)), config);
  }

  /** The user profile state; TTL'd so inactive users expire. */
  public static ValueStateDescriptor<UserProfile> profileDescriptor(JobConfig config) {
    return perUser(new ValueStateDescriptor<>("user-profile", new AvroTypeInfo<>(UserProfile.class)), config);
  }

  /**
   * Items the user left unanswered, for {@link IgnoredItemsFilter}: a state of its own beside the
   * profile, so savepoints written before it existed restore (it starts empty), bounded by the
   * filter, and TTL'd like the profile.
   */
  public static ValueStateDescriptor<IgnoredItems> ignoredDescriptor(JobConfig config) {
    return perUser(new ValueStateDescriptor<>("ignored-items", new AvroTypeInfo<>(IgnoredItems.class)), config);
  }

  /** A user's state expires {@code state.user-ttl} after it was last written. */
  private static <T> ValueStateDescriptor<T> perUser(ValueStateDescriptor<T> d, JobConfig config) {
    d.enableTimeToLive(
        StateTtlConfig.newBuilder(config.userTtl)
            .setUpdateType(StateTtlConfig.UpdateType.OnCreateAndWrite)
            .setStateVisibility(StateTtlConfig.StateVisibility.NeverReturnExpired)
            .cleanupInRocksdbCompactFilter(1000)
            .build());
    return d;
  }

  @Override
  public void open(OpenContext openContext) {
    profiles = getRuntimeContext().getState(profileDescriptor(config));
    ignored = getRuntimeContext().getState(ignoredDescriptor(config));
    pendingSlates = getRuntimeContext().getMapState(PENDING_SLATES);
    pendingIndex = getRuntimeContext().getState(pendingIndexDescriptor(config));
    lastRequest = getRuntimeContext().getState(lastRequestDescriptor(config));
    var metrics = getRuntimeContext().getMetricGroup();
    trainingExamples = metrics.counter("trainingExamples");
    candidatesScored = metrics.counter("candidatesScored");
    releasesRefused = metrics.counter("modelReleasesRefused");
    // Wall clock at emission minus the trigger's event time: the latency a consumer would see,
    // less the trip through the output topic. Sliding window of the last 10,000 slates.
    latencyMs = metrics.histogram("eventToSlateLatencyMs",
        new org.apache.flink.runtime.metrics.DescriptiveStatisticsHistogram(10_000));
    metrics.gauge("modelVersion", (Gauge<String>) () -> model == null ? HeuristicScorer.VERSION : model.version());
    loader = new ModelLoader(vectors.spec().id(), vectors.spec().size());
    impressionsDropped = metrics.counter("impressionsDropped");
    slatesEmitted = metrics.counter("slatesEmitted");
    clampedRequests = metrics.counter("slateRequestsClamped");
    rateLimited = metrics.counter("slateRequestsRateLimited");
  }

  @Override
  public void close() throws Exception {
    if (model != null) {
      model.close();
      model = null;
    }
  }

  @Override
  public void processElement(Either<Interaction, SlateRequest> input, ReadOnlyContext ctx, Collector<Slate> out)
      throws Exception {
    restoreModel(ctx.getBroadcastState(MODEL));
    CandidateIndex idx = index(ctx.getBroadcastState(CATALOG));
    if (input.isLeft()) {
      onInteraction(input.left(), ctx, idx, out);
    } else {
      onRequest(input.right(), ctx, idx, out);
    }
  }

  private void onInteraction(Interaction e, ReadOnlyContext ctx, CandidateIndex idx, Collector<Slate> out)
      throws Exception {
    UserProfile p = profiles.value();
    if (p == null) {
      p = features.empty();
    }
    ReadOnlyBroadcastState<String, CatalogEntry> catalog = ctx.getBroadcastState(CATALOG);
    features.resolve(p, id -> catalogItem(catalog, id));
    features.apply(p, e, catalogItem(catalog, e.getItemId()));
    label(e, ctx);
    if (ignoredFilter.enabled()) {
      IgnoredItems ignoredNow = ignored.value();
      if (ignoredFilter.forget(ignoredNow, e.getItemId())) {
        updateIgnored(ignoredNow);
      }
    }

    long t = e.getEventTimeMs();
    if (debounceMs > 0) {
      long quietUntil = p.getLastInteractionSlateMs() == Long.MIN_VALUE
          ? Long.MIN_VALUE : p.getLastInteractionSlateMs() + debounceMs;
      if (t >= quietUntil) {
        if (p.getPendingSlateTimerMs() != NO_TIMER) {
          // This slate already covers what the pending one would have shown.
          ctx.timerService().deleteEventTimeTimer(p.getPendingSlateTimerMs());
          p.setPendingSlateTimerMs(NO_TIMER);
        }
        p.setLastInteractionSlateMs(t);
        emit(p, e.getUserId(), null, null, SlateTrigger.INTERACTION, "event:" + e.getEventId(), t, config.slateSize,
            idx, ctx, out);
      } else if (p.getPendingSlateTimerMs() == NO_TIMER) {
        ctx.timerService().registerEventTimeTimer(quietUntil);
        p.setPendingSlateTimerMs(quietUntil);
      }
    }
    profiles.update(p);
  }

  private static Item catalogItem(ReadOnlyBroadcastState<String, CatalogEntry> catalog, String itemId) {
    try {
      CatalogEntry entry = catalog.get(itemId);
      return entry == null ? null : entry.getItem();
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  private void onRequest(SlateRequest r, ReadOnlyContext ctx, CandidateIndex idx, Collector<Slate> out)
      throws Exception {
    long interval = config.minRequestInterval.toMillis();
    if (interval > 0) {
      Long last = lastRequest.value();
      if (last != null && r.getEventTimeMs() < last + interval && r.getEventTimeMs() >= last) {
        rateLimited.inc();
        ctx.output(DEAD_LETTERS, DecodingDeserializer.deadLetter(config.topicSlateRequests, -1, -1,
            r.getUserId().getBytes(StandardCharsets.UTF_8), requestCodec.encode(r),
            "rate-limited: request " + r.getRequestId() + " came " + (r.getEventTimeMs() - last)
                + " ms after the user's previous one (slate.min-request-interval " + interval + " ms)",
            System.currentTimeMillis()));
        return;
      }
      lastRequest.update(last == null ? r.getEventTimeMs() : Math.max(last, r.getEventTimeMs()));
    }
    int size = r.getSlateSize() == 0 ? config.slateSize : r.getSlateSize();
    if (size > config.slateMaxSize) {
      clampedRequests.inc();
      size = config.slateMaxSize;
    }
    // A request reads the profile and writes it only to catch up on interactions whose items have
    // since reached the catalog: asking for a slate is not activity that changes features.
    UserProfile p = profiles.value();
    if (p != null && features.resolve(p, id -> catalogItem(ctx.getBroadcastState(CATALOG), id))) {
      profiles.update(p);
    }
    emit(p, r.getUserId(), r.getRequestId(), r.getCandidateItemIds(), SlateTrigger.REQUEST, "request:" + r.getRequestId(),
        r.getEventTimeMs(), size, idx, ctx, out);
  }

  @Override
  public void onTimer(long timestamp, OnTimerContext ctx, Collector<Slate> out) throws Exception {
    restoreModel(ctx.getBroadcastState(MODEL));
    closeLabelWindows(timestamp, ctx);
    UserProfile p = profiles.value();
    if (p == null || p.getPendingSlateTimerMs() != timestamp) {
      return; // a label timer, an expired user, or a debounce timer no longer wanted
    }
    p.setPendingSlateTimerMs(NO_TIMER);
    p.setLastInteractionSlateMs(timestamp);
    features.resolve(p, id -> catalogItem(ctx.getBroadcastState(CATALOG), id));
    profiles.update(p);
    CandidateIndex idx = index(ctx.getBroadcastState(CATALOG));
    emit(p, ctx.getCurrentKey(), null, null, SlateTrigger.INTERACTION, "debounce:" + timestamp, p.getLastEventMs(),
        config.slateSize, idx, ctx, out);
  }

  private void emit(UserProfile p, String userId, String requestId, List<String> requested, SlateTrigger trigger,
      String triggerId, long triggerTimeMs, int size, CandidateIndex idx, ReadOnlyContext ctx, Collector<Slate> out)
      throws Exception {
    String slateId = UUID.nameUUIDFromBytes((userId + '|' + triggerId).getBytes(StandardCharsets.UTF_8)).toString();
    GbdtModel scorer = model == null || holdout.holdsOut(userId) ? null : model;
    HeuristicRanker.Exclusions excluded = ranker.exclusions(p, idx,
        ignoredFilter.enabled() ? ignoredFilter.excluded(ignored.value(), triggerTimeMs) : Set.of());
    List<HeuristicRanker.Retrieved> retrieved = ranker.retrieve(p, idx, requested, excluded);
    List<HeuristicRanker.Retrieved> pool = config.explorationShare > 0
        ? ranker.explorationPool(idx, retrieved, config.freshPoolSize, triggerTimeMs - freshMaxAgeMs, excluded)
        : List.of();
    if (scorer != null) {
      // After the exploration pool, which must not offer what retrieval found and dropped here.
      retrieved = ranker.forModel(p, retrieved, config.modelCandidates, triggerTimeMs);
    }
    List<HeuristicRanker.Retrieved> all = new ArrayList<>(retrieved.size() + pool.size());
    all.addAll(retrieved);
    all.addAll(pool);
    List<HeuristicRanker.Scored> scored;
    float[] rows = null;
    String version;
    Map<String, Double> recent = vectors.recentByCategory(p, id -> {
      CandidateIndex.Candidate c = idx.get(id);
      return c == null ? null : c.category();
    }, triggerTimeMs);
    if (scorer == null) {
      scored = ranker.score(p, all, triggerTimeMs);
      version = HeuristicScorer.VERSION;
    } else {
      rows = vectorsOf(p, recent, all, triggerTimeMs, ctx.getBroadcastState(CATALOG));
      scored = scoreWithModel(scorer, all, rows);
      version = scorer.version();
    }
    long triggerKey = UUID.fromString(slateId).getMostSignificantBits();
    List<SlateItem> items = reranker.rerank(scored.subList(0, retrieved.size()),
        scored.subList(retrieved.size(), scored.size()), size, userId, triggerKey);
    Map<String, float[]> served = rows == null ? Map.of() : servedVectors(all, rows, items);
    remember(p, recent, slateId, items, triggerTimeMs, version, served, ctx);
    long now = System.currentTimeMillis();
    out.collect(Slate.newBuilder()
        .setSlateId(slateId)
        .setUserId(userId)
        .setRequestId(requestId)
        .setTrigger(trigger)
        .setItems(items)
        .setModelVersion(version)
        .setGeneratedAtMs(now)
        .setTriggerEventTimeMs(triggerTimeMs)
        .build());
    slatesEmitted.inc();
    latencyMs.update(Math.max(0, now - triggerTimeMs));
  }

  /** Feature vectors of all candidates, row-major, each at position 0. */
  private float[] vectorsOf(UserProfile p, Map<String, Double> recent, List<HeuristicRanker.Retrieved> candidates,
      long atMs,
      ReadOnlyBroadcastState<String, CatalogEntry> catalog) throws Exception {
    int width = vectors.spec().size();
    float[] rows = new float[candidates.size() * width];
    for (int i = 0; i < candidates.size(); i++) {
      CatalogEntry entry = catalog.get(candidates.get(i).candidate().itemId());
      vectors.build(p, recent, entry.getItem(), entry.getStats(), 0, atMs, rows, i * width);
    }
    return rows;
  }

  /**
   * All candidates of a slate scored in one prediction call. The vectors come from the same
   * builder as the training log, and the served ones are kept as they are, so what the model
   * learns from is what it scored, with one deliberate exception: positions are not known before
   * ranking, so every candidate is scored at {@code slate.position} 0 and the logged vector records
   * the position it was shown at. A model trained on those logs learns position bias from the
   * position feature, and serving at position 0 ranks by relevance without it.
   */
  private List<HeuristicRanker.Scored> scoreWithModel(GbdtModel scorer, List<HeuristicRanker.Retrieved> candidates,
      float[] rows) {
    int n = candidates.size();
    float[] scores = n == 0 ? new float[0] : scorer.score(rows, n);
    candidatesScored.inc(n);
    List<HeuristicRanker.Scored> scored = new ArrayList<>(n);
    for (int i = 0; i < n; i++) {
      HeuristicRanker.Retrieved r = candidates.get(i);
      scored.add(new HeuristicRanker.Scored(r.candidate(), r.source(), scores[i]));
    }
    return scored;
  }

  /**
   * The scored vectors of the items served, each with the position it was shown at (see
   * {@link #scoreWithModel}). Only served items are copied out of the scoring batch.
   */
  private Map<String, float[]> servedVectors(List<HeuristicRanker.Retrieved> candidates, float[] rows,
      List<SlateItem> items) {
    int width = vectors.spec().size();
    Map<String, SlateItem> byId = new java.util.HashMap<>();
    items.forEach(si -> byId.put(si.getItemId(), si));
    Map<String, float[]> served = new java.util.HashMap<>();
    for (int i = 0; i < candidates.size() && served.size() < byId.size(); i++) {
      SlateItem si = byId.get(candidates.get(i).candidate().itemId());
      if (si != null) {
        float[] v = java.util.Arrays.copyOfRange(rows, i * width, (i + 1) * width);
        v[positionFeature] = si.getRank();
        served.put(si.getItemId(), v);
      }
    }
    return served;
  }

  /**
   * Keeps what was served for each item of the slate (the vector from the one feature builder,
   * its score and position) until the user answers or the label window closes, packed
   * ({@link PackedVectors}: the user's features once per slate, not once per item).
   */
  private void remember(UserProfile p, Map<String, Double> recent, String slateId, List<SlateItem> items,
      long servedMs, String modelVersion,
      Map<String, float[]> scoredVectors, ReadOnlyContext ctx) throws Exception {
    if (items.isEmpty()) {
      return;
    }
    // From the index: whether this slate is known already (a trigger seen twice), how many are
    // pending, and which is the oldest. No slate is read, not even the one evicted.
    PendingSlateIndex index = pendingIndex();
    List<PendingSlateRef> pending = index.getSlates();
    for (PendingSlateRef ref : pending) {
      if (ref.getSlateId().equals(slateId)) {
        return;
      }
    }
    ReadOnlyBroadcastState<String, CatalogEntry> catalog = ctx.getBroadcastState(CATALOG);
    List<Impression> impressions = new ArrayList<>(items.size());
    float[][] vectorsServed = new float[items.size()][];
    for (int i = 0; i < items.size(); i++) {
      SlateItem si = items.get(i);
      float[] v = scoredVectors.get(si.getItemId());
      if (v == null) {
        CatalogEntry entry = catalog.get(si.getItemId());
        v = vectors.build(p, recent, entry.getItem(), entry.getStats(), si.getRank(), servedMs);
      }
      vectorsServed[i] = v;
      impressions.add(Impression.newBuilder().setItemId(si.getItemId()).setPosition(si.getRank())
          .setScore(si.getScore()).build());
    }
    if (pending.size() >= config.maxPendingSlates) {
      // The first of the earliest served, in key order, as a scan of the map would find it.
      PendingSlateRef oldest = null;
      for (PendingSlateRef ref : pending) {
        if (oldest == null || ref.getServedTimeMs() < oldest.getServedTimeMs()) {
          oldest = ref;
        }
      }
      // Dropped, not labelled NO_ACTION: closing it early would teach the model that the user
      // ignored items they may still answer.
      impressionsDropped.inc(oldest.getUnanswered());
      pendingSlates.remove(oldest.getSlateId());
      pending.remove(oldest);
      // Its label timer would find nothing to close; unless another slate or the debounce closes at
      // the same time, it goes too, so a user's timers stay as bounded as their pending slates.
      long closesAt = oldest.getServedTimeMs() + labelWindowMs;
      boolean timerShared = p != null && p.getPendingSlateTimerMs() == closesAt;
      for (PendingSlateRef ref : pending) {
        timerShared |= ref.getServedTimeMs() + labelWindowMs == closesAt;
      }
      if (!timerShared) {
        ctx.timerService().deleteEventTimeTimer(closesAt);
      }
    }
    pendingSlates.put(slateId, PackedVectors.pack(slateId, servedMs, modelVersion, vectors.spec().id(), impressions,
        vectorsServed, positionFeature));
    int at = 0;
    while (at < pending.size() && pending.get(at).getSlateId().compareTo(slateId) < 0) {
      at++;
    }
    pending.add(at, new PendingSlateRef(slateId, servedMs, impressions.size(), new ArrayList<>()));
    pendingIndex.update(index);
    ctx.timerService().registerEventTimeTimer(servedMs + labelWindowMs);
  }

  /**
   * The user's pending-slate index; rebuilt from the map when missing (state of releases 1 and 2,
   * or a first slate). Its list is mutable and in the map's order: by slate id, for the UUIDs
   * slates are named with.
   */
  private PendingSlateIndex pendingIndex() throws Exception {
    PendingSlateIndex index = pendingIndex.value();
    if (index == null) {
      List<PendingSlateRef> refs = new ArrayList<>();
      for (Map.Entry<String, PendingSlate> en : pendingSlates.entries()) {
        refs.add(new PendingSlateRef(en.getKey(), en.getValue().getServedTimeMs(),
            en.getValue().getImpressions().size(), new ArrayList<>()));
      }
      index = new PendingSlateIndex(refs);
    } else if (!(index.getSlates() instanceof ArrayList)) {
      index.setSlates(new ArrayList<>(index.getSlates()));
    }
    return index;
  }

  /** An answer to a served slate labels that impression at once. */
  private void label(Interaction e, ReadOnlyContext ctx) throws Exception {
    if (e.getSlateId() == null) {
      return;
    }
    PendingSlateIndex index = pendingIndex();
    PendingSlateRef ref = null;
    for (PendingSlateRef r : index.getSlates()) {
      if (r.getSlateId().equals(e.getSlateId())) {
        ref = r;
      }
    }
    if (ref == null || e.getEventTimeMs() > ref.getServedTimeMs() + labelWindowMs) {
      return;
    }
    PendingSlate slate = pendingSlates.get(e.getSlateId());
    if (slate == null) {
      return;
    }
    List<Impression> impressions = slate.getImpressions();
    int i = 0;
    while (i < impressions.size()
        && (!impressions.get(i).getItemId().equals(e.getItemId()) || ref.getAnswered().contains(i))) {
      i++;
    }
    if (i == impressions.size()) {
      return; // not an item of this slate, or answered already
    }
    Label label = e.getType() == InteractionType.LIKE ? Label.LIKE
        : features.isQuickSkip(e) ? Label.QUICK_SKIP : Label.SKIP;
    ctx.output(TRAINING_EXAMPLES, example(e.getUserId(), slate, impressions.get(i), label, e.getEventTimeMs()));
    // The label goes to the index; the slate, with its vectors, is not rewritten.
    ref.getAnswered().add(i);
    ref.setUnanswered(ref.getUnanswered() - 1);
    if (ref.getUnanswered() <= 0) {
      pendingSlates.remove(slate.getSlateId());
      index.getSlates().remove(ref);
    }
    pendingIndex.update(index);
  }

  /**
   * Items of slates whose window has closed by {@code timestamp} were not answered: each is a
   * NO_ACTION example, and an ignored impression for {@link IgnoredItemsFilter}.
   */
  private void closeLabelWindows(long timestamp, OnTimerContext ctx) throws Exception {
    PendingSlateIndex index = pendingIndex();
    List<IgnoredItemsFilter.Ignored> unanswered = new ArrayList<>();
    boolean closedAny = false;
    for (java.util.Iterator<PendingSlateRef> it = index.getSlates().iterator(); it.hasNext(); ) {
      PendingSlateRef ref = it.next();
      long closesAt = ref.getServedTimeMs() + labelWindowMs;
      if (closesAt > timestamp) {
        continue;
      }
      PendingSlate slate = pendingSlates.get(ref.getSlateId());
      if (slate != null) {
        List<Impression> impressions = slate.getImpressions();
        for (int i = 0; i < impressions.size(); i++) {
          if (ref.getAnswered().contains(i)) {
            continue;
          }
          Impression imp = impressions.get(i);
          ctx.output(TRAINING_EXAMPLES, example(ctx.getCurrentKey(), slate, imp, Label.NO_ACTION, closesAt));
          unanswered.add(new IgnoredItemsFilter.Ignored(imp.getItemId(), slate.getServedTimeMs()));
        }
        pendingSlates.remove(ref.getSlateId());
      }
      it.remove();
      closedAny = true;
    }
    if (closedAny) {
      pendingIndex.update(index);
    }
    if (ignoredFilter.enabled() && !unanswered.isEmpty()) {
      updateIgnored(ignoredFilter.record(ignored.value(), unanswered, timestamp));
    }
  }

  private void updateIgnored(IgnoredItems state) throws Exception {
    if (state.getItems().isEmpty()) {
      ignored.clear();
    } else {
      ignored.update(state);
    }
  }

  private TrainingExample example(String userId, PendingSlate slate, Impression imp, Label label, long labelledMs) {
    trainingExamples.inc();
    return TrainingExample.newBuilder()
        .setSlateId(slate.getSlateId())
        .setUserId(userId)
        .setItemId(imp.getItemId())
        .setPosition(imp.getPosition())
        .setFeatureSpecId(slate.getFeatureSpecId())
        .setFeatureValues(PackedVectors.vector(slate, imp))
        .setModelVersion(slate.getModelVersion())
        .setServedScore(imp.getScore())
        .setLabel(label)
        .setServedTimeMs(slate.getServedTimeMs())
        .setLabelledTimeMs(labelledMs)
        .build();
  }

  @Override
  public void processBroadcastElement(RankerBroadcast update, Context ctx, Collector<Slate> out) throws Exception {
    Object u = update.getUpdate();
    if (u instanceof ModelRelease release) {
      onRelease(release, ctx);
      return;
    }
    BroadcastState<String, CatalogEntry> catalog = ctx.getBroadcastState(CATALOG);
    CandidateIndex idx = index(catalog);
    String itemId = update.getItemId();
    if (u == null || (u instanceof Item item && item.getDeleted())) {
      catalog.remove(itemId);
      idx.remove(itemId);
      return;
    }
    CatalogEntry entry = catalog.get(itemId);
    // A new entry, never the stored one changed (see CATALOG); its item and statistics, which
    // nothing changes either, are shared rather than deep-copied.
    entry = entry == null ? new CatalogEntry(null, null) : new CatalogEntry(entry.getItem(), entry.getStats());
    if (u instanceof Item item) {
      entry.setItem(item);
    } else if (u instanceof ItemStats stats) {
      entry.setStats(stats);
    }
    catalog.put(itemId, entry);
    idx.put(itemId, entry);
  }

  /**
   * Loads, verifies and swaps in a released model on this instance. Slates are scored on the task
   * thread, so the swap is atomic with respect to them: a slate is scored entirely by the old or
   * entirely by the new model. A refused release leaves the current model (or the heuristic) serving.
   */
  private void onRelease(ModelRelease release, Context ctx) throws Exception {
    restoreModel(ctx.getBroadcastState(MODEL));
    try {
      GbdtModel loaded = loader.load(release);
      GbdtModel old = model;
      model = loaded;
      ctx.getBroadcastState(MODEL).put(CURRENT, release);
      if (old != null) {
        old.close();
      }
      LOG.info("Serving model {} (feature spec {})", release.getVersion(), release.getFeatureSpecId());
    } catch (ModelRejectedException e) {
      releasesRefused.inc();
      String reason = "refused model release " + release.getVersion() + " on ranker subtask "
          + getRuntimeContext().getTaskInfo().getIndexOfThisSubtask() + ": " + e.getMessage()
          + "; still serving " + (model == null ? HeuristicScorer.VERSION : model.version());
      LOG.warn(reason);
      ctx.output(DEAD_LETTERS, DecodingDeserializer.deadLetter(config.topicModelReleases, -1, -1,
          release.getVersion().getBytes(StandardCharsets.UTF_8), releaseCodec.encode(release),
          reason, System.currentTimeMillis()));
    }
  }

  /**
   * After a start or restore: the release in broadcast state, else the configured initial model.
   * A model that no longer loads is logged and the heuristic serves until the next release.
   */
  private void restoreModel(ReadOnlyBroadcastState<String, ModelRelease> state) throws Exception {
    if (modelRestored) {
      return;
    }
    modelRestored = true;
    ModelRelease release = state.get(CURRENT);
    if (release == null && config.modelUri != null) {
      release = new ModelRelease(config.modelVersion, config.modelUri, config.modelChecksum, vectors.spec().id(), 0L);
    }
    if (release != null) {
      try {
        model = loader.load(release);
        LOG.info("Serving model {} (feature spec {}) from {}", release.getVersion(), release.getFeatureSpecId(),
            release.getModelUri());
      } catch (ModelRejectedException e) {
        releasesRefused.inc();
        LOG.error("Model {} does not load ({}); serving {} until the next release", release.getVersion(),
            e.getMessage(), HeuristicScorer.VERSION);
      }
    }
  }

  /** The in-memory index, rebuilt from broadcast state on first use after start or restore. */
  private CandidateIndex index(ReadOnlyBroadcastState<String, CatalogEntry> catalog) throws Exception {
    if (index == null) {
      CandidateIndex fresh = new CandidateIndex();
      for (Map.Entry<String, CatalogEntry> en : catalog.immutableEntries()) {
        fresh.put(en.getKey(), en.getValue());
      }
      index = fresh;
    }
    return index;
  }
}
