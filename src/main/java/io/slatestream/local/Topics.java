package io.slatestream.local;

import io.slatestream.config.JobConfig;
import java.util.LinkedHashMap;
import java.util.Map;

/** Topic layout of a local run: the catalog and the per-user slates are compacted. */
public final class Topics {
  private Topics() {}

  public static Map<String, Map<String, String>> of(JobConfig config) {
    Map<String, String> compacted = Map.of("cleanup.policy", "compact");
    Map<String, Map<String, String>> t = new LinkedHashMap<>();
    t.put(config.topicInteractions, Map.of());
    t.put(config.topicItems, compacted);
    t.put(config.topicSlateRequests, Map.of());
    t.put(config.topicModelReleases, Map.of());
    t.put(config.topicRecommendations, compacted);
    t.put(config.topicDeadLetters, Map.of());
    t.put(config.topicTrainingExamples, Map.of());
    return t;
  }

  public static void create(EmbeddedKafka kafka, JobConfig config, int partitions) throws Exception {
    for (Map.Entry<String, Map<String, String>> e : of(config).entrySet()) {
      kafka.createTopic(e.getKey(), partitions, e.getValue());
    }
  }
}
