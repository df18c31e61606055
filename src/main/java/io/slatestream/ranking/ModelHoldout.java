package io.slatestream.ranking;

import java.io.Serializable;

/**
 * The control group of {@code model.holdout-share}: users the heuristic keeps serving while a model
 * is live, so that the model's effect is measured against the same period rather than against
 * the past. A user's group follows from their id alone, so it is the same on every subtask, after
 * every restart and at any parallelism.
 */
public final class ModelHoldout implements Serializable {
  private static final long serialVersionUID = 1L;

  private final double share;

  public ModelHoldout(double share) {
    if (!(share >= 0 && share < 1)) {
      throw new IllegalArgumentException("holdout share must be in [0, 1): " + share);
    }
    this.share = share;
  }

  /** Whether the heuristic serves this user even when a model is live. */
  public boolean holdsOut(String userId) {
    return share > 0 && unit(userId) < share;
  }

  /** A uniform value in [0, 1) from the user id: String.hashCode (fixed by the JLS), then mixed. */
  static double unit(String userId) {
    long h = userId.hashCode() * 0x9E3779B97F4A7C15L;
    h ^= h >>> 33;
    h *= 0xFF51AFD7ED558CCDL;
    h ^= h >>> 33;
    h *= 0xC4CEB9FE1A85EC53L;
    h ^= h >>> 33;
    return (h >>> 11) * 0x1.0p-53;
  }
}
