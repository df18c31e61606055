package io.slatestream.pipeline;

import static org.assertj.core.api.Assertions.assertThat;

import io.slatestream.avro.CandidateSource;
import io.slatestream.avro.DeadLetter;
import io.slatestream.avro.Interaction;
import io.slatestream.avro.InteractionType;
import io.slatestream.avro.Item;
import io.slatestream.avro.Slate;
import io.slatestream.avro.SlateItem;
import io.slatestream.avro.SlateRequest;
import io.slatestream.avro.SlateTrigger;
import io.slatestream.avro.Label;
import io.slatestream.avro.TrainingExample;
import io.slatestream.avro.state.ItemStats;
import io.slatestream.features.FeatureVectorBuilder;
import io.slatestream.config.JobConfig;
import io.slatestream.local.Topics;
import io.slatestream.serde.AvroCodec;
import io.slatestream.testing.EmbeddedKafkaExtension;
import io.slatestream.testing.TestJobs;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Random;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.apache.flink.api.common.JobID;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.Gauge;
import org.apache.flink.metrics.Histogram;
import org.apache.flink.metrics.Metric;
import org.apache.flink.runtime.testutils.InMemoryReporter;
import org.apache.flink.runtime.testutils.MiniClusterResourceConfiguration;
import org.apache.flink.test.junit5.MiniClusterExtension;
import org.apache.flink.util.CloseableIterator;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import io.slatestream.config.JobOptions;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The whole job, parallelism 2, RocksDB, against a real broker: catalog, interactions, requests and
 * garbage go in; what lands on the recommendations and dead-letters topics is checked, and the
 * item statistics show impressions read back from slates already served on the recommendations
 * topic.
 */
class SlatestreamPipelineITCase {

  /** The job's metrics as a metric reporter sees them, kept after the job ends. */
  static final InMemoryReporter METRICS = InMemoryReporter.createWithRetainedMetrics();

  @RegisterExtension
  static final MiniClusterExtension FLINK = new MiniClusterExtension(
      new MiniClusterResourceConfiguration.Builder()
          .setConfiguration(METRICS.addToConfiguration(new Configuration()))
          .setNumberTaskManagers(1)
          .setNumberSlotsPerTaskManager(2)
          .build());

  @RegisterExtension
  static final EmbeddedKafkaExtension BROKER = new EmbeddedKafkaExtension();

  private static final long T0 = System.currentTimeMillis() - 600_000;
  private final AvroCodec<Interaction> interactions = AvroCodec.of(Interaction.class);
  private final AvroCodec<SlateRequest> requests = AvroCodec.of(SlateRequest.class);
  private final AvroCodec<Item> items = AvroCodec.of(Item.class);

