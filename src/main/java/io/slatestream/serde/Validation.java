package io.slatestream.serde;

import io.slatestream.avro.Interaction;
import io.slatestream.avro.Item;
import io.slatestream.avro.ModelRelease;
import io.slatestream.avro.Slate;
import io.slatestream.avro.SlateItem;
import io.slatestream.avro.SlateRequest;
import java.io.Serializable;
import java.time.Duration;

/**
 * Field checks that decoding alone cannot make. Each returns {@code null} for a valid record, else
 * the reason it is refused; the reason is written to the dead letter as it is.
 */
public final class Validation {
  private Validation() {}

  /** Validates one decoded record against the wall clock {@code nowMs}. */
  @FunctionalInterface
  public interface Validator<T> extends Serializable {
    String check(T record, long nowMs);
  }

  public static Validator<Interaction> interactions(Duration maxFutureSkew) {
    long skew = maxFutureSkew.toMillis();
    return (r, now) -> {
      String missing = firstBlank("eventId", r.getEventId(), "userId", r.getUserId(), "itemId", r.getItemId());
      if (missing != null) {
        return missing;
      }
      if (r.getWatchTimeMs() < 0) {
        return "invalid: watchTimeMs must be >= 0, was " + r.getWatchTimeMs();
      }
      if (r.getPosition() != null && r.getPosition() < 0) {
        return "invalid: position must be >= 0, was " + r.getPosition();
      }
      return eventTime("eventTimeMs", r.getEventTimeMs(), now, skew);
    };
  }

  public static Validator<Item> items(Duration maxFutureSkew) {
    long skew = maxFutureSkew.toMillis();
    return (r, now) -> {
      if (r.getDeleted()) {
        return firstBlank("itemId", r.getItemId()); // a deletion needs nothing else
      }
      String missing =
          firstBlank("itemId", r.getItemId(), "category", r.getCategory(), "creatorId", r.getCreatorId());
      if (missing != null) {
        return missing;
      }
      if (r.getDurationMs() < 0) {
        return "invalid: durationMs must be >= 0, was " + r.getDurationMs();
      }
      return eventTime("publishedTimeMs", r.getPublishedTimeMs(), now, skew);
    };
  }

  public static Validator<SlateRequest> slateRequests(Duration maxFutureSkew, int maxCandidates) {
    long skew = maxFutureSkew.toMillis();
    return (r, now) -> {
      if (r.getCandidateItemIds() != null && r.getCandidateItemIds().size() > maxCandidates) {
        return "invalid: " + r.getCandidateItemIds().size() + " candidateItemIds, more than the "
            + maxCandidates + " allowed (slate.max-request-candidates)";
      }
      String missing = firstBlank("requestId", r.getRequestId(), "userId", r.getUserId());
      if (missing != null) {
        return missing;
      }
      if (r.getSlateSize() < 0) {
        return "invalid: slateSize must be >= 0 (0 = default), was " + r.getSlateSize();
      }
      return eventTime("eventTimeMs", r.getEventTimeMs(), now, skew);
    };
  }

  public static Validator<ModelRelease> modelReleases(Duration maxFutureSkew) {
    long skew = maxFutureSkew.toMillis();
    return (r, now) -> {
      String missing = firstBlank("version", r.getVersion(), "modelUri", r.getModelUri(),
          "checksum", r.getChecksum(), "featureSpecId", r.getFeatureSpecId());
      if (missing != null) {
        return missing;
      }
      if (!r.getChecksum().matches("[0-9a-f]{64}")) {
        return "invalid: checksum must be a lower-case hex sha256, was '" + r.getChecksum() + "'";
      }
      return eventTime("createdTimeMs", r.getCreatedTimeMs(), now, skew);
    };
  }

  /**
   * Slates read back from the recommendations topic. The job wrote them, but the topic is open to
   * other writers and to older releases, so they are checked like any input.
   */
  public static Validator<Slate> servedSlates(Duration maxFutureSkew) {
    long skew = maxFutureSkew.toMillis();
    return (r, now) -> {
      String missing = firstBlank("slateId", r.getSlateId(), "userId", r.getUserId());
      if (missing != null) {
        return missing;
      }
      for (SlateItem item : r.getItems()) {
        if (item.getItemId() == null || item.getItemId().isBlank()) {
          return "invalid: missing itemId of the item at rank " + item.getRank();
        }
      }
      return eventTime("triggerEventTimeMs", r.getTriggerEventTimeMs(), now, skew);
    };
  }

  private static String eventTime(String field, long value, long now, long skew) {
    if (value <= 0) {
      return "invalid: " + field + " must be a positive epoch-millis timestamp, was " + value;
    }
    if (value > now + skew) {
      return "invalid: " + field + " " + value + " is " + (value - now)
          + " ms ahead of the wall clock (limit " + skew + " ms)";
    }
    return null;
  }

  private static String firstBlank(String... namesAndValues) {
    for (int i = 0; i < namesAndValues.length; i += 2) {
      String v = namesAndValues[i + 1];
      if (v == null || v.isBlank()) {
        return "invalid: missing " + namesAndValues[i];
      }
    }
    return null;
  }
}
