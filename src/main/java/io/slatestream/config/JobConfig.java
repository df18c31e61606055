package io.slatestream.config;

import java.io.IOException;
import java.io.InputStream;
import java.io.Serializable;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.stream.Collectors;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.Configuration;

/**
 * The job's configuration, read once in {@code main} and handed to every function. Immutable and
 * serializable: functions receive it in their constructor rather than reading global parameters,
 * so a harness test can build a function with exactly the settings it is about.
 */
public final class JobConfig implements Serializable {
  private static final long serialVersionUID = 1L;

  private final Map<String, String> raw;
  private final KafkaClientProperties kafka;

  public final String topicInteractions;
  public final String topicItems;
  public final String topicSlateRequests;
  public final String topicRecommendations;
  public final String topicDeadLetters;
  public final String topicTrainingExamples;
  public final String topicModelReleases;
  /** The model to serve from the start, or null. */
  public final String modelUri;
  public final String modelChecksum;
  public final String modelVersion;
  public final Duration labelWindow;
  public final int maxPendingSlates;

  public final String groupId;
  public final JobOptions.StartingOffsets startingOffsets;
  public final Duration outOfOrderness;
  public final Duration idleness;
  public final Duration allowedLateness;
  public final Duration maxFutureSkew;

  public final List<Duration> halfLives;
  public final Duration affinityHalfLife;
  public final Duration categoryRecentHalfLife;
  public final Duration quickSkipThreshold;
  public final int recentItems;
  public final Duration sessionGap;
  public final Duration userTtl;

  public final Duration itemHalfLife;
  public final Duration itemStatsInterval;
  public final Duration itemTtl;

  public final int slateSize;
  public final int slateMaxSize;
  public final int maxRequestCandidates;
  public final Duration minRequestInterval;
  public final Duration slateDebounce;
  public final int candidatesPerCategory;
  public final int modelCandidates;
  public final int creatorQuickSkips;
  public final int ignoredImpressions;
  public final Duration ignoredWindow;
  public final int ignoredMaxItems;
  public final int maxPerCategory;
  public final int maxPerCreator;
  public final double explorationShare;
  public final double modelHoldoutShare;
  public final int freshPoolSize;
  public final Duration freshMaxAge;
  public final long rerankSeed;

  public final JobOptions.DeliveryMode delivery;
  public final String transactionalIdPrefix;
  public final String jobName;
  public final int maxParallelism;
  public final Duration checkpointInterval;
  public final Duration bufferTimeout;

