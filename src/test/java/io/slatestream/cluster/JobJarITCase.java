package io.slatestream.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import io.slatestream.SlatestreamJob;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.jar.JarFile;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import java.util.zip.ZipEntry;
import org.junit.jupiter.api.Test;

/**
 * The cluster jar carries the job with its connectors and formats, and nothing of the Flink
 * runtime the cluster provides. A second copy of a runtime class in the user jar would be loaded
 * child-first next to the cluster's own, and fail at run time as a class cast or linkage error of
 * "the same" class. Checked against the Flink jars of the very cluster StandaloneClusterITCase
 * runs the jar on, so a runtime class the job starts to bundle is caught whatever its package.
 */
class JobJarITCase {
  /** Packages of Flink's runtime, APIs and state backends (connectors and formats are not among them). */
  private static final List<String> RUNTIME_PACKAGES = List.of("org/apache/flink/runtime/",
      "org/apache/flink/streaming/api/", "org/apache/flink/streaming/runtime/", "org/apache/flink/api/",
      "org/apache/flink/core/", "org/apache/flink/configuration/", "org/apache/flink/client/",
      "org/apache/flink/state/", "org/apache/flink/shaded/", "org/apache/flink/util/", "org/rocksdb/");

  @Test
  void theJobJarBundlesConnectorsAndFormatsButNoFlinkRuntimeClass() throws IOException {
    Set<String> job = classes(StandaloneClusterITCase.jobJar());
    Set<String> runtime = new TreeSet<>();
    try (Stream<Path> lib = Files.list(StandaloneClusterITCase.clusterLib())) {
      for (Path jar : lib.filter(JobJarITCase::isFlinkRuntime).toList()) {
        runtime.addAll(classes(jar));
      }
    }

    assertThat(runtime).as("the cluster's Flink jars")
        .contains("org/apache/flink/runtime/taskexecutor/TaskManagerRunner.class",
            "org/apache/flink/streaming/api/environment/StreamExecutionEnvironment.class",
            "org/apache/flink/state/rocksdb/EmbeddedRocksDBStateBackend.class", "org/rocksdb/RocksDB.class");
    assertThat(job).as("the job, its Kafka connector and Avro format")
        .contains(SlatestreamJob.class.getName().replace('.', '/') + ".class",
            "org/apache/flink/connector/kafka/source/KafkaSource.class",
            "org/apache/flink/connector/kafka/sink/KafkaSink.class",
            "org/apache/flink/formats/avro/AvroDeserializationSchema.class");

    assertThat(job.stream().filter(runtime::contains).toList())
        .as("classes of the cluster's Flink jars inside the job jar").isEmpty();
    assertThat(job.stream().filter(c -> RUNTIME_PACKAGES.stream().anyMatch(c::startsWith)).toList())
        .as("classes of Flink runtime packages inside the job jar").isEmpty();
  }

  /** Flink's own jars of the cluster, and the RocksDB build its state backend loads parent-first. */
  private static boolean isFlinkRuntime(Path jar) {
    String name = jar.getFileName().toString();
    return name.endsWith(".jar") && (name.startsWith("flink-") || name.startsWith("frocksdbjni-"));
  }

  private static Set<String> classes(Path jar) throws IOException {
    try (JarFile file = new JarFile(jar.toFile())) {
      return file.stream().map(ZipEntry::getName).filter(n -> n.endsWith(".class"))
          .filter(n -> !n.startsWith("META-INF/")).collect(Collectors.toCollection(TreeSet::new));
    }
  }
}
