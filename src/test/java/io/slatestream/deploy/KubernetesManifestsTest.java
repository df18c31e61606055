package io.slatestream.deploy;

import static org.assertj.core.api.Assertions.assertThat;

import io.slatestream.SlatestreamJob;
import io.slatestream.avro.Slate;
import io.slatestream.config.JobConfig;
import io.slatestream.config.JobOptions;
import io.slatestream.config.KafkaClientProperties;
import io.slatestream.local.Topics;
import java.io.IOException;
import java.lang.reflect.Method;
import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Consumer;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import javax.xml.parsers.DocumentBuilderFactory;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.MemorySize;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.snakeyaml.engine.v2.api.Load;
import org.snakeyaml.engine.v2.api.LoadSettings;
import org.w3c.dom.Document;

/**
 * The Kubernetes manifests under {@code k8s/} must describe this job: they are parsed (every YAML
 * document of every file) and cross-checked against the code, {@code pom.xml} and {@code
 * flink-conf/config.yaml}. Nothing is built or applied.
 */
class KubernetesManifestsTest {
  private static final Path K8S = Path.of("k8s");
  private static final Path DOCKERFILE = K8S.resolve("Dockerfile");
  private static final String MAIN_CONTAINER = "flink-main-container";
  private static final String USRLIB = "/opt/flink/usrlib/";
  private static final Pattern ENV_REFERENCE = Pattern.compile("\\$\\{env:([A-Za-z_][A-Za-z0-9_]*)}");

  /** One YAML document of one file. */
  private record Doc(Path file, Map<String, Object> body) {
    String kind() {
      return (String) body.get("kind");
    }

    String name() {
      return (String) map(body, "metadata").get("name");
    }
  }

  private static List<Doc> docs;
  private static Map<String, Object> deployment;
  private static Map<String, Object> flinkConf;
  private static Map<String, Object> job;
  private static List<String> args;
  private static String dockerfile;
  private static Document pom;

  @BeforeAll
  static void load() throws Exception {
    docs = new ArrayList<>();
    try (Stream<Path> files = Files.list(K8S)) {
      for (Path file : files.filter(f -> f.toString().endsWith(".yaml") || f.toString().endsWith(".yml"))
          .sorted().toList()) {
        for (Object doc : new Load(LoadSettings.builder().build()).loadAllFromString(Files.readString(file))) {
          if (doc == null) {
            continue; // an empty document, e.g. after a trailing '---'
          }
          assertThat(doc).as("a YAML document of %s", file).isInstanceOf(Map.class);
          docs.add(new Doc(file, cast(doc)));
        }
      }
    }
    List<Doc> deployments = ofKind("FlinkDeployment");
    assertThat(deployments).as("FlinkDeployments in k8s/").hasSize(1);
    deployment = deployments.get(0).body();
    flinkConf = map(map(deployment, "spec"), "flinkConfiguration");
    job = map(map(deployment, "spec"), "job");
    args = new ArrayList<>();
    for (Object arg : list(job, "args")) {
      assertThat(arg).as("job.args are strings (the CRD's type), got %s", arg).isInstanceOf(String.class);
      args.add((String) arg);
    }
    dockerfile = Files.readString(DOCKERFILE);
    pom = DocumentBuilderFactory.newInstance().newDocumentBuilder().parse(Path.of("pom.xml").toFile());
  }

  // ---- shape -----------------------------------------------------------------------------------

  @Test
  void everyDocumentIsAKubernetesObjectAndTheExpectedOnesExist() {
    for (Doc d : docs) {
      assertThat(d.body().get("apiVersion")).as("apiVersion in %s", d.file()).isInstanceOf(String.class);
      assertThat(d.kind()).as("kind in %s", d.file()).isNotBlank();
      assertThat(d.name()).as("metadata.name of a %s in %s", d.kind(), d.file()).isNotBlank();
    }
    assertThat(docs).extracting(Doc::kind).contains("FlinkDeployment", "KafkaTopic", "FlinkStateSnapshot");
    assertThat(deployment.get("apiVersion")).isEqualTo("flink.apache.org/v1beta1");
    assertThat(ofKind("FlinkStateSnapshot")).allSatisfy(
        d -> assertThat(d.body().get("apiVersion")).isEqualTo("flink.apache.org/v1beta1"));
  }

  @Test
  void flinkConfigurationValuesAreStrings() {
    flinkConf.forEach((k, v) -> assertThat(v).as("flinkConfiguration %s (a string map in the CRD)", k)
        .isInstanceOf(String.class));
  }

  // ---- job, jar, image -------------------------------------------------------------------------

