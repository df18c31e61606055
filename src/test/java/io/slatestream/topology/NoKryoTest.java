package io.slatestream.topology;

import static org.assertj.core.api.Assertions.assertThat;

import io.slatestream.SlatestreamJob;
import io.slatestream.avro.DeadLetter;
import io.slatestream.avro.Interaction;
import io.slatestream.avro.Item;
import io.slatestream.avro.Slate;
import io.slatestream.avro.SlateRequest;
import io.slatestream.avro.state.CatalogEntry;
import io.slatestream.avro.state.IgnoredItems;
import io.slatestream.avro.state.ItemStats;
import io.slatestream.avro.state.RankerBroadcast;
import io.slatestream.avro.state.ServedItem;
import io.slatestream.avro.state.UserProfile;
import io.slatestream.config.JobConfig;
import io.slatestream.functions.RankerFunction;
import io.slatestream.io.KafkaIO;
import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.apache.flink.api.common.functions.SerializerFactory;
import org.apache.flink.api.common.serialization.SerializerConfigImpl;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.api.common.typeutils.base.StringSerializer;
import org.apache.flink.api.java.typeutils.ResultTypeQueryable;
import org.apache.flink.api.java.typeutils.runtime.EitherSerializer;
import org.apache.flink.api.java.typeutils.runtime.kryo.KryoSerializer;
import org.apache.flink.formats.avro.typeutils.AvroSerializer;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.graph.StreamGraph;
import org.apache.flink.streaming.api.graph.StreamNode;
import org.apache.flink.streaming.api.operators.SimpleOperatorFactory;
import org.apache.flink.streaming.api.operators.StreamMap;
import org.junit.jupiter.api.Test;

/**
 * Kryo state cannot evolve: every state and in-flight type must get a serializer that is not Kryo
 * even when generic types are disabled, and every stateful operator must carry its stable uid.
 */
class NoKryoTest {

  private static final List<Class<?>> AVRO_TYPES = List.of(
      UserProfile.class, ItemStats.class, CatalogEntry.class, RankerBroadcast.class,
      ServedItem.class, IgnoredItems.class, Interaction.class, Item.class, SlateRequest.class, Slate.class, DeadLetter.class);

  private static SerializerConfigImpl noGenericTypes() {
    SerializerConfigImpl config = new SerializerConfigImpl();
    config.setGenericTypes(false);
    return config;
  }

  private static SerializerFactory factory(SerializerConfigImpl config) {
    return new SerializerFactory() {
      @Override
      public <T> TypeSerializer<T> createSerializer(TypeInformation<T> typeInfo) {
        return typeInfo.createSerializer(config);
      }
    };
  }

  private static void assertAvro(TypeSerializer<?> s, Class<?> type) {
    assertThat(s).as("serializer of %s", type.getSimpleName()).isExactlyInstanceOf(AvroSerializer.class);
    assertThat(((AvroSerializer<?>) s).getType()).isEqualTo(type);
  }

  private static void assertEitherOfAvro(TypeSerializer<?> s, Class<?> left, Class<?> right) {
    assertThat(s).isExactlyInstanceOf(EitherSerializer.class);
    assertAvro(((EitherSerializer<?, ?>) s).getLeftSerializer(), left);
    assertAvro(((EitherSerializer<?, ?>) s).getRightSerializer(), right);
  }

  @Test
  void everyRecordAndStateTypeIsExtractedAsAvro() {
    SerializerConfigImpl config = noGenericTypes();
    for (Class<?> type : AVRO_TYPES) {
      // What type extraction picks for the class itself (returns(Class), lambdas, OutputTags).
      assertAvro(TypeInformation.of(type).createSerializer(config), type);
    }
  }

  @Test
  void theStateDescriptorsUseAvroSerializers() {
    SerializerConfigImpl config = noGenericTypes();
    // Initializing the shared descriptor is what the operator does on open; it is idempotent.
    RankerFunction.CATALOG.initializeSerializerUnlessSet(factory(config));
    assertThat(RankerFunction.CATALOG.getKeySerializer()).isInstanceOf(StringSerializer.class);
    // Avro whose copies share the (never changed) value: the same bytes and the same serializer
    // snapshot as plain Avro, so savepoints cannot tell them apart.
    TypeSerializer<CatalogEntry> catalog = RankerFunction.CATALOG.getValueSerializer();
    assertThat(catalog).isExactlyInstanceOf(io.slatestream.serde.ImmutableAvroTypeInfo.Serializer.class);
    assertThat(((AvroSerializer<?>) catalog).getType()).isEqualTo(CatalogEntry.class);
    assertThat(catalog.snapshotConfiguration())
        .isExactlyInstanceOf(new AvroSerializer<>(CatalogEntry.class).snapshotConfiguration().getClass());

    ValueStateDescriptor<UserProfile> profile = RankerFunction.profileDescriptor(JobConfig.defaults());
    profile.initializeSerializerUnlessSet(factory(config));
    assertAvro(profile.getSerializer(), UserProfile.class);

    ValueStateDescriptor<IgnoredItems> ignored = RankerFunction.ignoredDescriptor(JobConfig.defaults());
    ignored.initializeSerializerUnlessSet(factory(config));
    assertAvro(ignored.getSerializer(), IgnoredItems.class);
  }

