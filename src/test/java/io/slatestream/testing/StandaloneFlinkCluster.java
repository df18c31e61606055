package io.slatestream.testing;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.CoreOptions;
import org.apache.flink.configuration.JobManagerOptions;
import org.apache.flink.configuration.RestOptions;
import org.apache.flink.configuration.TaskManagerOptions;
import org.apache.flink.runtime.clusterframework.BootstrapTools;

/**
 * A standalone Flink session cluster on loopback: one JobManager and one TaskManager, each in a
 * JVM of its own, started from a Flink {@code lib/} directory the way the distribution's
 * {@code bin/jobmanager.sh} and {@code bin/taskmanager.sh} start them. That is: the memory
 * settings of each process come from Flink's own {@code BashJavaUtils} (JVM flags plus the dynamic
 * properties the entry points require), the JVM options from {@code env.java.default-opts.*} and
 * {@code env.java.opts.*} of the configuration, the class path is every jar of {@code lib/}, and
 * the entry points are {@code StandaloneSessionClusterEntrypoint} and {@code TaskManagerRunner}
 * with {@code --configDir}. Jobs are submitted through the REST API ({@code /jars/upload},
 * {@code /jars/:id/run}), as {@code flink run} or the web UI would.
 *
 * <p>Everything lives under one directory: {@code conf/} (the configuration written for this run),
 * {@code log/} ({@code jobmanager.log}, {@code taskmanager.log} and each process's stdout and
 * stderr in {@code *.out}), and {@code tmp/} ({@code io.tmp.dirs}: blobs, RocksDB's local files).
 *
 * <p>The JobManager's RPC and REST ports are chosen free here (the TaskManager must know the RPC
 * port up front); every other port is 0, i.e. any free one. If another process takes one of the
 * two before the JobManager binds it, the start is retried on new ports.
 */
public final class StandaloneFlinkCluster implements AutoCloseable {
  public static final String JOB_MANAGER = "org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint";
  public static final String TASK_MANAGER = "org.apache.flink.runtime.taskexecutor.TaskManagerRunner";
  private static final String BASH_JAVA_UTILS = "org.apache.flink.runtime.util.bash.BashJavaUtils";
  private static final String RESULT_PREFIX = "BASH_JAVA_UTILS_EXEC_RESULT:";
  private static final String HOST = "127.0.0.1";
  private static final int START_ATTEMPTS = 3;
  private static final Duration START_TIMEOUT = Duration.ofSeconds(90);

  private final Path dir;
  private final List<Path> lib;
  private final Configuration config;
  private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
  private final ObjectMapper json = new ObjectMapper();
  private final Thread killOnExit = new Thread(this::stopProcesses, "standalone-flink-cluster-kill");
  private Process jobManager;
  private Process taskManager;
  private URI rest;

  private StandaloneFlinkCluster(Path lib, Configuration config, Path dir) throws IOException {
    this.dir = dir.toAbsolutePath();
    try (Stream<Path> jars = Files.list(lib)) {
      this.lib = jars.filter(p -> p.toString().endsWith(".jar")).sorted().toList();
    }
    if (this.lib.isEmpty()) {
      throw new IllegalStateException("No Flink jars in " + lib.toAbsolutePath()
          + "; the build puts them there in pre-integration-test (mvn verify)");
    }
    this.config = new Configuration(config);
  }

  /**
   * Starts the cluster with {@code config} (ports, addresses and {@code io.tmp.dirs} are set here)
   * and returns once the TaskManager has registered with the JobManager and offers its slots.
   *
   * @param lib a Flink distribution's {@code lib/} directory
   * @param log4jProperties the Log4j 2 configuration of both processes (writes to {@code ${sys:log.file}})
   * @param dir where {@code conf/}, {@code log/} and {@code tmp/} of the cluster go
   */
  public static StandaloneFlinkCluster start(Path lib, Configuration config, Path log4jProperties, Path dir)
      throws Exception {
    StandaloneFlinkCluster cluster = new StandaloneFlinkCluster(lib, config, dir);
    Runtime.getRuntime().addShutdownHook(cluster.killOnExit);
    try {
      cluster.startProcesses(log4jProperties);
      return cluster;
    } catch (Exception | Error e) {
      cluster.close();
      throw e;
    }
  }