  @Test
  void runsTheJobsEntryClassInApplicationMode() throws Exception {
    assertThat(job.get("entryClass")).isEqualTo(SlatestreamJob.class.getName());
    Method main = Class.forName((String) job.get("entryClass")).getMethod("main", String[].class);
    assertThat(Modifier.isStatic(main.getModifiers())).isTrue();
    assertThat((String) job.get("jarURI")).startsWith("local://" + USRLIB);
  }

  @Test
  void jarUriIsTheJarTheDockerfileCopiesIntoUsrlib() {
    List<List<String>> copy = instructions("COPY").stream()
        .map(c -> Stream.of(c.split("\\s+")).filter(t -> !t.startsWith("--")).toList())
        .filter(t -> t.get(t.size() - 1).startsWith(USRLIB))
        .toList();
    assertThat(copy).as("one COPY into %s", USRLIB).hasSize(1);
    List<String> tokens = copy.get(0);
    String source = tokens.get(0);
    String target = tokens.get(tokens.size() - 1);
    assertThat(source).as("the jar `mvn package` builds")
        .isEqualTo("target/" + pom("/project/artifactId") + "-" + pom("/project/version") + ".jar");
    assertThat(target.substring(USRLIB.length())).isNotBlank();
    assertThat(fileName((String) job.get("jarURI"))).isEqualTo(fileName(target));
  }

  @Test
  void imageIsTheOfficialFlinkImageOfThePomsFlinkAndJavaVersions() {
    List<String> from = instructions("FROM");
    assertThat(from).hasSize(1);
    Matcher m = Pattern.compile("flink:(\\d+\\.\\d+\\.\\d+)-java(\\d+)").matcher(from.get(0));
    assertThat(m.matches()).as("FROM flink:<version>-java<release>, got %s", from.get(0)).isTrue();
    String flinkVersion = pom("/project/properties/flink.version");
    assertThat(m.group(1)).isEqualTo(flinkVersion);
    assertThat(m.group(2)).isEqualTo(pom("/project/properties/maven.compiler.release"));

    String[] v = flinkVersion.split("\\.");
    assertThat(map(deployment, "spec").get("flinkVersion")).isEqualTo("v" + v[0] + "_" + v[1]);
  }

  @Test
  void imageHasTheNativeLibraryXgboostNeeds() {
    String run = String.join("\n", instructions("RUN"));
    assertThat(run).contains("apt-get install").contains("libgomp1").contains("rm -rf /var/lib/apt/lists");
  }

  @Test
  void deploymentRunsTheImageTheDockerfileDocumentsBuilding() {
    Matcher m = Pattern.compile("docker build -f k8s/Dockerfile -t (\\S+) \\.").matcher(dockerfile);
    assertThat(m.find()).as("the Dockerfile documents its build command").isTrue();
    assertThat(dockerfile).contains("mvn package");
    assertThat(map(deployment, "spec").get("image")).isEqualTo(m.group(1));
  }

  // ---- job arguments and options ---------------------------------------------------------------

  @Test
  void everyArgumentIsAnOptionOfTheJob() throws Exception {
    Set<String> known = JobOptions.all().stream().map(ConfigOption::key).collect(Collectors.toSet());
    Map<String, String> parsed = parseArgs();
    assertThat(parsed).isNotEmpty();
    assertThat(parsed.keySet()).allSatisfy(k -> assertThat(known.contains(k) || k.startsWith(KafkaClientProperties.PREFIX))
        .as("--%s is a job option or a kafka.<property>", k).isTrue());
    assertThat(parsed).containsKey(JobOptions.BOOTSTRAP_SERVERS.key());
    JobConfig.fromArgs(args.toArray(String[]::new)); // and the job accepts them
  }

  @Test
  void maxParallelismIsTheJobsInFlinkAndInTheJob() throws Exception {
    int jobDefault = JobOptions.MAX_PARALLELISM.defaultValue();
    assertThat(flinkConf.get("pipeline.max-parallelism")).isEqualTo(Integer.toString(jobDefault));
    JobConfig config = JobConfig.fromArgs(args.toArray(String[]::new));
    assertThat(config.maxParallelism).isEqualTo(jobDefault);
    assertThat(((Number) job.get("parallelism")).intValue()).isBetween(1, jobDefault);
  }

  // ---- cluster configuration -------------------------------------------------------------------

