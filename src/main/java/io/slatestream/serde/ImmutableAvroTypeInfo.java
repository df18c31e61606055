package io.slatestream.serde;

import org.apache.avro.specific.SpecificRecordBase;
import org.apache.flink.api.common.serialization.SerializerConfig;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.formats.avro.typeutils.AvroSerializer;
import org.apache.flink.formats.avro.typeutils.AvroTypeInfo;

/**
 * Avro type information for state whose values are never changed once stored: each update stores
 * a new object. Its serializer is Flink's {@link AvroSerializer} (same bytes, same serializer
 * snapshot, so savepoints are exactly those of {@link AvroTypeInfo}, in both directions) except that
 * copying a value returns it.
 *
 * <p>Why: Flink snapshots heap broadcast state by deep-copying every entry on the task thread,
 * in the checkpoint's synchronous part. For the ranker's catalog (an Avro record per item, copied
 * reflectively) that was most of the time a checkpoint held the ranker, and so most of the
 * request-to-slate latency tail (README, Performance). Sharing unchanged values with the snapshot
 * is safe only because nothing mutates a stored value: whoever uses this type promises that.
 */
public final class ImmutableAvroTypeInfo<T extends SpecificRecordBase> extends AvroTypeInfo<T> {
  private static final long serialVersionUID = 1L;

  public ImmutableAvroTypeInfo(Class<T> type) {
    super(type);
  }

  @Override
  public TypeSerializer<T> createSerializer(SerializerConfig config) {
    return new Serializer<>(getTypeClass());
  }

  /** {@link AvroSerializer} whose copies are the value itself. */
  public static final class Serializer<T> extends AvroSerializer<T> {
    private static final long serialVersionUID = 1L;

    public Serializer(Class<T> type) {
      super(type);
    }

    @Override
    public T copy(T from) {
      return from;
    }

    @Override
    public T copy(T from, T reuse) {
      return from;
    }

    @Override
    public TypeSerializer<T> duplicate() {
      return new Serializer<>(getType());
    }

    @Override
    public boolean equals(Object obj) {
      return obj instanceof Serializer<?> other && other.getType() == getType();
    }

    @Override
    public int hashCode() {
      return 31 * getType().hashCode() + 1;
    }
  }
}
