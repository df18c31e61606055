package io.slatestream.recovery;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.slatestream.avro.Interaction;
import io.slatestream.avro.InteractionType;
import io.slatestream.avro.Item;
import io.slatestream.avro.Slate;
import io.slatestream.avro.SlateItem;
import io.slatestream.avro.SlateRequest;
import io.slatestream.config.JobConfig;
import io.slatestream.inspect.CsvExport;
import io.slatestream.inspect.InspectCommand;
import io.slatestream.inspect.SavepointReader;
import io.slatestream.local.Topics;
import io.slatestream.serde.AvroCodec;
import io.slatestream.testing.EmbeddedKafkaExtension;
import io.slatestream.testing.RunningJob;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.MemorySize;
import org.apache.flink.configuration.StateRecoveryOptions;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.utils.Utils;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Upgrades: a whole-job savepoint written by each release is committed under
 * {@code src/test/resources/savepoints/<release>/} and must restore into today's job. Operators and
 * states that release did not have start empty; everything it had must come back as it was, and
 * the restored job must serve from it.
 *
 * <p>Each release's directory holds the canonical savepoint ({@code savepoint/}, relocatable: its
 * {@code _metadata} names no absolute path), the records of the input topics as that job read them
 * ({@code input-topics.json}: replayed into a fresh broker, so the restored Kafka offsets point
 * exactly past them, as on the real topics after an upgrade) and what that release's inspect
 * command exported from it ({@code *.csv}). When a release ships, generate its savepoint with
 * {@code mvn verify -Dtest=none -Dit.test=SavepointCompatibilityITCase -Dslatestream.write-savepoint=v4}
 * and commit the directory; never replace an old one.
 *
 * <p>The savepoint's state carries TTL timestamps of when it was written (state TTL is processing
 * time), so the job restores it with TTLs long enough that nothing has expired since.
 */
class SavepointCompatibilityITCase {

  @RegisterExtension
  static final MiniClusterExtension FLINK = new MiniClusterExtension(
      new MiniClusterResourceConfiguration.Builder().setNumberTaskManagers(1).setNumberSlotsPerTaskManager(2).build());

  private static final Path DIR = Path.of("src", "test", "resources", "savepoints");
  private static final long T = 1_750_000_000_000L;
  private static final int PARALLELISM = 2;
  private static final List<String> USERS = List.of("u1", "u2", "u3");
  /** What every user interacted with: never served to them again. */
  private static final Map<String, Set<String>> INTERACTED = Map.of(
      "u1", Set.of("i1", "i2", "i4"), "u2", Set.of("i3", "i4", "i5"), "u3", Set.of("i1", "i7"));

  /** A broker per test: each release's input topics are replayed at their own offsets. */
  @RegisterExtension
  final EmbeddedKafkaExtension broker = new EmbeddedKafkaExtension();

  @TempDir Path tmp;

  /** The job's configuration in every release's run: default topic names, this test's broker. */
  private JobConfig config(Map<String, String> more) {
    Map<String, String> opts = new HashMap<>(more);
    opts.put("kafka.bootstrap.servers", broker.kafka().bootstrapServers());
    opts.put("source.starting-offsets", "EARLIEST");
    opts.put("slate.debounce", "0 s");
    return JobConfig.of(opts);
  }

  /** The committed release directories. */
  static Stream<Path> releases() throws Exception {
    try (Stream<Path> s = Files.list(DIR)) {
      return s.filter(p -> p.getFileName().toString().matches("v\\d+")).sorted().toList().stream();
    }
  }

  @Test
  void theFirstReleaseIsCommitted() throws Exception {
    assertThat(releases()).extracting(p -> p.getFileName().toString()).contains("v1");
  }

