package io.slatestream.serde;

import java.io.IOException;
import java.io.Serializable;
import java.io.UncheckedIOException;
import org.apache.avro.Schema;
import org.apache.avro.message.BinaryMessageDecoder;
import org.apache.avro.message.BinaryMessageEncoder;
import org.apache.avro.message.SchemaStore;
import org.apache.avro.specific.SpecificData;
import org.apache.avro.specific.SpecificRecordBase;

/**
 * Avro single-object encoding (a 2-byte marker, the writer schema's 64-bit fingerprint, then the
 * binary record) for every topic. It is Avro's own format for self-identifying messages without a
 * schema registry: a reader knows which schema wrote a record, so schemas can evolve and writers
 * of older schema versions stay readable once their schema is added to the {@link SchemaStore}.
 */
public final class AvroCodec<T extends SpecificRecordBase> implements Serializable {
  private static final long serialVersionUID = 1L;

  private final Class<T> type;
  private transient BinaryMessageEncoder<T> encoder;
  private transient BinaryMessageDecoder<T> decoder;

  private AvroCodec(Class<T> type) {
    this.type = type;
  }

  public static <T extends SpecificRecordBase> AvroCodec<T> of(Class<T> type) {
    return new AvroCodec<>(type);
  }

  public Class<T> type() {
    return type;
  }

  public Schema schema() {
    return SpecificData.get().getSchema(type);
  }

  public byte[] encode(T record) {
    try {
      if (encoder == null) {
        encoder = new BinaryMessageEncoder<>(SpecificData.getForClass(type), schema());
      }
      return encoder.encode(record).array();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /**
   * Decodes one message. Throws on anything that is not a complete, well-formed message of a known
   * writer schema; callers turn that into a dead letter.
   */
  public T decode(byte[] bytes) throws IOException {
    if (decoder == null) {
      SpecificData model = SpecificData.getForClass(type);
      decoder = new BinaryMessageDecoder<>(model, schema());
    }
    return decoder.decode(bytes);
  }
}
