package io.slatestream.replay;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SequenceWriter;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.dataformat.csv.CsvMapper;
import com.fasterxml.jackson.dataformat.csv.CsvSchema;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/**
 * The replay's result: hit rate@k and NDCG@k of the job and of the popularity baseline over the
 * evaluated likes, the paired difference, and the files that hold them.
 *
 * <pre>
 *   metrics.csv       ranker,k,likes,hit_rate,hit_rate_ci95,ndcg,ndcg_ci95   (rows: job, popularity,
 *                     job_minus_popularity: the per-like difference, averaged)
 *   metrics.json      the same, with the inputs, the job options and the command that reproduces it
 *   evaluations.csv   one row per evaluated like (see {@link #EVALUATION_COLUMNS})
 * </pre>
 */
public final class ReplayReport {

  public static final String METRICS_CSV = "metrics.csv";
  public static final String METRICS_JSON = "metrics.json";
  public static final String EVALUATIONS_CSV = "evaluations.csv";

  public static final List<String> METRIC_COLUMNS =
      List.of("ranker", "k", "likes", "hit_rate", "hit_rate_ci95", "ndcg", "ndcg_ci95");

  /**
   * user_id, item_id, timestamp_ms and line (in interactions.csv) of the like; job_rank and
   * popularity_rank (1-based, empty if not in the first k); reachable (the item was in the catalog
   * and not among the user's recent interactions, so either ranker could have listed it);
   * others_missing_ms (how far before the like other users' interactions may have been missing);
   * job_slate and popularity_list (item ids in rank order, separated by spaces); refusal (why the
   * job refused the request, if it did).
   */
  public static final List<String> EVALUATION_COLUMNS = List.of("user_id", "item_id", "timestamp_ms", "line",
      "job_rank", "popularity_rank", "reachable", "others_missing_ms", "job_slate", "popularity_list", "refusal");

  /** One ranker's figures; for the difference row, the means and intervals of per-like differences. */
  public record Row(String ranker, int k, long likes, double hitRate, double hitRateCi95, double ndcg,
      double ndcgCi95) {}

  private final int k;
  private final List<Lockstep.Evaluation> evaluations;
  private final Row job;
  private final Row popularity;
  private final Row difference;
  private final long reachable;
  private final long refused;
  private final long slatesWithSeenItems;

  public ReplayReport(int k, List<Lockstep.Evaluation> evaluations) {
    this.k = k;
    this.evaluations = evaluations;
    RankingMetrics.Summary j = new RankingMetrics.Summary();
    RankingMetrics.Summary p = new RankingMetrics.Summary();
    RankingMetrics.Mean hitDiff = new RankingMetrics.Mean();
    RankingMetrics.Mean ndcgDiff = new RankingMetrics.Mean();
    long reachable = 0;
    long refused = 0;
    Set<Integer> withSeen = new HashSet<>();
    for (Lockstep.Evaluation e : evaluations) {
      if (e.seenInJobSlate() > 0) {
        withSeen.add(e.target().index());
      }
      int jr = RankingMetrics.rank(e.jobSlate(), e.like().itemId(), k);
      int pr = RankingMetrics.rank(e.baseline(), e.like().itemId(), k);
      j.add(jr);
      p.add(pr);
      hitDiff.add(RankingMetrics.hit(jr) - RankingMetrics.hit(pr));
      ndcgDiff.add(RankingMetrics.ndcg(jr) - RankingMetrics.ndcg(pr));
      reachable += e.reachable() ? 1 : 0;
      refused += e.refusal() != null ? 1 : 0;
    }
    this.job = row("job", j);
    this.popularity = row("popularity", p);
    this.difference = new Row("job_minus_popularity", k, hitDiff.count(), hitDiff.mean(), hitDiff.ci95(),
        ndcgDiff.mean(), ndcgDiff.ci95());
    this.reachable = reachable;
    this.refused = refused;
    this.slatesWithSeenItems = withSeen.size();
  }

  private Row row(String name, RankingMetrics.Summary s) {
    return new Row(name, k, s.hitRate.count(), s.hitRate.mean(), s.hitRate.ci95(), s.ndcg.mean(), s.ndcg.ci95());
  }

  public Row job() {
    return job;
  }

  public Row popularity() {
    return popularity;
  }

  public Row difference() {
    return difference;
  }

  public List<Row> rows() {
    return List.of(job, popularity, difference);
  }

  /** Evaluated likes whose item either ranker could have listed. */
  public long reachable() {
    return reachable;
  }

  /** Evaluated likes whose request the job refused (counted as misses for the job). */
  public long refused() {
    return refused;
  }