  @ParameterizedTest
  @MethodSource("releases")
  void aSavepointOfAnEarlierReleaseRestoresIntoTodaysJobWhichServesFromIt(Path release) throws Exception {
    Path savepoint = tmp.resolve("relocated");
    copyTree(release.resolve("savepoint"), savepoint);
    assertThat(new String(Files.readAllBytes(savepoint.resolve("_metadata")), StandardCharsets.ISO_8859_1))
        .as("a relocatable savepoint names no absolute path").doesNotContain("file:/").doesNotContain("/tmp/")
        .doesNotContain(System.getProperty("user.dir"));

    // 1. Today's reader reads it as that release's inspect did, and it holds what that job was fed.
    InspectCommand.Outcome read = InspectCommand.run("--savepoint", savepoint.toString(), "--output",
        tmp.resolve("read").toString());
    for (String file : List.of(CsvExport.USERS, CsvExport.USER_CATEGORIES, CsvExport.ITEMS)) {
      assertThat(tmp.resolve("read").resolve(file)).as(file).hasSameTextualContentAs(release.resolve(file));
    }
    assertThat(read.contents().users()).extracting(SavepointReader.UserRow::userId).containsExactlyElementsOf(USERS);
    assertThat(read.contents().users()).extracting(SavepointReader.UserRow::totalEvents).containsExactly(3L, 3L, 2L);
    assertThat(read.contents().items()).extracting(SavepointReader.ItemRow::itemId)
        .contains("i1", "i2", "i3", "i4", "i5", "i8");

    // 2. Today's job restores it, on the topics as that job left them, and serves from it.
    replay(release.resolve("input-topics.json"));
    JobConfig config = config(Map.of("state.user-ttl", "36500 d", "state.item-ttl", "36500 d"));
    Configuration restore = new Configuration();
    restore.set(StateRecoveryOptions.SAVEPOINT_PATH, savepoint.toUri().toString());
    String after;
    try (RunningJob job = RunningJob.start(config, PARALLELISM, broker.topics(), restore)) {
      AvroCodec<SlateRequest> requests = AvroCodec.of(SlateRequest.class);
      List<String> ids = new ArrayList<>();
      for (String user : USERS) {
        SlateRequest r = SlateRequest.newBuilder().setRequestId("after-upgrade-" + user).setUserId(user)
            .setSlateSize(3).setEventTimeMs(T + 600_000).build();
        broker.topics().send(config.topicSlateRequests, user, requests.encode(r));
        ids.add(r.getRequestId());
      }
      Map<String, List<Slate>> answers = job.awaitAnswers(ids);
      for (String user : USERS) {
        List<Slate> mine = answers.get("after-upgrade-" + user);
        assertThat(mine).as("answers to %s", user).hasSize(1);
        List<String> served = mine.get(0).getItems().stream().map(SlateItem::getItemId).toList();
        // The catalog and the user's history come from the savepoint alone: the restored sources
        // start past every catalog record and interaction.
        assertThat(served).as("%s's slate from the restored catalog", user).hasSize(3)
            .doesNotContainAnyElementsOf(INTERACTED.get(user));
      }
      after = job.stopWithSavepoint(tmp.resolve("after"));
    }

    // 3. The users' state came through the upgrade unchanged (asking for slates changes no features).
    InspectCommand.run("--savepoint", after, "--output", tmp.resolve("after-csv").toString());
    for (String file : List.of(CsvExport.USERS, CsvExport.USER_CATEGORIES)) {
      assertThat(tmp.resolve("after-csv").resolve(file)).as(file).hasSameTextualContentAs(release.resolve(file));
    }
  }