  @Test
  void theKafkaSourcesProduceEithersOfAvroTypes() {
    SerializerConfigImpl config = noGenericTypes();
    var inputs = KafkaIO.inputs(JobConfig.defaults(), true);
    assertEitherOfAvro(((ResultTypeQueryable<?>) inputs.interactions()).getProducedType().createSerializer(config),
        DeadLetter.class, Interaction.class);
    assertEitherOfAvro(((ResultTypeQueryable<?>) inputs.items()).getProducedType().createSerializer(config),
        DeadLetter.class, Item.class);
    assertEitherOfAvro(((ResultTypeQueryable<?>) inputs.slateRequests()).getProducedType().createSerializer(config),
        DeadLetter.class, SlateRequest.class);
    assertEitherOfAvro(((ResultTypeQueryable<?>) inputs.servedSlates()).getProducedType().createSerializer(config),
        DeadLetter.class, Slate.class);
  }

  private static StreamGraph realTopology(JobConfig config) {
    StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
    SlatestreamJob.prepare(env, config);
    SlatestreamTopology.define(env, KafkaIO.inputs(config, true), KafkaIO.outputs(config), config);
    return env.getStreamGraph();
  }

  /** Walks composite serializers; Kryo anywhere inside is a failure. */
  private static void assertNoKryo(TypeSerializer<?> s, String where) {
    if (s == null) {
      return;
    }
    assertThat(s).as(where).isNotInstanceOf(KryoSerializer.class);
    if (s instanceof EitherSerializer<?, ?> e) {
      assertThat(e.getLeftSerializer()).as(where + " (left)").isExactlyInstanceOf(AvroSerializer.class);
      assertThat(e.getRightSerializer()).as(where + " (right)").isExactlyInstanceOf(AvroSerializer.class);
    }
  }

  @Test
  void theRealTopologyHasGenericTypesDisabledAndNoKryoSerializerAnywhere() {
    JobConfig config = JobConfig.defaults();
    StreamGraph graph = realTopology(config);
    assertThat(graph.getExecutionConfig().getSerializerConfig().hasGenericTypesDisabled()).isTrue();
    assertThat(graph.getExecutionConfig().getMaxParallelism()).isEqualTo(config.maxParallelism);

    Map<String, StreamNode> byUid = new HashMap<>();
    for (StreamNode node : graph.getStreamNodes()) {
      String where = node.getOperatorName() + " (uid " + node.getTransformationUID() + ")";
      for (TypeSerializer<?> in : node.getTypeSerializersIn()) {
        assertNoKryo(in, where + " input");
      }
      assertNoKryo(node.getTypeSerializerOut(), where + " output");
      assertNoKryo(node.getStateKeySerializer(), where + " key");
      if (node.getTransformationUID() != null) {
        byUid.put(node.getTransformationUID(), node);
      }
    }

    // The types the job is about, at the operators that carry them.
    assertThat(byUid).containsKeys(Uids.SOURCE_INTERACTIONS, Uids.SOURCE_ITEMS, Uids.SOURCE_SLATE_REQUESTS,
        Uids.SPLIT_INTERACTIONS, Uids.ITEM_STATS, Uids.RANKER);
    assertEitherOfAvro(byUid.get(Uids.SOURCE_INTERACTIONS).getTypeSerializerOut(), DeadLetter.class, Interaction.class);
    assertEitherOfAvro(byUid.get(Uids.SOURCE_ITEMS).getTypeSerializerOut(), DeadLetter.class, Item.class);
    assertEitherOfAvro(byUid.get(Uids.SOURCE_SLATE_REQUESTS).getTypeSerializerOut(), DeadLetter.class, SlateRequest.class);
    assertAvro(byUid.get(Uids.SPLIT_INTERACTIONS).getTypeSerializerOut(), Interaction.class);
    assertEitherOfAvro(byUid.get(Uids.SOURCE_SERVED_SLATES).getTypeSerializerOut(), DeadLetter.class, Slate.class);
    assertAvro(byUid.get(Uids.SERVED_ITEMS).getTypeSerializerOut(), ServedItem.class);
    assertAvro(byUid.get(Uids.ITEM_STATS).getTypeSerializerOut(), ItemStats.class);
    assertAvro(byUid.get(Uids.ITEM_STATS).getTypeSerializersIn()[0], Interaction.class);
    assertAvro(byUid.get(Uids.ITEM_STATS).getTypeSerializersIn()[1], ServedItem.class);
    assertThat(byUid.get(Uids.ITEM_STATS).getStateKeySerializer()).isInstanceOf(StringSerializer.class);
    StreamNode ranker = byUid.get(Uids.RANKER);
    assertAvro(ranker.getTypeSerializerOut(), Slate.class);
    assertThat(ranker.getStateKeySerializer()).isInstanceOf(StringSerializer.class);
    assertEitherOfAvro(ranker.getTypeSerializersIn()[0], Interaction.class, SlateRequest.class);
    assertAvro(ranker.getTypeSerializersIn()[1], RankerBroadcast.class);
  }

