package io.slatestream.local;

import io.slatestream.avro.Interaction;
import io.slatestream.avro.Item;
import io.slatestream.avro.SlateRequest;
import io.slatestream.config.JobConfig;
import io.slatestream.serde.AvroCodec;
import io.slatestream.sim.Simulator;
import java.nio.charset.StandardCharsets;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;

/**
 * Records for the job's input topics, Avro-encoded (single-object encoding) and keyed as the job
 * expects: interactions and slate requests by user, catalog items by item id.
 */
public final class KafkaOutbox implements Simulator.Outbox {
  private final JobConfig config;
  private final KafkaProducer<byte[], byte[]> producer;
  private final AvroCodec<Interaction> interactions = AvroCodec.of(Interaction.class);
  private final AvroCodec<Item> items = AvroCodec.of(Item.class);
  private final AvroCodec<SlateRequest> requests = AvroCodec.of(SlateRequest.class);
  private volatile Exception failed;

  public KafkaOutbox(JobConfig config, KafkaProducer<byte[], byte[]> producer) {
    this.config = config;
    this.producer = producer;
  }

  @Override
  public void item(Item item) {
    send(config.topicItems, null, item.getItemId(), items.encode(item));
  }

  @Override
  public void interaction(Interaction e) {
    send(config.topicInteractions, null, e.getUserId(), interactions.encode(e));
  }

  /** To one partition of the interactions topic, whatever its key. */
  public void interaction(Interaction e, int partition) {
    send(config.topicInteractions, partition, e.getUserId(), interactions.encode(e));
  }

  @Override
  public void request(SlateRequest r) {
    send(config.topicSlateRequests, null, r.getUserId(), requests.encode(r));
  }

  @Override
  public void raw(String key, byte[] value) {
    send(config.topicInteractions, null, key, value);
  }

  /**
   * Blocks until everything sent so far is acknowledged by the broker; throws if any record could
   * not be written.
   */
  public void flush() {
    producer.flush();
    Exception e = failed;
    if (e != null) {
      throw new IllegalStateException("A record could not be written to Kafka: " + e.getMessage(), e);
    }
  }

  private void send(String topic, Integer partition, String key, byte[] value) {
    producer.send(new ProducerRecord<>(topic, partition, key.getBytes(StandardCharsets.UTF_8), value),
        (metadata, e) -> {
          if (e != null && failed == null) {
            failed = e;
          }
        });
  }
}
