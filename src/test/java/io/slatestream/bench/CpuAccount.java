package io.slatestream.bench;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadInfo;
import java.lang.management.ThreadMXBean;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * CPU time spent, not wall-clock time: what an event costs does not depend on how busy the
 * machine is, so it explains a maximum rate measured on a shared machine and bounds the one an
 * idle machine would reach. Counts the broker process (from /proc), this JVM (the local Flink
 * cluster, the load generator and the output reader), and this JVM's threads grouped by what they
 * run: a Flink task thread is named after its chain of operators, so the ranker's own CPU time is
 * known exactly. Threads the JVM does not list (garbage collection, the JIT compilers, RocksDB's
 * background flushes and compactions) are read from /proc and grouped by their native name.
 */
final class CpuAccount {
  private static final long TICKS_PER_SECOND = 100; // USER_HZ on Linux
  private final ThreadMXBean threads = ManagementFactory.getThreadMXBean();
  private final com.sun.management.OperatingSystemMXBean os =
      (com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean();
  private final long brokerPid;

  CpuAccount(long brokerPid) {
    this.brokerPid = brokerPid;
    if (threads.isThreadCpuTimeSupported() && !threads.isThreadCpuTimeEnabled()) {
      threads.setThreadCpuTimeEnabled(true);
    }
  }

  /** CPU nanoseconds so far: "broker", "harness JVM", and one entry per thread group. */
  Map<String, Long> snapshot() {
    Map<String, Long> out = new LinkedHashMap<>();
    out.put("broker", brokerCpuNanos());
    out.put("harness JVM", os.getProcessCpuTime());
    Map<String, Long> groups = new HashMap<>();
    for (ThreadInfo t : threads.getThreadInfo(threads.getAllThreadIds())) {
      if (t == null) {
        continue;
      }
      long cpu = threads.getThreadCpuTime(t.getThreadId());
      if (cpu > 0) {
        groups.merge(group(t.getThreadName()), cpu, Long::sum);
      }
    }
    out.putAll(groups);
    out.putAll(nativeThreads());
    return out;
  }

  /** The JVM's own and RocksDB's threads, which {@link ThreadMXBean} does not list, by native name. */
  private static Map<String, Long> nativeThreads() {
    Map<String, Long> out = new HashMap<>();
    try (var tasks = Files.list(Path.of("/proc/self/task"))) {
      tasks.forEach(task -> {
        try {
          String stat = Files.readString(task.resolve("stat"));
          String comm = stat.substring(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
          if (!NATIVE.matcher(comm).lookingAt()) {
            return;
          }
          String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
          long ticks = Long.parseLong(f[11]) + Long.parseLong(f[12]); // utime, stime
          out.merge("native: " + comm.replaceAll("\\d+", "#"), ticks * 1_000_000_000L / TICKS_PER_SECOND, Long::sum);
        } catch (IOException | RuntimeException e) {
          // the thread ended meanwhile
        }
      });
    } catch (IOException | RuntimeException e) {
      // not Linux: Java threads only
    }
    return out;
  }

  private static final Pattern NATIVE =
      Pattern.compile("rocksdb|GC Thread|G1 |C1 Compiler|C2 Compiler|VM Thread");

  /** The CPU time between two snapshots, per entry. Threads that ended in between are not counted. */
  static Map<String, Long> between(Map<String, Long> before, Map<String, Long> after) {
    Map<String, Long> out = new LinkedHashMap<>();
    after.forEach((k, v) -> out.put(k, Math.max(0, v - before.getOrDefault(k, 0L))));
    return out;
  }

  /** A thread's group: a Flink task by its first operator, else the thread's name without numbers. */
  static String group(String name) {
    String n = name.replaceFirst("^Source Data Fetcher for ", "fetcher: ");
    int arrow = n.indexOf(" -> ");
    if (arrow > 0) {
      n = n.substring(0, arrow);
    }
    n = n.replaceAll(" \\(\\d+/\\d+\\)#\\d+$", "");
    return n.replaceAll("\\d+", "#");
  }

  private long brokerCpuNanos() {
    try {
      String stat = Files.readString(Path.of("/proc", Long.toString(brokerPid), "stat"));
      String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
      long ticks = Long.parseLong(f[11]) + Long.parseLong(f[12]); // utime, stime
      return ticks * 1_000_000_000L / TICKS_PER_SECOND;
    } catch (IOException | RuntimeException e) {
      return 0;
    }
  }
}
