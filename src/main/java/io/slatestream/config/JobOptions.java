package io.slatestream.config;

import static org.apache.flink.configuration.ConfigOptions.key;

import java.lang.reflect.Field;
import java.lang.reflect.Modifier;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.apache.flink.configuration.ConfigOption;

/**
 * Every option of the job, with its type, default and description: the single place they are
 * documented. The README's option table is checked against this class by a test.
 *
 * <p>Kafka client properties are not listed here: any {@code kafka.<property>} key is passed to
 * every Kafka source and sink unchanged (see {@link KafkaClientProperties}).
 */
public final class JobOptions {

  private JobOptions() {}

  // ---- Kafka ---------------------------------------------------------------------------------

  public static final ConfigOption<String> BOOTSTRAP_SERVERS =
      key("kafka.bootstrap.servers")
          .stringType()
          .defaultValue("localhost:9092")
          .withDescription("Kafka brokers for every source and sink.");

  public static final ConfigOption<String> GROUP_ID =
      key("kafka.group.id")
          .stringType()
          .defaultValue("slatestream")
          .withDescription(
              "Consumer group of the sources. Offsets are committed on checkpoints, for monitoring only:"
                  + " the job restores its positions from its own checkpoints.");

  public static final ConfigOption<StartingOffsets> STARTING_OFFSETS =
      key("source.starting-offsets")
          .enumType(StartingOffsets.class)
          .defaultValue(StartingOffsets.COMMITTED_OR_EARLIEST)
          .withDescription(
              "Where sources start when there is no checkpoint: EARLIEST, LATEST, or"
                  + " COMMITTED_OR_EARLIEST (the group's committed offsets, else the beginning).");

  // ---- Topics --------------------------------------------------------------------------------

  public static final ConfigOption<String> TOPIC_INTERACTIONS =
      key("topic.interactions").stringType().defaultValue("interactions")
          .withDescription("Input: Interaction events (likes and skips), key = user id.");

  public static final ConfigOption<String> TOPIC_ITEMS =
      key("topic.items").stringType().defaultValue("items")
          .withDescription("Input: the item catalog, compacted, key = item id.");

  public static final ConfigOption<String> TOPIC_SLATE_REQUESTS =
      key("topic.slate-requests").stringType().defaultValue("slate-requests")
          .withDescription("Input: SlateRequest records, key = user id.");

  public static final ConfigOption<String> TOPIC_RECOMMENDATIONS =
      key("topic.recommendations").stringType().defaultValue("recommendations")
          .withDescription("Output: Slate records, compacted, key = user id.");

  public static final ConfigOption<String> TOPIC_DEAD_LETTERS =
      key("topic.dead-letters").stringType().defaultValue("dead-letters")
          .withDescription("Output: DeadLetter records for every input the job refused, with the reason.");

  public static final ConfigOption<String> TOPIC_TRAINING_EXAMPLES =
      key("topic.training-examples").stringType().defaultValue("training-examples")
          .withDescription("Output: TrainingExample records (served feature vector + label), key = user id.");

  public static final ConfigOption<String> TOPIC_MODEL_RELEASES =
      key("topic.model-releases").stringType().defaultValue("model-releases")
          .withDescription("Input: ModelRelease records; each rolls a model out to every ranker instance.");

  // ---- Event time ----------------------------------------------------------------------------

  public static final ConfigOption<Duration> OUT_OF_ORDERNESS =
      key("watermark.out-of-orderness").durationType().defaultValue(Duration.ofSeconds(2))
          .withDescription("How far out of order events may arrive before the watermark passes them.");

  public static final ConfigOption<Duration> IDLENESS =
      key("watermark.idleness").durationType().defaultValue(Duration.ofSeconds(5))
          .withDescription(
              "A source partition silent this long stops holding back the watermark (e.g. the"
                  + " catalog topic, or an empty partition).");

  public static final ConfigOption<Duration> ALLOWED_LATENESS =
      key("events.allowed-lateness").durationType().defaultValue(Duration.ofHours(1))
          .withDescription(
              "Interactions older than the watermark minus this are counted and dead-lettered"
                  + " instead of updating features.");

  public static final ConfigOption<Duration> MAX_FUTURE_SKEW =
      key("events.max-future-skew").durationType().defaultValue(Duration.ofHours(1))
          .withDescription(
              "Events stamped further than this ahead of the wall clock are dead-lettered: one"
                  + " wrong device clock must not push the watermark past everyone else's events.");