  private static Set<String> uidConstants() throws IllegalAccessException {
    Set<String> uids = new HashSet<>();
    int fields = 0;
    for (Field f : Uids.class.getDeclaredFields()) {
      if (Modifier.isStatic(f.getModifiers()) && f.getType() == String.class) {
        uids.add((String) f.get(null));
        fields++;
      }
    }
    assertThat(uids).as("uid constants are distinct").hasSize(fields);
    return uids;
  }

  @Test
  void everyStatefulOperatorCarriesItsUidConstant() throws Exception {
    Set<String> constants = uidConstants();
    StreamGraph graph = realTopology(JobConfig.defaults());

    Set<String> used = new HashSet<>();
    List<String> withoutUid = new ArrayList<>();
    for (StreamNode node : graph.getStreamNodes()) {
      String uid = node.getTransformationUID();
      if (uid == null) {
        withoutUid.add(node.getOperatorName());
        // Only stateless maps may go without a uid.
        assertThat(node.getOperatorFactory()).as(node.getOperatorName()).isInstanceOf(SimpleOperatorFactory.class);
        assertThat(((SimpleOperatorFactory<?>) node.getOperatorFactory()).getOperator())
            .as(node.getOperatorName()).isInstanceOf(StreamMap.class);
        continue;
      }
      // Keyed operators hold keyed state; their uid must be one of the constants.
      if (node.getStateKeySerializer() != null) {
        assertThat(uid).as("keyed operator " + node.getOperatorName()).isIn(Uids.ITEM_STATS, Uids.RANKER);
      }
      if (!constants.contains(uid)) {
        // Flink derives the committer's uid from the sink's: it must name one of the sink constants.
        assertThat(node.getOperatorName()).as("uid %s", uid).endsWith(": Committer");
        assertThat(uid).isIn("Sink Committer: " + Uids.SINK_RECOMMENDATIONS, "Sink Committer: " + Uids.SINK_DEAD_LETTERS,
            "Sink Committer: " + Uids.SINK_TRAINING_EXAMPLES);
      }
      used.add(uid);
    }
    assertThat(used).as("nodes without uid: %s", withoutUid).containsAll(constants);
    assertThat(withoutUid).containsExactlyInAnyOrder("catalog update", "stats update", "model release", "as user input", "as user input");
    Map<String, String> names = new HashMap<>();
    for (StreamNode node : graph.getStreamNodes()) {
      if (node.getTransformationUID() != null && constants.contains(node.getTransformationUID())) {
        names.put(node.getTransformationUID(), node.getOperatorName());
      }
    }
    assertThat(names.get(Uids.ITEM_STATS)).isEqualTo("item statistics");
    assertThat(names.get(Uids.RANKER)).isEqualTo("ranker");
    assertThat(names.get(Uids.SPLIT_INTERACTIONS)).isEqualTo("decode interactions");
    assertThat(names.get(Uids.SPLIT_SERVED_SLATES)).isEqualTo("decode recommendations");
    assertThat(names.get(Uids.SOURCE_INTERACTIONS)).contains("interactions");
    assertThat(names.get(Uids.SINK_RECOMMENDATIONS)).contains("recommendations");
    assertThat(names.get(Uids.SINK_DEAD_LETTERS)).contains("dead-letters");
    assertThat(names.get(Uids.SINK_TRAINING_EXAMPLES)).contains("training-examples");
  }

  @Test
  void typesThatWouldNeedKryoAreRefusedByTheSameConfig() {
    // The guard is real: with the same configuration a generic type cannot get a serializer at all.
    SerializerConfigImpl config = noGenericTypes();
    TypeInformation<Object> generic = TypeInformation.of(Object.class);
    org.assertj.core.api.Assertions.assertThatThrownBy(() -> generic.createSerializer(config))
        .isInstanceOf(UnsupportedOperationException.class);
  }
}
