package io.slatestream.replay;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import com.fasterxml.jackson.databind.MappingIterator;
import com.fasterxml.jackson.dataformat.csv.CsvMapper;
import com.fasterxml.jackson.dataformat.csv.CsvSchema;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The replay command end to end: a real broker, the real job on a local Flink cluster, the files
 * it writes. Once on the committed example of the README (whose popularity baseline is worked out
 * by hand below), once on a generated history with a planted structure the job must find.
 */
class ReplayITCase {
  private static final Path EXAMPLE = Path.of("src", "test", "resources", "replay");

  private record Run(ReplayCommand.Outcome outcome, String console, List<Map<String, String>> evaluations,
      Map<String, Map<String, String>> metrics) {}

  private static Run replay(Path interactions, Path items, String name, String... more) throws Exception {
    Path output = Path.of("target", "replay-it", name);
    List<String> args = new ArrayList<>(List.of("--interactions", interactions.toString(), "--items",
        items.toString(), "--output", output.toString()));
    args.addAll(List.of(more));
    ByteArrayOutputStream bytes = new ByteArrayOutputStream();
    ReplayCommand.Outcome o;
    try (PrintStream console = new PrintStream(bytes, true, StandardCharsets.UTF_8)) {
      o = ReplayCommand.run(console, args.toArray(String[]::new));
    } finally {
      System.out.print(bytes.toString(StandardCharsets.UTF_8));
    }
    Map<String, Map<String, String>> metrics = new LinkedHashMap<>();
    read(output.resolve(ReplayReport.METRICS_CSV)).forEach(r -> metrics.put(r.get("ranker"), r));
    return new Run(o, bytes.toString(StandardCharsets.UTF_8), read(output.resolve(ReplayReport.EVALUATIONS_CSV)),
        metrics);
  }

  private static List<Map<String, String>> read(Path csv) throws Exception {
    try (MappingIterator<Map<String, String>> rows = new CsvMapper().readerForMapOf(String.class)
        .with(CsvSchema.emptySchema().withHeader()).readValues(csv.toFile())) {
      return rows.readAll();
    }
  }

  /** The metric rows must follow from the per-like ranks, recomputed here from the formulas. */
  private static void metricsFollowFromTheRanks(Run run) {
    for (String ranker : List.of("job", "popularity")) {
      double hits = 0;
      double ndcg = 0;
      for (Map<String, String> e : run.evaluations()) {
        String rank = e.get(ranker + "_rank");
        if (!rank.isEmpty()) {
          hits++;
          ndcg += Math.log(2) / Math.log(Integer.parseInt(rank) + 1);
        }
      }
      int n = run.evaluations().size();
      Map<String, String> row = run.metrics().get(ranker);
      assertThat(Long.parseLong(row.get("likes"))).isEqualTo(n);
      assertThat(Double.parseDouble(row.get("hit_rate"))).as(ranker).isCloseTo(hits / n, within(1e-9));
      assertThat(Double.parseDouble(row.get("ndcg"))).as(ranker).isCloseTo(ndcg / n, within(1e-9));
    }
  }

  @Test
  void theReadmeExampleReplaysCausallyAgainstTheHandWorkedBaseline() throws Exception {
    // --max-staleness 0: every slate is requested once everything before its like is fed.
    Run run = replay(EXAMPLE.resolve("interactions.csv"), EXAMPLE.resolve("items.csv"), "example",
        "--max-staleness", "0");

    // Likes at a user's first moment (ann, ben, cat at 09:00-09:01, dan at 09:02:30, eva at 09:05)
    // are not evaluated; the other nine are, each with the baseline worked out from all the likes
    // before it (count, then id), less the user's own items:
    Map<String, String> expected = new LinkedHashMap<>();
    expected.put("ann jazz-2", "rock-1");                        // jazz-1 2, rock-1 1; ann saw jazz-1
    expected.put("ben rock-2", "jazz-1 jazz-2");                 // jazz-1 2, rock-1 2, jazz-2 1
    expected.put("cat jazz-2", "rock-1 jazz-2 rock-2");          // + rock-2 1; cat saw jazz-1
    expected.put("dan jazz-1", "jazz-1 jazz-2 rock-2");          // jazz-2 2 now; dan saw rock-1
    expected.put("ann jazz-3", "rock-1 rock-2");                 // jazz-1 3, rock-1 3 (eva)
    expected.put("ben rock-3", "jazz-1 jazz-2 jazz-3");          // + jazz-3 1 (ann)
    expected.put("dan jazz-2", "jazz-2 jazz-3 rock-2 rock-3");   // + rock-3 1 (ben)
    expected.put("eva rock-2", "jazz-1 jazz-2 jazz-3 rock-2 rock-3");
    expected.put("eva rock-3", "jazz-1 jazz-2 jazz-3 rock-3");   // 50 ms later: rock-2 is eva's now
    Map<String, String> actual = new LinkedHashMap<>();
    run.evaluations().forEach(e -> actual.put(e.get("user_id") + " " + e.get("item_id"), e.get("popularity_list")));
    assertThat(actual).containsExactlyEntriesOf(expected);
    Map<String, Map<String, String>> m = run.metrics();
    assertThat(Double.parseDouble(m.get("popularity").get("hit_rate"))).isCloseTo(5 / 9.0, within(1e-9));
    double log2of3 = Math.log(3) / Math.log(2);
    double log2of5 = Math.log(5) / Math.log(2);
    assertThat(Double.parseDouble(m.get("popularity").get("ndcg")))
        .isCloseTo((1 / log2of3 + 1 + 1 + 1 / log2of5 + 1 / log2of5) / 9, within(1e-9));
    metricsFollowFromTheRanks(run);

    ReplayReport report = run.outcome().report();
    assertThat(report.refused()).as("eva's two likes 50 ms apart: the rate limit is off for the replay").isZero();
    assertThat(report.slatesWithSeenItems()).as("every slate ranked after the user's whole past").isZero();
    for (Map<String, String> e : run.evaluations()) {
      assertThat(e.get("others_missing_ms")).isEqualTo("0");
      List<String> slate = List.of(e.get("job_slate").split(" "));
      assertThat(slate).as("slate of %s", e).hasSizeBetween(1, 10).doesNotHaveDuplicates();
      assertThat(e.get("reachable")).isEqualTo(e.get("item_id").equals("jazz-3") ? "false" : "true");
      long t = Long.parseLong(e.get("timestamp_ms"));
      if (t <= 1735808730000L) {
        // jazz-3 has no published_ms: it enters the catalog with its first interaction (ann, 09:05:30).
        assertThat(slate).as("slate before jazz-3 existed: %s", e).doesNotContain("jazz-3");
      }
    }
    assertThat(run.console()).contains("Reproduce: mvn -Preplay -Dreplay.args=\"--interactions "
        + EXAMPLE.resolve("interactions.csv")).contains("--max-staleness 0\"");
    assertThat(run.outcome().result().barriers()).isPositive();
  }