  @Test
  void flinkConfigurationAgreesWithFlinkConf() throws IOException {
    Map<String, String> clusterConf = new TreeMap<>();
    flatten("", new Load(LoadSettings.builder().build())
        .loadFromString(Files.readString(Path.of("flink-conf", "config.yaml"))), clusterConf);
    assertThat(clusterConf).isNotEmpty();
    Map<String, Object> spec = map(deployment, "spec");
    clusterConf.forEach((key, value) -> {
      switch (key) {
        case "jobmanager.memory.process.size" -> assertThat(memory(spec, "jobManager"))
            .as("jobManager.resource.memory = %s of flink-conf", key).isEqualTo(MemorySize.parse(value));
        case "taskmanager.memory.process.size" -> assertThat(memory(spec, "taskManager"))
            .as("taskManager.resource.memory = %s of flink-conf", key).isEqualTo(MemorySize.parse(value));
        // Set by job.parallelism: sizing belongs to the deployment.
        case "parallelism.default" -> assertThat(flinkConf).doesNotContainKey(key);
        // The operator's own per-Flink-version default (Java 17 module access); overriding it
        // would drop whatever the operator adds there.
        case "env.java.default-opts.all" -> assertThat(flinkConf).doesNotContainKey(key);
        default -> assertThat(flinkConf.get(key))
            .as("flinkConfiguration %s (flink-conf/config.yaml has %s)", key, value).isEqualTo(value);
      }
    });
  }

  @Test
  void stateIsInRocksDbWithCheckpointsSavepointsAndHa() {
    assertThat(flinkConf.get("state.backend.type")).isEqualTo("rocksdb");
    assertThat(flinkConf.get("execution.checkpointing.incremental")).isEqualTo("true");
    assertThat((String) flinkConf.get("execution.checkpointing.dir")).isNotBlank();
    assertThat((String) flinkConf.get("execution.checkpointing.savepoint-dir")).isNotBlank();
    assertThat(flinkConf.get("high-availability.type")).isEqualTo("kubernetes");
    assertThat((String) flinkConf.get("high-availability.storageDir")).isNotBlank();
    assertThat(flinkConf.get("restart-strategy.type")).isNotNull();
    assertThat(job.get("upgradeMode")).isEqualTo("savepoint");
  }

  @Test
  void everyJvmTrustsTheGeneratedAvroPackage() {
    assertThat((String) flinkConf.get("env.java.opts.all"))
        .contains("-Dorg.apache.avro.SERIALIZABLE_PACKAGES=" + Slate.class.getPackageName());
  }

  @Test
  void prometheusPortIsExposedOnJobManagerAndTaskManager() {
    assertThat(flinkConf.get("metrics.reporter.prom.factory.class"))
        .isEqualTo("org.apache.flink.metrics.prometheus.PrometheusReporterFactory");
    int port = Integer.parseInt((String) flinkConf.get("metrics.reporter.prom.port"));
    for (String role : List.of("jobManager", "taskManager")) {
      List<Integer> ports = mainContainers(role).stream()
          .flatMap(c -> list(c, "ports").stream())
          .map(KubernetesManifestsTest::cast)
          .filter(p -> "metrics".equals(p.get("name")))
          .map(p -> ((Number) p.get("containerPort")).intValue())
          .toList();
      assertThat(ports).as("container port 'metrics' of the %s", role).containsExactly(port);
    }
  }

  // ---- topics ----------------------------------------------------------------------------------

  @Test
  void topicsAreExactlyTheJobsWithTheirCompaction() throws Exception {
    Map<String, Map<String, String>> expected = Topics.of(JobConfig.defaults());
    Map<String, Map<String, Object>> declared = new LinkedHashMap<>();
    for (Doc d : ofKind("KafkaTopic")) {
      Map<String, Object> spec = map(d.body(), "spec");
      String name = (String) Objects.requireNonNullElse(spec.get("topicName"), d.name());
      assertThat(declared.put(name, map(spec, "config"))).as("topic %s declared once", name).isNull();
      assertThat(((Number) spec.get("partitions")).intValue()).as("partitions of %s", name).isPositive();
      assertThat(((Number) spec.get("replicas")).intValue()).as("replicas of %s", name).isPositive();
      assertThat(map(d.body(), "metadata", "labels")).containsKey("strimzi.io/cluster");
    }
    assertThat(declared.keySet()).containsExactlyInAnyOrderElementsOf(expected.keySet());
    // The deployment keeps the default names (or topics.yaml would have to follow its renames).
    assertThat(Topics.of(JobConfig.fromArgs(args.toArray(String[]::new))).keySet())
        .containsExactlyInAnyOrderElementsOf(declared.keySet());

    expected.forEach((topic, config) -> {
      Map<String, Object> actual = declared.get(topic);
      config.forEach((k, v) -> assertThat(String.valueOf(actual.get(k))).as("%s of topic %s", k, topic).isEqualTo(v));
      String policy = String.valueOf(actual.getOrDefault("cleanup.policy", "delete"));
      assertThat(policy.contains("compact"))
          .as("topic %s is compacted exactly when the job's layout compacts it", topic)
          .isEqualTo(config.getOrDefault("cleanup.policy", "delete").contains("compact"));
    });
  }

