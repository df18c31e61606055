package io.slatestream.eval;

import io.slatestream.config.CommandLine;
import io.slatestream.config.JobConfig;
import io.slatestream.features.FeatureVectorBuilder;
import io.slatestream.model.ExampleSelection;
import io.slatestream.model.TrainerConfig;
import io.slatestream.sim.SimSettings;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Prints the policy evaluation table (see {@link Evaluation}) and writes it to
 * {@code --output DIR}/evaluation.md. Options: --users, --items, --seed, --events-per-second,
 * --warmup-minutes, --eval-minutes, --holdout-fraction, --slate-size, --output, and as for {@code train}
 * --examples (answered or all), --max-depth, --min-child-weight, --monotone (true or false); any other
 * {@code --key value} is a job option (for example {@code --ranking.max-per-category 3}).
 */
public final class EvalCommand {
  private EvalCommand() {}

  public static void main(String[] args) throws Exception {
    SimSettings sim = SimSettings.defaults().withUsers(500).withItems(1_000).withEventsPerSecond(50).withSeed(7);
    long warmupMinutes = 30;
    long evalMinutes = 5;
    double holdout = 0.2;
    int slateSize = -1;
    ExampleSelection selection = ExampleSelection.ANSWERED;
    TrainerConfig trainer = TrainerConfig.defaults();
    boolean monotone = true;
    Path output = Path.of("target", "eval");
    Map<String, String> jobOptions = new LinkedHashMap<>();
    // The local run's label window: answers to a slate come within seconds of serving it.
    jobOptions.put("training.label-window", "30 s");
    for (CommandLine.Arg a : CommandLine.parse(args)) {
      String v = a.value();
      switch (a.key()) {
        case "users" -> sim = sim.withUsers(Integer.parseInt(v));
        case "items" -> sim = sim.withItems(Integer.parseInt(v));
        case "seed" -> sim = sim.withSeed(Long.parseLong(v));
        case "events-per-second" -> sim = sim.withEventsPerSecond(Double.parseDouble(v));
        case "warmup-minutes" -> warmupMinutes = Long.parseLong(v);
        case "eval-minutes" -> evalMinutes = Long.parseLong(v);
        case "holdout-fraction" -> holdout = Double.parseDouble(v);
        case "slate-size" -> slateSize = Integer.parseInt(v);
        case "output" -> output = Path.of(v);
        case "examples" -> selection = ExampleSelection.parse(v);
        case "max-depth" -> trainer = trainer.withMaxDepth(Integer.parseInt(v));
        case "min-child-weight" -> trainer = trainer.withMinChildWeight(Double.parseDouble(v));
        case "monotone" -> monotone = CommandLine.bool(a);
        default -> jobOptions.put(a.key(), v);
      }
    }
    JobConfig job = JobConfig.of(jobOptions);
    trainer = trainer.withMonotone(monotone ? FeatureVectorBuilder.monotone() : Map.of());
    Evaluation.Settings settings = new Evaluation.Settings(sim, warmupMinutes * 60_000, evalMinutes * 60_000,
        slateSize > 0 ? slateSize : job.slateSize, holdout, job, trainer,
        selection);
    long started = System.nanoTime();
    String table = Evaluation.markdown(new Evaluation(settings).run());
    System.out.println();
    System.out.print(table);
    Files.createDirectories(output);
    Path file = output.resolve("evaluation.md");
    Files.writeString(file, table, StandardCharsets.UTF_8);
    System.out.printf("%nWritten to %s in %.0f s%n", file, (System.nanoTime() - started) / 1e9);
  }
}