  /**
   * In both delivery modes; in EXACTLY_ONCE the output is written in Kafka transactions committed
   * on checkpoints, and the read_committed reader below must still see every request answered
   * exactly once.
   */
  @ParameterizedTest
  @EnumSource(JobOptions.DeliveryMode.class)
  void slatesFlowAndGarbageIsDeadLetteredWithReasons(JobOptions.DeliveryMode delivery) throws Exception {
    String run = "pipeline-" + delivery + "-" + System.nanoTime();
    Map<String, String> opts = new HashMap<>();
    opts.put("kafka.bootstrap.servers", BROKER.kafka().bootstrapServers());
    opts.put("kafka.group.id", run);
    opts.put("source.starting-offsets", "EARLIEST");
    opts.put("sink.delivery", delivery.name());
    opts.put("sink.transactional-id-prefix", run);
    opts.put("slate.debounce", "10 s");
    opts.put("slate.size", "10");
    // The category assertions below are about features and the heuristic, not diversity.
    opts.put("rerank.max-per-category", "1000");
    opts.put("rerank.max-per-creator", "1000");
    opts.put("rerank.exploration-share", "0");
    for (String t : List.of("interactions", "items", "slate-requests", "recommendations", "dead-letters", "training-examples", "model-releases")) {
      opts.put("topic." + t, run + "-" + t);
    }
    JobConfig config = JobConfig.of(opts);
    Topics.create(BROKER.kafka(), config, 2);

    // Catalog: 4 categories x 10 items.
    for (int i = 0; i < 40; i++) {
      Item item = Item.newBuilder().setItemId("item-" + i).setCategory("cat-" + (i % 4))
          .setCreatorId("creator-" + (i % 7)).setDurationMs(30_000).setPublishedTimeMs(T0 - 86_400_000L).build();
      BROKER.topics().send(config.topicItems, item.getItemId(), items.encode(item));
    }

    // Ten users, each likes three items of "their" category and skips one item of another, all
    // within the debounce window: one slate at once, one more (from the timer) covering all four.
    Map<String, Set<String>> interacted = new LinkedHashMap<>();
    for (int u = 0; u < 10; u++) {
      String user = "user-" + u;
      int fav = u % 4;
      List<String> touched = new ArrayList<>();
      for (int k = 0; k < 3; k++) {
        String itemId = "item-" + (fav + 4 * k);
        BROKER.topics().send(config.topicInteractions, user, interactions.encode(interaction(user, itemId, InteractionType.LIKE, 20_000, T0 + k * 1000)));
        touched.add(itemId);
      }
      String skipped = "item-" + ((fav + 1) % 4);
      BROKER.topics().send(config.topicInteractions, user, interactions.encode(interaction(user, skipped, InteractionType.SKIP, 500, T0 + 3000)));
      touched.add(skipped);
      interacted.put(user, Set.copyOf(touched));
    }

    // Requests, including one asking for far more than the maximum.
    List<String> requestIds = new ArrayList<>();
    for (int u = 0; u < 10; u++) {
      SlateRequest r = SlateRequest.newBuilder().setRequestId("req-" + u).setUserId("user-" + u)
          .setSlateSize(u == 0 ? 10_000 : 0).setEventTimeMs(T0 + 60_000).build();
      BROKER.topics().send(config.topicSlateRequests, r.getUserId(), requests.encode(r));
      requestIds.add(r.getRequestId());
    }

    // Garbage of every kind, interleaved with the valid stream.
    Map<Long, String> expectedReasons = new LinkedHashMap<>();
    Map<Long, byte[]> garbageBytes = new HashMap<>();
    byte[] random = new byte[40];
    new Random(7).nextBytes(random);
    sendGarbage(config, random, "undecodable", expectedReasons, garbageBytes);
    byte[] unknownEnum = interactions.encode(interaction("user-1", "item-1", InteractionType.SKIP, 10, T0));
    corruptEnum(unknownEnum);
    sendGarbage(config, unknownEnum, "undecodable", expectedReasons, garbageBytes);
    sendGarbage(config, interactions.encode(interaction("", "item-1", InteractionType.LIKE, 10, T0)),
        "invalid: missing userId", expectedReasons, garbageBytes);
    sendGarbage(config, interactions.encode(interaction("user-1", "item-1", InteractionType.LIKE, -5, T0)),
        "invalid: watchTimeMs must be >= 0", expectedReasons, garbageBytes);
    sendGarbage(config, interactions.encode(interaction("user-1", "item-1", InteractionType.LIKE, 10,
        System.currentTimeMillis() + 30L * 86_400_000L)), "invalid: eventTimeMs", expectedReasons, garbageBytes);
    // A valid event after the garbage: the job must keep going past all of it.
    BROKER.topics().send(config.topicInteractions, "user-9",
        interactions.encode(interaction("user-9", "item-39", InteractionType.SKIP, 100, T0 + 5000)));
    Set<String> user9 = new java.util.HashSet<>(interacted.get("user-9"));
    user9.add("item-39");
    interacted.put("user-9", Set.copyOf(user9));

    // Slates an earlier run served, already on the recommendations topic: the job reads its served
    // slates back as item impressions. One more was written in a transaction that was aborted, so
    // it was never delivered and must not count.
    AvroCodec<Slate> slateCodec = AvroCodec.of(Slate.class);
    sendAborted(config, slateCodec.encode(earlierSlate("earlier-aborted", "item-30", "item-34", "item-35")));
    List<Slate> earlier = List.of(earlierSlate("earlier-1", "item-30", "item-31", "item-32", "item-33"),
        earlierSlate("earlier-2", "item-30", "item-31"));
    for (Slate s : earlier) {
      BROKER.topics().send(config.topicRecommendations, s.getUserId(), slateCodec.encode(s));
    }
    Set<String> earlierIds = Set.of("earlier-1", "earlier-2", "earlier-aborted");

    TestJobs.Job job = TestJobs.job(config, 2, true);
    List<ItemStats> itemStats = new ArrayList<>();
    JobID jobId;
    try (CloseableIterator<ItemStats> collected = job.streams().itemStats().collectAsync()) {
      JobClient client = job.env().executeAsync(run);
      jobId = client.getJobID();
      collected.forEachRemaining(itemStats::add);
      client.getJobExecutionResult().get();
    }

    // --- item statistics: impressions from served slates, likes and skips from interactions ----
    Map<String, ItemStats> lastStats = new HashMap<>();
    itemStats.forEach(st -> lastStats.merge(st.getItemId(), st, (a, b) -> b.getAnchorMs() >= a.getAnchorMs() ? b : a));
    assertThat(lastStats.get("item-30").getImpressions()).as("served twice, once more in an aborted transaction")
        .isEqualTo(2.0);
    assertThat(lastStats.get("item-31").getImpressions()).isEqualTo(2.0);
    assertThat(lastStats.get("item-32").getImpressions()).isEqualTo(1.0);
    assertThat(lastStats.get("item-33").getImpressions()).isEqualTo(1.0);
    for (String item : List.of("item-30", "item-31", "item-32", "item-33")) {
      assertThat(lastStats.get(item).getLikes() + lastStats.get(item).getSkips()).as(item).isZero();
    }
    assertThat(lastStats).as("only ever served in the aborted transaction").doesNotContainKeys("item-34", "item-35");
    // item-0 (user-0's favourite) was liked by the users of category 0 and never served before the run.
    assertThat(lastStats.get("item-0").getLikes()).isPositive();
    assertThat(lastStats.get("item-0").getImpressions()).as("an interaction is not an impression").isZero();

    // --- dead letters: each garbage record, with its bytes, coordinates and reason -------------
    AvroCodec<DeadLetter> dlCodec = AvroCodec.of(DeadLetter.class);
    List<DeadLetter> deadLetters = BROKER.topics().readAll(config.topicDeadLetters).stream()
        .map(r -> decode(dlCodec, r)).toList();
    assertThat(deadLetters).hasSize(expectedReasons.size());
    for (DeadLetter d : deadLetters) {
      assertThat(d.getSourceTopic()).isEqualTo(config.topicInteractions);
      long key = coordinates(d.getPartition(), d.getOffset());
      assertThat(expectedReasons).containsKey(key);
      assertThat(d.getError()).startsWith(expectedReasons.get(key));
      assertThat(bytes(d.getValue())).isEqualTo(garbageBytes.get(key));
    }

    // --- slates ------------------------------------------------------------------------------
    List<ConsumerRecord<byte[], byte[]>> records = BROKER.topics().readAll(config.topicRecommendations).stream()
        .filter(r -> !earlierIds.contains(decode(slateCodec, r).getSlateId())).toList();
    List<Slate> slates = records.stream().map(r -> decode(slateCodec, r)).toList();
    for (int i = 0; i < records.size(); i++) {
      assertThat(new String(records.get(i).key(), StandardCharsets.UTF_8)).isEqualTo(slates.get(i).getUserId());
    }

    // Every request answered exactly once, with its trigger time.
    Map<String, List<Slate>> byRequest = slates.stream().filter(s -> s.getTrigger() == SlateTrigger.REQUEST)
        .collect(Collectors.groupingBy(s -> s.getRequestId()));
    assertThat(byRequest.keySet()).containsExactlyInAnyOrderElementsOf(requestIds);
    byRequest.values().forEach(l -> assertThat(l).hasSize(1));
    byRequest.values().forEach(l -> assertThat(l.get(0).getTriggerEventTimeMs()).isEqualTo(T0 + 60_000));
    // Whether the catalog reached the ranker before a request is a race between BROKER.topics(), so the
    // contents of request slates are checked by the ranker's harness test; here: bounded, ranked.
    byRequest.values().forEach(l -> assertThat(l.get(0).getItems()).hasSizeLessThanOrEqualTo(config.slateMaxSize)
        .extracting(SlateItem::getScore).isSortedAccordingTo(java.util.Comparator.reverseOrder()));

    // Every served item comes back at most once as a training example, with the vector of the
    // job's feature spec; nothing answered these slates, so the end of input closes them as
    // NO_ACTION. Slates beyond training.max-pending-slates per user were dropped unlabelled, and
    // counted (checked with the metrics below).
    AvroCodec<TrainingExample> exCodec = AvroCodec.of(TrainingExample.class);
    List<TrainingExample> examples = BROKER.topics().readAll(config.topicTrainingExamples).stream()
        .map(r -> decode(exCodec, r)).toList();
    FeatureVectorBuilder features = new FeatureVectorBuilder(config);
    List<String> servedItems = slates.stream().flatMap(sl -> sl.getItems().stream()
        .map(i -> sl.getSlateId() + "/" + i.getItemId() + "@" + i.getRank())).toList();
    assertThat(examples).extracting(e -> e.getSlateId() + "/" + e.getItemId() + "@" + e.getPosition())
        .doesNotHaveDuplicates().isSubsetOf(servedItems).isNotEmpty();
    assertThat(examples).allSatisfy(e -> {
      assertThat(e.getLabel()).isEqualTo(Label.NO_ACTION);
      assertThat(e.getFeatureSpecId()).isEqualTo(features.spec().id());
      assertThat(e.getFeatureValues()).hasSize(features.spec().size());
    });

    // --- metrics: what a reporter sees agrees with what reached the topics ----------------------
    // By identifier (several unnamed maps share a name, so identifiers repeat: a list, not a map).
    List<Map.Entry<String, Metric>> metrics = new ArrayList<>();
    METRICS.getMetricsByGroup().forEach((group, byName) -> {
      if (jobId.toString().equals(group.getAllVariables().get("<job_id>"))) {
        byName.forEach((name, metric) -> metrics.add(Map.entry(group.getMetricIdentifier(name), metric)));
      }
    });
    assertThat(sum(metrics, ranker("slatesEmitted"))).isEqualTo(slates.size());
    assertThat(of(metrics, ranker("eventToSlateLatencyMs")).stream().mapToLong(m -> ((Histogram) m).getCount()).sum())
        .as("one latency per slate").isEqualTo(slates.size());
    assertThat(sum(metrics, ranker("slateRequestsClamped"))).as("the request for 10,000 items").isEqualTo(1);
    assertThat(sum(metrics, ranker("candidatesScored"))).as("scored by a model: none was released").isZero();
    assertThat(of(metrics, ranker("modelVersion")).stream().map(m -> (Object) ((Gauge<?>) m).getValue()).toList())
        .hasSize(2).containsOnly("heuristic-v1");
    assertThat(sum(metrics, ".*\\.topic\\." + config.topicInteractions + "\\.deadLetters"))
        .isEqualTo(expectedReasons.size());
    assertThat(sum(metrics, ".*\\.topic\\." + config.topicRecommendations + "\\.deadLetters")).isZero();
    assertThat(sum(metrics, ranker("trainingExamples"))).isEqualTo(examples.size());
    assertThat(sum(metrics, ranker("impressionsDropped"))).as("served items with no example")
        .isEqualTo(servedItems.size() - examples.size());

    // After its interactions each user got a slate at once and one more when the debounce timer
    // fired; the latter knows everything the user did: none of it is served again, items nobody
    // engaged with are served from the user's liked category only (affinity breaks the tie), and
    // the category the user quick-skipped is ranked out of the slate.
    Set<String> engaged = interacted.values().stream().flatMap(Set::stream).collect(Collectors.toSet());
    for (Map.Entry<String, Set<String>> e : interacted.entrySet()) {
      String user = e.getKey();
      List<Slate> mine = slates.stream()
          .filter(s -> s.getUserId().equals(user) && s.getTrigger() == SlateTrigger.INTERACTION).toList();
      assertThat(mine).as("interaction slates of %s", user).hasSize(2);
      Slate last = mine.stream().max((a, b) -> Long.compare(a.getTriggerEventTimeMs(), b.getTriggerEventTimeMs())).get();
      List<String> served = last.getItems().stream().map(SlateItem::getItemId).toList();
      assertThat(served).hasSize(10).doesNotContainAnyElementsOf(e.getValue());
      int fav = Integer.parseInt(user.substring(5)) % 4;
      int quickSkipped = (fav + 1) % 4;
      // Items of the liked category nobody engaged with come before unengaged items of any other
      // category. (Whether the statistics of the engaged items reach the ranker before its
      // debounce timer fires is a race; if they have not, engaged items look unengaged and
      // may take the other places of the slate, unengaged items of other categories as well.)
      List<String> favUnengaged = IntStream.range(0, 10).mapToObj(k -> "item-" + (fav + 4 * k))
          .filter(i -> !engaged.contains(i)).toList();
      List<String> otherUnengaged = served.stream().filter(i -> !engaged.contains(i))
          .filter(i -> Integer.parseInt(i.substring(5)) % 4 != fav).toList();
      assertThat(served).as("%s's slate", user).containsAnyElementsOf(favUnengaged);
      if (!otherUnengaged.isEmpty()) {
        assertThat(served).as("%s's slate, which serves unengaged %s of other categories", user, otherUnengaged)
            .containsAll(favUnengaged);
      }
      assertThat(served).as("%s quick-skipped category %d", user, quickSkipped)
          .noneMatch(i -> Integer.parseInt(i.substring(5)) % 4 == quickSkipped);
      assertThat(last.getItems()).extracting(SlateItem::getRank).containsExactly(0, 1, 2, 3, 4, 5, 6, 7, 8, 9);
      assertThat(last.getItems()).extracting(SlateItem::getScore).isSortedAccordingTo(java.util.Comparator.reverseOrder());
    }
  }