  // ---- savepoints ------------------------------------------------------------------------------

  @Test
  void savepointSnapshotTargetsTheDeployment() {
    String deploymentName = (String) map(deployment, "metadata").get("name");
    List<Doc> snapshots = ofKind("FlinkStateSnapshot");
    assertThat(snapshots).isNotEmpty();
    for (Doc d : snapshots) {
      Map<String, Object> spec = map(d.body(), "spec");
      assertThat(map(spec, "jobReference")).containsEntry("kind", "FlinkDeployment")
          .containsEntry("name", deploymentName);
      assertThat(spec).containsKey("savepoint");
      Object path = map(spec, "savepoint").get("path");
      if (path != null) {
        assertThat((String) path).startsWith((String) flinkConf.get("execution.checkpointing.savepoint-dir"));
      }
    }
  }

  // ---- credentials -----------------------------------------------------------------------------

  @Test
  void noCredentialIsWrittenInAnyManifest() throws IOException {
    Pattern literal = Pattern.compile("(?i)LoginModule|password\\s*=|\\bpassword\"?\\s*:\\s*\\S");
    try (Stream<Path> files = Files.list(K8S)) {
      for (Path file : files.filter(f -> !f.toString().endsWith(".md")).toList()) {
        assertThat(literal.matcher(Files.readString(file)).find()).as("a credential in %s", file).isFalse();
      }
    }
    assertThat(flinkConf.keySet()).noneMatch(KafkaClientProperties::isSensitive);
    // Every environment variable that looks like a credential comes from a Secret.
    for (Doc d : docs) {
      walk(d.body(), node -> {
        if (node.get("env") instanceof List<?> env) {
          for (Object e : env) {
            Map<String, Object> var = cast(e);
            String name = (String) var.get("name");
            if (KafkaClientProperties.isSensitive(name.replace('_', '.'))) {
              assertThat(var).as("env %s in %s", name, d.file()).doesNotContainKey("value");
              assertThat(map(var, "valueFrom", "secretKeyRef")).as("env %s from a Secret", name)
                  .containsKeys("name", "key");
            }
          }
        }
      });
    }
  }

  @Test
  void sensitiveKafkaArgumentsAreResolvedFromSecretsByTheKafkaClient() throws Exception {
    Map<String, String> parsed = parseArgs();
    List<String> sensitive = parsed.keySet().stream()
        .filter(k -> k.startsWith(KafkaClientProperties.PREFIX) && KafkaClientProperties.isSensitive(k)).toList();
    assertThat(sensitive).as("the deployment authenticates to Kafka").isNotEmpty();
    for (String key : sensitive) {
      Matcher m = ENV_REFERENCE.matcher(parsed.get(key));
      assertThat(m.matches()).as("--%s is a ${env:VAR} reference, not a value", key).isTrue();
      String var = m.group(1);
      for (String role : List.of("jobManager", "taskManager")) {
        assertThat(secretEnv(role)).as("%s of the %s comes from a Secret", var, role).contains(var);
      }
      String allow = parsed.get("kafka.config.providers.env.param.allowlist.pattern");
      if (allow != null) {
        assertThat(Pattern.compile(allow).matcher(var).matches()).as("allowlist admits %s", var).isTrue();
      }
    }
    // The Kafka client resolves ${env:...} only with the env config provider enabled.
    assertThat(List.of(parsed.getOrDefault("kafka.config.providers", "").split("\\s*,\\s*"))).contains("env");
    String providerClass = parsed.get("kafka.config.providers.env.class");
    assertThat(providerClass).isEqualTo("org.apache.kafka.common.config.provider.EnvVarConfigProvider");
    assertThat(org.apache.kafka.common.config.provider.ConfigProvider.class)
        .isAssignableFrom(Class.forName(providerClass));
  }

  // ---- helpers ---------------------------------------------------------------------------------

  private static List<Doc> ofKind(String kind) {
    return docs.stream().filter(d -> kind.equals(d.kind())).toList();
  }

