package io.slatestream.model;

import io.slatestream.avro.Label;
import java.util.Locale;

/**
 * Which logged impressions become training rows. The job logs every impression it served: the ones
 * the user answered (LIKE, SKIP, QUICK_SKIP) and, when the label window closes, the rest as
 * NO_ACTION. A user who swipes through a slate answers every item they look at, so NO_ACTION
 * mostly means "never reached", not "did not want": as a negative it teaches the model the
 * position an item was served at (lower slots are reached less often) rather than whether the user
 * likes it, and a model that has learned that ranks worse once every candidate is scored at the
 * same position.
 */
public enum ExampleSelection {
  /** Answered impressions only: LIKE is 1, SKIP and QUICK_SKIP are 0, NO_ACTION is left out. */
  ANSWERED,
  /** Every impression: LIKE is 1, everything else, NO_ACTION included, is 0. */
  ALL;

  /** Whether an impression with this label is a training row. */
  public boolean keeps(Label label) {
    return this == ALL || label != Label.NO_ACTION;
  }

  /** The row's target: 1 for a like, else 0. */
  public static float target(Label label) {
    return label == Label.LIKE ? 1f : 0f;
  }

  /** {@code answered} or {@code all}, as given on a command line. */
  public static ExampleSelection parse(String s) {
    try {
      return valueOf(s.trim().toUpperCase(Locale.ROOT));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("Unknown example selection '" + s + "': answered or all");
    }
  }

  @Override
  public String toString() {
    return name().toLowerCase(Locale.ROOT);
  }
}
