package io.slatestream.eval;

import io.slatestream.avro.Interaction;
import io.slatestream.avro.Item;
import io.slatestream.avro.SlateItem;
import io.slatestream.avro.state.CatalogEntry;
import io.slatestream.avro.state.ItemStats;
import io.slatestream.avro.state.UserProfile;
import io.slatestream.config.JobConfig;
import io.slatestream.features.FeatureVectorBuilder;
import io.slatestream.features.ItemStatistics;
import io.slatestream.features.ProfileUpdater;
import io.slatestream.model.GbdtModel;
import io.slatestream.ranking.CandidateIndex;
import io.slatestream.ranking.HeuristicRanker;
import io.slatestream.ranking.ModelHoldout;
import io.slatestream.ranking.Reranker;
import io.slatestream.sim.Catalog;
import io.slatestream.sim.OfflineServer;
import io.slatestream.sim.Population;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.IntPredicate;

/**
 * The job's ranking path, in-process, as an {@link OfflineServer.Policy}: per-user profiles kept by
 * {@link ProfileUpdater}, decayed item statistics as the item-stats operator keeps them, retrieval,
 * exploration pool and heuristic scoring by {@link HeuristicRanker}, or GBDT scoring of
 * {@link FeatureVectorBuilder} vectors at position 0 when a model is set, then {@link Reranker}.
 * What it leaves out of the job: the slate debounce (every answer gets a fresh slate, as for the
 * other policies), the ignored-items filter, and the broadcast delay of item statistics (they are
 * current at every slate).
 *
 * <p>It sees every record the simulated users send ({@link #item}, {@link #interaction}) before the
 * server answers them; a served slate's vectors are handed to {@link #onServed} so that examples
 * can be logged the way the job logs them.
 */
public final class JobPolicy implements OfflineServer.Policy {

  /** One served slate: items (catalog indices), their logged vectors (position set) and scores. */
  public record Served(int user, long atMs, int[] items, float[][] vectors, double[] heuristicScores) {}

  private final JobConfig config;
  private final ProfileUpdater features;
  private final HeuristicRanker ranker;
  private final Reranker reranker;
  private final FeatureVectorBuilder vectors;
  private final int positionFeature;
  private final ItemStatistics itemStatistics;
  private final long freshMaxAgeMs;
  private final CandidateIndex index = new CandidateIndex();
  private final Map<String, Item> items = new HashMap<>();
  private final Map<String, ItemStats> stats = new HashMap<>();
  private final Map<Integer, UserProfile> profiles = new HashMap<>();
  private GbdtModel model;
  private ModelHoldout holdout;
  private java.util.function.Consumer<Served> onServed = s -> {};

  public JobPolicy(JobConfig config) {
    this.config = config;
    this.features = new ProfileUpdater(config);
    this.ranker = new HeuristicRanker(features, config.candidatesPerCategory, config.creatorQuickSkips);
    this.reranker = new Reranker(new Reranker.Settings(config.maxPerCategory, config.maxPerCreator,
        config.explorationShare, config.rerankSeed));
    this.vectors = new FeatureVectorBuilder(config);
    this.positionFeature = vectors.spec().names().indexOf(FeatureVectorBuilder.POSITION);
    this.itemStatistics = new ItemStatistics(config);
    this.freshMaxAgeMs = config.freshMaxAge.toMillis();
    this.holdout = new ModelHoldout(config.modelHoldoutShare);
  }

  public FeatureVectorBuilder vectors() {
    return vectors;
  }

  /** Scores with {@code model} from now on; null goes back to the heuristic. */
  public void model(GbdtModel model) {
    this.model = model;
  }

  /** Keeps the heuristic for the users {@code holdout} holds out, as {@code model.holdout-share} does. */
  public void holdout(ModelHoldout holdout) {
    this.holdout = holdout;
  }

  public void onServed(java.util.function.Consumer<Served> sink) {
    this.onServed = sink;
  }

  public void item(Item item) {
    items.put(item.getItemId(), item);
    index.put(item.getItemId(), new CatalogEntry(item, stats.get(item.getItemId())));
  }

