package io.slatestream.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.kafka.common.TopicPartition;

/**
 * What the harness reads of a running job from the Flink REST API of its local cluster (on a free
 * loopback port), as one reads it from a real cluster: the Kafka source readers' current offsets
 * (for the consumer lag), each task's accumulated busy and back-pressured time, and the RocksDB
 * native metrics of the ranker's keyed state. The REST API refreshes metrics every
 * {@code metrics.fetcher.update-interval} (1 s here), so single values may be that old.
 */
final class JobMetrics {
  private static final Pattern OFFSET =
      Pattern.compile("^\\d+\\..*KafkaSourceReader\\.topic\\.(.+)\\.partition\\.(\\d+)\\.currentOffset$");
  private static final Pattern TIME =
      Pattern.compile("^(\\d+)\\.(accumulateBusyTimeMs|accumulateBackPressuredTimeMs|accumulateIdleTimeMs)$");

  private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
  private final ObjectMapper json = new ObjectMapper();
  private final String base;
  private final String jobId;
  private Map<String, String> vertices;
  private final Map<String, List<String>> offsetIds = new LinkedHashMap<>();

  JobMetrics(int restPort, String jobId) {
    this.base = "http://127.0.0.1:" + restPort;
    this.jobId = jobId;
  }

  /** Vertex id to name. */
  Map<String, String> vertices() throws IOException, InterruptedException {
    if (vertices == null) {
      Map<String, String> v = new LinkedHashMap<>();
      for (JsonNode n : get("/jobs/" + jobId).get("vertices")) {
        v.put(n.get("id").asText(), n.get("name").asText());
      }
      vertices = v;
    }
    return vertices;
  }

  /** Waits until every task of the job is RUNNING. */
  void awaitRunning(Duration patience) throws IOException, InterruptedException {
    long deadline = System.nanoTime() + patience.toNanos();
    while (true) {
      JsonNode job = get("/jobs/" + jobId);
      boolean all = job.get("state").asText().equals("RUNNING");
      for (JsonNode v : job.get("vertices")) {
        all &= v.get("status").asText().equals("RUNNING");
      }
      if (all) {
        return;
      }
      if (System.nanoTime() > deadline) {
        throw new IOException("job " + jobId + " not running after " + patience + ": " + job);
      }
      Thread.sleep(500);
    }
  }

  /**
   * The next offset each source reader will emit, per topic partition, summed over the readers
   * that report one. Partitions not reported yet are absent.
   */
  Map<TopicPartition, Long> sourceOffsets() throws IOException, InterruptedException {
    Map<TopicPartition, Long> out = new TreeMap<>(java.util.Comparator.comparing(TopicPartition::toString));
    for (Map.Entry<String, String> v : vertices().entrySet()) {
      if (!v.getValue().startsWith("Source")) {
        continue;
      }
      String vertex = v.getKey();
      List<String> ids = offsetIds.get(vertex);
      if (ids == null || ids.isEmpty()) {
        ids = new ArrayList<>();
        for (JsonNode m : get("/jobs/" + jobId + "/vertices/" + vertex + "/metrics")) {
          if (OFFSET.matcher(m.get("id").asText()).matches()) {
            ids.add(m.get("id").asText());
          }
        }
        offsetIds.put(vertex, ids);
      }
      for (Map.Entry<String, Double> e : values(vertex, ids).entrySet()) {
        Matcher m = OFFSET.matcher(e.getKey());
        if (m.matches() && e.getValue() >= 0) {
          out.merge(new TopicPartition(m.group(1), Integer.parseInt(m.group(2))), e.getValue().longValue(), Long::sum);
        }
      }
    }
    return out;
  }

  /** Accumulated busy / back-pressured / idle ms of one vertex, summed over its subtasks. */
  record TaskTimes(String vertex, int subtasks, double busyMs, double backPressuredMs, double idleMs) {
    TaskTimes minus(TaskTimes earlier) {
      return new TaskTimes(vertex, subtasks, busyMs - earlier.busyMs, backPressuredMs - earlier.backPressuredMs,
          idleMs - earlier.idleMs);
    }
  }

  /** Per vertex name. */
  Map<String, TaskTimes> taskTimes() throws IOException, InterruptedException {
    Map<String, TaskTimes> out = new LinkedHashMap<>();
    for (Map.Entry<String, String> v : vertices().entrySet()) {
      List<String> ids = new ArrayList<>();
      for (JsonNode m : get("/jobs/" + jobId + "/vertices/" + v.getKey() + "/metrics")) {
        if (TIME.matcher(m.get("id").asText()).matches()) {
          ids.add(m.get("id").asText());
        }
      }
      double busy = 0;
      double pressured = 0;
      double idle = 0;
      java.util.Set<String> subtasks = new java.util.HashSet<>();
      for (Map.Entry<String, Double> e : values(v.getKey(), ids).entrySet()) {
        Matcher m = TIME.matcher(e.getKey());
        if (m.matches()) {
          subtasks.add(m.group(1));
          switch (m.group(2)) {
            case "accumulateBusyTimeMs" -> busy += e.getValue();
            case "accumulateBackPressuredTimeMs" -> pressured += e.getValue();
            default -> idle += e.getValue();
          }
        }
      }
      out.put(v.getValue(), new TaskTimes(v.getValue(), subtasks.size(), busy, pressured, idle));
    }
    return out;
  }

