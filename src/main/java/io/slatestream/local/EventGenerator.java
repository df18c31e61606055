package io.slatestream.local;

import io.slatestream.avro.Context;
import io.slatestream.avro.Interaction;
import io.slatestream.avro.InteractionType;
import io.slatestream.avro.Item;
import io.slatestream.avro.Slate;
import io.slatestream.avro.SlateItem;
import io.slatestream.avro.SlateRequest;
import io.slatestream.config.JobConfig;
import io.slatestream.serde.AvroCodec;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;

/**
 * A simple synthetic world for the local run: a catalog of items in categories, and users who each
 * like two categories. Users mostly answer items of the latest slate they were served (so the loop
 * through the job is real), sometimes browse at random, and now and then ask for a slate. A small
 * share of garbage (random bytes, invalid records) shows the dead-letter path at work.
 */
public final class EventGenerator {

  /** Shape of the generated world. */
  public record Settings(int users, int items, int categories, int creators, double eventsPerSecond,
      double requestShare, double garbageShare, long seed) {
    public static Settings defaults() {
      return new Settings(5_000, 2_000, 12, 300, 500, 0.1, 0.005, 42L);
    }
  }

  private final Settings s;
  private final JobConfig config;
  private final KafkaProducer<byte[], byte[]> producer;
  private final Random random;
  private final Map<String, Slate> latestSlates;
  private final AvroCodec<Interaction> interactions = AvroCodec.of(Interaction.class);
  private final AvroCodec<Item> items = AvroCodec.of(Item.class);
  private final AvroCodec<SlateRequest> requests = AvroCodec.of(SlateRequest.class);

  public final AtomicLong interactionsSent = new AtomicLong();
  public final AtomicLong likesSent = new AtomicLong();
  public final AtomicLong requestsSent = new AtomicLong();
  public final AtomicLong garbageSent = new AtomicLong();
  public final AtomicLong answeredFromSlate = new AtomicLong();
  public final AtomicLong likesFromSlate = new AtomicLong();

  /** Likes of served items, by the candidate source that put them in the slate. */
  public final Map<String, AtomicLong> likesBySource = new ConcurrentHashMap<>();

  private long eventSeq;

  public EventGenerator(Settings settings, JobConfig config, KafkaProducer<byte[], byte[]> producer,
      Map<String, Slate> latestSlates) {
    this.s = settings;
    this.config = config;
    this.producer = producer;
    this.random = new Random(settings.seed());
    this.latestSlates = latestSlates == null ? new ConcurrentHashMap<>() : latestSlates;
  }

  String category(int c) {
    return "cat-" + c;
  }

  int itemCategory(int item) {
    return item % s.categories();
  }

  /** The two categories a user likes, fixed by the user id. */
  boolean likes(int user, int category) {
    return category == user % s.categories() || category == (user * 7 + 3) % s.categories();
  }

  public void publishCatalog() {
    long now = System.currentTimeMillis();
    for (int i = 0; i < s.items(); i++) {
      Item item = Item.newBuilder()
          .setItemId("item-" + i)
          .setCategory(category(itemCategory(i)))
          .setCreatorId("creator-" + (i % s.creators()))
          .setDurationMs(15_000 + random.nextInt(120_000))
          .setPublishedTimeMs(now - random.nextInt(30 * 24 * 3600) * 1000L)
          .setTags(List.of())
          .build();
      send(config.topicItems, item.getItemId(), items.encode(item));
    }
    producer.flush();
  }

  /** Sends events at the configured rate until {@code until} (epoch ms) or interruption. */
  public void run(long untilMs) throws InterruptedException {
    long start = System.nanoTime();
    long sent = 0;
    while (System.currentTimeMillis() < untilMs && !Thread.currentThread().isInterrupted()) {
      long due = (long) ((System.nanoTime() - start) / 1e9 * s.eventsPerSecond());
      while (sent < due) {
        next();
        sent++;
      }
      Thread.sleep(5);
    }
    producer.flush();
  }

  /** One event: garbage, a request, or an interaction. */
  void next() {
    long now = System.currentTimeMillis();
    double r = random.nextDouble();
    int user = random.nextInt(s.users());
    String userId = "user-" + user;
    Context ctx = new Context(random.nextBoolean() ? "android" : "ios", "home");
    if (r < s.garbageShare()) {
      garbage(userId, now);
    } else if (r < s.garbageShare() + s.requestShare()) {
      SlateRequest req = SlateRequest.newBuilder().setRequestId("req-" + (eventSeq++)).setUserId(userId)
          .setSlateSize(0).setEventTimeMs(now).setContext(ctx).build();
      send(config.topicSlateRequests, userId, requests.encode(req));
      requestsSent.incrementAndGet();
    } else {
      Slate slate = latestSlates.get(userId);
      int item;
      Integer position = null;
      String slateId = null;
      String source = null;
      if (slate != null && !slate.getItems().isEmpty() && random.nextDouble() < 0.8) {
        int pos = Math.min(slate.getItems().size() - 1, (int) (-Math.log(1 - random.nextDouble()) * 2));
        SlateItem chosen = slate.getItems().get(pos);
        item = Integer.parseInt(chosen.getItemId().substring("item-".length()));
        position = pos;
        slateId = slate.getSlateId();
        source = chosen.getSource().name();
        answeredFromSlate.incrementAndGet();
      } else {
        item = random.nextInt(s.items());
      }
      boolean like = random.nextDouble() < (likes(user, itemCategory(item)) ? 0.7 : 0.1);
      long watch = like ? 5_000 + random.nextInt(60_000) : (random.nextBoolean() ? random.nextInt(2_000) : 2_000 + random.nextInt(20_000));
      Interaction e = Interaction.newBuilder().setEventId("ev-" + (eventSeq++)).setUserId(userId)
          .setItemId("item-" + item).setType(like ? InteractionType.LIKE : InteractionType.SKIP)
          .setWatchTimeMs(watch).setEventTimeMs(now).setSlateId(slateId).setPosition(position)
          .setContext(ctx).build();
      send(config.topicInteractions, userId, interactions.encode(e));
      interactionsSent.incrementAndGet();
      if (like) {
        likesSent.incrementAndGet();
        if (slateId != null) {
          likesFromSlate.incrementAndGet();
          likesBySource.computeIfAbsent(source, k -> new AtomicLong()).incrementAndGet();
        }
      }
    }
  }

  private void garbage(String userId, long now) {
    garbageSent.incrementAndGet();
    if (random.nextBoolean()) {
      byte[] junk = new byte[1 + random.nextInt(64)];
      random.nextBytes(junk);
      send(config.topicInteractions, userId, junk);
    } else {
      Interaction bad = Interaction.newBuilder().setEventId("ev-" + (eventSeq++)).setUserId(userId)
          .setItemId("item-0").setType(InteractionType.SKIP).setWatchTimeMs(-1).setEventTimeMs(now).build();
      send(config.topicInteractions, userId, interactions.encode(bad));
    }
  }

  private void send(String topic, String key, byte[] value) {
    producer.send(new ProducerRecord<>(topic, key.getBytes(StandardCharsets.UTF_8), value));
  }
}
