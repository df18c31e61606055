package io.slatestream.replay;

import io.slatestream.config.CommandLine;
import io.slatestream.config.JobConfig;
import io.slatestream.config.JobOptions;
import io.slatestream.local.LocalStack;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.apache.flink.configuration.ExecutionOptions;
import org.apache.flink.configuration.PipelineOptions;
import org.apache.flink.util.FileUtils;
import org.apache.flink.util.TimeUtils;

/**
 * {@code replay}: feeds a history of interactions through the job, in event-time order, and
 * measures how well the job's slates anticipate each user's next like, against a popularity
 * baseline (README, "Replay and backtest").
 *
 * <pre>
 *   --interactions FILE        interactions.csv (required)
 *   --items FILE               items.csv (required)
 *   --output DIR               metrics.csv, metrics.json, evaluations.csv (default target/replay)
 *   --k N                      slate size and cut-off of the metrics (default 10)
 *   --max-staleness DURATION   how far before a like other users' interactions may be missing from
 *                              its slate (default 1 min; 0 = none, one round trip per like)
 *   --warm-up DURATION         likes in this first part of the history are fed, not evaluated (default 0)
 *   --parallelism N            of the job (default 1)
 *   --patience DURATION        how long to wait for the job's next answer before giving up (default 3 min)
 *   --&lt;job option&gt; VALUE       any job option (README, Configuration)
 * </pre>
 *
 * The replay sets two job options unless given: {@code slate.min-request-interval 0} (a user's
 * likes may be closer together than the rate limit, and each needs its slate) and
 * {@code filters.ignored-impressions 0} (nobody saw the slates the replay makes the job emit, so
 * nothing in them was ignored). {@code slate.debounce} must stay on: the barrier relies on the slate
 * a user's first interaction gets.
 */
public final class ReplayCommand {

  /** Job options the replay sets unless the command line gives them, and why (printed). */
  static final Map<String, String> REPLAY_DEFAULTS = Map.of(
      JobOptions.MIN_REQUEST_INTERVAL.key(), "0 ms",
      JobOptions.IGNORED_IMPRESSIONS.key(), "0");

  /** What a run produced. */
  public record Outcome(ReplayReport report, Lockstep.Result result, Timeline timeline,
      HistoryFiles.History history, Path output, String command) {}

  private ReplayCommand() {}

  public static void main(String[] args) throws Exception {
    if (args.length > 0 && args[0].equals("simulate")) {
      SimulatedHistory.main(Arrays.copyOfRange(args, 1, args.length));
      return;
    }
    run(System.out, args);
  }

