package io.slatestream.eval;

import io.slatestream.avro.Interaction;
import io.slatestream.avro.InteractionType;
import io.slatestream.avro.Item;
import io.slatestream.avro.SlateRequest;
import io.slatestream.config.JobConfig;
import io.slatestream.features.FeatureSpec;
import io.slatestream.model.ExampleSelection;
import io.slatestream.model.GbdtModel;
import io.slatestream.model.Metrics;
import io.slatestream.model.ModelTrainer;
import io.slatestream.model.TrainerConfig;
import io.slatestream.model.TrainingResult;
import io.slatestream.ranking.ModelHoldout;
import io.slatestream.sim.OfflineServer;
import io.slatestream.sim.Population;
import io.slatestream.sim.ServedSlate;
import io.slatestream.sim.SimSettings;
import io.slatestream.sim.Simulator;
import io.slatestream.sim.World;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.function.BiFunction;

/**
 * Evaluates every policy the same way. Each run starts the same seeded world and population at
 * {@link #T0}; for the first {@code warmupMs} of simulated time the job's heuristic serves (so
 * profiles, item statistics and the users' fatigue are alike for every policy), then the policy
 * under test serves for {@code evalMs}. Online metrics are counted over that second period only.
 *
 * <p>The heuristic's warm-up is also the training log: every served slate that got at least one
 * answer is logged, one example per item with the vector the job's {@link
 * io.slatestream.features.FeatureVectorBuilder} gives at the served position and label 1 for a like,
 * 0 for a skip or quick skip. Items left unanswered are rows only with {@link ExampleSelection#ALL}
 * (as 0), the way the train command selects from the job's log. Slates served in the last label
 * window of the warm-up are left out. The log is split by time: the GBDT is trained by
 * {@link ModelTrainer} on the earlier part and serves the evaluation period; every policy's scorer
 * is measured on the later part (the holdout).
 *
 * <p>Definitions. An impression is an item a user examined (each gets one answer); like rate and
 * quick-skip rate are per impression. Coverage is distinct items served in any slate / catalog size
 * at the end. Diversity is the mean over served slates of distinct categories / slate length (1 when
 * every item is from a different category). Offline scorers: random = uniform noise, popularity =
 * the item's observed like rate (likes + 1) / (answers + 2), heuristic = the job's heuristic score,
 * GBDT = the model's probability, oracle = the true like probability, each as of serving time.
 * AUC and log loss are over all holdout rows (log loss only for scorers that are probabilities);
 * NDCG@10 is the mean over holdout slates with a like of NDCG of the slate re-ranked by the scorer.
 *
 * <p>One more run serves the GBDT to half of the users only, the other half kept on the heuristic
 * as {@code model.holdout-share 0.5} keeps a control group in the job ({@link Split}). Its like rates
 * per half, beside the same halves' under the heuristic for everyone and under the GBDT for
 * everyone, separate what the model does for the users it serves from what it does for everyone
 * through the item statistics they share: items the model tries become known to the heuristic too.
 */
public final class Evaluation {
  /** A fixed start, so the simulated time of day is the same in every run. */
  public static final long T0 = 1_767_225_600_000L;

  public static final List<String> POLICIES = List.of("random", "popularity", "heuristic", "gbdt", "oracle");

  public record Settings(SimSettings sim, long warmupMs, long evalMs, int slateSize, double holdoutFraction,
      JobConfig job, TrainerConfig trainer, ExampleSelection selection) {}

  /**
   * One policy's evaluation period. {@code heldOutLikeRate} and {@code treatedLikeRate} are the like
   * rates of the two halves of the population that {@link #SPLIT} divides users into, whatever the
   * run served them.
   */
  public record Online(long impressions, double likeRate, double quickSkipRate, long slates, double coverage,
      double diversity, double heldOutLikeRate, double treatedLikeRate) {}

