package io.slatestream.bench;

import io.slatestream.model.GbdtModel;
import io.slatestream.model.SyntheticData;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import ml.dmlc.xgboost4j.java.Booster;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OperationsPerInvocation;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.Blackhole;
import org.openjdk.jmh.results.BenchmarkResult;
import org.openjdk.jmh.results.IterationResult;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.options.Options;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;

/**
 * Scoring throughput of the reference model (100 trees, depth 6, 30 features) through the in-job
 * path ({@link GbdtModel#score}: one in-place prediction per call from the Java array, XGBoost
 * pinned to one thread): one row per call vs one slate of 100 and of 500 rows per call; and, as the
 * reference the in-place call is measured against, the same slates through a dense {@code DMatrix}
 * and {@code Booster.predict} (the in-job path until in-place prediction replaced it).
 *
 * <p>Every benchmark declares the rows it scores per invocation with {@link OperationsPerInvocation},
 * so JMH's throughput score is rows/s. A benchmark, not a test: it is not named *Test, surefire never
 * runs it. Reproduce (from a clean clone):
 *
 * <pre>{@value #COMMAND}</pre>
 *
 * The {@link #main} runs 1 fork, 3 × 2 s warm-up and 5 × 2 s measurement iterations per mode and
 * prints the median rows/s, µs per slate and the batched / one-row ratio. JMH's own runner works
 * too: {@code java -cp <test classpath> org.openjdk.jmh.Main ScoringBenchmark -f 1}.
 */
@State(Scope.Thread)
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Fork(value = 1, jvmArgsAppend = {"-Xms1g", "-Xmx1g"})
@Warmup(iterations = 3, time = 2)
@Measurement(iterations = 5, time = 2)
public class ScoringBenchmark {

    public static final String COMMAND =
            "mvn -q test-compile org.codehaus.mojo:exec-maven-plugin:3.5.0:exec -Dexec.executable=java"
                    + " -Dexec.classpathScope=test"
                    + " \"-Dexec.args=-cp %classpath io.slatestream.bench.ScoringBenchmark\"";

    static final int TREES = 100;
    static final int DEPTH = 6;
    static final int WIDTH = 30;
    static final int TRAIN_ROWS = 20_000;
    static final long SEED = 42L;
    static final int SMALL_SLATE = 100;
    static final int LARGE_SLATE = 500;

    private GbdtModel model;
    private Booster viaDMatrix;
    private float[][] singleRows;
    private float[] slate100;
    private float[] slate500;