  /** A metric of any ranker subtask (operator scope: ...&lt;operator&gt;.&lt;subtask&gt;.&lt;metric&gt;). */
  private static String ranker(String metric) {
    return ".*\\.ranker\\.\\d+\\." + metric;
  }

  /** The metrics whose identifier matches {@code regex}; at least one must. */
  private static List<Metric> of(List<Map.Entry<String, Metric>> metrics, String regex) {
    List<Metric> found = metrics.stream().filter(e -> e.getKey().matches(regex)).map(Map.Entry::getValue).toList();
    assertThat(found).as("metrics %s among %s", regex, metrics.stream().map(Map.Entry::getKey).toList()).isNotEmpty();
    return found;
  }

  /** The sum of a counter over the subtasks that report it. */
  private static long sum(List<Map.Entry<String, Metric>> metrics, String regex) {
    return of(metrics, regex).stream().mapToLong(m -> ((Counter) m).getCount()).sum();
  }

  /** A slate served before this run, to a user of its own, one minute before the run's events. */
  private static Slate earlierSlate(String slateId, String... itemIds) {
    List<SlateItem> items = new ArrayList<>();
    for (int i = 0; i < itemIds.length; i++) {
      items.add(new SlateItem(itemIds[i], 1.0 - i * 0.1, i, CandidateSource.TRENDING_GLOBAL));
    }
    return Slate.newBuilder().setSlateId(slateId).setUserId("earlier-user").setTrigger(SlateTrigger.INTERACTION)
        .setItems(items).setModelVersion("heuristic-v1").setGeneratedAtMs(T0 - 60_000)
        .setTriggerEventTimeMs(T0 - 60_000).build();
  }

