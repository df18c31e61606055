package io.slatestream.testing;

import io.slatestream.local.EmbeddedKafka;
import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.AfterEachCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.BeforeEachCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * A real broker on loopback, with a producer and reader for its topics. Registered in a static
 * field ({@code @RegisterExtension static final EmbeddedKafkaExtension BROKER = new
 * EmbeddedKafkaExtension();}) one broker serves the whole class, started before its
 * {@code @BeforeAll} methods and stopped after its {@code @AfterAll} ones; registered in an
 * instance field each test gets a broker of its own, for tests whose topics must start empty.
 */
public final class EmbeddedKafkaExtension
    implements BeforeAllCallback, AfterAllCallback, BeforeEachCallback, AfterEachCallback {
  private EmbeddedKafka kafka;
  private KafkaTopics topics;
  private boolean perClass;

  @Override
  public void beforeAll(ExtensionContext context) throws Exception {
    perClass = true;
    start();
  }

  @Override
  public void afterAll(ExtensionContext context) throws Exception {
    stop();
  }

  @Override
  public void beforeEach(ExtensionContext context) throws Exception {
    if (!perClass) {
      start();
    }
  }

  @Override
  public void afterEach(ExtensionContext context) throws Exception {
    if (!perClass) {
      stop();
    }
  }

  private void start() throws Exception {
    kafka = EmbeddedKafka.start();
    topics = new KafkaTopics(kafka.bootstrapServers());
  }

  private void stop() throws Exception {
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
