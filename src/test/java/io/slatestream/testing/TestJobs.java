package io.slatestream.testing;

import io.slatestream.SlatestreamJob;
import io.slatestream.config.JobConfig;
import io.slatestream.io.KafkaIO;
import io.slatestream.topology.SlatestreamTopology;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.StateBackendOptions;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;

/** The real job, as {@code main} builds it, on the test's mini cluster with RocksDB state. */
public final class TestJobs {
  private TestJobs() {}

  /** @param bounded whether the Kafka sources stop at the offsets that are latest now */
  public static StreamExecutionEnvironment slatestream(JobConfig config, int parallelism, boolean bounded) {
    return job(config, parallelism, bounded).env();
  }

  /** The job and the streams {@code define} returned, for tests that also collect one of them. */
  public record Job(StreamExecutionEnvironment env, SlatestreamTopology.Streams streams) {}

  public static Job job(JobConfig config, int parallelism, boolean bounded) {
    return job(config, parallelism, bounded, new Configuration());
  }

  /**
   * @param flink further Flink settings of the job, applied before the job's own (e.g. a savepoint
   *     to restore from, checkpoint retention, a restart strategy)
   */
  public static Job job(JobConfig config, int parallelism, boolean bounded, Configuration flink) {
    StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
    Configuration settings = new Configuration(flink);
    settings.set(StateBackendOptions.STATE_BACKEND, "rocksdb");
    env.configure(settings);
    env.setParallelism(parallelism);
    SlatestreamJob.prepare(env, config);
    return new Job(env, SlatestreamTopology.define(env, KafkaIO.inputs(config, bounded), KafkaIO.outputs(config), config));
  }
}
