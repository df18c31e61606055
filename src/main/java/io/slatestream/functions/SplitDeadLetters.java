package io.slatestream.functions;

import io.slatestream.avro.DeadLetter;
import io.slatestream.serde.AvroCodec;
import io.slatestream.serde.DecodingDeserializer;
import org.apache.avro.specific.SpecificRecordBase;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.metrics.Counter;
import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.types.Either;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;

/**
 * Sends decoded records on and dead letters to {@link #DEAD_LETTERS}. Also refuses records whose
 * event time is more than the allowed lateness behind the watermark: features updated from them
 * would already have been served and trained on, so they are counted and dead-lettered instead of
 * silently rewriting the past. A late record's dead letter carries its re-encoded bytes (its Kafka
 * partition and offset are no longer known here, so they are -1).
 */
public final class SplitDeadLetters<T extends SpecificRecordBase> extends ProcessFunction<Either<DeadLetter, T>, T> {
  private static final long serialVersionUID = 1L;

  public static final OutputTag<DeadLetter> DEAD_LETTERS = new OutputTag<>("dead-letters") {};

  private final String topic;
  private final AvroCodec<T> codec;
  private final long allowedLatenessMs;
  private transient Counter deadLetters;
  private transient Counter lateEvents;

  /** @param allowedLatenessMs {@code Long.MAX_VALUE} accepts any lateness */
  public SplitDeadLetters(String topic, AvroCodec<T> codec, long allowedLatenessMs) {
    this.topic = topic;
    this.codec = codec;
    this.allowedLatenessMs = allowedLatenessMs;
  }

  @Override
  public void open(OpenContext openContext) {
    var group = getRuntimeContext().getMetricGroup().addGroup("topic", topic);
    deadLetters = group.counter("deadLetters");
    lateEvents = group.counter("lateEvents");
  }

  @Override
  public void processElement(Either<DeadLetter, T> value, Context ctx, Collector<T> out) {
    if (value.isLeft()) {
      deadLetters.inc();
      ctx.output(DEAD_LETTERS, value.left());
      return;
    }
    T record = value.right();
    long watermark = ctx.timerService().currentWatermark();
    Long ts = ctx.timestamp();
    if (allowedLatenessMs != Long.MAX_VALUE && ts != null && watermark != Long.MIN_VALUE
        && ts < watermark - allowedLatenessMs) {
      lateEvents.inc();
      deadLetters.inc();
      ctx.output(DEAD_LETTERS, DecodingDeserializer.deadLetter(topic, -1, -1, null, codec.encode(record),
          "late: event time " + ts + " is " + (watermark - ts) + " ms behind the watermark (allowed "
              + allowedLatenessMs + " ms)", System.currentTimeMillis()));
      return;
    }
    out.collect(record);
  }
}
