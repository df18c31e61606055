package io.slatestream.testing;

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.stream.Collectors;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;

/** Plain producer and read_committed reader for tests against the embedded broker. */
public final class KafkaTopics implements AutoCloseable {
  private final String bootstrap;
  private final KafkaProducer<byte[], byte[]> producer;

  public KafkaTopics(String bootstrap) {
    this.bootstrap = bootstrap;
    Properties p = new Properties();
    p.put("bootstrap.servers", bootstrap);
    p.put("key.serializer", "org.apache.kafka.common.serialization.ByteArraySerializer");
    p.put("value.serializer", "org.apache.kafka.common.serialization.ByteArraySerializer");
    p.put("acks", "all");
    this.producer = new KafkaProducer<>(p);
  }

  public RecordMetadata send(String topic, String key, byte[] value) throws Exception {
    return producer.send(new ProducerRecord<>(topic, key == null ? null : key.getBytes(StandardCharsets.UTF_8), value)).get();
  }

  /** To one partition, whatever the key. */
  public RecordMetadata send(String topic, int partition, String key, byte[] value) throws Exception {
    return producer.send(new ProducerRecord<>(topic, partition,
        key == null ? null : key.getBytes(StandardCharsets.UTF_8), value)).get();
  }

  public int partitions(String topic) {
    return producer.partitionsFor(topic).size();
  }

  /** Every committed record of {@code topic}, up to its end offsets at the time of the call. */
  public List<ConsumerRecord<byte[], byte[]>> readAll(String topic) {
    return readAll(topic, true);
  }

  /**
   * Every record of {@code topic} up to its end offsets at the time of the call: committed ones
   * only, or also those of open and aborted transactions ({@code committedOnly = false}).
   */
  public List<ConsumerRecord<byte[], byte[]>> readAll(String topic, boolean committedOnly) {
    Properties p = new Properties();
    p.put("bootstrap.servers", bootstrap);
    p.put("isolation.level", committedOnly ? "read_committed" : "read_uncommitted");
    p.put("key.deserializer", "org.apache.kafka.common.serialization.ByteArrayDeserializer");
    p.put("value.deserializer", "org.apache.kafka.common.serialization.ByteArrayDeserializer");
    try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p)) {
      List<TopicPartition> partitions = c.partitionsFor(topic).stream()
          .map(i -> new TopicPartition(topic, i.partition())).collect(Collectors.toList());
      c.assign(partitions);
      c.seekToBeginning(partitions);
      Map<TopicPartition, Long> end = c.endOffsets(partitions);
      List<ConsumerRecord<byte[], byte[]>> out = new ArrayList<>();
      long deadline = System.currentTimeMillis() + 30_000;
      while (partitions.stream().anyMatch(tp -> c.position(tp) < end.get(tp))) {
        if (System.currentTimeMillis() > deadline) {
          throw new IllegalStateException("Timed out reading " + topic + " up to " + end);
        }
        c.poll(Duration.ofMillis(200)).forEach(out::add);
      }
      return out;
    }
  }

  @Override
  public void close() {
    producer.close();
  }
}