  private void startProcesses(Path log4jProperties) throws Exception {
    Path conf = Files.createDirectories(dir.resolve("conf"));
    Files.createDirectories(dir.resolve("log"));
    Path tmp = Files.createDirectories(dir.resolve("tmp"));
    Files.copy(log4jProperties, conf.resolve("log4j.properties"));
    config.set(JobManagerOptions.ADDRESS, HOST);
    config.set(JobManagerOptions.BIND_HOST, HOST);
    config.set(RestOptions.ADDRESS, HOST);
    config.set(RestOptions.BIND_ADDRESS, HOST);
    config.set(TaskManagerOptions.HOST, HOST);
    config.set(TaskManagerOptions.BIND_HOST, HOST);
    config.set(CoreOptions.TMP_DIRS, tmp.toString());
    for (int attempt = 1; ; attempt++) {
      int[] ports = freePorts();
      config.set(JobManagerOptions.PORT, ports[0]);
      config.set(RestOptions.PORT, ports[1]);
      BootstrapTools.writeConfiguration(config, conf.resolve("config.yaml").toFile());
      rest = URI.create("http://" + HOST + ":" + ports[1]);
      jobManager = launch("jobmanager", JOB_MANAGER, "GET_JM_RESOURCE_PARAMS",
          opts(CoreOptions.FLINK_DEFAULT_JM_JVM_OPTIONS, CoreOptions.FLINK_JM_JVM_OPTIONS),
          List.of("--executionMode", "cluster"));
      taskManager = launch("taskmanager", TASK_MANAGER, "GET_TM_RESOURCE_PARAMS",
          opts(CoreOptions.FLINK_DEFAULT_TM_JVM_OPTIONS, CoreOptions.FLINK_TM_JVM_OPTIONS), List.of());
      try {
        awaitTaskManager();
        return;
      } catch (IllegalStateException e) {
        stopProcesses();
        boolean portTaken = log("jobmanager").contains("Address already in use");
        if (!portTaken || attempt == START_ATTEMPTS) {
          throw new IllegalStateException(e.getMessage() + "\n" + diagnostics(), e);
        }
        for (String name : List.of("jobmanager", "taskmanager")) {
          if (Files.exists(logFile(name))) {
            Files.move(logFile(name), dir.resolve("log").resolve(name + "-attempt-" + attempt + ".log"));
          }
        }
      }
    }
  }

  /** The REST endpoint, e.g. {@code http://127.0.0.1:40123}. */
  public URI restAddress() {
    return rest;
  }

  /** The directory with {@code conf/}, {@code log/} and {@code tmp/}. */
  public Path directory() {
    return dir;
  }

  /** Where to look when something went wrong, and the errors the logs report. */
  public String diagnostics() {
    StringBuilder s = new StringBuilder("Standalone Flink cluster logs: " + dir.resolve("log") + "\n");
    for (String name : List.of("jobmanager", "taskmanager")) {
      List<String> errors = (log(name) + "\n" + out(name)).lines()
          .filter(l -> l.contains(" ERROR ") || l.startsWith("Caused by") || l.contains("Exception:"))
          .limit(15).toList();
      s.append("  ").append(name).append(errors.isEmpty() ? ": no errors logged\n" : ":\n    ")
          .append(String.join("\n    ", errors)).append(errors.isEmpty() ? "" : "\n");
    }
    return s.toString();
  }

  /** GET {@code path} of the REST API, e.g. {@code /overview}. */
  public JsonNode get(String path) throws Exception {
    return send(HttpRequest.newBuilder(rest.resolve(path)).GET());
  }

  /** Uploads a job jar ({@code POST /jars/upload}) and returns its id on the cluster. */
  public String uploadJar(Path jar) throws Exception {
    String boundary = "----slatestream" + UUID.randomUUID();
    String head = "--" + boundary + "\r\nContent-Disposition: form-data; name=\"jarfile\"; filename=\""
        + jar.getFileName() + "\"\r\nContent-Type: application/x-java-archive\r\n\r\n";
    String tail = "\r\n--" + boundary + "--\r\n";
    JsonNode answer = send(HttpRequest.newBuilder(rest.resolve("/jars/upload"))
        .header("Content-Type", "multipart/form-data; boundary=" + boundary)
        .POST(HttpRequest.BodyPublishers.concat(HttpRequest.BodyPublishers.ofString(head),
            HttpRequest.BodyPublishers.ofFile(jar), HttpRequest.BodyPublishers.ofString(tail))));
    String stored = answer.path("filename").asText();
    if (!"success".equals(answer.path("status").asText()) || stored.isEmpty()) {
      throw new IllegalStateException("Upload of " + jar + " refused: " + answer);
    }
    return Path.of(stored).getFileName().toString();
  }

