package io.slatestream.inspect;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.MappingIterator;
import com.fasterxml.jackson.dataformat.csv.CsvMapper;
import com.fasterxml.jackson.dataformat.csv.CsvSchema;
import io.slatestream.avro.Interaction;
import io.slatestream.avro.InteractionType;
import io.slatestream.avro.Item;
import io.slatestream.avro.Slate;
import io.slatestream.config.JobConfig;
import io.slatestream.inspect.SavepointReader.Counts;
import io.slatestream.inspect.SavepointReader.ItemRow;
import io.slatestream.inspect.SavepointReader.UserRow;
import io.slatestream.local.Topics;
import io.slatestream.serde.AvroCodec;
import io.slatestream.testing.EmbeddedKafkaExtension;
import io.slatestream.testing.RunningJob;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.ExternalizedCheckpointRetention;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.runtime.state.hashmap.HashMapStateBackend;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.test.junit5.InjectMiniCluster;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * The inspect command on a real savepoint of the real job (parallelism 2, RocksDB, real broker):
 * known users interact with known items, and slates are served, all at one event time so every
 * decayed value is an exact count, and the CSV files must hold exactly those counts. A retained incremental RocksDB
 * checkpoint of the same state, and the savepoint read with another backend, must read the same.
 */
class InspectCommandITCase {

  @RegisterExtension
  static final MiniClusterExtension FLINK = new MiniClusterExtension(
      new MiniClusterResourceConfiguration.Builder().setNumberTaskManagers(1).setNumberSlotsPerTaskManager(4).build());

  @RegisterExtension
  static final EmbeddedKafkaExtension BROKER = new EmbeddedKafkaExtension();

  private static final long T = System.currentTimeMillis() - 600_000;
  private static final long PUBLISHED = T - 86_400_000L;
  private static final String NEWS = "news, \"local\"";

  @TempDir Path tmp;

