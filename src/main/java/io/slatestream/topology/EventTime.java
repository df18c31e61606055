package io.slatestream.topology;

import io.slatestream.avro.DeadLetter;
import java.io.Serializable;
import java.time.Duration;
import org.apache.flink.api.common.eventtime.BoundedOutOfOrdernessWatermarks;
import org.apache.flink.api.common.eventtime.Watermark;

import org.apache.flink.api.common.eventtime.WatermarkGenerator;
import org.apache.flink.api.common.eventtime.WatermarkOutput;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.types.Either;

/**
 * Watermarks are generated in the Kafka source, per partition, from valid records only: a dead
 * letter's timestamp is whatever the broken record claimed, and it must not move event time.
 */
public final class EventTime {
  private EventTime() {}

  /** Event time of a valid record. */
  @FunctionalInterface
  public interface TimeOf<T> extends Serializable {
    long eventTimeMs(T record);
  }

  public static <T> WatermarkStrategy<Either<DeadLetter, T>> strategy(
      TimeOf<T> timeOf, Duration outOfOrderness, Duration idleness) {
    WatermarkStrategy<Either<DeadLetter, T>> s =
        WatermarkStrategy.<Either<DeadLetter, T>>forGenerator(ctx -> new ValidOnly<>(outOfOrderness))
            .withTimestampAssigner(
                (e, kafkaTimestamp) -> e.isRight() ? timeOf.eventTimeMs(e.right()) : kafkaTimestamp);
    return idleness.isZero() ? s : s.withIdleness(idleness);
  }

  /**
   * For a stream that must not hold back the event time of the operator it feeds: it declares its
   * own event time finished at once, so a two-input operator's event time is that of its other
   * input alone. Records keep flowing and keep their timestamps.
   */
  public static <T> WatermarkStrategy<T> notHoldingBack() {
    return WatermarkStrategy.<T>forGenerator(ctx -> new NotHoldingBack<>())
        .withTimestampAssigner((e, previous) -> previous);
  }

  static final class NotHoldingBack<T> implements WatermarkGenerator<T> {
    @Override
    public void onEvent(T event, long timestamp, WatermarkOutput output) {}

    @Override
    public void onPeriodicEmit(WatermarkOutput output) {
      output.emitWatermark(new Watermark(Long.MAX_VALUE));
    }
  }

  /** Bounded out-of-orderness over valid records; dead letters pass without effect. */
  static final class ValidOnly<T> implements WatermarkGenerator<Either<DeadLetter, T>> {
    private final BoundedOutOfOrdernessWatermarks<Object> delegate;

    ValidOnly(Duration outOfOrderness) {
      this.delegate = new BoundedOutOfOrdernessWatermarks<>(outOfOrderness);
    }

    @Override
    public void onEvent(Either<DeadLetter, T> event, long timestamp, WatermarkOutput output) {
      if (event.isRight()) {
        delegate.onEvent(event, timestamp, output);
      }
    }

    @Override
    public void onPeriodicEmit(WatermarkOutput output) {
      delegate.onPeriodicEmit(output);
    }
  }

}