    @Setup(Level.Trial)
    public void setUp() throws Exception {
        Booster booster = SyntheticData.referenceBooster(TREES, DEPTH, WIDTH, TRAIN_ROWS, SEED);
        try {
            model = GbdtModel.load(booster.toByteArray("ubj"), "bench-reference", "bench", WIDTH);
            viaDMatrix = ml.dmlc.xgboost4j.java.XGBoost.loadModel(booster.toByteArray("ubj"));
            viaDMatrix.setParam("nthread", 1);
        } finally {
            booster.dispose();
        }
        slate500 = SyntheticData.rows(LARGE_SLATE, WIDTH, SEED + 1, 0.05);
        slate100 = Arrays.copyOf(slate500, SMALL_SLATE * WIDTH);
        singleRows = new float[SMALL_SLATE][];
        for (int i = 0; i < SMALL_SLATE; i++) {
            singleRows[i] = Arrays.copyOfRange(slate100, i * WIDTH, (i + 1) * WIDTH);
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        model.close();
        viaDMatrix.dispose();
    }

    /** The 100 rows of one slate, one {@code predict} call per row. */
    @Benchmark
    @OperationsPerInvocation(SMALL_SLATE)
    public void oneRowPerCall(Blackhole bh) {
        for (float[] row : singleRows) {
            bh.consume(model.score(row, 1));
        }
    }

    /** One slate of 100 rows in one {@code predict} call. */
    @Benchmark
    @OperationsPerInvocation(SMALL_SLATE)
    public float[] slateOf100() {
        return model.score(slate100, SMALL_SLATE);
    }

    /** One slate of 500 rows in one {@code predict} call. */
    @Benchmark
    @OperationsPerInvocation(LARGE_SLATE)
    public float[] slateOf500() {
        return model.score(slate500, LARGE_SLATE);
    }

    /** One slate of 100 rows: a dense DMatrix, then one {@code predict} call. */
    @Benchmark
    @OperationsPerInvocation(SMALL_SLATE)
    public float[][] slateOf100ViaDMatrix() throws Exception {
        return predictViaDMatrix(slate100, SMALL_SLATE);
    }

    /** One slate of 500 rows: a dense DMatrix, then one {@code predict} call. */
    @Benchmark
    @OperationsPerInvocation(LARGE_SLATE)
    public float[][] slateOf500ViaDMatrix() throws Exception {
        return predictViaDMatrix(slate500, LARGE_SLATE);
    }

    private float[][] predictViaDMatrix(float[] rows, int n) throws Exception {
        ml.dmlc.xgboost4j.java.DMatrix m = new ml.dmlc.xgboost4j.java.DMatrix(rows, n, WIDTH, Float.NaN);
        try {
            return viaDMatrix.predict(m);
        } finally {
            m.dispose();
        }
    }

    public static void main(String[] args) throws Exception {
        Options options = new OptionsBuilder()
                .include(ScoringBenchmark.class.getName() + "\\.")
                .forks(1)
                .warmupIterations(3)
                .warmupTime(TimeValue.seconds(2))
                .measurementIterations(5)
                .measurementTime(TimeValue.seconds(2))
                .threads(1)
                .build();
        Collection<RunResult> results = new Runner(options).run();

        Map<String, Double> medianRowsPerSecond = new LinkedHashMap<>();
        Map<String, Integer> rowsPerCall = Map.of("oneRowPerCall", 1, "slateOf100", SMALL_SLATE, "slateOf500", LARGE_SLATE,
                "slateOf100ViaDMatrix", SMALL_SLATE, "slateOf500ViaDMatrix", LARGE_SLATE);
        Map<String, Integer> slateRows = Map.of("oneRowPerCall", SMALL_SLATE, "slateOf100", SMALL_SLATE, "slateOf500", LARGE_SLATE,
                "slateOf100ViaDMatrix", SMALL_SLATE, "slateOf500ViaDMatrix", LARGE_SLATE);
        for (String mode : List.of("oneRowPerCall", "slateOf100", "slateOf500", "slateOf100ViaDMatrix",
                "slateOf500ViaDMatrix")) {
            for (RunResult run : results) {
                String name = run.getParams().getBenchmark();
                if (name.endsWith("." + mode)) {
                    medianRowsPerSecond.put(mode, median(run));
                }
            }
        }
        double oneRow = medianRowsPerSecond.getOrDefault("oneRowPerCall", Double.NaN);

        StringBuilder out = new StringBuilder();
        out.append(String.format(Locale.ROOT,
                "%nReference model: %d trees, depth %d, %d features; XGBoost4J %s, nthread=1; %s %s, %s, %d CPUs%n",
                TREES, DEPTH, WIDTH, xgboostVersion(), System.getProperty("java.vm.name"),
                System.getProperty("java.version"), System.getProperty("os.arch"),
                Runtime.getRuntime().availableProcessors()));
        out.append("Medians of 5 × 2 s measurement iterations (1 fork, 3 × 2 s warm-up).\n\n");
        out.append("| mode | rows per predict call | rows/s (median) | µs per slate | × one-row-per-call |\n");
        out.append("|---|---:|---:|---:|---:|\n");
        for (Map.Entry<String, Double> e : medianRowsPerSecond.entrySet()) {
            String mode = e.getKey();
            double rate = e.getValue();
            int slate = slateRows.get(mode);
            out.append(String.format(Locale.ROOT, "| %s | %d | %,.0f | %,.1f (%d rows) | %.1f× |%n",
                    mode, rowsPerCall.get(mode), rate, slate / rate * 1e6, slate, rate / oneRow));
        }
        out.append("\nReproduce: ").append(COMMAND).append('\n');
        System.out.print(out);
    }

    private static double median(RunResult run) {
        List<Double> scores = new ArrayList<>();
        for (BenchmarkResult benchmark : run.getBenchmarkResults()) {
            for (IterationResult iteration : benchmark.getIterationResults()) {
                scores.add(iteration.getPrimaryResult().getScore());
            }
        }
        scores.sort(Double::compare);
        int n = scores.size();
        if (n == 0) {
            return Double.NaN;
        }
        return n % 2 == 1 ? scores.get(n / 2) : (scores.get(n / 2 - 1) + scores.get(n / 2)) / 2;
    }

    private static String xgboostVersion() {
        try (var in = Booster.class.getResourceAsStream("/xgboost4j-version.properties")) {
            var p = new java.util.Properties();
            if (in != null) {
                p.load(in);
            }
            return p.getProperty("version", "unknown");
        } catch (java.io.IOException e) {
            return "unknown";
        }
    }
}
