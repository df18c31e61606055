package io.slatestream.bench;

import io.slatestream.local.EmbeddedKafka;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The load harness's Kafka broker, in a JVM of its own as a broker is in production: its heap,
 * garbage collections and JIT are not the job's, while it shares the machine's cores with the job
 * and the load generator, as a broker on the same host does. The child is the project's
 * {@link EmbeddedKafka} (a real KRaft broker on loopback, free ports); it prints its bootstrap
 * address on standard output and stops when its standard input closes, so it never outlives the
 * harness, whatever ends it.
 */
final class BrokerProcess implements AutoCloseable {
  static final String READY = "BOOTSTRAP ";
  /** The broker's own JVM; Kafka's start script gives a broker 1 GiB of heap by default too. */
  static final List<String> JVM_OPTIONS = List.of("-Xms1g", "-Xmx1g", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20");

  private final Process process;
  private final String bootstrapServers;

  private BrokerProcess(Process process, String bootstrapServers) {
    this.process = process;
    this.bootstrapServers = bootstrapServers;
  }

  /** Starts the broker JVM with this JVM's class path and waits for its address. */
  static BrokerProcess start(Path logFile) throws IOException, InterruptedException {
    List<String> command = new ArrayList<>();
    command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    command.addAll(JVM_OPTIONS);
    for (String property : List.of("log4j2.configurationFile", "org.apache.avro.SERIALIZABLE_PACKAGES")) {
      if (System.getProperty(property) != null) {
        command.add("-D" + property + "=" + System.getProperty(property));
      }
    }
    command.add("-cp");
    command.add(System.getProperty("java.class.path"));
    command.add(BrokerProcess.class.getName());
    Files.createDirectories(logFile.getParent());
    Process p = new ProcessBuilder(command).redirectError(logFile.toFile()).start();
    BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
    String line;
    while ((line = out.readLine()) != null) {
      if (line.startsWith(READY)) {
        String bootstrap = line.substring(READY.length()).trim();
        Thread drain = new Thread(() -> {
          try {
            while (out.readLine() != null) {
              // the broker logs to stderr; stdout only carries the address
            }
          } catch (IOException ignored) {
            // the broker is gone
          }
        }, "broker-stdout");
        drain.setDaemon(true);
        drain.start();
        return new BrokerProcess(p, bootstrap);
      }
    }
    p.waitFor(10, TimeUnit.SECONDS);
    throw new IOException("The broker process ended before it was ready (exit " + p.exitValue()
        + "); its log: " + logFile);
  }

  String bootstrapServers() {
    return bootstrapServers;
  }

  long pid() {
    return process.pid();
  }

  @Override
  public void close() throws InterruptedException {
    try {
      process.getOutputStream().close(); // the child's signal to stop
    } catch (IOException ignored) {
      // already gone
    }
    if (!process.waitFor(60, TimeUnit.SECONDS)) {
      process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
    }
  }

  /** The child: a broker until standard input closes. */
  public static void main(String[] args) throws Exception {
    try (EmbeddedKafka kafka = EmbeddedKafka.start()) {
      System.out.println(READY + kafka.bootstrapServers());
      System.out.flush();
      while (System.in.read() >= 0) {
        // wait for the harness to close our stdin (or to die)
      }
    }
  }
}
