package io.slatestream.local;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.net.BindException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.channels.FileChannel;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.stream.Collectors;

import kafka.server.KafkaConfig;
import kafka.server.KafkaRaftServer;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.utils.Exit;
import org.apache.kafka.common.utils.Time;
import org.apache.kafka.common.utils.Utils;
import org.apache.kafka.metadata.storage.Formatter;

/**
 * A real, single-node Apache Kafka broker running inside this JVM, for local runs and tests.
 *
 * <p>This is not a fake: it is Kafka's own {@link KafkaRaftServer} (the class {@code kafka-server-start.sh}
 * ends up running) in KRaft mode with {@code process.roles=broker,controller}, i.e. one node that is both the
 * metadata controller (a one-voter Raft quorum) and the broker. Before the first start the log directory is
 * formatted with Kafka's own storage {@link Formatter} (what {@code kafka-storage.sh format} does), because a
 * KRaft node refuses to start on an unformatted directory.
 *
 * <p>Everything listens on {@code 127.0.0.1} only. Every replication factor and min-ISR is 1, so internal
 * topics ({@code __consumer_offsets}, {@code __transaction_state}) can be created on a single node and
 * exactly-once transactions work. Topics are not auto-created: create them with
 * {@link #createTopic(String, int, Map)} so that a misspelled topic name fails loudly instead of silently
 * creating a new, empty topic.
 *
 * <p>The broker logs through SLF4J; this class deliberately does not configure logging.
 *
 * <p>Not thread-safe for concurrent {@link #close()}; meant to be owned by one runner or test.
 */
public final class EmbeddedKafka implements AutoCloseable {

    private static final int NODE_ID = 1;
    private static final String BROKER_LISTENER = "PLAINTEXT";
    private static final String CONTROLLER_LISTENER = "CONTROLLER";
    private static final String HOST = "127.0.0.1";

    /** Port picking can race with other processes (see {@link #pickFreePorts()}); retry a few times. */
    private static final int START_ATTEMPTS = 3;
    private static final Duration TOPIC_READY_TIMEOUT = Duration.ofSeconds(30);

    /** Our own lock file in the log dir; see {@link #lockLogDir(Path)}. Kafka ignores plain files there. */
    private static final String LOCK_FILE = ".embedded-kafka.lock";

    private final KafkaRaftServer server;
    private final Path logDir;
    private final boolean ownsLogDir;
    private final FileChannel logDirLock;
    private final String bootstrapServers;
    private boolean closed;

    private EmbeddedKafka(KafkaRaftServer server, Path logDir, boolean ownsLogDir, FileChannel logDirLock,
                          int brokerPort) {
        this.server = server;
        this.logDir = logDir;
        this.ownsLogDir = ownsLogDir;
        this.logDirLock = logDirLock;
        this.bootstrapServers = HOST + ":" + brokerPort;
    }

    /**
     * Starts a broker on a fresh temporary log directory, which {@link #close()} deletes again.
     * Returns once the broker has joined the cluster and accepts client requests.
     */
    public static EmbeddedKafka start() throws Exception {
        Path dir = Files.createTempDirectory("embedded-kafka-");
        try {
            return start(dir, true);
        } catch (Exception | Error e) {
            deleteQuietly(dir);
            throw e;
        }
    }

    /**
     * Starts a broker on the given log directory, which is created if missing and never deleted by this class.
     *
     * <p>If the directory already holds data from an earlier run (a {@code meta.properties} file is present),
     * it is not reformatted: topics, committed offsets and records survive a restart. Ports are picked anew
     * on every start, which is fine because clients only ever see {@link #bootstrapServers()}.
     */
    public static EmbeddedKafka start(Path logDir) throws Exception {
        Objects.requireNonNull(logDir, "logDir");
        Files.createDirectories(logDir);
        return start(logDir.toAbsolutePath(), false);
    }

    private static EmbeddedKafka start(Path logDir, boolean ownsLogDir) throws Exception {
        FileChannel lock = lockLogDir(logDir);
        try {
            return start(logDir, ownsLogDir, lock);
        } catch (Exception | Error e) {
            closeQuietly(lock);
            throw e;
        }
    }