  private JobConfig(Map<String, String> raw) {
    this.raw = Map.copyOf(raw);
    Configuration c = Configuration.fromMap(raw);
    this.kafka = KafkaClientProperties.from(raw, c.get(JobOptions.BOOTSTRAP_SERVERS));
    topicInteractions = c.get(JobOptions.TOPIC_INTERACTIONS);
    topicItems = c.get(JobOptions.TOPIC_ITEMS);
    topicSlateRequests = c.get(JobOptions.TOPIC_SLATE_REQUESTS);
    topicRecommendations = c.get(JobOptions.TOPIC_RECOMMENDATIONS);
    topicDeadLetters = c.get(JobOptions.TOPIC_DEAD_LETTERS);
    topicTrainingExamples = c.get(JobOptions.TOPIC_TRAINING_EXAMPLES);
    topicModelReleases = c.get(JobOptions.TOPIC_MODEL_RELEASES);
    modelUri = c.get(JobOptions.MODEL_URI);
    modelChecksum = c.get(JobOptions.MODEL_CHECKSUM);
    modelVersion = c.get(JobOptions.MODEL_VERSION);
    labelWindow = c.get(JobOptions.LABEL_WINDOW);
    maxPendingSlates = c.get(JobOptions.MAX_PENDING_SLATES);
    groupId = c.get(JobOptions.GROUP_ID);
    startingOffsets = c.get(JobOptions.STARTING_OFFSETS);
    outOfOrderness = c.get(JobOptions.OUT_OF_ORDERNESS);
    idleness = c.get(JobOptions.IDLENESS);
    allowedLateness = c.get(JobOptions.ALLOWED_LATENESS);
    maxFutureSkew = c.get(JobOptions.MAX_FUTURE_SKEW);
    halfLives = List.copyOf(c.get(JobOptions.HALF_LIVES));
    affinityHalfLife = c.get(JobOptions.AFFINITY_HALF_LIFE);
    categoryRecentHalfLife = c.get(JobOptions.CATEGORY_RECENT_HALF_LIFE);
    quickSkipThreshold = c.get(JobOptions.QUICK_SKIP_THRESHOLD);
    recentItems = c.get(JobOptions.RECENT_ITEMS);
    sessionGap = c.get(JobOptions.SESSION_GAP);
    userTtl = c.get(JobOptions.USER_TTL);
    itemHalfLife = c.get(JobOptions.ITEM_HALF_LIFE);
    itemStatsInterval = c.get(JobOptions.ITEM_STATS_INTERVAL);
    itemTtl = c.get(JobOptions.ITEM_TTL);
    slateSize = c.get(JobOptions.SLATE_SIZE);
    slateMaxSize = c.get(JobOptions.SLATE_MAX_SIZE);
    maxRequestCandidates = c.get(JobOptions.MAX_REQUEST_CANDIDATES);
    minRequestInterval = c.get(JobOptions.MIN_REQUEST_INTERVAL);
    slateDebounce = c.get(JobOptions.SLATE_DEBOUNCE);
    candidatesPerCategory = c.get(JobOptions.CANDIDATES_PER_CATEGORY);
    modelCandidates = c.get(JobOptions.MODEL_CANDIDATES);
    creatorQuickSkips = c.get(JobOptions.CREATOR_QUICK_SKIPS);
    ignoredImpressions = c.get(JobOptions.IGNORED_IMPRESSIONS);
    ignoredWindow = c.get(JobOptions.IGNORED_WINDOW);
    ignoredMaxItems = c.get(JobOptions.IGNORED_MAX_ITEMS);
    maxPerCategory = c.get(JobOptions.MAX_PER_CATEGORY);
    maxPerCreator = c.get(JobOptions.MAX_PER_CREATOR);
    explorationShare = c.get(JobOptions.EXPLORATION_SHARE);
    modelHoldoutShare = c.get(JobOptions.MODEL_HOLDOUT_SHARE);
    freshPoolSize = c.get(JobOptions.FRESH_POOL_SIZE);
    freshMaxAge = c.get(JobOptions.FRESH_MAX_AGE);
    rerankSeed = c.get(JobOptions.RERANK_SEED);
    delivery = c.get(JobOptions.DELIVERY);
    transactionalIdPrefix = c.get(JobOptions.TRANSACTIONAL_ID_PREFIX);
    jobName = c.get(JobOptions.JOB_NAME);
    maxParallelism = c.get(JobOptions.MAX_PARALLELISM);
    checkpointInterval = c.get(JobOptions.CHECKPOINT_INTERVAL);
    bufferTimeout = c.get(JobOptions.BUFFER_TIMEOUT);
    validate();
  }

  private void validate() {
    require(!halfLives.isEmpty(), JobOptions.HALF_LIVES, "needs at least one half-life");
    require(halfLives.stream().distinct().count() == halfLives.size(), JobOptions.HALF_LIVES,
        "half-lives must be distinct, got " + halfLives);
    for (Duration d : halfLives) {
      require(d.toMillis() > 0, JobOptions.HALF_LIVES, "half-lives must be positive");
    }
    require(affinityHalfLife.toMillis() > 0, JobOptions.AFFINITY_HALF_LIFE, "must be positive");
    require(categoryRecentHalfLife.toMillis() > 0, JobOptions.CATEGORY_RECENT_HALF_LIFE, "must be positive");
    require(itemHalfLife.toMillis() > 0, JobOptions.ITEM_HALF_LIFE, "must be positive");
    require(recentItems > 0, JobOptions.RECENT_ITEMS, "must be positive");
    require(slateSize > 0, JobOptions.SLATE_SIZE, "must be positive");
    require(slateMaxSize >= slateSize, JobOptions.SLATE_MAX_SIZE, "must be >= slate.size");
    require(!minRequestInterval.isNegative(), JobOptions.MIN_REQUEST_INTERVAL, "must not be negative");
    require(maxRequestCandidates >= 0, JobOptions.MAX_REQUEST_CANDIDATES, "must not be negative");
    require(creatorQuickSkips >= 0, JobOptions.CREATOR_QUICK_SKIPS, "must not be negative");
    require(ignoredImpressions >= 0, JobOptions.IGNORED_IMPRESSIONS, "must not be negative");
    require(ignoredWindow.toMillis() > 0, JobOptions.IGNORED_WINDOW, "must be positive");
    require(ignoredMaxItems > 0, JobOptions.IGNORED_MAX_ITEMS, "must be positive");
    require(maxPerCategory > 0, JobOptions.MAX_PER_CATEGORY, "must be positive");
    require(maxPerCreator > 0, JobOptions.MAX_PER_CREATOR, "must be positive");
    require(explorationShare >= 0 && explorationShare <= 1, JobOptions.EXPLORATION_SHARE, "must be in [0, 1]");
    require(modelHoldoutShare >= 0 && modelHoldoutShare < 1, JobOptions.MODEL_HOLDOUT_SHARE, "must be in [0, 1)");
    require(freshPoolSize >= 0, JobOptions.FRESH_POOL_SIZE, "must not be negative");
    require(freshMaxAge.toMillis() > 0, JobOptions.FRESH_MAX_AGE, "must be positive");
    require(candidatesPerCategory > 0, JobOptions.CANDIDATES_PER_CATEGORY, "must be positive");
    require(modelCandidates >= 0, JobOptions.MODEL_CANDIDATES, "must not be negative");
    require(maxParallelism > 0 && maxParallelism <= 32768, JobOptions.MAX_PARALLELISM, "must be in 1..32768");
    require(modelUri == null || (modelChecksum != null && modelVersion != null), JobOptions.MODEL_URI,
        "needs model.checksum and model.version too");
    require(labelWindow.toMillis() > 0, JobOptions.LABEL_WINDOW, "must be positive");
    require(maxPendingSlates > 0, JobOptions.MAX_PENDING_SLATES, "must be positive");
    require(!slateDebounce.isNegative(), JobOptions.SLATE_DEBOUNCE, "must not be negative");
    require(!bufferTimeout.isNegative(), JobOptions.BUFFER_TIMEOUT, "must not be negative (0 sends every record at once)");
  }