  /**
   * The same-period comparison: like rates per half of the population with the heuristic for
   * everyone, with the GBDT for the treated half only (the other half kept on the heuristic, as
   * {@code model.holdout-share 0.5} does in the job), and with the GBDT for everyone. Both halves
   * share item statistics, as they do in the job.
   */
  public record Split(Online heuristic, Online modelForHalf, Online model) {}

  /** How the split run divides users: the job's control-group hash at a share of one half. */
  public static final ModelHoldout SPLIT = new ModelHoldout(0.5);

  public record Offline(double auc, double logLoss, double ndcg10) {}

  public record Row(String policy, Online online, Offline offline) {}

  /** {@code modelForHalf}: the run that served the GBDT to the treated half only ({@link #split}). */
  public record Result(Settings settings, List<Row> rows, Online modelForHalf, int trainRows, int holdoutRows,
      int holdoutSlates, long splitTimeMs) {

    /** The split run beside the heuristic's and the GBDT's rows, which serve everyone. */
    public Split split() {
      return new Split(online("heuristic"), modelForHalf, online("gbdt"));
    }

    private Online online(String policy) {
      return rows.stream().filter(r -> r.policy().equals(policy)).findFirst().orElseThrow().online();
    }
  }

  private final Settings s;

  public Evaluation(Settings settings) {
    this.s = settings;
  }

  /** One logged slate: served items and, per item, its vector, label and every scorer's score. */
  private static final class Logged {
    final long atMs;
    final float[][] vectors;
    final float[] labels;
    final boolean[] answered; // per position: the user examined the item and answered it
    final float[][] scores; // [scorer][position], scorers in POLICIES order (gbdt filled later)
    final int[] items;
    boolean anyAnswer;

    /** The same slate reduced to the positions the user answered. */
    Logged answeredOnly() {
      int n = 0;
      for (boolean a : answered) {
        n += a ? 1 : 0;
      }
      int[] keptItems = new int[n];
      float[][] keptVectors = new float[n][];
      Logged out = new Logged(atMs, keptItems, keptVectors);
      for (int k = 0, j = 0; k < items.length; k++) {
        if (answered[k]) {
          keptItems[j] = items[k];
          keptVectors[j] = vectors[k];
          out.labels[j] = labels[k];
          out.answered[j] = true;
          for (int sc = 0; sc < scores.length; sc++) {
            out.scores[sc][j] = scores[sc][k];
          }
          j++;
        }
      }
      out.anyAnswer = anyAnswer;
      return out;
    }

    Logged(long atMs, int[] items, float[][] vectors) {
      this.atMs = atMs;
      this.items = items;
      this.vectors = vectors;
      this.labels = new float[items.length];
      this.answered = new boolean[items.length];
      this.scores = new float[POLICIES.size()][items.length];
    }
  }

  public Result run() throws Exception {
    // The heuristic's run: its warm-up is the training log, its second period its row.
    List<Logged> log = new ArrayList<>();
    Map<String, Online> online = new LinkedHashMap<>();
    online.put("heuristic", serve((server, job) -> job, null, log));

    log.sort((a, b) -> Long.compare(a.atMs, b.atMs));
    int split = (int) Math.round(log.size() * (1 - s.holdoutFraction()));
    if (split <= 0 || split >= log.size()) {
      throw new IllegalStateException("too few logged slates for a time split: " + log.size());
    }
    List<Logged> train = log.subList(0, split);
    List<Logged> holdout = log.subList(split, log.size());
    Online modelForHalf;
    FeatureSpec spec = new JobPolicy(s.job()).vectors().spec();
    List<ModelTrainer.Example> rows = new ArrayList<>();
    for (Logged l : train) {
      for (int k = 0; k < l.items.length; k++) {
        rows.add(new ModelTrainer.Example(l.atMs, l.vectors[k], l.labels[k]));
      }
    }
    try (TrainingResult trained = new ModelTrainer(spec.names(), spec.id(), s.trainer()).train(rows);
        GbdtModel model = GbdtModel.load(trained.modelBytes(), "eval-gbdt", spec.id(), spec.size())) {
      int gbdt = POLICIES.indexOf("gbdt");
      for (Logged l : holdout) {
        float[] flat = new float[l.items.length * spec.size()];
        for (int k = 0; k < l.items.length; k++) {
          System.arraycopy(l.vectors[k], 0, flat, k * spec.size(), spec.size());
        }
        l.scores[gbdt] = l.items.length == 0 ? new float[0] : model.score(flat, l.items.length);
      }
      for (String p : POLICIES) {
        switch (p) {
          case "heuristic" -> { }
          case "gbdt" -> online.put(p, serve((server, job) -> job, job -> job.model(model), null));
          default -> online.put(p, online(p));
        }
      }
      modelForHalf = serve((server, job) -> job, job -> {
        job.model(model);
        job.holdout(SPLIT);
      }, null);
    }

    int holdoutRows = 0;
    for (Logged l : holdout) {
      holdoutRows += l.items.length;
    }
    List<Row> out = new ArrayList<>();
    for (String p : POLICIES) {
      out.add(new Row(p, online.get(p), offline(holdout, holdoutRows, POLICIES.indexOf(p),
          !p.equals("random") && !p.equals("heuristic"))));
    }
    return new Result(s, out, modelForHalf, rows.size(), holdoutRows, holdout.size(), holdout.get(0).atMs);
  }