    private static EmbeddedKafka start(Path logDir, boolean ownsLogDir, FileChannel lock) throws Exception {
        Exception lastBindFailure = null;
        for (int attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
            int[] ports = pickFreePorts();
            int brokerPort = ports[0];
            int controllerPort = ports[1];
            KafkaConfig config = KafkaConfig.fromProps(brokerProperties(logDir, brokerPort, controllerPort), false);
            formatIfNeeded(config, logDir);

            // The constructor reads meta.properties and opens the log dirs; startup() binds both listeners,
            // elects this node as the (only) controller, and blocks until the broker is registered and
            // unfenced, i.e. until it is ready to serve clients.
            KafkaRaftServer server = new KafkaRaftServer(config, Time.SYSTEM);
            try {
                startupWithoutTerminatingJvm(server);
                return new EmbeddedKafka(server, logDir, ownsLogDir, lock, brokerPort);
            } catch (Exception e) {
                shutdownQuietly(server);
                if (!isBindFailure(e)) {
                    throw e;
                }
                lastBindFailure = e;
            }
        }
        throw new IllegalStateException(
                "Could not bind Kafka to free ports on " + HOST + " after " + START_ATTEMPTS + " attempts",
                lastBindFailure);
    }

    /**
     * Runs {@link KafkaRaftServer#startup()} while Kafka's process-terminating fault handlers are disarmed.
     *
     * <p>Why: when the controller half fails to start (for example because its port was taken between
     * {@link #pickFreePorts()} and the bind), Kafka's {@code ProcessTerminatingFaultHandler} calls
     * {@link Exit#halt(int)}, i.e. {@code Runtime.halt}: the whole JVM (Flink job, test runner) would vanish
     * without a stack trace or shutdown hooks. Kafka's {@link Exit} procedures are swappable for exactly this
     * purpose (Kafka's own tests do it); while disarmed, a fault is only recorded, the controller then shuts
     * itself down and rethrows the original exception, which reaches the caller (and the bind-retry logic).
     * The stock procedures are restored before returning, so once the broker runs, a fatal fault halts the
     * JVM as it would for a standalone broker. Synchronized because {@link Exit}'s procedures are JVM-global.
     */
    private static void startupWithoutTerminatingJvm(KafkaRaftServer server) {
        synchronized (EmbeddedKafka.class) {
            List<String> suppressed = new CopyOnWriteArrayList<>();
            Exit.Procedure record = (statusCode, message) ->
                    suppressed.add("status " + statusCode + (message == null ? "" : ": " + message));
            Exit.setHaltProcedure(record);
            Exit.setExitProcedure(record);
            try {
                server.startup();
            } finally {
                Exit.resetHaltProcedure();
                Exit.resetExitProcedure();
            }
            if (!suppressed.isEmpty()) {
                throw new IllegalStateException("Kafka reported a fatal fault during startup (details in the "
                        + "broker log) and asked to terminate the JVM: " + suppressed);
            }
        }
    }

    /** The {@code bootstrap.servers} value for clients, e.g. {@code "127.0.0.1:40123"}. */
    public String bootstrapServers() {
        return bootstrapServers;
    }

