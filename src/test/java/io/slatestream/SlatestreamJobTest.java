package io.slatestream;

import static org.assertj.core.api.Assertions.assertThat;

import io.slatestream.config.JobConfig;
import java.time.Duration;
import java.util.Map;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.ExecutionOptions;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.junit.jupiter.api.Test;

/** Job-level settings of {@link SlatestreamJob#prepare}, and that the cluster's own win. */
class SlatestreamJobTest {

  @Test
  void theBufferTimeoutIsTheJobsUnlessTheClusterSetsOne() {
    StreamExecutionEnvironment plain = StreamExecutionEnvironment.getExecutionEnvironment();
    SlatestreamJob.prepare(plain, JobConfig.defaults());
    assertThat(plain.getBufferTimeout()).isEqualTo(10L);

    StreamExecutionEnvironment tuned = StreamExecutionEnvironment.getExecutionEnvironment();
    SlatestreamJob.prepare(tuned, JobConfig.of(Map.of("job.buffer-timeout", "2 ms")));
    assertThat(tuned.getBufferTimeout()).isEqualTo(2L);

    Configuration cluster = new Configuration();
    cluster.set(ExecutionOptions.BUFFER_TIMEOUT, Duration.ofMillis(50));
    StreamExecutionEnvironment clusterSet = StreamExecutionEnvironment.getExecutionEnvironment(cluster);
    SlatestreamJob.prepare(clusterSet, JobConfig.defaults());
    assertThat(clusterSet.getBufferTimeout()).isEqualTo(50L);
  }
}
