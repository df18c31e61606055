package io.slatestream.local;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.ServerSocket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The job's own {@code eventToSlateLatencyMs} histogram, read from the Flink REST API of the local
 * cluster the way an operator reads it from a real one: the ranker vertex's metrics, which expose
 * a histogram's percentiles as {@code <subtask>.ranker.eventToSlateLatencyMs_median} and {@code
 * _p99} (no count), next to the {@code slatesEmitted} counter. Each ranker subtask keeps its own
 * histogram (its last 10,000 slates), so the figures are per subtask; percentiles of different
 * subtasks cannot be merged exactly.
 */
final class RankerMetrics {
  private static final String METRIC = "eventToSlateLatencyMs";
  private static final Pattern ID =
      Pattern.compile("^(\\d+)\\.ranker\\.(" + METRIC + "_median|" + METRIC + "_p99|slatesEmitted)$");

  private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
  private final ObjectMapper json = new ObjectMapper();
  private final String base;

  RankerMetrics(int restPort) {
    this.base = "http://127.0.0.1:" + restPort;
  }

  /** A free loopback port for the local cluster's REST endpoint, chosen by the OS. */
  static int freePort() throws IOException {
    try (ServerSocket s = new ServerSocket(0)) {
      return s.getLocalPort();
    }
  }

  /** One subtask's histogram, and how many slates it emitted in all. */
  record Latency(int subtask, double p50, double p99, long slatesEmitted) {}

  /**
   * The ranker's latency histograms of job {@code jobId}, per subtask. The REST API refreshes its
   * metrics periodically (metrics.fetcher.update-interval), so this retries until every subtask
   * has reported or {@code patience} has passed; an empty list if none did.
   */
  List<Latency> latency(String jobId, Duration patience) throws IOException, InterruptedException {
    long deadline = System.nanoTime() + patience.toNanos();
    String vertex = rankerVertex(jobId);
    String path = "/jobs/" + jobId + "/vertices/" + vertex + "/metrics";
    while (true) {
      List<String> ids = new ArrayList<>();
      for (JsonNode m : get(path)) {
        if (ID.matcher(m.get("id").asText()).matches()) {
          ids.add(m.get("id").asText());
        }
      }
      if (!ids.isEmpty()) {
        Map<Integer, Map<String, Double>> bySubtask = new TreeMap<>();
        for (JsonNode m : get(path + "?get=" + String.join(",", ids))) {
          Matcher id = ID.matcher(m.get("id").asText());
          if (id.matches() && m.hasNonNull("value")) {
            bySubtask.computeIfAbsent(Integer.parseInt(id.group(1)), k -> new TreeMap<>())
                .put(id.group(2), Double.parseDouble(m.get("value").asText()));
          }
        }
        List<Latency> out = new ArrayList<>();
        bySubtask.forEach((subtask, v) -> {
          if (v.size() == 3) {
            out.add(new Latency(subtask, v.get(METRIC + "_median"), v.get(METRIC + "_p99"),
                v.get("slatesEmitted").longValue()));
          }
        });
        if (out.size() == ids.size() / 3 || System.nanoTime() > deadline) {
          return out;
        }
      } else if (System.nanoTime() > deadline) {
        return List.of();
      }
      Thread.sleep(500);
    }
  }

  private String rankerVertex(String jobId) throws IOException, InterruptedException {
    for (JsonNode v : get("/jobs/" + jobId).get("vertices")) {
      // Chained operators share a vertex, whose name lists them all.
      if (v.get("name").asText().contains("ranker")) {
        return v.get("id").asText();
      }
    }
    throw new IOException("job " + jobId + " has no vertex named ranker");
  }

  private JsonNode get(String path) throws IOException, InterruptedException {
    HttpResponse<String> r = http.send(HttpRequest.newBuilder(URI.create(base + path))
        .timeout(Duration.ofSeconds(10)).GET().build(), HttpResponse.BodyHandlers.ofString());
    if (r.statusCode() != 200) {
      throw new IOException("GET " + path + ": HTTP " + r.statusCode() + " " + r.body());
    }
    return json.readTree(r.body());
  }
}