  // ---- Features ------------------------------------------------------------------------------

  public static final ConfigOption<List<Duration>> HALF_LIVES =
      key("features.half-lives").durationType().asList()
          .defaultValues(Duration.ofHours(1), Duration.ofDays(1), Duration.ofDays(7))
          .withDescription("Half-lives of the decayed like/skip/quick-skip counters, ';'-separated.");

  public static final ConfigOption<Duration> AFFINITY_HALF_LIFE =
      key("features.affinity-half-life").durationType().defaultValue(Duration.ofDays(3))
          .withDescription("Half-life of per-category and per-creator affinity.");

  public static final ConfigOption<Duration> CATEGORY_RECENT_HALF_LIFE =
      key("features.category-recent-half-life").durationType().defaultValue(Duration.ofMinutes(15))
          .withDescription("Half-life of the user's recent interactions with the item's category (the"
              + " category saturation feature), counted over the last features.recent-items interactions.");

  public static final ConfigOption<Duration> QUICK_SKIP_THRESHOLD =
      key("features.quick-skip-threshold").durationType().defaultValue(Duration.ofSeconds(2))
          .withDescription("A SKIP watched for less than this is a quick skip.");

  public static final ConfigOption<Integer> RECENT_ITEMS =
      key("features.recent-items").intType().defaultValue(50)
          .withDescription("How many of a user's last interacted items are kept (and never re-served).");

  public static final ConfigOption<Duration> SESSION_GAP =
      key("features.session-gap").durationType().defaultValue(Duration.ofMinutes(30))
          .withDescription("Inactivity that ends a user's session.");

  public static final ConfigOption<Duration> USER_TTL =
      key("state.user-ttl").durationType().defaultValue(Duration.ofDays(30))
          .withDescription(
              "A user's state expires this long after its last update (processing time, as all"
                  + " Flink state TTL). Expired users start cold.");

  public static final ConfigOption<Duration> ITEM_HALF_LIFE =
      key("items.half-life").durationType().defaultValue(Duration.ofHours(6))
          .withDescription("Half-life of item impressions, likes and skips (trending).");

  public static final ConfigOption<Duration> ITEM_STATS_INTERVAL =
      key("items.stats-interval").durationType().defaultValue(Duration.ofSeconds(1))
          .withDescription(
              "An item's statistics reach the rankers at most once per this much event time,"
                  + " bounding broadcast traffic for hot items.");

  public static final ConfigOption<Duration> ITEM_TTL =
      key("state.item-ttl").durationType().defaultValue(Duration.ofDays(30))
          .withDescription("Item statistics expire this long after their last update.");

  // ---- Slates --------------------------------------------------------------------------------

  public static final ConfigOption<Integer> SLATE_SIZE =
      key("slate.size").intType().defaultValue(10)
          .withDescription("Items in a slate when the request does not say (and after interactions).");

  public static final ConfigOption<Integer> SLATE_MAX_SIZE =
      key("slate.max-size").intType().defaultValue(100)
          .withDescription("Largest slate served; larger requests are clamped to it.");

  public static final ConfigOption<Integer> MAX_REQUEST_CANDIDATES =
      key("slate.max-request-candidates").intType().defaultValue(500)
          .withDescription(
              "Most candidate ids a SlateRequest may supply; a longer list is dead-lettered with the"
                  + " reason (it bounds the work one request can cause).");

  public static final ConfigOption<Duration> MIN_REQUEST_INTERVAL =
      key("slate.min-request-interval").durationType().defaultValue(Duration.ofMillis(100))
          .withDescription(
              "A user's slate requests closer together than this (event time) are dead-lettered as"
                  + " rate-limited instead of ranked: one client in a loop cannot take a ranker over."
                  + " 0 disables.");

  public static final ConfigOption<Duration> SLATE_DEBOUNCE =
      key("slate.debounce").durationType().defaultValue(Duration.ofSeconds(5))
          .withDescription(
              "After an interaction a slate follows at once, then at most one more per this much"
                  + " event time while the user keeps interacting. 0 disables interaction slates.");

  public static final ConfigOption<Integer> CANDIDATES_PER_CATEGORY =
      key("ranking.candidates-per-category").intType().defaultValue(100)
          .withDescription("How many of the most popular items of each category are scored per slate.");

