package io.slatestream;

import io.slatestream.config.JobConfig;
import io.slatestream.io.DeliveryCheck;
import io.slatestream.io.KafkaIO;
import java.time.Duration;
import io.slatestream.topology.SlatestreamTopology;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.ExecutionOptions;
import org.apache.flink.configuration.PipelineOptions;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Entry point on a cluster ({@code flink run}, the Kubernetes operator): parse the configuration,
 * build the Kafka sources and sinks, define the topology, run. Cluster concerns (state backend,
 * checkpoint storage, restart strategy) come from the cluster's Flink configuration.
 */
public final class SlatestreamJob {
  private static final Logger LOG = LoggerFactory.getLogger(SlatestreamJob.class);

  private SlatestreamJob() {}

  public static void main(String[] args) throws Exception {
    JobConfig config = JobConfig.fromArgs(args);
    LOG.info("Starting slatestream with {} and Kafka client properties {}", config, config.kafka());
    StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
    prepare(env, config);
    SlatestreamTopology.define(env, KafkaIO.inputs(config, false), KafkaIO.outputs(config), config);
    env.execute(config.jobName);
  }

  /**
   * Job-level settings that belong to the job rather than the cluster: no Kryo fallback ever (state
   * must evolve), a checkpoint interval and a network buffer timeout if the cluster sets none, the
   * (masked) configuration visible in the web UI, and a refusal to start when exactly-once delivery
   * cannot work with the checkpoint settings ({@link DeliveryCheck}).
   */
  public static void prepare(StreamExecutionEnvironment env, JobConfig config) {
    // Read before this method configures anything: what the cluster (or the caller) set.
    ReadableConfig given = env.getConfiguration();
    boolean bufferTimeoutGiven = given.getOptional(ExecutionOptions.BUFFER_TIMEOUT).isPresent()
        || given.getOptional(ExecutionOptions.BUFFER_TIMEOUT_ENABLED).isPresent();
    Configuration jobSettings = new Configuration();
    jobSettings.set(PipelineOptions.GENERIC_TYPES, false);
    env.configure(jobSettings);
    if (!env.getCheckpointConfig().isCheckpointingEnabled()) {
      env.enableCheckpointing(config.checkpointInterval.toMillis());
    }
    if (!bufferTimeoutGiven) {
      // A slate is worth most when it is fresh: Flink's default of 100 ms per exchange, spent
      // waiting for a buffer to fill at moderate rates, would dominate the event-to-slate latency.
      env.setBufferTimeout(config.bufferTimeout.toMillis());
    }
    env.getConfig().setGlobalJobParameters(Configuration.fromMap(config.toMaskedMap()));
    var checkpoints = env.getCheckpointConfig();
    DeliveryCheck.validate(config, checkpoints.isCheckpointingEnabled(),
        Duration.ofMillis(checkpoints.getCheckpointInterval()), Duration.ofMillis(checkpoints.getCheckpointTimeout()));
  }
}
