package io.slatestream.functions;

import io.slatestream.avro.Interaction;
import io.slatestream.avro.Item;
import io.slatestream.avro.Slate;
import io.slatestream.avro.SlateItem;
import io.slatestream.avro.SlateRequest;
import io.slatestream.avro.SlateTrigger;
import io.slatestream.avro.state.CatalogEntry;
import io.slatestream.avro.state.ItemStats;
import io.slatestream.avro.state.RankerBroadcast;
import io.slatestream.avro.state.UserProfile;
import io.slatestream.config.JobConfig;
import io.slatestream.features.ProfileUpdater;
import io.slatestream.ranking.CandidateIndex;
import io.slatestream.ranking.HeuristicRanker;
import io.slatestream.ranking.HeuristicScorer;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
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

  /** The catalog with item statistics, by item id. */
  public static final MapStateDescriptor<String, CatalogEntry> CATALOG =
      new MapStateDescriptor<>("catalog", Types.STRING, new AvroTypeInfo<>(CatalogEntry.class));

  private static final long NO_TIMER = Long.MIN_VALUE;

  private final JobConfig config;
  private final ProfileUpdater features;
  private final HeuristicRanker ranker;
  private final long debounceMs;

  private transient ValueState<UserProfile> profiles;
  private transient CandidateIndex index;
  private transient Counter slatesEmitted;
  private transient Counter clampedRequests;

  public RankerFunction(JobConfig config) {
    this.config = config;
    this.features = new ProfileUpdater(config);
    this.ranker = new HeuristicRanker(features, config.candidatesPerCategory);
    this.debounceMs = config.slateDebounce.toMillis();
  }

  /** The user profile state; TTL'd so inactive users expire. */
  public static ValueStateDescriptor<UserProfile> profileDescriptor(JobConfig config) {
    ValueStateDescriptor<UserProfile> d =
        new ValueStateDescriptor<>("user-profile", new AvroTypeInfo<>(UserProfile.class));
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
    var metrics = getRuntimeContext().getMetricGroup();
    slatesEmitted = metrics.counter("slatesEmitted");
    clampedRequests = metrics.counter("slateRequestsClamped");
  }

  @Override
  public void processElement(Either<Interaction, SlateRequest> input, ReadOnlyContext ctx, Collector<Slate> out)
      throws Exception {
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
        emit(p, e.getUserId(), null, SlateTrigger.INTERACTION, "event:" + e.getEventId(), t, config.slateSize, idx, out);
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
    emit(p, r.getUserId(), r.getRequestId(), SlateTrigger.REQUEST, "request:" + r.getRequestId(),
        r.getEventTimeMs(), size, idx, out);
  }

  @Override
  public void onTimer(long timestamp, OnTimerContext ctx, Collector<Slate> out) throws Exception {
    UserProfile p = profiles.value();
    if (p == null || p.getPendingSlateTimerMs() != timestamp) {
      return; // expired user, or a timer from before a restore that is no longer wanted
    }
    p.setPendingSlateTimerMs(NO_TIMER);
    p.setLastInteractionSlateMs(timestamp);
    features.resolve(p, id -> catalogItem(ctx.getBroadcastState(CATALOG), id));
    profiles.update(p);
    CandidateIndex idx = index(ctx.getBroadcastState(CATALOG));
    emit(p, ctx.getCurrentKey(), null, SlateTrigger.INTERACTION, "debounce:" + timestamp, p.getLastEventMs(),
        config.slateSize, idx, out);
  }

  private void emit(UserProfile p, String userId, String requestId, SlateTrigger trigger, String triggerId,
      long triggerTimeMs, int size, CandidateIndex idx, Collector<Slate> out) {
    List<SlateItem> items = ranker.rank(p, idx, size, triggerTimeMs);
    String slateId = UUID.nameUUIDFromBytes((userId + '|' + triggerId).getBytes(StandardCharsets.UTF_8)).toString();
    out.collect(Slate.newBuilder()
        .setSlateId(slateId)
        .setUserId(userId)
        .setRequestId(requestId)
        .setTrigger(trigger)
        .setItems(items)
        .setModelVersion(HeuristicScorer.VERSION)
        .setGeneratedAtMs(System.currentTimeMillis())
        .setTriggerEventTimeMs(triggerTimeMs)
        .build());
    slatesEmitted.inc();
  }

  @Override
  public void processBroadcastElement(RankerBroadcast update, Context ctx, Collector<Slate> out) throws Exception {
    BroadcastState<String, CatalogEntry> catalog = ctx.getBroadcastState(CATALOG);
    CandidateIndex idx = index(catalog);
    String itemId = update.getItemId();
    Object u = update.getUpdate();
    if (u == null || (u instanceof Item item && item.getDeleted())) {
      catalog.remove(itemId);
      idx.remove(itemId);
      return;
    }
    CatalogEntry entry = catalog.get(itemId);
    entry = entry == null ? new CatalogEntry(null, null) : CatalogEntry.newBuilder(entry).build();
    if (u instanceof Item item) {
      entry.setItem(item);
    } else if (u instanceof ItemStats stats) {
      entry.setStats(stats);
    }
    catalog.put(itemId, entry);
    idx.put(itemId, entry);
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