  /**
   * Runs an uploaded jar ({@code POST /jars/:id/run}): the JobManager calls its {@code main} with
   * {@code args} and submits the job it defines. Returns the job id.
   *
   * <p>Unlike {@code flink run}, a run through the REST API does not apply the cluster's
   * {@code parallelism.default} (the job's operators would run with 1), so it is given here.
   */
  public String runJar(String jarId, String entryClass, List<String> args, int parallelism) throws Exception {
    String body = json.writeValueAsString(
        Map.of("entryClass", entryClass, "programArgsList", args, "parallelism", parallelism));
    JsonNode answer = send(HttpRequest.newBuilder(rest.resolve("/jars/" + jarId + "/run"))
        .header("Content-Type", "application/json").POST(HttpRequest.BodyPublishers.ofString(body)));
    return answer.path("jobid").asText();
  }

  /**
   * Waits until the job and every one of its tasks run, and fails with the job's root exception
   * if it fails instead.
   */
  public void awaitRunning(String jobId, Duration timeout) throws Exception {
    long deadline = System.nanoTime() + timeout.toNanos();
    JsonNode job = get("/jobs/" + jobId);
    while (!allRunning(job)) {
      String state = job.path("state").asText();
      if (List.of("FAILED", "FAILING", "CANCELED", "FINISHED").contains(state) || System.nanoTime() > deadline) {
        throw new AssertionError("Job " + jobId + " is " + state + ", not running; root exception: "
            + get("/jobs/" + jobId + "/exceptions").path("exceptionHistory").path("entries").path(0)
                .path("stacktrace").asText("(none)") + "\n" + diagnostics());
      }
      Thread.sleep(250);
      job = get("/jobs/" + jobId);
    }
  }

  /** Cancels a job ({@code PATCH /jobs/:id?mode=cancel}). */
  public void cancel(String jobId) throws Exception {
    send(HttpRequest.newBuilder(rest.resolve("/jobs/" + jobId + "?mode=cancel"))
        .method("PATCH", HttpRequest.BodyPublishers.noBody()));
  }

  /** Stops both processes: a graceful stop first (Flink's shutdown hooks), then a kill. */
  @Override
  public void close() {
    stopProcesses();
    try {
      Runtime.getRuntime().removeShutdownHook(killOnExit);
    } catch (IllegalStateException alreadyShuttingDown) {
      // The hook is running or has run: the processes are being stopped anyway.
    }
  }

  private static boolean allRunning(JsonNode job) {
    JsonNode vertices = job.path("vertices");
    if (!"RUNNING".equals(job.path("state").asText()) || vertices.isEmpty()) {
      return false;
    }
    for (JsonNode v : vertices) {
      if (!"RUNNING".equals(v.path("status").asText())) {
        return false;
      }
    }
    return true;
  }

  private void awaitTaskManager() throws InterruptedException {
    long deadline = System.nanoTime() + START_TIMEOUT.toNanos();
    while (System.nanoTime() < deadline) {
      if (!jobManager.isAlive() || !taskManager.isAlive()) {
        throw new IllegalStateException("The " + (jobManager.isAlive() ? "TaskManager" : "JobManager")
            + " exited with " + (jobManager.isAlive() ? taskManager : jobManager).exitValue() + " during start");
      }
      try {
        // Registration and the slot report are separate steps: wait for the slots.
        JsonNode overview = get("/overview");
        if (overview.path("taskmanagers").asInt() >= 1 && overview.path("slots-total").asInt() > 0) {
          return;
        }
      } catch (Exception notUpYet) {
        // The REST endpoint is not listening yet.
      }
      Thread.sleep(250);
    }
    throw new IllegalStateException("No TaskManager registered within " + START_TIMEOUT);
  }