  public static final ConfigOption<Integer> MODEL_CANDIDATES =
      key("ranking.model-candidates").intType().defaultValue(50)
          .withDescription("With a model serving, the heuristic's best this many of the retrieved candidates are"
              + " scored by the model, besides the exploration pool and every candidate a request supplied; the"
              + " rest are dropped before their feature vectors are built. 0 scores every candidate with the"
              + " model.");

  public static final ConfigOption<Integer> CREATOR_QUICK_SKIPS =
      key("filters.creator-quick-skips").intType().defaultValue(3)
          .withDescription(
              "Creator fatigue: a creator the user quick-skipped this many times among their"
                  + " features.recent-items interactions is not served to them. 0 disables.");

  public static final ConfigOption<Integer> IGNORED_IMPRESSIONS =
      key("filters.ignored-impressions").intType().defaultValue(3)
          .withDescription(
              "Ignored items: an item served to a user this many times within"
                  + " filters.ignored-window without an answer (each impression closed as NO_ACTION"
                  + " after training.label-window) is not served to them again until fewer remain"
                  + " in the window. An answer to the item forgets them. 0 disables.");

  public static final ConfigOption<Duration> IGNORED_WINDOW =
      key("filters.ignored-window").durationType().defaultValue(Duration.ofHours(6))
          .withDescription(
              "How far back (event time, from the slate's trigger) ignored impressions count.");

  public static final ConfigOption<Integer> IGNORED_MAX_ITEMS =
      key("filters.ignored-max-items").intType().defaultValue(200)
          .withDescription(
              "Most ignored items remembered per user (each with at most filters.ignored-impressions"
                  + " times); beyond it the least recently ignored is forgotten: state stays bounded.");

  // ---- Re-ranking ----------------------------------------------------------------------------

  public static final ConfigOption<Integer> MAX_PER_CATEGORY =
      key("rerank.max-per-category").intType().defaultValue(4)
          .withDescription(
              "Diversity: at most this many items of one category per slate while other"
                  + " candidates remain (soft: a slate is never shorter because of it).");

  public static final ConfigOption<Integer> MAX_PER_CREATOR =
      key("rerank.max-per-creator").intType().defaultValue(2)
          .withDescription("Diversity: at most this many items of one creator per slate (soft, as above).");

  public static final ConfigOption<Double> EXPLORATION_SHARE =
      key("rerank.exploration-share").doubleType().defaultValue(0.1)
          .withDescription(
              "Share of slate positions (never the first) given to fresh items the user has not"
                  + " seen, chosen at random from the freshest items.fresh-pool-size.");

  public static final ConfigOption<Integer> FRESH_POOL_SIZE =
      key("items.fresh-pool-size").intType().defaultValue(50)
          .withDescription("How many of the most recently published items form the exploration pool.");

  public static final ConfigOption<Duration> FRESH_MAX_AGE =
      key("items.fresh-max-age").durationType().defaultValue(Duration.ofDays(7))
          .withDescription(
              "Only items published at most this long before a slate's trigger are fresh: however"
                  + " quiet the catalog, an old item never takes an exploration slot.");

  public static final ConfigOption<Long> RERANK_SEED =
      key("rerank.seed").longType().defaultValue(42L)
          .withDescription(
              "Seed of exploration. With the user and the trigger it fixes every random choice, so a"
                  + " replay reproduces its slates.");

  // ---- Model ---------------------------------------------------------------------------------

  public static final ConfigOption<String> MODEL_URI =
      key("model.uri").stringType().noDefaultValue()
          .withDescription(
              "Optional model to serve from the start (any Flink file system URI), until a"
                  + " release replaces it. Without it the heuristic serves. Needs model.checksum and"
                  + " model.version.");

  public static final ConfigOption<String> MODEL_CHECKSUM =
      key("model.checksum").stringType().noDefaultValue()
          .withDescription("sha256 (hex) of the file at model.uri.");

  public static final ConfigOption<String> MODEL_VERSION =
      key("model.version").stringType().noDefaultValue()
          .withDescription("Version reported in slates scored by the model at model.uri.");