  /**
   * The online row of one policy that needs no training (random, popularity, heuristic or oracle),
   * run alone: the heuristic's warm-up, then the policy.
   */
  public Online online(String policy) {
    return switch (policy) {
      case "heuristic" -> serve((server, job) -> job, null, null);
      case "random" -> serve((server, job) -> OfflineServer.random(server.world(), s.sim().seed()), null, null);
      case "popularity" -> serve((server, job) -> server.popularity(), null, null);
      case "oracle" -> serve((server, job) -> OfflineServer.oracle(server.world()), null, null);
      default -> throw new IllegalArgumentException("No reference policy '" + policy
          + "': random, popularity, heuristic or oracle");
    };
  }

  private static Offline offline(List<Logged> holdout, int n, int scorer, boolean probability) {
    float[] predictions = new float[n];
    float[] labels = new float[n];
    int i = 0;
    double ndcgSum = 0;
    int ndcgSlates = 0;
    for (Logged l : holdout) {
      System.arraycopy(l.scores[scorer], 0, predictions, i, l.items.length);
      System.arraycopy(l.labels, 0, labels, i, l.items.length);
      i += l.items.length;
      double ndcg = Metrics.ndcg(l.scores[scorer], l.labels, 10);
      if (!Double.isNaN(ndcg)) {
        ndcgSum += ndcg;
        ndcgSlates++;
      }
    }
    return new Offline(Metrics.auc(predictions, labels), probability ? Metrics.logLoss(predictions, labels) : Double.NaN,
        ndcgSlates == 0 ? Double.NaN : ndcgSum / ndcgSlates);
  }

  /** The server inside a run, with the world it serves (for the reference policies). */
  public interface Server {
    World world();

    OfflineServer.Policy popularity();
  }

