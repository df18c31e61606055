package io.slatestream.serde;

import io.slatestream.avro.DeadLetter;
import java.nio.ByteBuffer;
import org.apache.avro.specific.SpecificRecordBase;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.flink.formats.avro.typeutils.AvroTypeInfo;
import org.apache.flink.types.Either;
import org.apache.flink.util.Collector;
import org.apache.flink.api.java.typeutils.EitherTypeInfo;
import org.apache.kafka.clients.consumer.ConsumerRecord;

/**
 * Turns every Kafka record into either a valid record ({@code Right}) or a dead letter ({@code
 * Left}) carrying the original bytes, topic, partition, offset and reason. It never throws: one bad
 * record must not fail the source and restart the job into the same record forever.
 */
public final class DecodingDeserializer<T extends SpecificRecordBase>
    implements KafkaRecordDeserializationSchema<Either<DeadLetter, T>> {
  private static final long serialVersionUID = 1L;

  /** Makes the record a tombstone (null value) stands for, or null if tombstones are invalid. */
  @FunctionalInterface
  public interface TombstoneHandler<T> extends java.io.Serializable {
    T onTombstone(byte[] key);
  }

  private final AvroCodec<T> codec;
  private final Validation.Validator<T> validator;
  private final TombstoneHandler<T> tombstones;

  public DecodingDeserializer(
      AvroCodec<T> codec, Validation.Validator<T> validator, TombstoneHandler<T> tombstones) {
    this.codec = codec;
    this.validator = validator;
    this.tombstones = tombstones;
  }

  @Override
  public void deserialize(ConsumerRecord<byte[], byte[]> record, Collector<Either<DeadLetter, T>> out) {
    out.collect(decode(record.topic(), record.partition(), record.offset(), record.key(), record.value()));
  }

  /** Decodes and validates one record; visible for tests. */
  public Either<DeadLetter, T> decode(String topic, int partition, long offset, byte[] key, byte[] value) {
    long now = System.currentTimeMillis();
    T decoded;
    if (value == null) {
      decoded = tombstones == null || key == null ? null : tombstones.onTombstone(key);
      if (decoded == null) {
        return Either.Left(deadLetter(topic, partition, offset, key, null, "invalid: empty (tombstone) value", now));
      }
    } else {
      try {
        decoded = codec.decode(value);
      } catch (Exception | StackOverflowError | OutOfMemoryError e) {
        // OOM/SOE: a corrupt length prefix can ask Avro for an absurd allocation or recursion.
        return Either.Left(deadLetter(topic, partition, offset, key, value, "undecodable: " + describe(e), now));
      }
    }
    String reason;
    try {
      reason = validator.check(decoded, now);
    } catch (RuntimeException e) {
      reason = "invalid: " + describe(e);
    }
    if (reason != null) {
      return Either.Left(deadLetter(topic, partition, offset, key, value, reason, now));
    }
    return Either.Right(decoded);
  }

  static String describe(Throwable e) {
    String msg = e.getMessage();
    return e.getClass().getSimpleName() + (msg == null ? "" : ": " + msg);
  }

  public static DeadLetter deadLetter(
      String topic, int partition, long offset, byte[] key, byte[] value, String error, long now) {
    return DeadLetter.newBuilder()
        .setSourceTopic(topic)
        .setPartition(partition)
        .setOffset(offset)
        .setKey(key == null ? null : ByteBuffer.wrap(key))
        .setValue(value == null ? null : ByteBuffer.wrap(value))
        .setError(error)
        .setTimeMs(now)
        .build();
  }

  @Override
  public TypeInformation<Either<DeadLetter, T>> getProducedType() {
    return new EitherTypeInfo<>(new AvroTypeInfo<>(DeadLetter.class), new AvroTypeInfo<>(codec.type()));
  }
}
