package io.slatestream.features;

/**
 * Exponential decay in event time. A decayed count is a sum of {@code w * 2^(-(t - t_i)/h)} over
 * events {@code (t_i, w)}. Values are stored at an anchor time {@code a} and the anchor only
 * moves forward, so an event that arrives late is added with weight {@code 2^(-(a - t_i)/h)}:
 * exactly what it would have contributed had it arrived in order. The sum is order-independent.
 */
public final class Decay {
  private Decay() {}

  /** Factor that moves a value from time {@code fromMs} to the later or earlier {@code toMs}. */
  public static double factor(long fromMs, long toMs, long halfLifeMs) {
    return Math.pow(2.0, -((double) (toMs - fromMs)) / halfLifeMs);
  }

  /** The value stored at {@code anchorMs}, read at {@code atMs} (never grows when read later). */
  public static double at(double value, long anchorMs, long atMs, long halfLifeMs) {
    return atMs <= anchorMs ? value : value * factor(anchorMs, atMs, halfLifeMs);
  }
}