  private static void require(boolean ok, ConfigOption<?> option, String what) {
    if (!ok) {
      throw new IllegalArgumentException("Invalid configuration '" + option.key() + "': " + what);
    }
  }

  /** Defaults only. */
  public static JobConfig defaults() {
    return of(Map.of());
  }

  /** From explicit key/value pairs (tests, the local runner). */
  public static JobConfig of(Map<String, String> values) {
    Set<String> known = JobOptions.all().stream().map(ConfigOption::key).collect(Collectors.toSet());
    for (String k : values.keySet()) {
      if (!known.contains(k) && !k.startsWith(KafkaClientProperties.PREFIX)) {
        throw new IllegalArgumentException(
            "Unknown configuration key '" + k + "'. Known keys: " + new TreeMap<>(known(known)).keySet());
      }
    }
    return new JobConfig(values);
  }

  private static Map<String, String> known(Set<String> keys) {
    Map<String, String> m = new TreeMap<>();
    keys.forEach(k -> m.put(k, ""));
    return m;
  }

  /**
   * Parses {@code --key value} / {@code --key=value} arguments. {@code --config FILE} loads a
   * properties file at its position: arguments after it override the file, arguments before it are
   * overridden by it. Put {@code --config} first to let the command line win.
   */
  public static JobConfig fromArgs(String... args) throws IOException {
    Map<String, String> values = new LinkedHashMap<>();
    for (CommandLine.Arg arg : CommandLine.parse(args)) {
      if (arg.key().equals("config")) {
        values.putAll(loadProperties(Path.of(arg.value())));
      } else {
        values.put(arg.key(), arg.value());
      }
    }
    return of(values);
  }

  private static Map<String, String> loadProperties(Path file) throws IOException {
    Properties p = new Properties();
    try (InputStream in = Files.newInputStream(file)) {
      p.load(in);
    }
    Map<String, String> m = new LinkedHashMap<>();
    p.stringPropertyNames().forEach(k -> m.put(k, p.getProperty(k)));
    return m;
  }

  /** Kafka client properties shared by every source and sink. */
  public KafkaClientProperties kafka() {
    return kafka;
  }

  /** A copy with some values replaced. */
  public JobConfig with(Map<String, String> overrides) {
    Map<String, String> m = new LinkedHashMap<>(raw);
    m.putAll(overrides);
    return of(m);
  }

  /**
   * The topic options of this configuration with {@code prefix} before every topic name: the topics
   * of another deployment of the job on the same brokers.
   */
  public Map<String, String> prefixedTopics(String prefix) {
    Configuration c = Configuration.fromMap(raw);
    Map<String, String> m = new LinkedHashMap<>();
    for (ConfigOption<String> topic : JobOptions.topics()) {
      m.put(topic.key(), prefix + c.get(topic));
    }
    return m;
  }

  /** Every explicitly set value, with secrets masked: safe to log or show in the Flink web UI. */
  public Map<String, String> toMaskedMap() {
    Map<String, String> m = new TreeMap<>();
    raw.forEach((k, v) -> m.put(k, KafkaClientProperties.isSensitive(k) ? "******" : v));
    return m;
  }

  @Override
  public String toString() {
    return "JobConfig" + toMaskedMap();
  }
}