  /**
   * Starts one Flink process as the distribution's scripts do: {@code java <memory flags>
   * <env.java options> -Dlog.file=… -Dlog4j.configurationFile=… -classpath lib/* <entry point>
   * <dynamic memory properties> --configDir conf}.
   */
  private Process launch(String name, String mainClass, String resourceCommand, List<String> processOpts,
      List<String> extraArgs) throws IOException, InterruptedException {
    Path conf = dir.resolve("conf");
    List<String>[] resources = resourceParams(resourceCommand);
    List<String> cmd = new ArrayList<>();
    cmd.add(java());
    cmd.addAll(resources[0]);
    cmd.add("-XX:+IgnoreUnrecognizedVMOptions");
    cmd.addAll(opts(CoreOptions.FLINK_DEFAULT_JVM_OPTIONS, CoreOptions.FLINK_JVM_OPTIONS));
    cmd.addAll(processOpts);
    cmd.add("-Djava.io.tmpdir=" + dir.resolve("tmp"));
    cmd.add("-Dlog.file=" + logFile(name));
    cmd.add("-Dlog4j.configuration=file:" + conf.resolve("log4j.properties"));
    cmd.add("-Dlog4j.configurationFile=file:" + conf.resolve("log4j.properties"));
    cmd.add("-classpath");
    cmd.add(classPath());
    cmd.add(mainClass);
    cmd.addAll(resources[1]);
    cmd.add("--configDir");
    cmd.add(conf.toString());
    cmd.addAll(extraArgs);
    Files.writeString(dir.resolve("log").resolve(name + ".cmd"), String.join(" ", cmd) + "\n");
    return new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true)
        .redirectOutput(dir.resolve("log").resolve(name + ".out").toFile()).start();
  }

  /** What {@code BashJavaUtils} computes for the process: [JVM flags, dynamic properties]. */
  @SuppressWarnings("unchecked")
  private List<String>[] resourceParams(String command) throws IOException, InterruptedException {
    Process p = new ProcessBuilder(java(), "-classpath", classPath(), BASH_JAVA_UTILS, command,
        "--configDir", dir.resolve("conf").toString()).redirectErrorStream(true).start();
    String output = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
    if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
      p.destroyForcibly();
      throw new IllegalStateException("BashJavaUtils " + command + " failed:\n" + output);
    }
    List<String> results = output.lines().filter(l -> l.startsWith(RESULT_PREFIX))
        .map(l -> l.substring(RESULT_PREFIX.length()).strip()).toList();
    if (results.size() != 2) {
      throw new IllegalStateException("BashJavaUtils " + command + " gave no JVM flags and properties:\n" + output);
    }
    return new List[] {words(results.get(0)), words(results.get(1))};
  }

  private List<String> opts(org.apache.flink.configuration.ConfigOption<String> defaults,
      org.apache.flink.configuration.ConfigOption<String> own) {
    List<String> all = new ArrayList<>(words(config.get(defaults)));
    all.addAll(words(config.get(own)));
    return all;
  }

  private static List<String> words(String s) {
    return s == null || s.isBlank() ? List.of() : Arrays.asList(s.strip().split("\\s+"));
  }

  private String classPath() {
    return lib.stream().map(Path::toString).collect(Collectors.joining(File.pathSeparator));
  }

  private static String java() {
    return Path.of(System.getProperty("java.home"), "bin", "java").toString();
  }

  private Path logFile(String name) {
    return dir.resolve("log").resolve(name + ".log");
  }

  private String log(String name) {
    return read(logFile(name));
  }

  private String out(String name) {
    return read(dir.resolve("log").resolve(name + ".out"));
  }

  private static String read(Path file) {
    try {
      return Files.exists(file) ? Files.readString(file) : "";
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private JsonNode send(HttpRequest.Builder request) throws Exception {
    HttpResponse<String> response = http.send(request.timeout(Duration.ofSeconds(60)).build(),
        HttpResponse.BodyHandlers.ofString());
    if (response.statusCode() / 100 != 2) {
      throw new IllegalStateException(response.request().method() + " " + response.uri() + " answered "
          + response.statusCode() + ": " + response.body());
    }
    return response.body().isEmpty() ? json.createObjectNode() : json.readTree(response.body());
  }

  private synchronized void stopProcesses() {
    for (Process p : Arrays.asList(taskManager, jobManager)) {
      if (p != null && p.isAlive()) {
        p.destroy();
      }
    }
    for (Process p : Arrays.asList(taskManager, jobManager)) {
      if (p == null) {
        continue;
      }
      try {
        if (!p.waitFor(15, TimeUnit.SECONDS)) {
          p.destroyForcibly().waitFor(15, TimeUnit.SECONDS);
        }
      } catch (InterruptedException e) {
        p.destroyForcibly();
        Thread.currentThread().interrupt();
      }
    }
  }

  private static int[] freePorts() throws IOException {
    InetAddress loopback = InetAddress.getByName(HOST);
    try (ServerSocket a = new ServerSocket(0, 1, loopback); ServerSocket b = new ServerSocket(0, 1, loopback)) {
      return new int[] {a.getLocalPort(), b.getLocalPort()};
    }
  }
}