  /** Writes one record in a Kafka transaction and aborts it. */
  private static void sendAborted(JobConfig config, byte[] value) {
    Properties p = new Properties();
    p.put("bootstrap.servers", BROKER.kafka().bootstrapServers());
    p.put("transactional.id", config.transactionalIdPrefix + "-aborting-writer");
    p.put("key.serializer", "org.apache.kafka.common.serialization.ByteArraySerializer");
    p.put("value.serializer", "org.apache.kafka.common.serialization.ByteArraySerializer");
    try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p)) {
      producer.initTransactions();
      producer.beginTransaction();
      producer.send(new ProducerRecord<>(config.topicRecommendations, "earlier-user".getBytes(StandardCharsets.UTF_8),
          value));
      producer.flush();
      producer.abortTransaction();
    }
  }

  private void sendGarbage(JobConfig config, byte[] value, String reason, Map<Long, String> reasons,
      Map<Long, byte[]> bytes) throws Exception {
    RecordMetadata md = BROKER.topics().send(config.topicInteractions, "user-1", value);
    long key = coordinates(md.partition(), md.offset());
    reasons.put(key, reason);
    bytes.put(key, value);
  }

  private static long coordinates(int partition, long offset) {
    return ((long) partition << 40) | offset;
  }

  /** Sets the enum index of an encoded Interaction to 7, beyond LIKE/SKIP. */
  private static void corruptEnum(byte[] encoded) {
    // Single-object header (10 bytes), then eventId, userId, itemId as length-prefixed strings.
    int pos = 10;
    for (int f = 0; f < 3; f++) {
      int len = encoded[pos] >> 1; // zig-zag varint, short strings only
      pos += 1 + len;
    }
    encoded[pos] = 14; // zig-zag of 7
  }

  private static Interaction interaction(String user, String item, InteractionType type, long watch, long t) {
    return Interaction.newBuilder().setEventId(user + "-" + item + "-" + t + "-" + type).setUserId(user)
        .setItemId(item).setType(type).setWatchTimeMs(watch).setEventTimeMs(t).build();
  }

  private static <T extends org.apache.avro.specific.SpecificRecordBase> T decode(AvroCodec<T> codec,
      ConsumerRecord<byte[], byte[]> r) {
    try {
      return codec.decode(r.value());
    } catch (Exception e) {
      throw new AssertionError("Undecodable output record at offset " + r.offset(), e);
    }
  }

  private static byte[] bytes(ByteBuffer b) {
    byte[] out = new byte[b.remaining()];
    b.duplicate().get(out);
    return out;
  }
}
