package io.slatestream.inspect;

import io.slatestream.config.CommandLine;
import io.slatestream.config.JobConfig;
import io.slatestream.config.JobOptions;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/**
 * {@code inspect}: exports the per-user features and item statistics held in a savepoint (or a
 * retained checkpoint) of the job to CSV files for analysis.
 *
 * <pre>
 *   --savepoint PATH        savepoint or retained checkpoint directory (any Flink file system URI)
 *   --output DIR            where users.csv, user_categories.csv and items.csv are written (required)
 *   --&lt;job option&gt; VALUE    the job's options where they differ from the defaults, above all
 *                           --features.half-lives (it names the counter columns)
 * </pre>
 *
 * State TTL: unless {@code --state.user-ttl} / {@code --state.item-ttl} are given, every entry the
 * savepoint holds is exported, however long ago it was taken. Given, entries whose TTL has run out
 * by now are left out, as the job would treat them if restored today.
 */
public final class InspectCommand {
  private InspectCommand() {}

  /** Long enough that nothing in a savepoint counts as expired when it is read. */
  static final String READ_EVERYTHING_TTL = "36500 d";

  /** What a run read and wrote. */
  public record Outcome(SavepointReader.Contents contents, CsvExport.Written written, Path output) {}

  public static void main(String[] args) throws Exception {
    Outcome o = run(args);
    System.out.printf("Wrote %d users (%d user categories) and %d items to %s%n", o.written().users(),
        o.written().userCategories(), o.written().items(), o.output().toAbsolutePath());
  }

  public static Outcome run(String... args) throws Exception {
    String savepoint = null;
    Path output = null;
    Map<String, String> jobOptions = new LinkedHashMap<>();
    jobOptions.put(JobOptions.USER_TTL.key(), READ_EVERYTHING_TTL);
    jobOptions.put(JobOptions.ITEM_TTL.key(), READ_EVERYTHING_TTL);
    for (CommandLine.Arg a : CommandLine.parse(args)) {
      String v = a.value();
      switch (a.key()) {
        case "savepoint" -> savepoint = v;
        case "output" -> output = Path.of(v);
        default -> jobOptions.put(a.key(), v);
      }
    }
    if (savepoint == null || output == null) {
      throw new IllegalArgumentException("Usage: --savepoint PATH --output DIR [--<job option> VALUE ...]");
    }
    JobConfig config = JobConfig.of(jobOptions);
    List<Long> halfLives = SavepointReader.halfLivesMs(config);
    SavepointReader.Contents contents = SavepointReader.read(savepoint, config);
    warnAboutOtherHalfLives(contents, halfLives);
    return new Outcome(contents, CsvExport.write(contents, halfLives, output), output);
  }

  /**
   * Profiles keep counters at the half-lives configured when they were last updated. Columns follow
   * the configuration given here, so counters at other half-lives are not exported: say so.
   */
  private static void warnAboutOtherHalfLives(SavepointReader.Contents contents, List<Long> halfLives) {
    TreeSet<Long> other = new TreeSet<>();
    contents.users().forEach(u -> u.counters().forEach(c -> {
      if (!halfLives.contains(c.halfLifeMs())) {
        other.add(c.halfLifeMs());
      }
    }));
    if (!other.isEmpty()) {
      System.err.println("Note: the savepoint holds counters at half-lives "
          + other.stream().map(CsvExport::shortDuration).toList()
          + " that --features.half-lives does not name; they are not exported. Pass the job's"
          + " --features.half-lives to export them.");
    }
  }
}