  /** {@code --key value} and {@code --key=value}, as {@link JobConfig#fromArgs} reads them. */
  private static Map<String, String> parseArgs() {
    Map<String, String> parsed = new LinkedHashMap<>();
    for (int i = 0; i < args.size(); i++) {
      String arg = args.get(i);
      assertThat(arg).as("argument %d", i).startsWith("--");
      int eq = arg.indexOf('=');
      if (eq > 0) {
        parsed.put(arg.substring(2, eq), arg.substring(eq + 1));
      } else {
        assertThat(i + 1).as("a value follows %s", arg).isLessThan(args.size());
        parsed.put(arg.substring(2), args.get(++i));
      }
    }
    return parsed;
  }

  /** The main containers of the pod template(s) that apply to a role: the common one and the role's own. */
  private static List<Map<String, Object>> mainContainers(String role) {
    Map<String, Object> spec = map(deployment, "spec");
    List<Map<String, Object>> templates = new ArrayList<>();
    if (spec.get("podTemplate") != null) {
      templates.add(map(spec, "podTemplate"));
    }
    if (map(spec, role).get("podTemplate") != null) {
      templates.add(map(spec, role, "podTemplate"));
    }
    return templates.stream()
        .flatMap(t -> list(map(t, "spec"), "containers").stream())
        .map(KubernetesManifestsTest::cast)
        .filter(c -> MAIN_CONTAINER.equals(c.get("name")))
        .toList();
  }

  /** Names of the environment variables of a role's main container that come from a Secret. */
  private static List<String> secretEnv(String role) {
    return mainContainers(role).stream()
        .flatMap(c -> c.get("env") == null ? Stream.empty() : list(c, "env").stream())
        .map(KubernetesManifestsTest::cast)
        .filter(e -> e.get("valueFrom") instanceof Map<?, ?> from && from.get("secretKeyRef") != null)
        .map(e -> (String) e.get("name"))
        .toList();
  }

  private static MemorySize memory(Map<String, Object> spec, String role) {
    return MemorySize.parse(String.valueOf(map(spec, role, "resource").get("memory")));
  }

  /** The arguments of each Dockerfile instruction, line continuations joined, comments dropped. */
  private static List<String> instructions(String instruction) {
    String joined = Stream.of(dockerfile.split("\n"))
        .filter(l -> !l.strip().startsWith("#"))
        .collect(Collectors.joining("\n"))
        .replaceAll("\\\\\\n", " ");
    List<String> found = new ArrayList<>();
    for (String line : joined.split("\n")) {
      String s = line.strip();
      if (s.regionMatches(true, 0, instruction + " ", 0, instruction.length() + 1)) {
        found.add(s.substring(instruction.length()).strip());
      }
    }
    return found;
  }

  private static String fileName(String pathOrUri) {
    return pathOrUri.substring(pathOrUri.lastIndexOf('/') + 1);
  }

  private static String pom(String xpath) {
    try {
      String value = javax.xml.xpath.XPathFactory.newInstance().newXPath().evaluate(xpath, pom);
      assertThat(value).as("pom.xml %s", xpath).isNotBlank();
      return value.strip();
    } catch (javax.xml.xpath.XPathExpressionException e) {
      throw new IllegalArgumentException(e);
    }
  }

  /** Nested YAML maps as Flink reads them: {@code a: {b: 1}} is the key {@code a.b}. */
  private static void flatten(String prefix, Object node, Map<String, String> out) {
    if (node instanceof Map<?, ?> m) {
      m.forEach((k, v) -> flatten(prefix.isEmpty() ? String.valueOf(k) : prefix + "." + k, v, out));
    } else {
      out.put(prefix, String.valueOf(node));
    }
  }

  private static void walk(Object node, Consumer<Map<String, Object>> visitor) {
    if (node instanceof Map<?, ?> m) {
      visitor.accept(cast(m));
      m.values().forEach(v -> walk(v, visitor));
    } else if (node instanceof List<?> l) {
      l.forEach(v -> walk(v, visitor));
    }
  }

  @SuppressWarnings("unchecked")
  private static Map<String, Object> cast(Object o) {
    assertThat(o).isInstanceOf(Map.class);
    return (Map<String, Object>) o;
  }

  private static Map<String, Object> map(Map<String, Object> node, String... path) {
    Map<String, Object> current = node;
    for (String key : path) {
      assertThat(current.get(key)).as("'%s' (of %s)", key, String.join(".", path)).isInstanceOf(Map.class);
      current = cast(current.get(key));
    }
    return current;
  }

  private static List<?> list(Map<String, Object> node, String key) {
    assertThat(node.get(key)).as("'%s' is a list", key).isInstanceOf(List.class);
    return (List<?>) node.get(key);
  }
}
