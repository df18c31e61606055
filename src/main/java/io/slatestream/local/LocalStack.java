package io.slatestream.local;

import io.slatestream.SlatestreamJob;
import io.slatestream.config.JobConfig;
import io.slatestream.io.KafkaIO;
import io.slatestream.topology.SlatestreamTopology;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.function.Consumer;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.MetricOptions;
import org.apache.flink.configuration.RestOptions;
import org.apache.flink.configuration.StateBackendOptions;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.kafka.clients.producer.KafkaProducer;

/**
 * The job as it runs on one machine: a real single-node Kafka broker (KRaft, loopback, free
 * ports), the job's topics, and the job itself ({@link SlatestreamJob#prepare} and
 * {@link SlatestreamTopology#define} with the real Kafka sources and sinks) on a local Flink
 * cluster with the RocksDB state backend, incremental checkpoints and its REST API on a free
 * loopback port. The local run and the replay command both start the job through here, so what
 * they drive is the job a cluster runs, configured the same way.
 *
 * <p>Closing cancels the job if it is still running, then stops the broker.
 */
public final class LocalStack implements AutoCloseable {

  /**
   * One running deployment of the job: its configuration (topics included), the job on its own
   * local Flink cluster, that cluster's REST port and the checkpoint directory.
   */
  public record Deployment(JobConfig config, JobClient job, int restPort, Path checkpoints) {}

  private final EmbeddedKafka kafka;
  private final Deployment main;
  private final List<Deployment> others = new ArrayList<>();
  private final int parallelism;
  private final Path workDir;
  private final Consumer<Configuration> flinkSettings;
  private final Consumer<String> say;

  private LocalStack(EmbeddedKafka kafka, Deployment main, int parallelism, Path workDir,
      Consumer<Configuration> flinkSettings, Consumer<String> say) {
    this.kafka = kafka;
    this.main = main;
    this.parallelism = parallelism;
    this.workDir = workDir;
    this.flinkSettings = flinkSettings;
    this.say = say;
  }

  /**
   * Starts the broker, creates the topics with {@code parallelism} partitions each, and submits the
   * job.
   *
   * @param jobOptions job options; the broker's address and {@code source.starting-offsets
   *     EARLIEST} (the topics are new) are set unless given
   * @param workDir checkpoints go to a new directory under it
   * @param flinkSettings adjusts the local cluster's configuration before the job is defined
   * @param say progress lines for the console
   */
  public static LocalStack start(Map<String, String> jobOptions, int parallelism, Path workDir,
      Consumer<Configuration> flinkSettings, Consumer<String> say) throws Exception {
    Files.createDirectories(workDir);
    say.accept("Starting a single-node Kafka broker (KRaft) on loopback ...");
    long t0 = System.currentTimeMillis();
    EmbeddedKafka kafka = EmbeddedKafka.start();
    try {
      say.accept(String.format("Broker up at %s in %d ms", kafka.bootstrapServers(), System.currentTimeMillis() - t0));
      Deployment main = deploy(kafka, jobOptions, parallelism, workDir, flinkSettings, say);
      return new LocalStack(kafka, main, parallelism, workDir, flinkSettings, say);
    } catch (Exception | Error e) {
      kafka.close();
      throw e;
    }
  }

  /**
   * Starts one more deployment of the job against this broker, as a second team would run one:
   * its own local Flink cluster, state and REST port. {@code jobOptions} must name topics of its
   * own (they are created here), or the two deployments read each other's records.
   */
  public Deployment deployAnother(Map<String, String> jobOptions) throws Exception {
    Deployment d = deploy(kafka, jobOptions, parallelism, workDir, flinkSettings, say);
    others.add(d);
    return d;
  }

  private static Deployment deploy(EmbeddedKafka kafka, Map<String, String> jobOptions, int parallelism, Path workDir,
      Consumer<Configuration> flinkSettings, Consumer<String> say) throws Exception {
    Path checkpoints = Files.createTempDirectory(workDir, "checkpoints-");
    Map<String, String> opts = new LinkedHashMap<>();
    opts.put("kafka.bootstrap.servers", kafka.bootstrapServers());
    opts.put("source.starting-offsets", "EARLIEST");
    opts.putAll(jobOptions);
    JobConfig config = JobConfig.of(opts);
    Topics.create(kafka, config, parallelism);
    say.accept("Topics: " + Topics.of(config).keySet());

    Configuration flink = new Configuration();
    flink.set(StateBackendOptions.STATE_BACKEND, "rocksdb");
    flink.set(CheckpointingOptions.INCREMENTAL_CHECKPOINTS, true);
    flink.set(CheckpointingOptions.CHECKPOINTS_DIRECTORY, checkpoints.toUri().toString());
    flink.set(CheckpointingOptions.CHECKPOINTING_INTERVAL, Duration.ofSeconds(10));
    // REST on a free loopback port, so callers can read the job's own metrics.
    int restPort = RankerMetrics.freePort();
    flink.set(RestOptions.BIND_ADDRESS, "127.0.0.1");
    flink.set(RestOptions.BIND_PORT, Integer.toString(restPort));
    flink.set(MetricOptions.METRIC_FETCHER_UPDATE_INTERVAL, Duration.ofSeconds(1));
    flinkSettings.accept(flink);
    StreamExecutionEnvironment env = StreamExecutionEnvironment.createLocalEnvironment(parallelism, flink);
    SlatestreamJob.prepare(env, config);
    SlatestreamTopology.define(env, KafkaIO.inputs(config, false), KafkaIO.outputs(config), config);
    JobClient job = env.executeAsync(config.jobName);
    say.accept(String.format("Job %s running on a local Flink cluster: parallelism %d, RocksDB state, checkpoints in %s",
        job.getJobID(), parallelism, checkpoints));
    return new Deployment(config, job, restPort, checkpoints);
  }

  public EmbeddedKafka kafka() {
    return kafka;
  }

  public String bootstrapServers() {
    return kafka.bootstrapServers();
  }

  /** The job's configuration, as the job received it. */
  public JobConfig config() {
    return main.config();
  }

  public JobClient job() {
    return main.job();
  }

  /** The local cluster's REST API port (loopback). */
  public int restPort() {
    return main.restPort();
  }

  public Path checkpoints() {
    return main.checkpoints();
  }

  /** A byte-array producer for the broker: callers encode with {@code AvroCodec}. */
  public KafkaProducer<byte[], byte[]> producer() {
    return producer(5);
  }

  /** As {@link #producer()}, batching records for up to {@code lingerMs} (0: send at once). */
  public KafkaProducer<byte[], byte[]> producer(int lingerMs) {
    Properties p = new Properties();
    p.put("bootstrap.servers", kafka.bootstrapServers());
    p.put("key.serializer", "org.apache.kafka.common.serialization.ByteArraySerializer");
    p.put("value.serializer", "org.apache.kafka.common.serialization.ByteArraySerializer");
    p.put("linger.ms", Integer.toString(lingerMs));
    return new KafkaProducer<>(p);
  }

  @Override
  public void close() {
    try {
      for (Deployment d : others) {
        cancel(d.job());
      }
      cancel(main.job());
    } finally {
      kafka.close();
    }
  }

  private static void cancel(JobClient job) {
    try {
      if (!job.getJobStatus().get().isGloballyTerminalState()) {
        job.cancel().get();
      }
    } catch (Exception e) {
      // Already gone (the local cluster shuts down with its job); nothing left to stop.
    }
  }
}