  /**
   * 48 users who each like only one of four categories (a few items of it most, as real tastes
   * go) and quick-skip the others. Across users every category is as popular as the next, so a
   * ranking that is the same for everyone lists the favourites of all four; the job, which learns
   * each user's category from their likes and skips, must do significantly better.
   */
  @Test
  void onUsersOfOneCategoryTheJobBeatsPopularity() throws Exception {
    Path dir = Files.createDirectories(Path.of("target", "replay-it", "planted-input"));
    plant(dir, 7);
    Run run = replay(dir.resolve("interactions.csv"), dir.resolve("items.csv"), "planted");
    metricsFollowFromTheRanks(run);
    ReplayReport r = run.outcome().report();
    assertThat(r.job().likes()).isGreaterThan(300);
    assertThat(r.slatesWithSeenItems()).isZero();
    assertThat(r.refused()).isZero();
    assertThat(r.difference().hitRate()).as("job - popularity, hit rate").isGreaterThan(r.difference().hitRateCi95());
    assertThat(r.difference().ndcg()).as("job - popularity, NDCG").isGreaterThan(r.difference().ndcgCi95());
  }

  static void plant(Path dir, long seed) throws Exception {
    SplittableRandom random = new SplittableRandom(seed);
    int categories = 4;
    int perCategory = 15;
    long start = 1735808400000L; // 2025-01-02T09:00:00Z
    List<String> items = new ArrayList<>(List.of("item_id,category,creator_id,published_ms"));
    for (int c = 0; c < categories; c++) {
      for (int i = 0; i < perCategory; i++) {
        items.add(String.format("c%d-i%02d,cat-%d,creator-%d-%d,%d", c, i, c, c, i % 5, start - 86_400_000L));
      }
    }
    List<String> interactions = new ArrayList<>(List.of("user_id,item_id,type,watch_time_ms,timestamp_ms"));
    for (int u = 0; u < 48; u++) {
      int home = u % categories;
      Set<Integer> liked = new HashSet<>();
      long[] times = random.longs(12, 0, 4 * 3_600_000L).sorted().toArray();
      for (long t : times) {
        if (random.nextDouble() < 0.75 && liked.size() < perCategory) {
          // Item r of the category with weight 1 / (r + 1), among those not liked yet.
          double total = 0;
          for (int i = 0; i < perCategory; i++) {
            total += liked.contains(i) ? 0 : 1.0 / (i + 1);
          }
          double x = random.nextDouble() * total;
          int pick = 0;
          for (int i = 0; i < perCategory; i++) {
            if (!liked.contains(i)) {
              pick = i;
              x -= 1.0 / (i + 1);
              if (x < 0) {
                break;
              }
            }
          }
          liked.add(pick);
          interactions.add(String.format("u%02d,c%d-i%02d,LIKE,60000,%d", u, home, pick, start + t));
        } else {
          int other = (home + 1 + random.nextInt(categories - 1)) % categories;
          interactions.add(String.format("u%02d,c%d-i%02d,SKIP,1000,%d", u, other, random.nextInt(perCategory),
              start + t));
        }
      }
    }
    Files.write(dir.resolve("items.csv"), items);
    Files.write(dir.resolve("interactions.csv"), interactions);
  }
}
