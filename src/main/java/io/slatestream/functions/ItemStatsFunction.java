package io.slatestream.functions;

import io.slatestream.avro.Interaction;
import io.slatestream.avro.InteractionType;
import io.slatestream.avro.state.ItemStats;
import io.slatestream.config.JobConfig;
import io.slatestream.features.Decay;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.StateTtlConfig;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.formats.avro.typeutils.AvroTypeInfo;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;

/**
 * Keyed by item: decayed impressions, likes, skips and quick skips. Updates reach the rankers
 * through broadcast, at most once per {@code items.stats-interval} of event time per item: the
 * first interaction arms an event-time timer, and the timer emits the item's statistics as they
 * are by then. A hot item therefore costs one broadcast per interval, not one per interaction.
 */
public final class ItemStatsFunction extends KeyedProcessFunction<String, Interaction, ItemStats> {
  private static final long serialVersionUID = 1L;

  private final long halfLifeMs;
  private final long intervalMs;
  private final long quickSkipMs;
  private final StateTtlConfig ttl;

  private transient ValueState<ItemStats> stats;
  private transient ValueState<Long> pendingEmit;

  public ItemStatsFunction(JobConfig config) {
    this.halfLifeMs = config.itemHalfLife.toMillis();
    this.intervalMs = Math.max(1, config.itemStatsInterval.toMillis());
    this.quickSkipMs = config.quickSkipThreshold.toMillis();
    this.ttl = StateTtlConfig.newBuilder(config.itemTtl).cleanupInRocksdbCompactFilter(1000).build();
  }

  @Override
  public void open(OpenContext openContext) {
    ValueStateDescriptor<ItemStats> d = new ValueStateDescriptor<>("item-stats", new AvroTypeInfo<>(ItemStats.class));
    d.enableTimeToLive(ttl);
    stats = getRuntimeContext().getState(d);
    ValueStateDescriptor<Long> p = new ValueStateDescriptor<>("pending-emit", Long.class);
    p.enableTimeToLive(ttl);
    pendingEmit = getRuntimeContext().getState(p);
  }

  @Override
  public void processElement(Interaction e, Context ctx, Collector<ItemStats> out) throws Exception {
    long t = e.getEventTimeMs();
    ItemStats s = stats.value();
    if (s == null) {
      s = new ItemStats(e.getItemId(), t, 0.0, 0.0, 0.0, 0.0);
    }
    if (t > s.getAnchorMs()) {
      double f = Decay.factor(s.getAnchorMs(), t, halfLifeMs);
      s.setImpressions(s.getImpressions() * f);
      s.setLikes(s.getLikes() * f);
      s.setSkips(s.getSkips() * f);
      s.setQuickSkips(s.getQuickSkips() * f);
      s.setAnchorMs(t);
    }
    double w = Decay.factor(t, s.getAnchorMs(), halfLifeMs);
    s.setImpressions(s.getImpressions() + w);
    if (e.getType() == InteractionType.LIKE) {
      s.setLikes(s.getLikes() + w);
    } else {
      s.setSkips(s.getSkips() + w);
      if (e.getWatchTimeMs() < quickSkipMs) {
        s.setQuickSkips(s.getQuickSkips() + w);
      }
    }
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