  public static Outcome run(PrintStream out, String... args) throws Exception {
    Path interactions = null;
    Path items = null;
    Path output = Path.of("target", "replay");
    int k = 10;
    Duration maxStaleness = Duration.ofMinutes(1);
    Duration warmUp = Duration.ZERO;
    int parallelism = 1;
    Duration patience = Duration.ofMinutes(3);
    Map<String, String> jobOptions = new LinkedHashMap<>();
    for (CommandLine.Arg a : CommandLine.parse(args)) {
      String v = a.value();
      switch (a.key()) {
        case "interactions" -> interactions = Path.of(v);
        case "items" -> items = Path.of(v);
        case "output" -> output = Path.of(v);
        case "k" -> k = Integer.parseInt(v);
        case "max-staleness" -> maxStaleness = TimeUtils.parseDuration(v);
        case "warm-up" -> warmUp = TimeUtils.parseDuration(v);
        case "parallelism" -> parallelism = Integer.parseInt(v);
        case "patience" -> patience = TimeUtils.parseDuration(v);
        default -> jobOptions.put(a.key(), v);
      }
    }
    if (interactions == null || items == null) {
      throw new IllegalArgumentException("Usage: --interactions FILE --items FILE [--output DIR] [--k N]"
          + " [--max-staleness DURATION] [--warm-up DURATION] [--parallelism N] [--<job option> VALUE ...]");
    }
    String command = "mvn -Preplay -Dreplay.args=\"" + quoted(args) + "\"";

    Map<String, String> options = new LinkedHashMap<>(REPLAY_DEFAULTS);
    options.put(JobOptions.JOB_NAME.key(), "slatestream-replay");
    options.putAll(jobOptions);
    JobConfig check = JobConfig.of(options);
    if (check.slateDebounce.isZero()) {
      throw new IllegalArgumentException("slate.debounce 0 turns off the slate a user's first interaction gets,"
          + " which the replay's barrier waits for: leave it on");
    }
    if (check.slateMaxSize < k) {
      throw new IllegalArgumentException("--k " + k + " is larger than slate.max-size " + check.slateMaxSize);
    }

    HistoryFiles.History history = HistoryFiles.read(interactions, items);
    Files.createDirectories(output);
    reportProblems(out, history.problems(), output);
    Timeline timeline = Timeline.of(history, warmUp);
    describe(out, history, timeline);
    if (timeline.targets().isEmpty()) {
      throw new IllegalArgumentException("No like to evaluate: every like is at its user's first moment"
          + " or within the warm-up");
    }
    if (check.delivery == JobOptions.DeliveryMode.EXACTLY_ONCE) {
      out.println("Note: with sink.delivery EXACTLY_ONCE every slate waits for a checkpoint; the replay will be slow.");
    }

    Path workDir = output.resolve("job");
    long started = System.currentTimeMillis();
    Lockstep.Result result;
    Map<String, Object> jobSide = new LinkedHashMap<>();
    JobConfig config;
    try (LocalStack stack = LocalStack.start(options, parallelism, workDir, ReplayCommand::lowLatency, out::println);
        KafkaJob job = new KafkaJob(stack, parallelism, patience)) {
      config = stack.config();
      PopularityBaseline baseline = new PopularityBaseline(config.recentItems);
      long[] lastPrint = {System.currentTimeMillis()};
      result = new Lockstep(timeline, job, baseline, k, maxStaleness.toMillis()).run((round, fed, answered, at) -> {
        long now = System.currentTimeMillis();
        if (now - lastPrint[0] >= 5_000) {
          lastPrint[0] = now;
          out.printf("[%4ds] round %,d: fed %,d of %,d records (event time %s), likes evaluated %,d of %,d%n",
              (now - started) / 1000, round, fed, timeline.feed().size(), Instant.ofEpochMilli(at), answered,
              timeline.evaluatedLikes());
        }
      });
      jobSide.put("deadLetters", job.deadLetters());
      jobSide.put("probesSent", job.probesSent());
      jobSide.put("interactionSlates", job.otherSlates());
      if (!job.deadLetters().isEmpty()) {
        out.println("The job dead-lettered records of the history: " + job.deadLetters());
        job.deadLetterExamples().forEach(e -> out.println("  e.g. " + e));
      }
    } finally {
      FileUtils.deleteDirectoryQuietly(workDir.toFile());
    }
    long tookMs = System.currentTimeMillis() - started;

    ReplayReport report = new ReplayReport(k, result.evaluations());
    out.println();
    out.printf("Replay: %,d records fed in %,d rounds (%,d barriers, %,d slate requests) in %.1f s%n",
        result.fed(), result.rounds(), result.barriers(), result.requests(), tookMs / 1000.0);
    out.printf("Evaluated %,d likes (%,d of items either ranker could have listed; %,d requests refused by the job)%n",
        report.job().likes(), report.reachable(), report.refused());
    report.printTable(out);
    if (report.slatesWithSeenItems() > 0) {
      out.printf("Warning: %,d of the job's slates hold an item the user had recently interacted with, which the job"
          + " never serves: it ranked them before processing the user's history. The figures are not causal.%n",
          report.slatesWithSeenItems());
    }

    Map<String, Object> context = new LinkedHashMap<>();
    context.put("interactions", interactions.toString());
    context.put("items", items.toString());
    context.put("maxStalenessMs", maxStaleness.toMillis());
    context.put("warmUpMs", warmUp.toMillis());
    context.put("parallelism", parallelism);
    context.put("linesSkipped", history.problems().size());
    context.put("likesInHistory", timeline.likes());
    context.put("likesAtFirstMoment", timeline.likesAtFirstMoment());
    context.put("likesInWarmUp", timeline.likesInWarmUp());
    context.put("recordsFed", result.fed());
    context.put("rounds", result.rounds());
    context.put("barriers", result.barriers());
    context.put("requests", result.requests());
    context.put("tookMs", tookMs);
    context.put("job", jobSide);
    context.put("jobOptions", config.toMaskedMap());
    context.put("command", command);
    report.write(output, context);
    out.printf("Written: %s, %s, %s in %s%n", ReplayReport.METRICS_CSV, ReplayReport.METRICS_JSON,
        ReplayReport.EVALUATIONS_CSV, output.toAbsolutePath());
    out.println("Reproduce: " + command);
    return new Outcome(report, result, timeline, history, output, command);
  }

