package io.slatestream.replay;

import io.slatestream.avro.Interaction;
import io.slatestream.avro.InteractionType;
import io.slatestream.avro.Item;
import io.slatestream.avro.SlateRequest;
import io.slatestream.config.CommandLine;
import io.slatestream.sim.OfflineServer;
import io.slatestream.sim.SimSettings;
import io.slatestream.sim.Simulator;
import io.slatestream.sim.World;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.function.Function;
import org.apache.flink.util.TimeUtils;

/**
 * {@code replay simulate}: writes a history in the replay's file formats from the project's
 * simulator ({@code sim}), served by one of the simulator's reference policies instead of the job,
 * so a history of any size takes seconds and is the same for the same options.
 *
 * <pre>
 *   --output DIR          where interactions.csv and items.csv are written (required)
 *   --users N --items N --categories N --seed N     the simulated world (defaults 2000, 1000, 12, 42)
 *   --rate R              events per simulated second (interactions and requests; default 20)
 *   --duration D          simulated time (default 2 h), from 2025-01-06T00:00:00Z
 *   --policy P            what the simulated users were served: random, popularity, oracle, or
 *                         mixed (default: oracle and random alternating by position)
 * </pre>
 *
 * The policy shapes the history as any past recommender shapes its logs: users can only answer
 * what they were shown. Under {@code popularity} the popular items collect the likes, which favours
 * a popularity baseline; under {@code oracle} the likes follow the users' true tastes; {@code mixed}
 * is a recommender that knows the tastes half of the time and explores the other half.
 */
public final class SimulatedHistory {
  private SimulatedHistory() {}

  static final long START_MS = Instant.parse("2025-01-06T00:00:00Z").toEpochMilli();

  /** What was written. */
  public record Written(Path interactions, Path items, long interactionCount, long likeCount, long itemCount) {}

  public static void main(String[] args) throws IOException {
    Written w = run(args);
    System.out.printf("Wrote %,d interactions (%,d likes) to %s and %,d items to %s%n", w.interactionCount(),
        w.likeCount(), w.interactions(), w.itemCount(), w.items());
  }

  public static Written run(String... args) throws IOException {
    Path output = null;
    SimSettings s = SimSettings.defaults().withUsers(2_000).withItems(1_000).withEventsPerSecond(20)
        .withGarbageShare(0);
    Duration duration = Duration.ofHours(2);
    String policy = "mixed";
    for (CommandLine.Arg a : CommandLine.parse(args)) {
      String v = a.value();
      switch (a.key()) {
        case "output" -> output = Path.of(v);
        case "users" -> s = s.withUsers(Integer.parseInt(v));
        case "items" -> s = s.withItems(Integer.parseInt(v));
        case "categories" -> s = s.withCategories(Integer.parseInt(v));
        case "seed" -> s = s.withSeed(Long.parseLong(v));
        case "rate" -> s = s.withEventsPerSecond(Double.parseDouble(v));
        case "duration" -> duration = TimeUtils.parseDuration(v);
        case "policy" -> policy = v.toLowerCase(Locale.ROOT);
        default -> throw new IllegalArgumentException("Unknown option --" + a.key());
      }
    }
    if (output == null) {
      throw new IllegalArgumentException("Usage: simulate --output DIR [--users N] [--items N] [--categories N]"
          + " [--rate R] [--duration D] [--seed N] [--policy random|popularity|oracle|mixed]");
    }
    Files.createDirectories(output);
    World world = new World(s, START_MS);
    long seed = s.seed();
    Function<OfflineServer, OfflineServer.Policy> chosen = switch (policy) {
      case "random" -> server -> OfflineServer.random(world, seed);
      case "popularity" -> OfflineServer::popularity;
      case "oracle" -> server -> OfflineServer.oracle(world);
      case "mixed" -> server -> alternating(OfflineServer.oracle(world), OfflineServer.random(world, seed));
      default -> throw new IllegalArgumentException("Unknown policy '" + policy
          + "': random, popularity, oracle or mixed");
    };
    OfflineServer server = new OfflineServer(world, policy, chosen, 10);
    Path interactionsFile = output.resolve("interactions.csv");
    Path itemsFile = output.resolve("items.csv");
    try (BufferedWriter interactions = Files.newBufferedWriter(interactionsFile, StandardCharsets.UTF_8);
        BufferedWriter items = Files.newBufferedWriter(itemsFile, StandardCharsets.UTF_8)) {
      interactions.write(String.join(",", HistoryFiles.INTERACTION_COLUMNS) + "\n");
      items.write(String.join(",", HistoryFiles.ITEM_COLUMNS) + "," + HistoryFiles.DURATION_COLUMN + "\n");
      long[] counts = new long[3];
      Simulator sim = new Simulator(world, START_MS, new Simulator.Outbox() {
        @Override
        public void item(Item item) {
          line(items, item.getItemId() + "," + item.getCategory() + "," + item.getCreatorId() + ","
              + item.getPublishedTimeMs() + "," + item.getDurationMs());
          counts[2]++;
        }

        @Override
        public void interaction(Interaction e) {
          line(interactions, e.getUserId() + "," + e.getItemId() + "," + e.getType() + "," + e.getWatchTimeMs() + ","
              + e.getEventTimeMs());
          counts[0]++;
          counts[1] += e.getType() == InteractionType.LIKE ? 1 : 0;
          server.interaction(e);
        }

        @Override
        public void request(SlateRequest r) {
          server.request(r);
        }

        @Override
        public void raw(String key, byte[] value) {}
      }, server);
      sim.publishCatalog();
      for (long t = START_MS; t <= START_MS + duration.toMillis(); t += 1_000) {
        sim.advanceTo(t);
      }
      return new Written(interactionsFile, itemsFile, counts[0], counts[1], counts[2]);
    }
  }

  /** Even positions from {@code a}, odd ones from {@code b}, without repeats. */
  static OfflineServer.Policy alternating(OfflineServer.Policy a, OfflineServer.Policy b) {
    return (user, atMs, size, allowed) -> {
      int[] first = a.rank(user, atMs, size, allowed);
      int[] second = b.rank(user, atMs, size, allowed);
      Set<Integer> out = new LinkedHashSet<>();
      for (int i = 0; out.size() < size && (i < first.length || i < second.length); i++) {
        if (i < first.length && out.size() < size) {
          out.add(first[i]);
        }
        if (i < second.length && out.size() < size) {
          out.add(second[i]);
        }
      }
      List<Integer> list = new ArrayList<>(out);
      return list.stream().mapToInt(Integer::intValue).toArray();
    };
  }

  private static void line(BufferedWriter w, String text) {
    try {
      w.write(text);
      w.write('\n');
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