  @Test
  void theCsvFilesHoldWhatWasFedIn(@InjectMiniCluster MiniCluster cluster) throws Exception {
    String run = "inspect-" + System.nanoTime();
    Map<String, String> opts = new HashMap<>();
    opts.put("kafka.bootstrap.servers", BROKER.kafka().bootstrapServers());
    opts.put("kafka.group.id", run);
    opts.put("source.starting-offsets", "EARLIEST");
    // Only the checkpoint triggered below: none subsumes it before it is read.
    opts.put("job.checkpoint-interval", "1 h");
    // Every slate, and so every impression, answers a request at event time T like every
    // interaction: all decayed values are exact counts.
    opts.put("slate.debounce", "0 s");
    opts.put("slate.min-request-interval", "0 ms");
    for (String t : List.of("interactions", "items", "slate-requests", "recommendations", "dead-letters",
        "training-examples", "model-releases")) {
      opts.put("topic." + t, run + "-" + t);
    }
    JobConfig config = JobConfig.of(opts);
    Topics.create(BROKER.kafka(), config, 2);

    AvroCodec<Item> items = AvroCodec.of(Item.class);
    Map<String, Item> catalog = new LinkedHashMap<>();
    catalog.put("i1", item("i1", "music", "c1"));
    catalog.put("i2", item("i2", "music", "c2"));
    catalog.put("i3", item("i3", NEWS, "c1"));
    catalog.put("i4", item("i4", "sport", "c3"));
    catalog.put("i5", item("i5", "sport", "c3\nb"));
    catalog.put("i8", item("i8", "film", "c4"));
    for (Item i : catalog.values()) {
      BROKER.topics().send(config.topicItems, i.getItemId(), items.encode(i));
    }
    // Published, then deleted by a tombstone: the rankers forget it, and nobody interacted with it.
    BROKER.topics().send(config.topicItems, "i6", items.encode(item("i6", "music", "c1")));
    BROKER.topics().send(config.topicItems, "i6", null);

    Configuration flink = new Configuration();
    flink.set(CheckpointingOptions.CHECKPOINTS_DIRECTORY, tmp.resolve("checkpoints").toUri().toString());
    flink.set(CheckpointingOptions.INCREMENTAL_CHECKPOINTS, true);
    flink.set(CheckpointingOptions.EXTERNALIZED_CHECKPOINT_RETENTION,
        ExternalizedCheckpointRetention.RETAIN_ON_CANCELLATION);
    String savepoint;
    SavepointReader.Contents fromCheckpoint;
    Map<String, Integer> impressions = new TreeMap<>();
    try (RunningJob job = RunningJob.start(config, 2, BROKER.topics(), flink)) {
      job.awaitCatalog(catalog.keySet(), T);

      AvroCodec<Interaction> interactions = AvroCodec.of(Interaction.class);
      List<Interaction> events = List.of(
          event("u1", "i1", InteractionType.LIKE, 20_000),
          event("u1", "i2", InteractionType.LIKE, 20_000),
          event("u1", "i3", InteractionType.SKIP, 5_000),
          event("u1", "i4", InteractionType.SKIP, 500),
          event("u2", "i4", InteractionType.LIKE, 20_000),
          event("u2", "i5", InteractionType.LIKE, 20_000),
          event("u2", "i3", InteractionType.LIKE, 20_000),
          event("u3", "i1", InteractionType.SKIP, 100),
          // An item the catalog never had: counted, its affinity waits for the item.
          event("u3", "i7", InteractionType.LIKE, 20_000));
      for (Interaction e : events) {
        BROKER.topics().send(config.topicInteractions, e.getUserId(), interactions.encode(e));
      }
      job.awaitConsumed(config.topicInteractions, config.topicItems);
      // Impressions are the served slates read back: wait until all are in, then until all are read.
      job.awaitAnswers(job.probeRequests());
      job.awaitConsumed(config.topicRecommendations);
      for (Slate served : job.slates()) {
        served.getItems().forEach(i -> impressions.merge(i.getItemId(), 1, Integer::sum));
      }

      // Read while the job runs (it holds two of the four slots): a retained checkpoint is
      // discarded when the job finishes, as it will when stopped with a savepoint.
      String checkpoint = cluster.triggerCheckpoint(job.id()).get();
      StreamExecutionEnvironment reader = StreamExecutionEnvironment.getExecutionEnvironment();
      reader.setParallelism(2);
      fromCheckpoint = SavepointReader.read(reader, checkpoint, config);
      savepoint = job.stopWithSavepoint(tmp.resolve("savepoints"));
    }

    Path out = tmp.resolve("csv");
    InspectCommand.Outcome outcome = InspectCommand.run("--savepoint", savepoint, "--output", out.toString(),
        "--kafka.bootstrap.servers", BROKER.kafka().bootstrapServers());
    assertThat(outcome.written().users()).isEqualTo(3);
    assertThat(outcome.written().userCategories()).isEqualTo(6);

    // --- users.csv: every value an exact count, the counters at the default half-lives -----------
    List<Map<String, String>> users = csv(out.resolve("users.csv"));
    assertThat(header(out.resolve("users.csv"))).containsExactly("user_id", "anchor_ms", "last_event_ms",
        "total_events", "events_in_session", "likes_1h", "skips_1h", "quick_skips_1h", "likes_1d", "skips_1d",
        "quick_skips_1d", "likes_7d", "skips_7d", "quick_skips_7d", "recent_count", "category_count",
        "top_category", "top_category_affinity");
    assertThat(users).extracting(u -> u.get("user_id")).containsExactly("u1", "u2", "u3");
    assertUser(users.get(0), 4, 2, 2, 1, 3, "music", 2.0);
    assertUser(users.get(1), 3, 3, 0, 0, 2, "sport", 2.0);
    // u3's only resolved category is negative: no strongest category to retrieve from.
    assertUser(users.get(2), 2, 1, 1, 1, 1, "", null);

    // --- user_categories.csv: +1 like, -0.5 skip, -1 quick skip ---------------------------------
    assertThat(csv(out.resolve("user_categories.csv")))
        .extracting(r -> r.get("user_id") + "|" + r.get("category") + "|" + r.get("affinity"))
        .containsExactly("u1|music|2.0", "u1|" + NEWS + "|-0.5", "u1|sport|-1.0",
            "u2|" + NEWS + "|1.0", "u2|sport|2.0", "u3|music|-1.0");

    // --- items.csv: the catalog joined with the statistics -------------------------------------
    // Likes and skips from the interactions; impressions from the slates served, every one at T.
    // Whether the deleted item was served before its tombstone arrived is a race, so it is
    // expected exactly when it was.
    Map<String, int[]> answers = new TreeMap<>(); // likes, skips, quick skips
    answers.put("i1", new int[] {1, 1, 1});
    answers.put("i2", new int[] {1, 0, 0});
    answers.put("i3", new int[] {1, 1, 0});
    answers.put("i4", new int[] {1, 1, 1});
    answers.put("i5", new int[] {1, 0, 0});
    answers.put("i7", new int[] {1, 0, 0});
    TreeMap<String, Map<String, String>> expectedItems = new TreeMap<>();
    java.util.Set<String> ids = new java.util.TreeSet<>(catalog.keySet());
    ids.addAll(impressions.keySet());
    ids.addAll(answers.keySet());
    for (String id : ids) {
      Item known = catalog.get(id);
      int[] a = answers.getOrDefault(id, new int[3]);
      int seen = impressions.getOrDefault(id, 0);
      Map<String, String> row = new TreeMap<>();
      row.put("item_id", id);
      row.put("category", known == null ? "" : known.getCategory());
      row.put("creator_id", known == null ? "" : known.getCreatorId());
      row.put("published_ms", known == null ? "" : Long.toString(PUBLISHED));
      row.put("deleted", known == null ? "" : "false");
      row.put("stats_anchor_ms", Long.toString(T));
      row.put("impressions", Double.toString(seen));
      row.put("likes", Double.toString(a[0]));
      row.put("skips", Double.toString(a[1]));
      row.put("quick_skips", Double.toString(a[2]));
      row.put("like_rate", seen == 0 ? "" : Double.toString((double) a[0] / seen));
      expectedItems.put(id, row);
    }
    assertThat(impressions.keySet()).as("every catalog item was served").containsAll(catalog.keySet());
    assertThat(csv(out.resolve("items.csv"))).containsExactlyElementsOf(expectedItems.values());
    assertThat(outcome.written().items()).isEqualTo(expectedItems.size());

    // --- the same state read from a retained incremental checkpoint, and with another backend ----
    assertThat(fromCheckpoint).isEqualTo(outcome.contents());
    JobConfig readAll = config.with(Map.of("state.user-ttl", InspectCommand.READ_EVERYTHING_TTL,
        "state.item-ttl", InspectCommand.READ_EVERYTHING_TTL));
    assertThat(SavepointReader.read(StreamExecutionEnvironment.getExecutionEnvironment(), savepoint, readAll,
        new HashMapStateBackend())).as("the canonical savepoint read with the heap backend").isEqualTo(outcome.contents());
    assertThat(outcome.contents().users().get(0).counters()).extracting(Counts::halfLifeMs)
        .containsExactlyElementsOf(SavepointReader.halfLivesMs(config));
  }

