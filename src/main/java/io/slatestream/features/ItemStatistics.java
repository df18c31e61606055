package io.slatestream.features;

import io.slatestream.avro.Interaction;
import io.slatestream.avro.InteractionType;
import io.slatestream.avro.state.ItemStats;
import io.slatestream.config.JobConfig;
import java.io.Serializable;

/**
 * The arithmetic of an item's decayed statistics, in one place for the item-stats operator and for
 * anything that must count exactly as it does (offline evaluation). Every value is a sum of
 * {@code 2^(-Δt/h)} weights expressed at an anchor that only moves forward, so an out-of-order
 * event adds exactly what it would have added in order.
 */
public final class ItemStatistics implements Serializable {
  private static final long serialVersionUID = 1L;

  private final long halfLifeMs;
  private final long quickSkipMs;

  public ItemStatistics(JobConfig config) {
    this.halfLifeMs = config.itemHalfLife.toMillis();
    this.quickSkipMs = config.quickSkipThreshold.toMillis();
  }

  /** {@code s} expressed at {@code t} if that is later than its anchor; new and empty when null. */
  public ItemStats at(ItemStats s, String itemId, long t) {
    if (s == null) {
      return new ItemStats(itemId, t, 0.0, 0.0, 0.0, 0.0);
    }
    if (t > s.getAnchorMs()) {
      double f = Decay.factor(s.getAnchorMs(), t, halfLifeMs);
      s.setImpressions(s.getImpressions() * f);
      s.setLikes(s.getLikes() * f);
      s.setSkips(s.getSkips() * f);
      s.setQuickSkips(s.getQuickSkips() * f);
      s.setAnchorMs(t);
    }
    return s;
  }

  /** Adds an answer: a like, or a skip (and a quick skip below the quick-skip threshold). */
  public void answer(ItemStats s, Interaction e) {
    double w = Decay.factor(e.getEventTimeMs(), s.getAnchorMs(), halfLifeMs);
    if (e.getType() == InteractionType.LIKE) {
      s.setLikes(s.getLikes() + w);
    } else {
      s.setSkips(s.getSkips() + w);
      if (e.getWatchTimeMs() < quickSkipMs) {
        s.setQuickSkips(s.getQuickSkips() + w);
      }
    }
  }

  /** Adds one impression served at {@code servedMs}. */
  public void impression(ItemStats s, long servedMs) {
    s.setImpressions(s.getImpressions() + Decay.factor(servedMs, s.getAnchorMs(), halfLifeMs));
  }
}