  /** Updates the user's profile and the item's statistics, as the job does for an interaction. */
  public void interaction(Interaction e) {
    Item item = items.get(e.getItemId());
    if (item == null || e.getWatchTimeMs() < 0 || Population.parseUserId(e.getUserId()) < 0) {
      return; // the job would dead-letter or park it; the simulator sends only known items
    }
    int user = Population.parseUserId(e.getUserId());
    UserProfile p = profiles.computeIfAbsent(user, u -> features.empty());
    features.resolve(p, items::get);
    features.apply(p, e, item);

    ItemStats s = current(e.getItemId(), e.getEventTimeMs());
    itemStatistics.answer(s, e);
    index.put(e.getItemId(), new CatalogEntry(item, s));
  }

  private ItemStats current(String itemId, long t) {
    ItemStats s = itemStatistics.at(stats.get(itemId), itemId, t);
    stats.put(itemId, s);
    return s;
  }

  @Override
  public int[] rank(int user, long atMs, int size, IntPredicate allowed) {
    UserProfile p = profiles.get(user);
    String userId = Population.userId(user);
    HeuristicRanker.Exclusions excluded = ranker.exclusions(p, index);
    List<HeuristicRanker.Retrieved> retrieved = allowedOnly(ranker.retrieve(p, index, null, excluded), allowed);
    List<HeuristicRanker.Retrieved> pool = config.explorationShare > 0
        ? allowedOnly(ranker.explorationPool(index, retrieved, config.freshPoolSize, atMs - freshMaxAgeMs, excluded),
            allowed)
        : List.of();
    boolean byModel = model != null && !holdout.holdsOut(userId);
    if (byModel) {
      retrieved = ranker.forModel(p, retrieved, config.modelCandidates, atMs);
    }
    List<HeuristicRanker.Retrieved> all = new ArrayList<>(retrieved.size() + pool.size());
    all.addAll(retrieved);
    all.addAll(pool);
    int width = vectors.spec().size();
    Map<String, Double> recent = vectors.recentByCategory(p, id -> {
      Item it = items.get(id);
      return it == null ? null : it.getCategory();
    }, atMs);
    float[] rows = null;
    List<HeuristicRanker.Scored> heuristic = ranker.score(p, all, atMs);
    List<HeuristicRanker.Scored> scored = heuristic;
    if (byModel) {
      rows = new float[all.size() * width];
      for (int i = 0; i < all.size(); i++) {
        String id = all.get(i).candidate().itemId();
        vectors.build(p, recent, items.get(id), stats.get(id), 0, atMs, rows, i * width);
      }
      float[] s = all.isEmpty() ? new float[0] : model.score(rows, all.size());
      scored = new ArrayList<>(all.size());
      for (int i = 0; i < all.size(); i++) {
        scored.add(new HeuristicRanker.Scored(all.get(i).candidate(), all.get(i).source(), s[i]));
      }
    }
    long triggerKey = user * 1_000_003L ^ atMs;
    List<SlateItem> slate = reranker.rerank(scored.subList(0, retrieved.size()),
        scored.subList(retrieved.size(), scored.size()), size, userId, triggerKey);

    Map<String, Integer> row = new HashMap<>();
    for (int i = 0; i < all.size(); i++) {
      row.putIfAbsent(all.get(i).candidate().itemId(), i);
    }
    int[] out = new int[slate.size()];
    float[][] logged = new float[slate.size()][];
    double[] heuristicScores = new double[slate.size()];
    for (int k = 0; k < slate.size(); k++) {
      SlateItem si = slate.get(k);
      int i = row.get(si.getItemId());
      out[k] = Catalog.parseItemId(si.getItemId());
      if (rows != null) {
        logged[k] = java.util.Arrays.copyOfRange(rows, i * width, (i + 1) * width);
        logged[k][positionFeature] = si.getRank();
      } else {
        logged[k] = vectors.build(p, recent, items.get(si.getItemId()), stats.get(si.getItemId()), si.getRank(),
            atMs);
      }
      heuristicScores[k] = heuristic.get(i).score();
      itemStatistics.impression(current(si.getItemId(), atMs), atMs);
    }
    onServed.accept(new Served(user, atMs, out, logged, heuristicScores));
    return out;
  }

  private static List<HeuristicRanker.Retrieved> allowedOnly(List<HeuristicRanker.Retrieved> in, IntPredicate allowed) {
    List<HeuristicRanker.Retrieved> out = new ArrayList<>(in.size());
    for (HeuristicRanker.Retrieved r : in) {
      if (allowed.test(Catalog.parseItemId(r.candidate().itemId()))) {
        out.add(r);
      }
    }
    return out;
  }
}