    /**
     * Creates a topic with replication factor 1, or does nothing if a topic of that name already exists
     * (its partition count and configs are then left as they are). Either way, returns only once every
     * partition has a leader that answers requests, so producers and consumers can use it immediately.
     *
     * @param configs topic-level configs such as {@code cleanup.policy}; may be empty
     */
    public void createTopic(String name, int partitions, Map<String, String> configs) throws Exception {
        Objects.requireNonNull(name, "name");
        if (partitions < 1) {
            throw new IllegalArgumentException("partitions must be >= 1, got " + partitions);
        }
        ensureOpen();
        Map<String, Object> adminProps = new HashMap<>();
        adminProps.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        adminProps.put(AdminClientConfig.CLIENT_ID_CONFIG, "embedded-kafka-admin");
        try (Admin admin = Admin.create(adminProps)) {
            NewTopic topic = new NewTopic(name, partitions, (short) 1).configs(configs == null ? Map.of() : configs);
            try {
                admin.createTopics(List.of(topic)).all().get(TOPIC_READY_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
            } catch (ExecutionException e) {
                if (!(e.getCause() instanceof TopicExistsException)) {
                    throw e;
                }
            }
            awaitTopicReady(admin, name);
        }
    }

    /**
     * Shuts the broker down and waits for it to stop; deletes the log directory if {@link #start()} created it.
     * Calling it again does nothing.
     */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            server.shutdown();
            server.awaitShutdown();
        } finally {
            closeQuietly(logDirLock);
            if (ownsLogDir) {
                try {
                    Utils.delete(logDir.toFile());
                } catch (IOException e) {
                    throw new UncheckedIOException("Could not delete Kafka log dir " + logDir, e);
                }
            }
        }
    }

    private void ensureOpen() {
        if (closed) {
            throw new IllegalStateException("EmbeddedKafka is closed");
        }
    }

    /**
     * Creating a topic only writes a record to the metadata log; the broker learns about it and becomes
     * partition leader asynchronously. A successful ListOffsets is answered by the partition leader's log
     * itself, so once it succeeds for every partition, produce and fetch will too.
     */
    private static void awaitTopicReady(Admin admin, String name) throws Exception {
        long deadline = System.nanoTime() + TOPIC_READY_TIMEOUT.toNanos();
        Exception last = null;
        while (System.nanoTime() < deadline) {
            try {
                TopicDescription description =
                        admin.describeTopics(List.of(name)).allTopicNames().get().get(name);
                boolean allLed = description.partitions().stream().allMatch(p -> p.leader() != null);
                if (allLed) {
                    Set<TopicPartition> tps = description.partitions().stream()
                            .map(TopicPartitionInfo::partition)
                            .map(p -> new TopicPartition(name, p))
                            .collect(Collectors.toSet());
                    admin.listOffsets(tps.stream().collect(Collectors.toMap(Function.identity(),
                            tp -> OffsetSpec.latest()))).all().get();
                    return;
                }
            } catch (ExecutionException e) {
                last = e; // e.g. UnknownTopicOrPartition / NotLeaderOrFollower while metadata propagates
            }
            Thread.sleep(50);
        }
        throw new IllegalStateException("Topic " + name + " not ready after " + TOPIC_READY_TIMEOUT, last);
    }

    private static Properties brokerProperties(Path logDir, int brokerPort, int controllerPort) {
        Properties p = new Properties();
        // One KRaft node acting as both controller (a single-voter quorum) and broker.
        p.put("process.roles", "broker,controller");
        p.put("node.id", String.valueOf(NODE_ID));
        // Static quorum: the voter's address is configuration, not formatted into the log, so a restart on
        // an existing log dir may use a different controller port.
        p.put("controller.quorum.voters", NODE_ID + "@" + HOST + ":" + controllerPort);
        p.put("controller.listener.names", CONTROLLER_LISTENER);
        p.put("listeners", BROKER_LISTENER + "://" + HOST + ":" + brokerPort + ","
                + CONTROLLER_LISTENER + "://" + HOST + ":" + controllerPort);
        p.put("advertised.listeners", BROKER_LISTENER + "://" + HOST + ":" + brokerPort);
        p.put("listener.security.protocol.map", BROKER_LISTENER + ":PLAINTEXT," + CONTROLLER_LISTENER + ":PLAINTEXT");
        p.put("inter.broker.listener.name", BROKER_LISTENER);
        p.put("log.dirs", logDir.toString());

        // A single node cannot satisfy the default replication factor of 3 of the internal topics.
        p.put("default.replication.factor", "1");
        p.put("min.insync.replicas", "1");
        p.put("num.partitions", "1");
        p.put("offsets.topic.replication.factor", "1");
        p.put("offsets.topic.num.partitions", "1");
        p.put("transaction.state.log.replication.factor", "1");
        p.put("transaction.state.log.min.isr", "1");
        p.put("transaction.state.log.num.partitions", "1");
        p.put("share.coordinator.state.topic.replication.factor", "1");
        p.put("share.coordinator.state.topic.min.isr", "1");
        p.put("share.coordinator.state.topic.num.partitions", "1");
        // Lets a transactional producer (e.g. Flink's exactly-once KafkaSink) ask for a transaction timeout
        // of up to an hour; the broker default of 15 minutes rejects longer ones at initTransactions().
        p.put("transaction.max.timeout.ms", String.valueOf(Duration.ofHours(1).toMillis()));

        // Typos in topic names should fail, not create empty topics.
        p.put("auto.create.topics.enable", "false");
        // Consumers of a new group get their partitions immediately instead of after 3 seconds.
        p.put("group.initial.rebalance.delay.ms", "0");

        // Keep the in-process footprint small: the log cleaner otherwise allocates 128 MiB up front.
        p.put("log.cleaner.dedupe.buffer.size", String.valueOf(2 * 1024 * 1024));
        p.put("log.segment.bytes", String.valueOf(16 * 1024 * 1024));
        p.put("num.network.threads", "2");
        p.put("num.io.threads", "4");
        p.put("background.threads", "2");
        p.put("num.recovery.threads.per.data.dir", "1");
        return p;
    }

    /**
     * Does what {@code kafka-storage.sh format} does: writes {@code meta.properties} (cluster id, node id) and
     * the bootstrap checkpoint with the initial feature levels into the log dir. A dir that was formatted
     * before is left alone so that its data (and cluster id) survive a restart.
     */
    private static void formatIfNeeded(KafkaConfig config, Path logDir) throws Exception {
        if (Files.exists(logDir.resolve("meta.properties"))) {
            return;
        }
        new Formatter()
                .setPrintStream(new PrintStream(OutputStream.nullOutputStream()))
                .setNodeId(config.nodeId())
                .setClusterId(Uuid.randomUuid().toString())
                .setControllerListenerName(CONTROLLER_LISTENER)
                .setMetadataLogDirectory(config.metadataLogDir())
                .addDirectory(logDir.toString())
                .run();
    }

    /**
     * Asks the OS for two distinct free loopback ports. The sockets are closed again before Kafka binds, so
     * another process could grab a port in between; {@link #start(Path, boolean)} retries on a bind failure.
     * (The broker port cannot simply be 0: the controller's port must be known up front for the voter
     * configuration, and using the same mechanism for both keeps {@link #bootstrapServers()} trivial.)
     */
    private static int[] pickFreePorts() throws IOException {
        InetAddress loopback = InetAddress.getByName(HOST);
        try (ServerSocket a = new ServerSocket(0, 1, loopback);
             ServerSocket b = new ServerSocket(0, 1, loopback)) {
            return new int[] {a.getLocalPort(), b.getLocalPort()};
        }
    }

    /**
     * Refuses to start a second broker on a log dir that is in use, by this or another JVM.
     *
     * <p>Why not rely on Kafka's own {@code .lock}: in combined mode the controller starts first and opens the
     * metadata log before the broker's log manager takes that lock, so a second instance on the same dir would
     * write into the first one's {@code __cluster_metadata} log before failing, corrupting the running broker.
     * The lock is released by closing the returned channel.
     */
    private static FileChannel lockLogDir(Path logDir) throws IOException {
        FileChannel channel = FileChannel.open(logDir.resolve(LOCK_FILE),
                StandardOpenOption.CREATE, StandardOpenOption.WRITE);
        try {
            if (channel.tryLock() == null) {
                throw new IllegalStateException("Kafka log dir " + logDir + " is in use by another process");
            }
            return channel;
        } catch (OverlappingFileLockException e) {
            closeQuietly(channel);
            throw new IllegalStateException("Kafka log dir " + logDir + " is in use by another EmbeddedKafka", e);
        } catch (IOException | RuntimeException e) {
            closeQuietly(channel);
            throw e;
        }
    }

    private static void closeQuietly(FileChannel channel) {
        try {
            channel.close();
        } catch (IOException ignored) {
            // Closing releases the lock even if it reports an error.
        }
    }

    private static boolean isBindFailure(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof BindException
                    || (t.getMessage() != null && t.getMessage().contains("Address already in use"))) {
                return true;
            }
        }
        return false;
    }

    private static void shutdownQuietly(KafkaRaftServer server) {
        try {
            server.shutdown();
            server.awaitShutdown();
        } catch (RuntimeException ignored) {
            // Already failing; the original exception is more useful.
        }
    }

    private static void deleteQuietly(Path dir) {
        try {
            Utils.delete(dir.toFile());
        } catch (IOException ignored) {
            // Best effort: a leftover temp dir is harmless.
        }
    }
}
