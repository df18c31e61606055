package io.slatestream.io;

import io.slatestream.config.JobConfig;
import io.slatestream.config.JobOptions;
import java.time.Duration;

/**
 * Exactly-once delivery only works if a Kafka transaction outlives the checkpoint that commits
 * it: the sink opens a transaction at one checkpoint and commits it when the next completes, so a
 * transaction can stay open for a checkpoint interval plus a whole checkpoint (up to its timeout).
 * If the broker aborts it first, the committed output silently loses those records. The job
 * therefore refuses to start with settings that cannot work, and says which to change.
 */
public final class DeliveryCheck {
  private DeliveryCheck() {}

  /** Kafka brokers refuse longer transactions unless transaction.max.timeout.ms is raised. */
  public static final Duration BROKER_DEFAULT_MAX = Duration.ofMinutes(15);

  /** The transaction timeout the job's exactly-once sinks use. */
  public static Duration transactionTimeout(JobConfig config) {
    String set = config.kafka().toProperties().getProperty("transaction.timeout.ms");
    return set == null ? BROKER_DEFAULT_MAX : Duration.ofMillis(Long.parseLong(set.trim()));
  }

  /**
   * @throws IllegalArgumentException in exactly-once mode, when checkpointing is off or a
   *     transaction could time out before the checkpoint that commits it completes
   */
  public static void validate(JobConfig config, boolean checkpointing, Duration interval, Duration checkpointTimeout) {
    if (config.delivery != JobOptions.DeliveryMode.EXACTLY_ONCE) {
      return;
    }
    if (!checkpointing) {
      throw new IllegalArgumentException("sink.delivery EXACTLY_ONCE commits Kafka transactions on checkpoints,"
          + " but checkpointing is disabled: enable it (execution.checkpointing.interval)");
    }
    Duration txn = transactionTimeout(config);
    Duration needed = interval.plus(checkpointTimeout);
    if (txn.compareTo(needed) < 0) {
      throw new IllegalArgumentException(String.format(
          "sink.delivery EXACTLY_ONCE: kafka.transaction.timeout.ms (%d ms) is shorter than the checkpoint interval"
              + " (%d ms) plus the checkpoint timeout (%d ms), so the broker could abort a transaction before the"
              + " checkpoint that commits it completes. Raise kafka.transaction.timeout.ms to at least %d ms (and the"
              + " broker's transaction.max.timeout.ms if needed), or lower execution.checkpointing.interval /"
              + " execution.checkpointing.timeout.",
          txn.toMillis(), interval.toMillis(), checkpointTimeout.toMillis(), needed.toMillis()));
    }
  }
}
