package io.slatestream.functions;

import io.slatestream.avro.Interaction;
import io.slatestream.avro.state.ItemStats;
import io.slatestream.avro.state.ServedItem;
import io.slatestream.config.JobConfig;
import io.slatestream.features.ItemStatistics;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.StateTtlConfig;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.formats.avro.typeutils.AvroTypeInfo;
import org.apache.flink.streaming.api.functions.co.KeyedCoProcessFunction;
import org.apache.flink.util.Collector;

/**
 * Keyed by item: decayed impressions, likes, skips and quick skips. Likes and skips come from the
 * interactions (first input); impressions come from the slates the job actually served (second
 * input, read back from the recommendations topic), so {@code likes / impressions} is a like rate
 * per impression, and an item served often and seldom answered shows it. An interaction is not an
 * impression: a user may answer an item they found elsewhere.
 *
 * <p>Updates reach the rankers through broadcast, at most once per {@code items.stats-interval} of
 * event time per item: the first update arms an event-time timer, and the timer emits the item's
 * statistics as they are by then. A hot item therefore costs one broadcast per interval, not one
 * per interaction or impression.
 *
 * <p>Every value is a sum of {@code 2^(-Δt/h)} weights expressed at an anchor that only moves
 * forward, so a late or out-of-order event (impressions arrive one trip through Kafka after the
 * interactions that caused them) adds exactly what it would have added in order: nothing here is
 * ever dropped for lateness.
 *
 * <p>The keyed state ({@code item-stats}, {@code pending-emit}) is the same as when interactions
 * were this operator's only input, so savepoints of that version restore into it.
 */
public final class ItemStatsFunction extends KeyedCoProcessFunction<String, Interaction, ServedItem, ItemStats> {
  private static final long serialVersionUID = 1L;

  private final ItemStatistics arithmetic;
  private final long intervalMs;
  private final JobConfig config;

  private transient ValueState<ItemStats> stats;
  private transient ValueState<Long> pendingEmit;

  public ItemStatsFunction(JobConfig config) {
    this.arithmetic = new ItemStatistics(config);
    this.intervalMs = Math.max(1, config.itemStatsInterval.toMillis());
    this.config = config;
  }

  /**
   * The item's statistics, TTL'd so items neither served nor answered expire. Public so that savepoint
   * tooling reads the state under the very name and type the job writes.
   */
  public static ValueStateDescriptor<ItemStats> statsDescriptor(JobConfig config) {
    ValueStateDescriptor<ItemStats> d = new ValueStateDescriptor<>("item-stats", new AvroTypeInfo<>(ItemStats.class));
    d.enableTimeToLive(ttl(config));
    return d;
  }

  private static StateTtlConfig ttl(JobConfig config) {
    return StateTtlConfig.newBuilder(config.itemTtl).cleanupInRocksdbCompactFilter(1000).build();
  }

  @Override
  public void open(OpenContext openContext) {
    stats = getRuntimeContext().getState(statsDescriptor(config));
    ValueStateDescriptor<Long> p = new ValueStateDescriptor<>("pending-emit", Long.class);
    p.enableTimeToLive(ttl(config));
    pendingEmit = getRuntimeContext().getState(p);
  }

  /** Likes, skips and quick skips. */
  @Override
  public void processElement1(Interaction e, Context ctx, Collector<ItemStats> out) throws Exception {
    long t = e.getEventTimeMs();
    ItemStats s = arithmetic.at(stats.value(), e.getItemId(), t);
    arithmetic.answer(s, e);
    update(s, t, ctx);
  }

  /** One impression: the item was in a slate the job served. */
  @Override
  public void processElement2(ServedItem served, Context ctx, Collector<ItemStats> out) throws Exception {
    long t = served.getServedTimeMs();
    ItemStats s = arithmetic.at(stats.value(), served.getItemId(), t);
    arithmetic.impression(s, t);
    update(s, t, ctx);
  }

  private void update(ItemStats s, long t, Context ctx) throws Exception {
    stats.update(s);
    if (pendingEmit.value() == null) {
      long at = Math.max(t, ctx.timerService().currentWatermark()) + intervalMs;
      ctx.timerService().registerEventTimeTimer(at);
      pendingEmit.update(at);
    }
  }

  @Override
  public void onTimer(long timestamp, OnTimerContext ctx, Collector<ItemStats> out) throws Exception {
    pendingEmit.clear();
    ItemStats s = stats.value();
    if (s != null) {
      out.collect(ItemStats.newBuilder(s).build());
    }
  }
}
