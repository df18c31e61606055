package io.slatestream.local;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.tuple;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.TimeoutException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.common.utils.Utils;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class EmbeddedKafkaTest {

    private static EmbeddedKafka kafka;
    private static Path tempLogDir;

    @BeforeAll
    static void startBroker() throws Exception {
        long t0 = System.nanoTime();
        kafka = EmbeddedKafka.start();
        long millis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - t0);
        System.out.println("EmbeddedKafka.start() took " + millis + " ms, bootstrap " + kafka.bootstrapServers());
    }

    @AfterAll
    static void stopBroker() {
        if (kafka != null) {
            kafka.close();
        }
    }

    @Test
    void producesAndConsumesOnTwoPartitionTopic() throws Exception {
        assertThat(kafka.bootstrapServers()).matches("127\\.0\\.0\\.1:\\d+");
        String topic = "plain-" + UUID.randomUUID();
        kafka.createTopic(topic, 2, Map.of("retention.ms", "-1"));
        kafka.createTopic(topic, 2, Map.of()); // idempotent

        try (KafkaProducer<String, String> producer = new KafkaProducer<>(producerProps(null))) {
            for (int i = 0; i < 6; i++) {
                // Explicit partitions so both partitions are provably in use.
                producer.send(new ProducerRecord<>(topic, i % 2, "k" + i, "v" + i)).get();
            }
        }

        List<ConsumerRecord<String, String>> records = consume(topic, "read_uncommitted", 6);
        assertThat(records)
                .extracting(ConsumerRecord::key, ConsumerRecord::value)
                .containsExactlyInAnyOrder(
                        tuple("k0", "v0"),
                        tuple("k1", "v1"),
                        tuple("k2", "v2"),
                        tuple("k3", "v3"),
                        tuple("k4", "v4"),
                        tuple("k5", "v5"));
        assertThat(records).filteredOn(r -> r.partition() == 0)
                .extracting(ConsumerRecord::key).containsExactly("k0", "k2", "k4");
        assertThat(records).filteredOn(r -> r.partition() == 1)
                .extracting(ConsumerRecord::key).containsExactly("k1", "k3", "k5");
    }

    @Test
    void readCommittedConsumerSeesCommittedButNotAbortedTransactions() throws Exception {
        String topic = "tx-" + UUID.randomUUID();
        kafka.createTopic(topic, 2, Map.of());

        try (KafkaProducer<String, String> producer = new KafkaProducer<>(producerProps("tx-" + UUID.randomUUID()))) {
            producer.initTransactions();

            producer.beginTransaction();
            producer.send(new ProducerRecord<>(topic, 0, "c1", "committed-1"));
            producer.send(new ProducerRecord<>(topic, 1, "c2", "committed-2"));
            producer.commitTransaction();

            producer.beginTransaction();
            producer.send(new ProducerRecord<>(topic, 0, "a1", "aborted-1"));
            producer.send(new ProducerRecord<>(topic, 1, "a2", "aborted-2"));
            producer.flush();
            producer.abortTransaction();

            producer.beginTransaction();
            producer.send(new ProducerRecord<>(topic, 0, "c3", "committed-3"));
            producer.commitTransaction();
        }

        // read_committed stops at the last stable offset, so reading to the end proves aborted data is skipped.
        List<ConsumerRecord<String, String>> committed = consume(topic, "read_committed", 3);
        assertThat(committed)
                .extracting(ConsumerRecord::key, ConsumerRecord::value)
                .containsExactlyInAnyOrder(
                        tuple("c1", "committed-1"),
                        tuple("c2", "committed-2"),
                        tuple("c3", "committed-3"));

        // Sanity check that the aborted records really were written to the log.
        List<ConsumerRecord<String, String>> all = consume(topic, "read_uncommitted", 5);
        assertThat(all).extracting(ConsumerRecord::key)
                .containsExactlyInAnyOrder("c1", "c2", "a1", "a2", "c3");
    }

    @Test
    void unknownTopicIsNotAutoCreated() throws Exception {
        Properties props = producerProps(null);
        props.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, "2000");
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(props)) {
            assertThatThrownBy(() -> producer.send(new ProducerRecord<>("no-such-topic", "k", "v")).get())
                    .isInstanceOfAny(ExecutionException.class, KafkaException.class)
                    .satisfies(e -> assertThat(causeChain(e)).anyMatch(
                            t -> t instanceof UnknownTopicOrPartitionException || t instanceof TimeoutException));
        }
        try (Admin admin = Admin.create(Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers()))) {
            assertThat(admin.listTopics().names().get()).doesNotContain("no-such-topic");
        }
    }

    @Test
    void callerOwnedLogDirIsKeptAndReusable() throws Exception {
        Path dir = Files.createTempDirectory("embedded-kafka-test-");
        try {
            String topic = "persisted";
            try (EmbeddedKafka first = EmbeddedKafka.start(dir)) {
                // A second broker on a dir that is in use must be refused before it touches the data.
                assertThatThrownBy(() -> EmbeddedKafka.start(dir))
                        .isInstanceOf(IllegalStateException.class)
                        .hasMessageContaining("in use");
                first.createTopic(topic, 1, Map.of());
                try (KafkaProducer<String, String> producer = new KafkaProducer<>(producerProps(null, first))) {
                    producer.send(new ProducerRecord<>(topic, "k", "survives-restart")).get();
                }
            }
            assertThat(dir.resolve("meta.properties")).exists();

            try (EmbeddedKafka second = EmbeddedKafka.start(dir)) {
                second.createTopic(topic, 1, Map.of()); // already exists: no-op, but waits for readiness
                assertThat(consume(second, topic, "read_committed", 1))
                        .extracting(ConsumerRecord::value).containsExactly("survives-restart");
            }
        } finally {
            Utils.delete(dir.toFile());
        }
    }

    private static List<Throwable> causeChain(Throwable e) {
        List<Throwable> chain = new ArrayList<>();
        for (Throwable t = e; t != null; t = t.getCause()) {
            chain.add(t);
        }
        return chain;
    }

    private static Properties producerProps(String transactionalId) {
        return producerProps(transactionalId, kafka);
    }

    private static Properties producerProps(String transactionalId, EmbeddedKafka broker) {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrapServers());
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, StringSerializer.class.getName());
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        if (transactionalId != null) {
            p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, transactionalId);
        }
        return p;
    }

    private static List<ConsumerRecord<String, String>> consume(String topic, String isolation, int expected) {
        return consume(kafka, topic, isolation, expected);
    }

    /**
     * Reads every partition of the topic from the beginning up to its end offset (the last stable offset
     * for read_committed), then returns what was read; fails if fewer than {@code expected} records show up.
     */
    private static List<ConsumerRecord<String, String>> consume(
            EmbeddedKafka broker, String topic, String isolation, int expected) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrapServers());
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, StringDeserializer.class.getName());
        p.put(ConsumerConfig.GROUP_ID_CONFIG, "test-" + UUID.randomUUID());
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, isolation);
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        List<ConsumerRecord<String, String>> out = new ArrayList<>();
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(p)) {
            // subscribe() exercises the group coordinator (and so __consumer_offsets) as a real app would.
            consumer.subscribe(List.of(topic));
            long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            while (System.nanoTime() < deadline) {
                consumer.poll(Duration.ofMillis(200)).forEach(out::add);
                if (out.size() >= expected && caughtUp(consumer)) {
                    break;
                }
            }
        }
        assertThat(out).as("records read from %s (%s)", topic, isolation).hasSizeGreaterThanOrEqualTo(expected);
        return out;
    }

    private static boolean caughtUp(KafkaConsumer<String, String> consumer) {
        if (consumer.assignment().isEmpty()) {
            return false;
        }
        Map<TopicPartition, Long> end = consumer.endOffsets(consumer.assignment());
        return end.entrySet().stream().allMatch(e -> consumer.position(e.getKey()) >= e.getValue());
    }
}
