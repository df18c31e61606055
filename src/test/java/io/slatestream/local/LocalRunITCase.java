package io.slatestream.local;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.io.File;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The README's main command, as a newcomer runs it: LocalRun in its own JVM on the classpath of
 * `mvn -Plocal` (written by the build to target/local-run.classpath), not the test classpath, with
 * short phases and a small world. It must start the broker and the job, show slates and dead
 * letters, train a model on what the job logged in phase 1 and roll it out to the running job for
 * phase 2, and end with its summary and a report.
 */
class LocalRunITCase {

  @Test
  void theDemoServesWithTheHeuristicThenWithTheModelItTrainedAndEndsWithASummaryAndAReport(@TempDir Path tmp)
      throws Exception {
    Path report = Path.of("target", "local-run", "report");
    for (String f : List.of("index.html", "like-rate.png", "latency.png")) {
      Files.deleteIfExists(report.resolve(f));
    }
    String deps = Files.readString(Path.of("target", "local-run.classpath")).trim();
    String classpath = Path.of("target", "classes").toAbsolutePath() + File.pathSeparator + deps;
    String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
    Process p = new ProcessBuilder(List.of(java, "-Xmx1g",
        "-Dorg.apache.avro.SERIALIZABLE_PACKAGES=io.slatestream.avro",
        "-Dlog4j2.configurationFile=log4j2-local.properties", "-cp", classpath,
        "io.slatestream.local.LocalRun", "--phase1", "40s", "--phase2", "20s", "--users", "300", "--items", "200",
        "--rate", "200", "--training.label-window", "15s"))
        .redirectErrorStream(true).start();
    boolean ended = p.waitFor(6, TimeUnit.MINUTES);
    if (!ended) {
      p.destroyForcibly();
    }
    String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    assertThat(ended).as("ended within 6 minutes:%n%s", out).isTrue();
    assertThat(p.exitValue()).as("exit code; output:%n%s", out).isZero();
    assertThat(out).contains("Broker up at 127.0.0.1:").contains("events in").contains("Summary");

    long requests = number(out, "slate requests sent\\s+([\\d,]+)");
    long answered = number(out, "\\(([\\d,]+) answering requests");
    long garbage = number(out, "garbage records sent\\s+([\\d,]+)");
    long deadLetters = number(out, "dead letters received\\s+([\\d,]+)");
    // A generated user may ask twice within slate.min-request-interval: that request is refused
    // with its reason, never lost.
    long rateLimited = optionalNumber(out, "rate-limited=([\\d,]+)");
    assertThat(requests).isPositive();
    assertThat(answered + rateLimited).as("every request answered or refused as rate-limited").isEqualTo(requests);
    assertThat(garbage).isPositive();
    assertThat(deadLetters - rateLimited).as("every garbage record dead-lettered").isEqualTo(garbage);

    // The run ends with a savepoint, and the inspect command the summary prints exports it.
    Matcher savepoint = Pattern.compile("savepoint\\s+(file:\\S+)").matcher(out);
    assertThat(savepoint.find()).as("output names a savepoint:%n%s", out).isTrue();
    assertThat(out).contains("mvn -Pinspect -Dinspect.args=\"--savepoint " + savepoint.group(1));
    Path csv = tmp.resolve("inspect");
    var exported = io.slatestream.inspect.InspectCommand.run("--savepoint", savepoint.group(1), "--output",
        csv.toString()).written();
    assertThat(exported.users()).as("users with features").isPositive().isLessThanOrEqualTo(300);
    assertThat(exported.items()).as("items in the catalog or with statistics").isGreaterThanOrEqualTo(200);
    assertThat(Files.readAllLines(csv.resolve("users.csv"))).hasSize((int) exported.users() + 1);

    // Per candidate source, items served and liked; the last row adds them up.
    Matcher row = Pattern.compile("^    ([A-Z_]+)\\s+([\\d,]+)\\s+([\\d,]+)\\s+[\\d.]+%$", Pattern.MULTILINE).matcher(out);
    long served = 0;
    long liked = 0;
    List<String> sources = new java.util.ArrayList<>();
    while (row.find()) {
      sources.add(row.group(1));
      served += Long.parseLong(row.group(2).replace(",", ""));
      liked += Long.parseLong(row.group(3).replace(",", ""));
    }
    assertThat(sources).as("source rows:%n%s", out).contains("TRENDING_GLOBAL");
    assertThat(number(out, "(?m)^    all\\s+([\\d,]+)")).isEqualTo(served).isPositive();
    assertThat(number(out, "(?m)^    all\\s+[\\d,]+\\s+([\\d,]+)")).isEqualTo(liked).isLessThanOrEqualTo(served);

    // The job's own latency histogram, read from the local cluster's REST API.
    Matcher latency = Pattern.compile("subtask (\\d+) p50 (\\d+) ms p99 (\\d+) ms \\(([\\d,]+) slates\\)").matcher(out);
    assertThat(latency.find()).as("job latency histogram in:%n%s", out).isTrue();
    assertThat(Long.parseLong(latency.group(2))).isLessThanOrEqualTo(Long.parseLong(latency.group(3)));
    assertThat(Long.parseLong(latency.group(4).replace(",", ""))).isPositive();

    assertThat(out).contains("Model demo-m1 trained").contains("ModelRelease published");
    long heuristicAnswers = number(out, "1 \\(heuristic-v1\\)\\s+([\\d,]+)");
    long modelAnswers = number(out, "2 \\(demo-m1\\)\\s+([\\d,]+)");
    assertThat(heuristicAnswers).as("answers to slates the heuristic ranked").isPositive();
    assertThat(modelAnswers).as("answers to slates the released model ranked, in the same running job").isPositive();
    long controlAnswers = number(out, "2 \\(heuristic-v1, control\\)\\s+([\\d,]+)");
    assertThat(controlAnswers).as("answers from the control group the heuristic kept serving in phase 2").isPositive();
    assertThat(out).containsPattern("first slate ranked by it \\d+ ms after the release")
        .containsPattern("lift: demo-m1 [\\d.]+% vs the heuristic's control group [\\d.]+% in the same minutes")
        .containsPattern("popularity [\\d.]+% offline");
    // The control halves' own difference in phase 1 is taken off the phase 2 difference.
    Matcher did = Pattern.compile("in the same minutes: [+-][\\d.]+% relative, ([+-][\\d.]+) points .*the same halves"
        + " differed by ([+-][\\d.]+) points .*difference in differences is ([+-][\\d.]+) points").matcher(out);
    assertThat(did.find()).as("difference in differences in:%n%s", out).isTrue();
    assertThat(Double.parseDouble(did.group(3)))
        .isCloseTo(Double.parseDouble(did.group(1)) - Double.parseDouble(did.group(2)), within(0.15));
    for (String policy : List.of("popularity", "heuristic", "oracle")) {
      assertThat(number(out, "offline: " + policy + "\\s+([\\d,]+)")).as(policy + " reference answers").isPositive();
    }

    String page = Files.readString(report.resolve("index.html"));
    assertThat(page).contains("demo-m1").contains("heuristic-v1").contains("data:image/png;base64,");
    for (String png : List.of("like-rate.png", "latency.png")) {
      java.awt.image.BufferedImage image = javax.imageio.ImageIO.read(report.resolve(png).toFile());
      assertThat(image).as(png).isNotNull();
      assertThat(image.getWidth()).as(png).isGreaterThan(400);
    }
  }

  private static long optionalNumber(String out, String regex) {
    Matcher m = Pattern.compile(regex).matcher(out);
    return m.find() ? Long.parseLong(m.group(1).replace(",", "")) : 0;
  }

  private static long number(String out, String regex) {
    Matcher m = Pattern.compile(regex).matcher(out);
    assertThat(m.find()).as("output has %s:%n%s", regex, out).isTrue();
    return Long.parseLong(m.group(1).replace(",", ""));
  }
}
