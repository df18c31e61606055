package io.slatestream.local;

import io.slatestream.sim.Simulator;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * What the local run measures, per model that ranked the slate (the heuristic in phase 1, the
 * trained model in phase 2): answers, likes and quick skips with the like probability the
 * simulator's truth gave each answered item, over the whole run and per {@link #BUCKET_MS} of wall
 * clock; and request-to-slate latencies. Thread-safe: the simulator, the output reader, the
 * progress printer and the report all use it.
 */
final class DemoStats {
  static final long BUCKET_MS = 10_000;

  /** Counts of answers to slates of one model. */
  static final class Tally {
    long answers;
    long likes;
    long quickSkips;
    double expectedLikes;

    double likeRate() {
      return answers == 0 ? Double.NaN : (double) likes / answers;
    }

    double quickSkipRate() {
      return answers == 0 ? Double.NaN : (double) quickSkips / answers;
    }

    /** The like rate the truth expected for the items answered (less noisy than likeRate). */
    double expectedLikeRate() {
      return answers == 0 ? Double.NaN : expectedLikes / answers;
    }

    Tally copy() {
      Tally t = new Tally();
      t.answers = answers;
      t.likes = likes;
      t.quickSkips = quickSkips;
      t.expectedLikes = expectedLikes;
      return t;
    }
  }

  /** Latencies of one model's request slates: when (ms since start) and how long (ms). */
  private static final class Latencies {
    long[] at = new long[1024];
    long[] ms = new long[1024];
    int n;

    void add(long atMs, long latencyMs) {
      if (n == at.length) {
        at = Arrays.copyOf(at, n * 2);
        ms = Arrays.copyOf(ms, n * 2);
      }
      at[n] = atMs;
      ms[n++] = latencyMs;
    }
  }

  private final long startMs;
  private final Map<String, Tally> byModel = new LinkedHashMap<>();
  private final TreeMap<Long, Map<String, Tally>> byBucket = new TreeMap<>();
  private final Map<String, Latencies> latencies = new LinkedHashMap<>();
  private final Map<String, Tally> byGroup = new LinkedHashMap<>();

  DemoStats(long startMs) {
    this.startMs = startMs;
  }

  long startMs() {
    return startMs;
  }

  synchronized void answered(long atMs, String model, Simulator.Answer answer, double likeProbability) {
    add(byModel.computeIfAbsent(model, k -> new Tally()), answer, likeProbability);
    long bucket = Math.max(0, atMs - startMs) / BUCKET_MS;
    add(byBucket.computeIfAbsent(bucket, k -> new LinkedHashMap<>()).computeIfAbsent(model, k -> new Tally()),
        answer, likeProbability);
  }

  /**
   * An answer counted for a group of users as well (kept apart from the models): the demo counts
   * phase 1 per control-group half, to see how far the halves differ before any model serves.
   */
  synchronized void answeredInGroup(String group, Simulator.Answer answer, double likeProbability) {
    add(byGroup.computeIfAbsent(group, k -> new Tally()), answer, likeProbability);
  }

  synchronized Tally group(String group) {
    Tally t = byGroup.get(group);
    return t == null ? new Tally() : t.copy();
  }

  private static void add(Tally t, Simulator.Answer answer, double likeProbability) {
    t.answers++;
    t.expectedLikes += likeProbability;
    if (answer == Simulator.Answer.LIKE) {
      t.likes++;
    } else if (answer == Simulator.Answer.QUICK_SKIP) {
      t.quickSkips++;
    }
  }

  synchronized void latency(long atMs, String model, long latencyMs) {
    latencies.computeIfAbsent(model, k -> new Latencies()).add(atMs - startMs, latencyMs);
  }

  /** Models in the order they first served an answered slate. */
  synchronized List<String> models() {
    List<String> out = new ArrayList<>(byModel.keySet());
    latencies.keySet().stream().filter(m -> !out.contains(m)).forEach(out::add);
    return out;
  }

  synchronized Tally tally(String model) {
    Tally t = byModel.get(model);
    return t == null ? new Tally() : t.copy();
  }

  /** Per bucket start (ms since start), per model. */
  synchronized TreeMap<Long, Map<String, Tally>> overTime() {
    TreeMap<Long, Map<String, Tally>> out = new TreeMap<>();
    byBucket.forEach((b, m) -> {
      Map<String, Tally> copy = new LinkedHashMap<>();
      m.forEach((k, v) -> copy.put(k, v.copy()));
      out.put(b * BUCKET_MS, copy);
    });
    return out;
  }

  /** Sorted latencies of one model's request slates (all models if null) at or after {@code fromMs}. */
  synchronized long[] latencies(String model, long fromMs) {
    long since = fromMs == Long.MIN_VALUE ? Long.MIN_VALUE : fromMs - startMs;
    long[] out = new long[0];
    int n = 0;
    for (Map.Entry<String, Latencies> e : latencies.entrySet()) {
      if (model != null && !model.equals(e.getKey())) {
        continue;
      }
      Latencies l = e.getValue();
      out = Arrays.copyOf(out, n + l.n);
      for (int i = 0; i < l.n; i++) {
        if (l.at[i] >= since) {
          out[n++] = l.ms[i];
        }
      }
    }
    long[] sorted = Arrays.copyOf(out, n);
    Arrays.sort(sorted);
    return sorted;
  }

  /** The q-quantile of sorted values, or -1 if there are none. */
  static long quantile(long[] sorted, double q) {
    if (sorted.length == 0) {
      return -1;
    }
    return sorted[(int) Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  }
}
