package io.slatestream.io;

import io.slatestream.avro.DeadLetter;
import io.slatestream.avro.Interaction;
import io.slatestream.avro.Item;
import io.slatestream.avro.ModelRelease;
import io.slatestream.avro.Slate;
import io.slatestream.avro.SlateRequest;
import io.slatestream.avro.TrainingExample;
import io.slatestream.config.JobConfig;
import io.slatestream.config.JobOptions;
import io.slatestream.serde.AvroCodec;
import io.slatestream.serde.DecodingDeserializer;
import io.slatestream.serde.Validation;
import io.slatestream.topology.SlatestreamTopology;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Properties;
import org.apache.avro.specific.SpecificRecordBase;
import org.apache.flink.connector.base.DeliveryGuarantee;
import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.flink.connector.kafka.sink.KafkaSink;
import org.apache.flink.connector.kafka.source.KafkaSource;
import org.apache.flink.connector.kafka.source.KafkaSourceBuilder;
import org.apache.flink.connector.kafka.source.enumerator.initializer.OffsetsInitializer;
import org.apache.flink.types.Either;
import org.apache.kafka.clients.consumer.OffsetResetStrategy;
import org.apache.kafka.clients.producer.ProducerRecord;

/**
 * The job's Kafka sources and sinks, built from the configuration. Every client gets the
 * pass-through {@code kafka.*} properties, so security settings need no code change.
 */
public final class KafkaIO {
  private KafkaIO() {}

  /** Sources reading from their starting offsets forever (the job), or up to the latest offsets (tests). */
  public static SlatestreamTopology.Inputs inputs(JobConfig config, boolean bounded) {
    AvroCodec<Item> itemCodec = AvroCodec.of(Item.class);
    return new SlatestreamTopology.Inputs(
        source(config, config.topicInteractions, new DecodingDeserializer<>(AvroCodec.of(Interaction.class),
            Validation.interactions(config.maxFutureSkew), null), bounded),
        source(config, config.topicItems, new DecodingDeserializer<>(itemCodec,
            Validation.items(config.maxFutureSkew), KafkaIO::deletedItem), bounded),
        source(config, config.topicSlateRequests, new DecodingDeserializer<>(AvroCodec.of(SlateRequest.class),
            Validation.slateRequests(config.maxFutureSkew, config.maxRequestCandidates), null), bounded),
        source(config, config.topicModelReleases, new DecodingDeserializer<>(AvroCodec.of(ModelRelease.class),
            Validation.modelReleases(config.maxFutureSkew), null), bounded),
        servedSlates(config, bounded));
  }

  /**
   * The job's own output read back: every item of a slate on the recommendations topic is an
   * impression for the item statistics. It reads committed records only, whatever the delivery
   * mode: with exactly-once delivery a slate of an aborted transaction was never delivered to
   * anyone and must not count (without transactions read_committed reads everything).
   */
  static KafkaSource<Either<DeadLetter, Slate>> servedSlates(JobConfig config, boolean bounded) {
    Properties defaults = new Properties();
    defaults.setProperty("fetch.min.bytes", Integer.toString(SERVED_SLATES_FETCH_MIN_BYTES));
    defaults.setProperty("fetch.max.wait.ms", Long.toString(BACKGROUND_BATCHING.toMillis()));
    Properties overrides = new Properties();
    overrides.setProperty("isolation.level", "read_committed");
    return source(config, config.topicRecommendations, new DecodingDeserializer<>(AvroCodec.of(Slate.class),
        Validation.servedSlates(config.maxFutureSkew), null), bounded, defaults, overrides);
  }

  /**
   * How long the clients nobody waits on batch their records: the training-examples producer
   * ({@code linger.ms}) and the served-slates reader ({@code fetch.max.wait.ms}). Training examples
   * are read by the next training run, and impressions reach the rankers at most once per
   * {@code items.stats-interval} anyway; batching them saves broker requests at no cost to a
   * slate's latency. A {@code kafka.*} setting of the same key wins.
   */
  static final java.time.Duration BACKGROUND_BATCHING = java.time.Duration.ofMillis(100);

  /** What the served-slates reader waits for, up to {@link #BACKGROUND_BATCHING}: a hundred slates or so. */
  static final int SERVED_SLATES_FETCH_MIN_BYTES = 64 * 1024;

  /** A catalog tombstone (null value) deletes the item named by the key. */
  static Item deletedItem(byte[] key) {
    String itemId = new String(key, StandardCharsets.UTF_8);
    return Item.newBuilder().setItemId(itemId).setCategory("").setCreatorId("").setDurationMs(0)
        .setPublishedTimeMs(1).setDeleted(true).build();
  }