  /** Every metric of the vertex whose name contains {@code fragment} and whose id matches, summed by id without the subtask. */
  Map<String, Double> metricsOf(String fragment, Pattern id) throws IOException, InterruptedException {
    Map<String, Double> out = new TreeMap<>();
    for (Map.Entry<String, String> v : vertices().entrySet()) {
      if (!v.getValue().contains(fragment)) {
        continue;
      }
      values(v.getKey(), idsOf(v.getKey(), id)).forEach((k, val) -> out.merge(k.replaceFirst("^\\d+\\.", ""), val, Double::sum));
    }
    return out;
  }

  /** The value of one metric (a string gauge too) per subtask of the vertex whose name contains {@code fragment}. */
  List<String> textValues(String fragment, String metric) throws IOException, InterruptedException {
    Pattern id = Pattern.compile("^\\d+\\.(.*\\.)?" + Pattern.quote(metric) + "$");
    List<String> out = new ArrayList<>();
    for (Map.Entry<String, String> v : vertices().entrySet()) {
      if (!v.getValue().contains(fragment)) {
        continue;
      }
      out.addAll(texts(v.getKey(), idsOf(v.getKey(), id)).values());
    }
    return out;
  }

  /** Completed checkpoints so far. */
  long completedCheckpoints() throws IOException, InterruptedException {
    return get("/jobs/" + jobId + "/checkpoints").get("counts").get("completed").asLong();
  }

  /**
   * Completed checkpoints triggered at or after {@code fromMs}: when, how long end to end, and per
   * vertex the longest synchronous part, alignment and start delay over its subtasks, which are
   * what holds a task thread or its input while a checkpoint is taken.
   */
  List<String> checkpointsSince(long fromMs) throws IOException, InterruptedException {
    List<String> out = new ArrayList<>();
    for (JsonNode c : get("/jobs/" + jobId + "/checkpoints").get("history")) {
      long trigger = c.get("trigger_timestamp").asLong();
      if (trigger < fromMs || !c.get("status").asText().equals("COMPLETED")) {
        continue;
      }
      StringBuilder b = new StringBuilder(String.format(java.util.Locale.ROOT, "checkpoint %d at %s: %d ms end to end,"
              + " %,d bytes;", c.get("id").asLong(), java.time.Instant.ofEpochMilli(trigger), c.get("end_to_end_duration")
              .asLong(), c.get("checkpointed_size").asLong()));
      for (Map.Entry<String, String> v : vertices().entrySet()) {
        JsonNode d = get("/jobs/" + jobId + "/checkpoints/details/" + c.get("id").asLong() + "/subtasks/" + v.getKey());
        long sync = 0;
        long async = 0;
        long align = 0;
        long delay = 0;
        for (JsonNode st : d.get("subtasks")) {
          if (st.has("checkpoint")) {
            sync = Math.max(sync, st.get("checkpoint").get("sync").asLong());
            async = Math.max(async, st.get("checkpoint").get("async").asLong());
          }
          if (st.has("alignment")) {
            align = Math.max(align, st.get("alignment").get("duration").asLong());
          }
          delay = Math.max(delay, st.path("start_delay").asLong());
        }
        String name = v.getValue().replaceFirst("^Source: ", "");
        b.append(String.format(java.util.Locale.ROOT, " [%s sync %d async %d align %d delay %d]",
            name.length() > 24 ? name.substring(0, 24) : name, sync, async, align, delay));
      }
      out.add(b.toString());
    }
    return out;
  }

  /** The ids of the vertex's metrics in which {@code id} is found. */
  private List<String> idsOf(String vertex, Pattern id) throws IOException, InterruptedException {
    List<String> ids = new ArrayList<>();
    for (JsonNode m : get("/jobs/" + jobId + "/vertices/" + vertex + "/metrics")) {
      if (id.matcher(m.get("id").asText()).find()) {
        ids.add(m.get("id").asText());
      }
    }
    return ids;
  }

  private Map<String, Double> values(String vertex, List<String> ids) throws IOException, InterruptedException {
    Map<String, Double> out = new LinkedHashMap<>();
    texts(vertex, ids).forEach((id, text) -> {
      try {
        out.put(id, Double.parseDouble(text));
      } catch (NumberFormatException ignored) {
        // not a number (e.g. a string gauge)
      }
    });
    return out;
  }

  /** The metrics' values as the REST API gives them, by id; 40 ids per request. */
  private Map<String, String> texts(String vertex, List<String> ids) throws IOException, InterruptedException {
    Map<String, String> out = new LinkedHashMap<>();
    for (int from = 0; from < ids.size(); from += 40) {
      List<String> chunk = ids.subList(from, Math.min(ids.size(), from + 40));
      String query = URLEncoder.encode(String.join(",", chunk), StandardCharsets.UTF_8);
      for (JsonNode m : get("/jobs/" + jobId + "/vertices/" + vertex + "/metrics?get=" + query)) {
        if (m.hasNonNull("value")) {
          out.put(m.get("id").asText(), m.get("value").asText());
        }
      }
    }
    return out;
  }

  private JsonNode get(String path) throws IOException, InterruptedException {
    HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(base + path))
        .timeout(Duration.ofSeconds(20)).GET().build(), HttpResponse.BodyHandlers.ofString());
    if (r.statusCode() != 200) {
      throw new IOException("GET " + path + ": HTTP " + r.statusCode() + " " + r.body());
    }
    return json.readTree(r.body());
  }
}
