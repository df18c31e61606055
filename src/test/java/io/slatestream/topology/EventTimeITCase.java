package io.slatestream.topology;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.concurrent.TimeUnit;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.state.MapStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.connector.source.util.ratelimit.RateLimiterStrategy;
import org.apache.flink.connector.datagen.source.DataGeneratorSource;
import org.apache.flink.streaming.api.datastream.BroadcastStream;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.co.KeyedBroadcastProcessFunction;
import org.apache.flink.util.Collector;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The ranker's broadcast side (catalog, item statistics, releases) must not hold back the event
 * time of its user input: the statistics wait on the served-slates loop through Kafka, and the
 * ranker's debounce and label timers would wait with them.
 */
class EventTimeITCase {
  private static final MapStateDescriptor<Long, Long> CONTROL =
      new MapStateDescriptor<>("control", Types.LONG, Types.LONG);

  @Test
  @Timeout(value = 120, unit = TimeUnit.SECONDS)
  void aBroadcastSideStuckInEventTimeDoesNotDelayTheKeyedSidesTimers() throws Exception {
    StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
    env.setParallelism(1);

    DataStream<Long> users = env.fromData(1_000L, 2_000L, 3_000L)
        .assignTimestampsAndWatermarks(
            WatermarkStrategy.<Long>forMonotonousTimestamps().withTimestampAssigner((t, previous) -> t));

    // Never ends, never idle, its event time stuck at 0: like a loop that has not come round yet.
    DataStream<Long> stuck = env.fromSource(
        new DataGeneratorSource<>(i -> i, Long.MAX_VALUE, RateLimiterStrategy.perSecond(20), Types.LONG),
        WatermarkStrategy.<Long>forMonotonousTimestamps().withTimestampAssigner((i, previous) -> 0L),
        "stuck");
    BroadcastStream<Long> control = stuck.assignTimestampsAndWatermarks(EventTime.notHoldingBack())
        .broadcast(CONTROL);

    List<Long> fired = users.keyBy(t -> t)
        .connect(control)
        .process(new TimerAtEventTime())
        .returns(Types.LONG)
        .executeAndCollect(3);

    assertThat(fired).containsExactlyInAnyOrder(1_000L, 2_000L, 3_000L);
  }

  private static final class TimerAtEventTime extends KeyedBroadcastProcessFunction<Long, Long, Long, Long> {
    @Override
    public void processElement(Long t, ReadOnlyContext ctx, Collector<Long> out) {
      ctx.timerService().registerEventTimeTimer(t);
    }

    @Override
    public void processBroadcastElement(Long value, Context ctx, Collector<Long> out) throws Exception {
      ctx.getBroadcastState(CONTROL).put(value % 10, value);
    }

    @Override
    public void onTimer(long timestamp, OnTimerContext ctx, Collector<Long> out) {
      out.collect(timestamp);
    }
  }
}
