package io.slatestream.inspect;

import io.slatestream.avro.Item;
import io.slatestream.avro.state.CatalogEntry;
import io.slatestream.avro.state.DecayedCounts;
import io.slatestream.avro.state.ItemStats;
import io.slatestream.avro.state.UserProfile;
import io.slatestream.config.JobConfig;
import io.slatestream.features.ProfileUpdater;
import io.slatestream.functions.ItemStatsFunction;
import io.slatestream.functions.RankerFunction;
import io.slatestream.topology.Uids;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.SortedMap;
import java.util.TreeMap;
import org.apache.flink.api.common.RuntimeExecutionMode;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.tuple.Tuple2;
import org.apache.flink.api.java.typeutils.TupleTypeInfo;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.PipelineOptions;
import org.apache.flink.formats.avro.typeutils.AvroTypeInfo;
import org.apache.flink.runtime.state.StateBackend;
import org.apache.flink.state.api.OperatorIdentifier;
import org.apache.flink.state.api.functions.KeyedStateReaderFunction;
import org.apache.flink.state.rocksdb.EmbeddedRocksDBStateBackend;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.util.CloseableIterator;
import org.apache.flink.util.Collector;

/**
 * Reads the job's per-user features and item statistics out of a savepoint or a retained
 * checkpoint, with Flink's State Processor API, as typed rows. Everything is found by the job's
 * own operator uids ({@link Uids}) and state descriptors ({@link RankerFunction#profileDescriptor},
 * {@link ItemStatsFunction#statsDescriptor}, {@link RankerFunction#CATALOG}), so a renamed state
 * cannot silently read as empty here.
 *
 * <p>State is read with the RocksDB backend: the job's checkpoints are incremental RocksDB
 * checkpoints (native format, readable only by RocksDB), and its savepoints are canonical and
 * readable by any backend, so RocksDB reads both.
 *
 * <p>Values are as stored: decayed counts are expressed at the row's anchor time (see
 * {@link io.slatestream.features.Decay}); multiply by {@code 2^(-(t - anchor)/halfLife)} to read
 * them at a later time {@code t}. State TTL applies as in the job: an entry whose TTL has run out
 * by the time of reading (wall clock) is not returned, so pass a long {@code state.user-ttl} and
 * {@code state.item-ttl} in {@code config} to read an old savepoint as it was taken.
 */
public final class SavepointReader {
  private SavepointReader() {}

  /** Decayed like/skip/quick-skip counts at one half-life. */
  public record Counts(long halfLifeMs, double likes, double skips, double quickSkips) {}

  /**
   * One user's features, as {@code users.csv} and {@code user_categories.csv} show them.
   * {@code topCategory} is the category the ranker retrieves first for the user
   * ({@link ProfileUpdater#topCategories}: highest positive affinity, ties by name), or null when
   * no category has positive affinity.
   */
  public record UserRow(String userId, long anchorMs, long lastEventMs, long totalEvents, int eventsInSession,
      List<Counts> counters, int recentCount, SortedMap<String, Double> categoryAffinity, String topCategory) {

    /** The counts at half-life {@code halfLifeMs}, if the profile keeps that half-life. */
    public Optional<Counts> counts(long halfLifeMs) {
      return counters.stream().filter(c -> c.halfLifeMs() == halfLifeMs).findFirst();
    }

    /** The affinity of {@link #topCategory}, or null. */
    public Double topCategoryAffinity() {
      return topCategory == null ? null : categoryAffinity.get(topCategory);
    }

    static UserRow of(String userId, UserProfile p) {
      List<Counts> counts = new ArrayList<>();
      for (DecayedCounts c : p.getCounters()) {
        counts.add(new Counts(c.getHalfLifeMs(), c.getLikes(), c.getSkips(), c.getQuickSkips()));
      }
      List<String> top = ProfileUpdater.topCategories(p, 1);
      return new UserRow(userId, p.getAnchorMs(), p.getLastEventMs(), p.getTotalEvents(), p.getEventsInSession(),
          List.copyOf(counts), p.getRecent().size(),
          Collections.unmodifiableSortedMap(new TreeMap<>(p.getCategoryAffinity())),
          top.isEmpty() ? null : top.get(0));
    }
  }

  /**
   * One item: its catalog record as the rankers hold it (null fields when the catalog does not hold
   * the item: deleted, or never published to the catalog) and its decayed statistics from the
   * item-statistics operator (null fields when nobody interacted with it, or the entry expired).
   */
  public record ItemRow(String itemId, String category, String creatorId, Long publishedMs, Boolean deleted,
      Long statsAnchorMs, Double impressions, Double likes, Double skips, Double quickSkips) {

    /** Likes per impression (both decayed alike), or null without impressions. */
    public Double likeRate() {
      return impressions == null || impressions <= 0 ? null : likes / impressions;
    }
  }

  /** What a savepoint holds, sorted by user and item id. */
  public record Contents(List<UserRow> users, List<ItemRow> items) {}

  /** Reads on the default environment (a local one from a command, the test cluster in tests). */
  public static Contents read(String savepointPath, JobConfig config) throws Exception {
    return read(StreamExecutionEnvironment.getExecutionEnvironment(), savepointPath, config);
  }

  /** Reads with the RocksDB backend, which reads savepoints and retained checkpoints alike. */
  public static Contents read(StreamExecutionEnvironment env, String savepointPath, JobConfig config)
      throws Exception {
    return read(env, savepointPath, config, new EmbeddedRocksDBStateBackend());
  }

