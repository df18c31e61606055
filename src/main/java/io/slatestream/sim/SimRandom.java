package io.slatestream.sim;

import java.util.SplittableRandom;

/**
 * Counter-based randomness: every draw of the simulator comes from a generator seeded by the run's
 * seed, a stream (what is being drawn) and an index (which item, user or step). A user's choices
 * therefore depend only on the seed, their own history and the slates served to them, never on how
 * their events interleave with other users' in wall-clock time.
 */
final class SimRandom {
  static final long ITEM = 1;
  static final long CREATOR = 2;
  static final long USER = 3;
  static final long STEP = 4;
  static final long GARBAGE = 5;
  static final long ARRIVAL = 6;

  private SimRandom() {}

  static SplittableRandom of(long seed, long stream, long index) {
    return new SplittableRandom(mix(mix(seed ^ (stream * 0x9E3779B97F4A7C15L)) + index));
  }

  static SplittableRandom of(long seed, long stream, long index, long step) {
    return new SplittableRandom(mix(mix(mix(seed ^ (stream * 0x9E3779B97F4A7C15L)) + index) + step));
  }

  /** SplitMix64's finalizer: a bijective, well-mixing map of 64-bit values. */
  static long mix(long z) {
    z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
    z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
    return z ^ (z >>> 31);
  }

  static double gaussian(SplittableRandom r) {
    double u1 = 1.0 - r.nextDouble();
    double u2 = r.nextDouble();
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }

  static double exponential(SplittableRandom r, double mean) {
    return -Math.log(1.0 - r.nextDouble()) * mean;
  }
}
