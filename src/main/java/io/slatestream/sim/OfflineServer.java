package io.slatestream.sim;

import io.slatestream.avro.Interaction;
import io.slatestream.avro.InteractionType;
import io.slatestream.avro.Item;
import io.slatestream.avro.SlateRequest;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.function.IntPredicate;

/**
 * Serves a simulated population in-process, without the job: every request and every answer is
 * answered at once with a slate from a {@link Policy}. It gives reference points with known
 * ground truth (random, popularity, and an oracle that ranks by the true like probability) and
 * closes the loop deterministically for tests. Like the job, it never serves a user an item
 * they answered among their last {@link #RECENT} answers.
 */
public final class OfflineServer implements Simulator.Outbox, Simulator.Slates {
  static final int RECENT = 50;

  /** Ranks {@code size} items for a user among those {@code allowed}. */
  public interface Policy {
    int[] rank(int user, long atMs, int size, IntPredicate allowed);
  }

  private final World world;
  private final Policy policy;
  private final int size;
  private final String name;
  private final Map<Integer, ServedSlate> latest = new HashMap<>();
  private final Map<Integer, ArrayDeque<Integer>> recent = new HashMap<>();
  private long slates;

  /** {@code policy} is given the server, so that a policy can use what it observed. */
  public OfflineServer(World world, String name, java.util.function.Function<OfflineServer, Policy> policy, int size) {
    this.world = world;
    this.name = name;
    this.size = size;
    this.policy = policy.apply(this);
  }

  /** Uniformly random items. */
  public static Policy random(World world, long seed) {
    SplittableRandom r = new SplittableRandom(seed);
    return (user, atMs, size, allowed) -> {
      int n = world.catalog().size();
      Set<Integer> chosen = new HashSet<>();
      int[] out = new int[Math.min(size, n)];
      int k = 0;
      for (int tries = 0; k < out.length && tries < 50 * size; tries++) {
        int i = r.nextInt(n);
        if (allowed.test(i) && chosen.add(i)) {
          out[k++] = i;
        }
      }
      return Arrays.copyOf(out, k);
    };
  }

  /** By the true like probability: the best any ranker could do. */
  public static Policy oracle(World world) {
    return (user, atMs, size, allowed) -> top(world.catalog().size(), size, allowed,
        i -> world.trueLikeProbability(user, i, atMs));
  }

  /** By observed like rate ((likes + 1) / (answers + 2)), the same for everyone. */
  public Policy popularity() {
    return (user, atMs, size, allowed) -> top(world.catalog().size(), size, allowed,
        i -> (likes(i) + 1.0) / (answers(i) + 2.0));
  }

  private int[] itemLikes = new int[0];
  private int[] itemAnswers = new int[0];

  private int likes(int item) {
    return item < itemLikes.length ? itemLikes[item] : 0;
  }

  private int answers(int item) {
    return item < itemAnswers.length ? itemAnswers[item] : 0;
  }

  static int[] top(int n, int size, IntPredicate allowed, java.util.function.IntToDoubleFunction score) {
    int[] best = new int[size];
    double[] bestScore = new double[size];
    int k = 0;
    for (int i = 0; i < n; i++) {
      if (!allowed.test(i)) {
        continue;
      }
      double s = score.applyAsDouble(i);
      if (k < size) {
        best[k] = i;
        bestScore[k] = s;
        k++;
      } else if (s > bestScore[k - 1]) {
        best[k - 1] = i;
        bestScore[k - 1] = s;
      } else {
        continue;
      }
      for (int j = k - 1; j > 0 && bestScore[j] > bestScore[j - 1]; j--) {
        double ts = bestScore[j];
        bestScore[j] = bestScore[j - 1];
        bestScore[j - 1] = ts;
        int ti = best[j];
        best[j] = best[j - 1];
        best[j - 1] = ti;
      }
    }
    return Arrays.copyOf(best, k);
  }

  @Override
  public ServedSlate latest(int user) {
    return latest.get(user);
  }

  @Override
  public void item(Item item) {}

  @Override
  public void raw(String key, byte[] value) {}

  @Override
  public void request(SlateRequest request) {
    serve(Population.parseUserId(request.getUserId()), request.getEventTimeMs());
  }

  @Override
  public void interaction(Interaction e) {
    int user = Population.parseUserId(e.getUserId());
    int item = Catalog.parseItemId(e.getItemId());
    if (user < 0 || item < 0 || e.getWatchTimeMs() < 0) {
      return; // garbage: the job would dead-letter it
    }
    ArrayDeque<Integer> seen = recent.computeIfAbsent(user, u -> new ArrayDeque<>());
    seen.addLast(item);
    if (seen.size() > RECENT) {
      seen.removeFirst();
    }
    if (item >= itemAnswers.length) {
      itemAnswers = Arrays.copyOf(itemAnswers, Math.max(item + 1, itemAnswers.length * 2));
      itemLikes = Arrays.copyOf(itemLikes, itemAnswers.length);
    }
    itemAnswers[item]++;
    if (e.getType() == InteractionType.LIKE) {
      itemLikes[item]++;
    }
    serve(user, e.getEventTimeMs());
  }

  private void serve(int user, long atMs) {
    ArrayDeque<Integer> seen = recent.getOrDefault(user, new ArrayDeque<>());
    Set<Integer> excluded = new HashSet<>(seen);
    int[] items = policy.rank(user, atMs, size, i -> !excluded.contains(i));
    latest.put(user, new ServedSlate(name + "-" + (slates++), items, name));
  }
}