  /**
   * Writes this release's directory: runs the job on a small, fixed history, stops it with a
   * savepoint and commits what it read and what inspect exports.
   */
  @Test
  @EnabledIfSystemProperty(named = "slatestream.write-savepoint", matches = "v\\d+")
  void writeTheSavepointOfThisRelease() throws Exception {
    Path out = DIR.resolve(System.getProperty("slatestream.write-savepoint"));
    assertThat(out).as("a committed release is never replaced").doesNotExist();
    JobConfig config = config(Map.of());
    Topics.create(broker.kafka(), config, PARALLELISM);

    AvroCodec<Item> items = AvroCodec.of(Item.class);
    Map<String, Item> catalog = new LinkedHashMap<>();
    for (int i = 1; i <= 8; i++) {
      if (i == 7) {
        continue; // i7 is answered but never in the catalog
      }
      String id = "i" + i;
      catalog.put(id, Item.newBuilder().setItemId(id).setCategory(i % 2 == 0 ? "music" : "sport")
          .setCreatorId("c" + (i % 3)).setDurationMs(30_000).setPublishedTimeMs(T - 86_400_000L).build());
    }
    for (Item item : catalog.values()) {
      broker.topics().send(config.topicItems, item.getItemId(), items.encode(item));
    }
    broker.topics().send(config.topicItems, "i6", null); // deleted
    catalog.remove("i6");

    // All state in files beside _metadata, none inlined: inlined state keeps the absolute path it
    // would have had as its name, and a committed savepoint must name none.
    Configuration files = new Configuration();
    files.set(CheckpointingOptions.CHECKPOINT_STORAGE, "filesystem");
    files.set(CheckpointingOptions.CHECKPOINTS_DIRECTORY, tmp.resolve("checkpoints").toUri().toString());
    files.set(CheckpointingOptions.FS_SMALL_FILE_THRESHOLD, MemorySize.ZERO);
    String savepoint;
    try (RunningJob job = RunningJob.start(config, PARALLELISM, broker.topics(), files)) {
      job.awaitCatalog(catalog.keySet(), T - 60_000);
      AvroCodec<Interaction> interactions = AvroCodec.of(Interaction.class);
      List<Interaction> events = List.of(
          event("u1", "i1", InteractionType.LIKE, 20_000), event("u1", "i2", InteractionType.LIKE, 20_000),
          event("u1", "i4", InteractionType.SKIP, 500),
          event("u2", "i3", InteractionType.LIKE, 20_000), event("u2", "i5", InteractionType.LIKE, 20_000),
          event("u2", "i4", InteractionType.SKIP, 5_000),
          event("u3", "i1", InteractionType.SKIP, 100), event("u3", "i7", InteractionType.LIKE, 20_000));
      for (Interaction e : events) {
        broker.topics().send(config.topicInteractions, e.getUserId(), interactions.encode(e));
      }
      // Served slates await their labels in state.
      AvroCodec<SlateRequest> requests = AvroCodec.of(SlateRequest.class);
      List<String> ids = new ArrayList<>();
      for (String user : USERS) {
        SlateRequest r = SlateRequest.newBuilder().setRequestId("before-upgrade-" + user).setUserId(user)
            .setSlateSize(3).setEventTimeMs(T + 1_000).build();
        broker.topics().send(config.topicSlateRequests, user, requests.encode(r));
        ids.add(r.getRequestId());
      }
      job.awaitAnswers(ids);
      job.awaitConsumed(config.topicInteractions, config.topicItems, config.topicSlateRequests,
          config.topicModelReleases);
      savepoint = job.stopWithSavepoint(tmp.resolve("savepoints"));
    }

    Files.createDirectories(out);
    copyTree(Path.of(java.net.URI.create(savepoint)), out.resolve("savepoint"));
    InspectCommand.run("--savepoint", out.resolve("savepoint").toString(), "--output", out.toString());
    List<Map<String, Object>> records = new ArrayList<>();
    for (String topic : List.of(config.topicInteractions, config.topicItems, config.topicSlateRequests,
        config.topicModelReleases)) {
      for (ConsumerRecord<byte[], byte[]> r : broker.topics().readAll(topic)) {
        Map<String, Object> rec = new LinkedHashMap<>();
        rec.put("topic", topic);
        rec.put("partition", r.partition());
        rec.put("offset", r.offset());
        rec.put("key", r.key() == null ? null : Base64.getEncoder().encodeToString(r.key()));
        rec.put("value", r.value() == null ? null : Base64.getEncoder().encodeToString(r.value()));
        records.add(rec);
      }
    }
    new ObjectMapper().writerWithDefaultPrettyPrinter().writeValue(out.resolve("input-topics.json").toFile(), records);
  }

  /** The input topics as the savepoint's job read them, at the same partitions and offsets. */
  private void replay(Path file) throws Exception {
    List<Map<String, Object>> records = new ObjectMapper().readValue(file.toFile(),
        new com.fasterxml.jackson.core.type.TypeReference<List<Map<String, Object>>>() {});
    JobConfig config = config(Map.of());
    Topics.create(broker.kafka(), config, PARALLELISM);
    for (Map<String, Object> r : records) {
      String key = (String) r.get("key");
      String value = (String) r.get("value");
      RecordMetadata md = broker.topics().send((String) r.get("topic"), (Integer) r.get("partition"),
          key == null ? null : new String(Base64.getDecoder().decode(key), StandardCharsets.UTF_8),
          value == null ? null : Base64.getDecoder().decode(value));
      assertThat(md.offset()).as("replayed %s", r).isEqualTo(((Number) r.get("offset")).longValue());
    }
  }

  private static Interaction event(String user, String item, InteractionType type, long watchMs) {
    return Interaction.newBuilder().setEventId(user + "-" + item).setUserId(user).setItemId(item).setType(type)
        .setWatchTimeMs(watchMs).setEventTimeMs(T).build();
  }

  private static void copyTree(Path from, Path to) throws Exception {
    try (Stream<Path> files = Files.walk(from)) {
      for (Path f : files.collect(Collectors.toList())) {
        Path target = to.resolve(from.relativize(f).toString());
        if (Files.isDirectory(f)) {
          Files.createDirectories(target);
        } else {
          Files.copy(f, target);
        }
      }
    }
  }
}