  public static SlatestreamTopology.Outputs outputs(JobConfig config) {
    AvroCodec<Slate> slates = AvroCodec.of(Slate.class);
    AvroCodec<DeadLetter> deadLetters = AvroCodec.of(DeadLetter.class);
    AvroCodec<TrainingExample> examples = AvroCodec.of(TrainingExample.class);
    return new SlatestreamTopology.Outputs(
        sink(config, "recommendations", (KafkaRecordSerializationSchema<Slate>) (s, ctx, ts) ->
            new ProducerRecord<>(config.topicRecommendations, utf8(s.getUserId()), slates.encode(s))),
        sink(config, "dead-letters", (KafkaRecordSerializationSchema<DeadLetter>) (d, ctx, ts) ->
            new ProducerRecord<>(config.topicDeadLetters, bytes(d.getKey()), deadLetters.encode(d))),
        sink(config, "training-examples", (KafkaRecordSerializationSchema<TrainingExample>) (e, ctx, ts) ->
            new ProducerRecord<>(config.topicTrainingExamples, utf8(e.getUserId()), examples.encode(e)),
            batched()));
  }

  private static Properties batched() {
    Properties p = new Properties();
    p.setProperty("linger.ms", Long.toString(BACKGROUND_BATCHING.toMillis()));
    return p;
  }

  static <T extends SpecificRecordBase> KafkaSource<Either<DeadLetter, T>> source(
      JobConfig config, String topic, DecodingDeserializer<T> deserializer, boolean bounded) {
    return source(config, topic, deserializer, bounded, new Properties(), new Properties());
  }

  /** {@code defaults} yield to the {@code kafka.*} properties, {@code overrides} do not. */
  static <T extends SpecificRecordBase> KafkaSource<Either<DeadLetter, T>> source(JobConfig config, String topic,
      DecodingDeserializer<T> deserializer, boolean bounded, Properties defaults, Properties overrides) {
    Properties props = new Properties();
    props.putAll(defaults);
    props.putAll(config.kafka().toProperties());
    props.putAll(overrides);
    KafkaSourceBuilder<Either<DeadLetter, T>> b = KafkaSource.<Either<DeadLetter, T>>builder()
        .setProperties(props)
        .setTopics(topic)
        .setGroupId(config.groupId)
        .setClientIdPrefix(config.jobName + "-" + topic)
        .setDeserializer(deserializer)
        .setStartingOffsets(switch (config.startingOffsets) {
          case EARLIEST -> OffsetsInitializer.earliest();
          case LATEST -> OffsetsInitializer.latest();
          case COMMITTED_OR_EARLIEST -> OffsetsInitializer.committedOffsets(OffsetResetStrategy.EARLIEST);
        });
    if (bounded) {
      b.setBounded(OffsetsInitializer.latest());
    }
    return b.build();
  }

  static <T> KafkaSink<T> sink(JobConfig config, String name, KafkaRecordSerializationSchema<T> schema) {
    return sink(config, name, schema, new Properties());
  }

  /** {@code defaults} yield to the {@code kafka.*} properties. */
  static <T> KafkaSink<T> sink(JobConfig config, String name, KafkaRecordSerializationSchema<T> schema,
      Properties defaults) {
    Properties producer = new Properties();
    producer.putAll(defaults);
    producer.putAll(config.kafka().toProperties());
    if (config.delivery == JobOptions.DeliveryMode.EXACTLY_ONCE) {
      producer.setProperty("transaction.timeout.ms", Long.toString(DeliveryCheck.transactionTimeout(config).toMillis()));
    }
    var b = KafkaSink.<T>builder()
        .setKafkaProducerConfig(producer)
        .setRecordSerializer(schema);
    if (config.delivery == JobOptions.DeliveryMode.EXACTLY_ONCE) {
      b.setDeliveryGuarantee(DeliveryGuarantee.EXACTLY_ONCE)
          .setTransactionalIdPrefix(config.transactionalIdPrefix + "-" + name);
    } else {
      b.setDeliveryGuarantee(DeliveryGuarantee.AT_LEAST_ONCE);
    }
    return b.build();
  }

  private static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  private static byte[] bytes(ByteBuffer b) {
    if (b == null) {
      return null;
    }
    byte[] out = new byte[b.remaining()];
    b.duplicate().get(out);
    return out;
  }
}
