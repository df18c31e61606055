package io.slatestream.io;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatCode;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.slatestream.SlatestreamJob;
import io.slatestream.config.JobConfig;
import java.time.Duration;
import java.util.Map;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.junit.jupiter.api.Test;

class DeliveryCheckTest {
  private static final JobConfig EXACTLY_ONCE = JobConfig.of(Map.of("sink.delivery", "EXACTLY_ONCE"));

  @Test
  void atLeastOnceNeverRefusesToStart() {
    assertThatCode(() -> DeliveryCheck.validate(JobConfig.defaults(), false, Duration.ZERO, Duration.ofHours(5)))
        .doesNotThrowAnyException();
  }

  @Test
  void exactlyOnceNeedsCheckpointing() {
    assertThatThrownBy(() -> DeliveryCheck.validate(EXACTLY_ONCE, false, Duration.ofSeconds(10), Duration.ofMinutes(10)))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("checkpointing is disabled");
  }

  @Test
  void theTransactionMustOutliveAnIntervalPlusAWholeCheckpoint() {
    // Default: the broker's 15 min limit; 10 s + 10 min fits, 1 min + 14 min 1 s does not.
    assertThat(DeliveryCheck.transactionTimeout(EXACTLY_ONCE)).isEqualTo(Duration.ofMinutes(15));
    assertThatCode(() -> DeliveryCheck.validate(EXACTLY_ONCE, true, Duration.ofSeconds(10), Duration.ofMinutes(10)))
        .doesNotThrowAnyException();
    assertThatCode(() -> DeliveryCheck.validate(EXACTLY_ONCE, true, Duration.ofMinutes(1), Duration.ofMinutes(14)))
        .doesNotThrowAnyException();
    assertThatThrownBy(() -> DeliveryCheck.validate(EXACTLY_ONCE, true, Duration.ofMinutes(1),
        Duration.ofMinutes(14).plusSeconds(1)))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("kafka.transaction.timeout.ms (900000 ms)")
        .hasMessageContaining("at least 901000 ms");

    JobConfig shortTxn = EXACTLY_ONCE.with(Map.of("kafka.transaction.timeout.ms", "30000"));
    assertThat(DeliveryCheck.transactionTimeout(shortTxn)).isEqualTo(Duration.ofSeconds(30));
    assertThatThrownBy(() -> DeliveryCheck.validate(shortTxn, true, Duration.ofSeconds(10), Duration.ofSeconds(30)))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("30000 ms");
  }

  @Test
  void theJobRefusesToStartWithCheckpointSettingsThatCannotWork() {
    StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
    env.enableCheckpointing(60_000);
    env.getCheckpointConfig().setCheckpointTimeout(Duration.ofMinutes(20).toMillis());
    assertThatThrownBy(() -> SlatestreamJob.prepare(env, EXACTLY_ONCE))
        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("EXACTLY_ONCE");

    StreamExecutionEnvironment ok = StreamExecutionEnvironment.getExecutionEnvironment();
    assertThatCode(() -> SlatestreamJob.prepare(ok, EXACTLY_ONCE)).doesNotThrowAnyException();
  }
}