  /**
   * Local cluster settings for a replay: records leave network buffers at once, and sources emit
   * watermarks every 20 ms instead of every 200 ms. The replay waits for the job many times per
   * second of its run; these shorten each wait and let the item statistics (emitted on event-time
   * timers) keep up with a history that is fed much faster than it happened. Neither changes what
   * the job computes.
   */
  static void lowLatency(org.apache.flink.configuration.Configuration flink) {
    flink.set(ExecutionOptions.BUFFER_TIMEOUT, Duration.ZERO);
    flink.set(PipelineOptions.AUTO_WATERMARK_INTERVAL, Duration.ofMillis(20));
  }

  private static void reportProblems(PrintStream out, List<HistoryFiles.Problem> problems, Path output)
      throws IOException {
    Path file = output.resolve("skipped-lines.txt");
    if (problems.isEmpty()) {
      Files.deleteIfExists(file);
      return;
    }
    out.printf("Skipped %,d line(s) that cannot be used:%n", problems.size());
    problems.stream().limit(20).forEach(p -> out.println("  " + p));
    if (problems.size() > 20) {
      out.printf("  ... and %,d more%n", problems.size() - 20);
    }
    Files.write(file, problems.stream().map(HistoryFiles.Problem::toString).toList(), StandardCharsets.UTF_8);
    out.println("  (all of them in " + file + ")");
  }

  private static void describe(PrintStream out, HistoryFiles.History h, Timeline t) {
    Set<String> users = new HashSet<>();
    h.interactions().forEach(i -> users.add(i.userId()));
    out.printf("History: %,d interactions of %,d users, %,d catalog items, from %s to %s%n",
        h.interactions().size(), users.size(), h.items().size(), Instant.ofEpochMilli(t.startMs()),
        Instant.ofEpochMilli(t.feed().get(t.feed().size() - 1).timeMs()));
    out.printf("Likes: %,d; evaluated %,d (%,d at their user's first moment and %,d in the warm-up are not)%n",
        t.likes(), t.evaluatedLikes(), t.likesAtFirstMoment(), t.likesInWarmUp());
    if (t.interactionsOnUnknownItems() > 0) {
      out.printf("Note: %,d interactions name items that items.csv does not have (fed; never in the catalog)%n",
          t.interactionsOnUnknownItems());
    }
    if (t.interactionsBeforePublication() > 0) {
      out.printf("Note: %,d interactions come before their item's published_ms (fed; the item is not in the"
          + " catalog yet)%n", t.interactionsBeforePublication());
    }
  }

  /** The arguments as one string for -Dreplay.args, values with spaces in single quotes. */
  static String quoted(String[] args) {
    List<String> parts = new ArrayList<>();
    for (String a : args) {
      parts.add(a.isEmpty() || a.matches(".*[\\s'\"].*") ? "'" + a.replace("'", "'\\''") + "'" : a);
    }
    return parts.stream().collect(Collectors.joining(" "));
  }
}
