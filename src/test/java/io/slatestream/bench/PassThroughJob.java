package io.slatestream.bench;

import io.slatestream.config.JobConfig;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.tuple.Tuple3;
import org.apache.flink.connector.base.DeliveryGuarantee;
import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.flink.connector.kafka.sink.KafkaSink;
import org.apache.flink.connector.kafka.source.KafkaSource;
import org.apache.flink.connector.kafka.source.enumerator.initializer.OffsetsInitializer;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.util.Collector;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;

/**
 * The reference the full topology is measured against: Kafka to Flink to Kafka with nothing in
 * between. The same input topics as the job, read with the job's Kafka client properties, each
 * record's key and value copied unchanged to an output topic of its own, at-least-once, with the
 * same checkpointing: no decoding, no state, no shuffle, no scoring. What it sustains is what the
 * broker, the Kafka clients and Flink's runtime cost on this machine before the job does any work.
 */
final class PassThroughJob {
  private PassThroughJob() {}

  /** @param outputs output topic per input topic */
  static void define(StreamExecutionEnvironment env, JobConfig config, Map<String, String> outputs) {
    TypeInformation<Tuple3<String, byte[], byte[]>> type =
        Types.TUPLE(Types.STRING, Types.PRIMITIVE_ARRAY(Types.BYTE), Types.PRIMITIVE_ARRAY(Types.BYTE));
    KafkaSource<Tuple3<String, byte[], byte[]>> source = KafkaSource.<Tuple3<String, byte[], byte[]>>builder()
        .setProperties(config.kafka().toProperties())
        .setTopics(List.copyOf(outputs.keySet()))
        .setGroupId(config.groupId + "-pass-through")
        .setClientIdPrefix("pass-through")
        .setStartingOffsets(OffsetsInitializer.earliest())
        .setDeserializer(new Copy(type))
        .build();
    Properties producer = config.kafka().toProperties();
    KafkaSink<Tuple3<String, byte[], byte[]>> sink = KafkaSink.<Tuple3<String, byte[], byte[]>>builder()
        .setKafkaProducerConfig(producer)
        .setDeliveryGuarantee(DeliveryGuarantee.AT_LEAST_ONCE)
        .setRecordSerializer((KafkaRecordSerializationSchema<Tuple3<String, byte[], byte[]>>) (r, ctx, ts) ->
            new ProducerRecord<>(outputs.get(r.f0), r.f1, r.f2))
        .build();
    env.fromSource(source, WatermarkStrategy.noWatermarks(), "pass-through source", type)
        .uid("pass-through-source")
        .sinkTo(sink)
        .uid("pass-through-sink")
        .name("pass-through sink");
  }

  /** Topic, key and value of each record, untouched. */
  private static final class Copy implements KafkaRecordDeserializationSchema<Tuple3<String, byte[], byte[]>> {
    private final TypeInformation<Tuple3<String, byte[], byte[]>> type;

    Copy(TypeInformation<Tuple3<String, byte[], byte[]>> type) {
      this.type = type;
    }

    @Override
    public void deserialize(ConsumerRecord<byte[], byte[]> record, Collector<Tuple3<String, byte[], byte[]>> out) {
      out.collect(Tuple3.of(record.topic(), record.key(), record.value()));
    }

    @Override
    public TypeInformation<Tuple3<String, byte[], byte[]>> getProducedType() {
      return type;
    }
  }
}