  /**
   * One run: the heuristic for the warm-up, then {@code policy}; {@code atSwitch} is applied to the
   * job's policy at the switch; {@code log}, when given, receives the warm-up's logged slates.
   */
  private Online serve(BiFunction<Server, JobPolicy, OfflineServer.Policy> policy,
      java.util.function.Consumer<JobPolicy> atSwitch, List<Logged> log) {
    World world = new World(s.sim(), T0);
    long switchMs = T0 + s.warmupMs();
    long endMs = switchMs + s.evalMs();
    long labelWindowMs = s.job().labelWindow.toMillis();
    JobPolicy job = new JobPolicy(s.job());
    int[][] counts = {new int[0], new int[0]}; // likes, answers per item, as of now
    SplittableRandom noise = new SplittableRandom(s.sim().seed() ^ 0x5EED);
    LinkedHashMap<String, Logged> pending = new LinkedHashMap<>();
    Logged[] lastServed = new Logged[1];
    if (log != null) {
      job.onServed(served -> {
        if (served.atMs() >= switchMs) {
          return;
        }
        Logged l = new Logged(served.atMs(), served.items(), served.vectors());
        for (int k = 0; k < l.items.length; k++) {
          int item = l.items[k];
          l.scores[POLICIES.indexOf("random")][k] = (float) noise.nextDouble();
          l.scores[POLICIES.indexOf("popularity")][k] = (float) ((count(counts[0], item) + 1.0)
              / (count(counts[1], item) + 2.0));
          l.scores[POLICIES.indexOf("heuristic")][k] = (float) served.heuristicScores()[k];
          l.scores[POLICIES.indexOf("oracle")][k] = (float) world.trueLikeProbability(served.user(), item,
              served.atMs());
        }
        lastServed[0] = l;
      });
    }
    OfflineServer.Policy[] chosen = new OfflineServer.Policy[1];
    OfflineServer server = new OfflineServer(world, "eval", srv -> {
      chosen[0] = policy.apply(new Server() {
        @Override
        public World world() {
          return world;
        }

        @Override
        public OfflineServer.Policy popularity() {
          return srv.popularity();
        }
      }, job);
      return (user, atMs, size, allowed) -> atMs < switchMs
          ? job.rank(user, atMs, size, allowed) : chosen[0].rank(user, atMs, size, allowed);
    }, s.slateSize());

    Set<Integer> servedItems = new HashSet<>();
    long[] slates = {0};
    double[] diversity = {0};
    Set<Integer> categories = new HashSet<>();
    Simulator.Outbox outbox = new Simulator.Outbox() {
      @Override
      public void item(Item item) {
        job.item(item);
      }

      @Override
      public void interaction(Interaction e) {
        job.interaction(e);
        int item = io.slatestream.sim.Catalog.parseItemId(e.getItemId());
        if (item >= 0 && e.getWatchTimeMs() >= 0) {
          if (item >= counts[1].length) {
            counts[0] = Arrays.copyOf(counts[0], Math.max(item + 1, counts[0].length * 2));
            counts[1] = Arrays.copyOf(counts[1], counts[0].length);
          }
          counts[1][item]++;
          counts[0][item] += e.getType() == InteractionType.LIKE ? 1 : 0;
        }
        server.interaction(e);
        served(Population.parseUserId(e.getUserId()), e.getEventTimeMs());
      }

      @Override
      public void request(SlateRequest r) {
        server.request(r);
        served(Population.parseUserId(r.getUserId()), r.getEventTimeMs());
      }

      private void served(int user, long atMs) {
        ServedSlate slate = user < 0 ? null : server.latest(user);
        if (slate == null) {
          return;
        }
        if (lastServed[0] != null) {
          pending.put(slate.slateId(), lastServed[0]);
          lastServed[0] = null;
        }
        if (atMs >= switchMs && slate.items().length > 0) {
          categories.clear();
          for (int i : slate.items()) {
            servedItems.add(i);
            categories.add(world.catalog().category(i));
          }
          slates[0]++;
          diversity[0] += (double) categories.size() / slate.items().length;
        }
      }

      @Override
      public void raw(String key, byte[] value) {}
    };

    Simulator sim = new Simulator(world, T0, outbox, server);
    long[] answers = new long[3];
    long[][] halves = new long[2][2]; // [held out?][impressions, likes]
    boolean[] heldOut = new boolean[world.population().size()];
    for (int u = 0; u < heldOut.length; u++) {
      heldOut[u] = SPLIT.holdsOut(Population.userId(u));
    }
    sim.observer((t, user, slate, position, item, answer, like) -> {
      if (t >= switchMs) {
        answers[answer.ordinal()]++;
        long[] half = halves[heldOut[user] ? 0 : 1];
        half[0]++;
        half[1] += answer == Simulator.Answer.LIKE ? 1 : 0;
      }
      Logged l = pending.get(slate.slateId());
      if (l != null && t < switchMs) {
        l.anyAnswer = true;
        l.answered[position] = true;
        l.labels[position] = answer == Simulator.Answer.LIKE ? 1f : 0f;
      }
    });
    sim.publishCatalog();
    for (long t = T0; t <= endMs; t += 1_000) {
      if (t == switchMs && atSwitch != null) {
        atSwitch.accept(job);
      }
      sim.advanceTo(t);
      if (log != null) {
        // Slates older than the label window have all the answers they will get.
        for (Iterator<Logged> it = pending.values().iterator(); it.hasNext(); ) {
          Logged l = it.next();
          if (l.atMs > t - labelWindowMs) {
            break;
          }
          it.remove();
          if (l.anyAnswer && l.atMs <= switchMs - labelWindowMs) {
            log.add(s.selection() == ExampleSelection.ALL ? l : l.answeredOnly());
          }
        }
      }
    }
    long impressions = answers[0] + answers[1] + answers[2];
    return new Online(impressions, ratio(answers[Simulator.Answer.LIKE.ordinal()], impressions),
        ratio(answers[Simulator.Answer.QUICK_SKIP.ordinal()], impressions), slates[0],
        (double) servedItems.size() / world.catalog().size(), slates[0] == 0 ? Double.NaN : diversity[0] / slates[0],
        ratio(halves[0][1], halves[0][0]), ratio(halves[1][1], halves[1][0]));
  }

