package io.slatestream.testing;

import io.slatestream.local.EmbeddedKafka;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * One real broker on loopback for a test class, with a producer and reader for its topics:
 * {@code @RegisterExtension static final EmbeddedKafkaExtension BROKER = new EmbeddedKafkaExtension();}.
 * Started before the class's {@code @BeforeAll} methods, stopped after its {@code @AfterAll} ones.
 */
public final class EmbeddedKafkaExtension implements BeforeAllCallback, AfterAllCallback {
  private EmbeddedKafka kafka;
  private KafkaTopics topics;

  @Override
  public void beforeAll(ExtensionContext context) throws Exception {
    kafka = EmbeddedKafka.start();
    topics = new KafkaTopics(kafka.bootstrapServers());
  }

  @Override
  public void afterAll(ExtensionContext context) throws Exception {
    topics.close();
    kafka.close();
  }

  public EmbeddedKafka kafka() {
    return kafka;
  }

  public KafkaTopics topics() {
    return topics;
  }
}