  /**
   * Slates of the job holding an item of the user's recent interactions. The job never serves
   * those, so this is 0 unless a slate was ranked before the job had processed the user's history.
   */
  public long slatesWithSeenItems() {
    return slatesWithSeenItems;
  }

  public void printTable(PrintStream out) {
    out.printf("  %-22s %9s   %-19s  %-19s%n", "ranker", "likes", "hit rate@" + k, "NDCG@" + k);
    for (Row r : List.of(job, popularity)) {
      out.printf("  %-22s %,9d   %-19s  %-19s%n", r.ranker(), r.likes(), interval(r.hitRate(), r.hitRateCi95(), false),
          interval(r.ndcg(), r.ndcgCi95(), false));
    }
    out.printf("  %-22s %9s   %-19s  %-19s%n", "job - popularity", "",
        interval(difference.hitRate(), difference.hitRateCi95(), true),
        interval(difference.ndcg(), difference.ndcgCi95(), true));
  }

  private static String interval(double mean, double ci, boolean signed) {
    if (Double.isNaN(mean)) {
      return "-";
    }
    String m = String.format(Locale.ROOT, signed ? "%+.4f" : "%.4f", mean);
    return Double.isNaN(ci) ? m : m + String.format(Locale.ROOT, " ± %.4f", ci);
  }

  /** Writes metrics.csv, metrics.json and evaluations.csv to {@code dir}. */
  public void write(Path dir, Map<String, Object> context) throws IOException {
    Files.createDirectories(dir);
    CsvMapper csv = CsvMapper.builder().build();
    CsvSchema metrics = header(METRIC_COLUMNS);
    try (SequenceWriter w = csv.writer(metrics).writeValues(dir.resolve(METRICS_CSV).toFile())) {
      for (Row r : rows()) {
        w.write(byName(METRIC_COLUMNS, Arrays.asList(r.ranker(), r.k(), r.likes(), number(r.hitRate()),
            number(r.hitRateCi95()), number(r.ndcg()), number(r.ndcgCi95()))));
      }
    }
    try (SequenceWriter w = csv.writer(header(EVALUATION_COLUMNS)).writeValues(dir.resolve(EVALUATIONS_CSV).toFile())) {
      for (Lockstep.Evaluation e : evaluations) {
        int jr = RankingMetrics.rank(e.jobSlate(), e.like().itemId(), k);
        int pr = RankingMetrics.rank(e.baseline(), e.like().itemId(), k);
        List<Object> row = new ArrayList<>();
        row.add(e.like().userId());
        row.add(e.like().itemId());
        row.add(e.like().timeMs());
        row.add(e.like().line());
        row.add(jr == 0 ? "" : jr);
        row.add(pr == 0 ? "" : pr);
        row.add(e.reachable());
        row.add(e.othersMissingMs());
        row.add(String.join(" ", e.jobSlate()));
        row.add(String.join(" ", e.baseline()));
        row.add(e.refusal() == null ? "" : e.refusal());
        w.write(byName(EVALUATION_COLUMNS, row));
      }
    }
    Map<String, Object> json = new LinkedHashMap<>();
    json.put("k", k);
    json.put("likesEvaluated", evaluations.size());
    json.put("likesReachable", reachable);
    json.put("requestsRefused", refused);
    json.put("slatesWithSeenItems", slatesWithSeenItems);
    Map<String, Object> byRanker = new LinkedHashMap<>();
    for (Row r : rows()) {
      Map<String, Object> m = new LinkedHashMap<>();
      m.put("likes", r.likes());
      m.put("hitRate", number(r.hitRate()));
      m.put("hitRateCi95", number(r.hitRateCi95()));
      m.put("ndcg", number(r.ndcg()));
      m.put("ndcgCi95", number(r.ndcgCi95()));
      byRanker.put(r.ranker(), m);
    }
    json.put("metrics", byRanker);
    json.putAll(context);
    new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValue(dir.resolve(METRICS_JSON).toFile(), json);
  }

  /** Rows as maps: the CSV generator drops null array elements instead of leaving their cells empty. */
  private static Map<String, Object> byName(List<String> columns, List<Object> values) {
    Map<String, Object> row = new LinkedHashMap<>();
    for (int i = 0; i < columns.size(); i++) {
      row.put(columns.get(i), values.get(i));
    }
    return row;
  }

  private static CsvSchema header(List<String> columns) {
    CsvSchema.Builder b = CsvSchema.builder().setUseHeader(true);
    columns.forEach(b::addColumn);
    return b.build();
  }

  /** NaN (no data) is written as an empty value / null. */
  private static Double number(double v) {
    return Double.isNaN(v) ? null : v;
  }
}