  private static int count(int[] counts, int item) {
    return item < counts.length ? counts[item] : 0;
  }

  private static double ratio(long a, long b) {
    return b == 0 ? Double.NaN : (double) a / b;
  }

  /** The result as a markdown table with a short header. */
  public static String markdown(Result r) {
    Settings s = r.settings();
    StringBuilder b = new StringBuilder();
    b.append(String.format(Locale.ROOT,
        "Policy evaluation: %d users, %d items, seed %d, %.0f events/s; warm-up %d min (heuristic), evaluation"
            + " %d min per policy; holdout: %d rows in %d slates served after the time split (%d training rows)%n%n",
        s.sim().users(), s.sim().items(), s.sim().seed(), s.sim().eventsPerSecond(), s.warmupMs() / 60_000,
        s.evalMs() / 60_000, r.holdoutRows(), r.holdoutSlates(), r.trainRows()));
    b.append("| policy | like rate | quick-skip rate | impressions | coverage | diversity | AUC | log loss | NDCG@10 |\n");
    b.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (Row row : r.rows()) {
      Online o = row.online();
      Offline f = row.offline();
      b.append(String.format(Locale.ROOT, "| %s | %s | %s | %d | %s | %s | %s | %s | %s |%n", row.policy(),
          num(o.likeRate()), num(o.quickSkipRate()), o.impressions(), num(o.coverage()), num(o.diversity()),
          num(f.auc()), num(f.logLoss()), num(f.ndcg10())));
    }
    Split sp = r.split();
    b.append(String.format(Locale.ROOT, "%nSame period, users split in halves by the control-group hash"
        + " (model.holdout-share 0.5); like rate per half, item statistics shared:%n%n"));
    b.append("| who serves | held-out half | treated half |\n");
    b.append("|---|---:|---:|\n");
    b.append(String.format(Locale.ROOT, "| heuristic for everyone | %s | %s |%n",
        num(sp.heuristic().heldOutLikeRate()), num(sp.heuristic().treatedLikeRate())));
    b.append(String.format(Locale.ROOT, "| gbdt for the treated half, heuristic for the other | %s | %s |%n",
        num(sp.modelForHalf().heldOutLikeRate()), num(sp.modelForHalf().treatedLikeRate())));
    b.append(String.format(Locale.ROOT, "| gbdt for everyone | %s | %s |%n",
        num(sp.model().heldOutLikeRate()), num(sp.model().treatedLikeRate())));
    return b.toString();
  }

  private static String num(double v) {
    return Double.isNaN(v) ? "n/a" : String.format(Locale.ROOT, "%.3f", v);
  }
}