  /**
   * With another backend: canonical savepoints are readable by any backend, native ones and
   * checkpoints only by the backend that wrote them.
   */
  public static Contents read(StreamExecutionEnvironment env, String savepointPath, JobConfig config,
      StateBackend backend) throws Exception {
    prepare(env);
    org.apache.flink.state.api.SavepointReader savepoint =
        org.apache.flink.state.api.SavepointReader.read(env, savepointPath, backend);

    // One job per state: each reads only its own operator's files, and draining one result at a
    // time cannot stall a job whose collect buffer nobody empties.
    List<UserRow> users = users(savepoint, config);

    Map<String, ItemStats> stats = new TreeMap<>();
    drain(savepoint.readKeyedState(OperatorIdentifier.forUid(Uids.ITEM_STATS), new Stats(config), Types.STRING,
        new AvroTypeInfo<>(ItemStats.class)), "item statistics", s -> stats.put(s.getItemId(), s));

    // Broadcast state is the same on every ranker instance; the first copy of a key is kept.
    Map<String, Item> catalog = new TreeMap<>();
    drain(savepoint.readBroadcastState(OperatorIdentifier.forUid(Uids.RANKER), RankerFunction.CATALOG.getName(),
        Types.STRING, new AvroTypeInfo<>(CatalogEntry.class)), "catalog",
        e -> catalog.putIfAbsent(e.f0, e.f1.getItem()));

    TreeMap<String, ItemRow> items = new TreeMap<>();
    catalog.forEach((id, item) -> items.put(id, itemRow(id, item, stats.get(id))));
    stats.forEach((id, s) -> items.putIfAbsent(id, itemRow(id, null, s)));
    return new Contents(users, List.copyOf(items.values()));
  }

  /** Only the users' features (one job instead of three), sorted by user id. */
  public static List<UserRow> users(StreamExecutionEnvironment env, String savepointPath, JobConfig config)
      throws Exception {
    prepare(env);
    return users(org.apache.flink.state.api.SavepointReader.read(env, savepointPath,
        new EmbeddedRocksDBStateBackend()), config);
  }

  private static List<UserRow> users(org.apache.flink.state.api.SavepointReader savepoint, JobConfig config)
      throws Exception {
    List<UserRow> users = new ArrayList<>();
    drain(savepoint.readKeyedState(OperatorIdentifier.forUid(Uids.RANKER), new Profiles(config), Types.STRING,
        new TupleTypeInfo<>(Types.STRING, new AvroTypeInfo<>(UserProfile.class))),
        "user profiles", u -> users.add(UserRow.of(u.f0, u.f1)));
    users.sort(java.util.Comparator.comparing(UserRow::userId));
    return List.copyOf(users);
  }

  /** Reading is a bounded batch job, and like the job it never falls back to Kryo. */
  private static void prepare(StreamExecutionEnvironment env) {
    Configuration settings = new Configuration();
    settings.set(PipelineOptions.GENERIC_TYPES, false);
    env.configure(settings);
    env.setRuntimeMode(RuntimeExecutionMode.BATCH);
  }

  private static ItemRow itemRow(String itemId, Item item, ItemStats s) {
    return new ItemRow(itemId,
        item == null ? null : item.getCategory(),
        item == null ? null : item.getCreatorId(),
        item == null ? null : item.getPublishedTimeMs(),
        item == null ? null : item.getDeleted(),
        s == null ? null : s.getAnchorMs(),
        s == null ? null : s.getImpressions(),
        s == null ? null : s.getLikes(),
        s == null ? null : s.getSkips(),
        s == null ? null : s.getQuickSkips());
  }

  private static <T> void drain(DataStream<T> stream, String what, java.util.function.Consumer<T> sink)
      throws Exception {
    try (CloseableIterator<T> it = stream.executeAndCollect("read " + what + " from savepoint")) {
      it.forEachRemaining(sink);
    }
  }

  /** The half-lives a configuration keeps counters at, in the order of its columns. */
  public static List<Long> halfLivesMs(JobConfig config) {
    return config.halfLives.stream().map(Duration::toMillis).toList();
  }

  private static final class Profiles extends KeyedStateReaderFunction<String, Tuple2<String, UserProfile>> {
    private static final long serialVersionUID = 1L;
    private final JobConfig config;
    private transient ValueState<UserProfile> profile;

    Profiles(JobConfig config) {
      this.config = config;
    }

    @Override
    public void open(OpenContext openContext) {
      profile = getRuntimeContext().getState(RankerFunction.profileDescriptor(config));
    }

    @Override
    public void readKey(String userId, Context ctx, Collector<Tuple2<String, UserProfile>> out) throws Exception {
      UserProfile p = profile.value();
      if (p != null) {
        out.collect(Tuple2.of(userId, p));
      }
    }
  }

  private static final class Stats extends KeyedStateReaderFunction<String, ItemStats> {
    private static final long serialVersionUID = 1L;
    private final JobConfig config;
    private transient ValueState<ItemStats> stats;

    Stats(JobConfig config) {
      this.config = config;
    }

    @Override
    public void open(OpenContext openContext) {
      stats = getRuntimeContext().getState(ItemStatsFunction.statsDescriptor(config));
    }

    @Override
    public void readKey(String itemId, Context ctx, Collector<ItemStats> out) throws Exception {
      ItemStats s = stats.value();
      if (s != null) {
        out.collect(s);
      }
    }
  }
}