  public static final ConfigOption<Double> MODEL_HOLDOUT_SHARE =
      key("model.holdout-share").doubleType().defaultValue(0.0)
          .withDescription(
              "Share of users, chosen by a stable hash of the user id, whom the heuristic keeps"
                  + " serving while a model is live: a control group that measures the model in the"
                  + " same period. Their slates report the heuristic's version. Both groups feed the same"
                  + " item statistics, so the control group also learns from the model's slates. In [0, 1).");

  // ---- Training examples ---------------------------------------------------------------------

  public static final ConfigOption<Duration> LABEL_WINDOW =
      key("training.label-window").durationType().defaultValue(Duration.ofMinutes(10))
          .withDescription(
              "A served item answered (like, skip, quick skip) within this much event time is"
                  + " labelled so; otherwise it is labelled NO_ACTION when the window closes.");

  public static final ConfigOption<Integer> MAX_PENDING_SLATES =
      key("training.max-pending-slates").intType().defaultValue(2)
          .withDescription(
              "Served slates per user awaiting labels. A user served more within one window has"
                  + " the oldest dropped unlabelled (metric impressionsDropped): state stays bounded."
                  + " Answers go to the slates on screen, the latest two; each slate kept costs about"
                  + " 550 bytes of state per user.");

  // ---- Delivery and job ----------------------------------------------------------------------

  public static final ConfigOption<DeliveryMode> DELIVERY =
      key("sink.delivery").enumType(DeliveryMode.class).defaultValue(DeliveryMode.AT_LEAST_ONCE)
          .withDescription(
              "AT_LEAST_ONCE (duplicates are harmless on the compacted per-user topic) or"
                  + " EXACTLY_ONCE (Kafka transactions; consumers must read_committed).");

  public static final ConfigOption<String> TRANSACTIONAL_ID_PREFIX =
      key("sink.transactional-id-prefix").stringType().defaultValue("slatestream")
          .withDescription("Prefix of Kafka transactional ids in EXACTLY_ONCE mode; unique per job.");

  public static final ConfigOption<String> JOB_NAME =
      key("job.name").stringType().defaultValue("slatestream").withDescription("Flink job name.");

  public static final ConfigOption<Integer> MAX_PARALLELISM =
      key("job.max-parallelism").intType().defaultValue(720)
          .withDescription(
              "Key groups of every keyed state. Fixed for the life of the state: changing it"
                  + " makes savepoints unrestorable.");

  public static final ConfigOption<Duration> CHECKPOINT_INTERVAL =
      key("job.checkpoint-interval").durationType().defaultValue(Duration.ofSeconds(10))
          .withDescription(
              "Checkpoint interval when the cluster configuration sets none. Kafka offsets and"
                  + " exactly-once transactions commit on checkpoints.");

  public static final ConfigOption<Duration> BUFFER_TIMEOUT =
      key("job.buffer-timeout").durationType().defaultValue(Duration.ofMillis(10))
          .withDescription(
              "Longest a record waits in a partly filled network buffer before it is sent to the next"
                  + " task, when the cluster configuration sets no execution.buffer-timeout.interval."
                  + " Flink's own default (100 ms) would be most of the latency between an event and"
                  + " its slate at moderate rates.");

  /** Every option above, in declaration order. */
  /** Every topic the job reads or writes. */
  public static List<ConfigOption<String>> topics() {
    return List.of(TOPIC_INTERACTIONS, TOPIC_ITEMS, TOPIC_SLATE_REQUESTS, TOPIC_RECOMMENDATIONS, TOPIC_DEAD_LETTERS,
        TOPIC_TRAINING_EXAMPLES, TOPIC_MODEL_RELEASES);
  }

  public static List<ConfigOption<?>> all() {
    List<ConfigOption<?>> options = new ArrayList<>();
    for (Field field : JobOptions.class.getDeclaredFields()) {
      if (Modifier.isStatic(field.getModifiers()) && field.getType() == ConfigOption.class) {
        try {
          options.add((ConfigOption<?>) field.get(null));
        } catch (IllegalAccessException e) {
          throw new IllegalStateException(e);
        }
      }
    }
    return options;
  }

  /** Where sources begin without a checkpoint. */
  public enum StartingOffsets {
    EARLIEST,
    LATEST,
    COMMITTED_OR_EARLIEST
  }

  /** Delivery guarantee of the Kafka sinks. */
  public enum DeliveryMode {
    AT_LEAST_ONCE,
    EXACTLY_ONCE
  }
}