  private static void assertUser(Map<String, String> u, int events, int likes, int skips, int quickSkips,
      int categories, String top, Double topAffinity) {
    assertThat(u).containsEntry("anchor_ms", Long.toString(T)).containsEntry("last_event_ms", Long.toString(T))
        .containsEntry("total_events", Integer.toString(events))
        .containsEntry("events_in_session", Integer.toString(events))
        .containsEntry("recent_count", Integer.toString(events))
        .containsEntry("category_count", Integer.toString(categories))
        .containsEntry("top_category", top)
        .containsEntry("top_category_affinity", topAffinity == null ? "" : topAffinity.toString());
    for (String h : List.of("1h", "1d", "7d")) {
      assertThat(u).containsEntry("likes_" + h, likes + ".0").containsEntry("skips_" + h, skips + ".0")
          .containsEntry("quick_skips_" + h, quickSkips + ".0");
    }
  }

  private static List<String> header(Path file) throws Exception {
    return List.of(Files.readAllLines(file).get(0).split(","));
  }

  private static List<Map<String, String>> csv(Path file) throws Exception {
    try (MappingIterator<Map<String, String>> it = new CsvMapper().readerFor(Map.class)
        .with(CsvSchema.emptySchema().withHeader()).readValues(file.toFile())) {
      List<Map<String, String>> rows = new ArrayList<>();
      it.forEachRemaining(r -> rows.add(new TreeMap<>(r)));
      return rows;
    }
  }

  private static Item item(String id, String category, String creator) {
    return Item.newBuilder().setItemId(id).setCategory(category).setCreatorId(creator).setDurationMs(30_000)
        .setPublishedTimeMs(PUBLISHED).build();
  }

  private static Interaction event(String user, String item, InteractionType type, long watchMs) {
    return Interaction.newBuilder().setEventId(user + "-" + item).setUserId(user).setItemId(item).setType(type)
        .setWatchTimeMs(watchMs).setEventTimeMs(T).build();
  }
}
