package io.slatestream.serde;

import static org.assertj.core.api.Assertions.assertThat;

import io.slatestream.avro.Item;
import io.slatestream.avro.state.CatalogEntry;
import io.slatestream.avro.state.ItemStats;
import java.util.List;
import org.apache.flink.api.common.serialization.SerializerConfigImpl;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.core.memory.DataInputDeserializer;
import org.apache.flink.core.memory.DataOutputSerializer;
import org.apache.flink.formats.avro.typeutils.AvroSerializer;
import org.junit.jupiter.api.Test;

/**
 * The catalog's serializer shares values instead of copying them, and is otherwise Flink's Avro
 * serializer: the same bytes, and serializer snapshots each side accepts as-is, so savepoints
 * restore across the change in both directions.
 */
class ImmutableAvroTypeInfoTest {
  private static final CatalogEntry ENTRY = new CatalogEntry(
      new Item("i1", "music", "c1", 60_000L, 1_000L, List.of("a", "b"), false),
      new ItemStats("i1", 2_000L, 10.0, 3.0, 2.0, 1.0));

  private final TypeSerializer<CatalogEntry> shared =
      new ImmutableAvroTypeInfo<>(CatalogEntry.class).createSerializer(new SerializerConfigImpl());
  private final AvroSerializer<CatalogEntry> plain = new AvroSerializer<>(CatalogEntry.class);

  @Test
  void copiesAreTheValueItself() {
    assertThat(shared.copy(ENTRY)).isSameAs(ENTRY);
    assertThat(shared.copy(ENTRY, new CatalogEntry())).isSameAs(ENTRY);
    assertThat(plain.copy(ENTRY)).isNotSameAs(ENTRY).isEqualTo(ENTRY);
  }

  @Test
  void writesAndReadsTheBytesOfFlinksAvroSerializer() throws Exception {
    DataOutputSerializer a = new DataOutputSerializer(256);
    shared.serialize(ENTRY, a);
    DataOutputSerializer b = new DataOutputSerializer(256);
    plain.serialize(ENTRY, b);
    assertThat(a.getCopyOfBuffer()).isEqualTo(b.getCopyOfBuffer());
    assertThat(shared.deserialize(new DataInputDeserializer(b.getCopyOfBuffer()))).isEqualTo(ENTRY);
  }

  @Test
  void eachSerializersSnapshotAcceptsTheOthersAsIs() {
    assertThat(shared.snapshotConfiguration().resolveSchemaCompatibility(plain.snapshotConfiguration())
        .isCompatibleAsIs()).as("restoring a savepoint written before").isTrue();
    assertThat(plain.snapshotConfiguration().resolveSchemaCompatibility(shared.snapshotConfiguration())
        .isCompatibleAsIs()).as("rolling back to a build before").isTrue();
  }

  @Test
  void duplicatesShareValuesToo() {
    TypeSerializer<CatalogEntry> copy = shared.duplicate();
    assertThat(copy).isEqualTo(shared).isNotSameAs(shared).hasSameHashCodeAs(shared);
    assertThat(copy.copy(ENTRY)).isSameAs(ENTRY);
    assertThat(copy).isNotEqualTo(plain);
  }
}
