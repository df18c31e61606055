package io.slatestream.sim;

/**
 * Shape of a simulated world.
 *
 * @param users size of the population
 * @param items size of the catalog at the start
 * @param categories item categories
 * @param creators creators; each publishes mostly in one home category
 * @param eventsPerSecond the population's activity is calibrated so that it sends about this many
 *     events (interactions and slate requests) per second of simulated time
 * @param garbageShare extra undecodable or invalid records, as a share of eventsPerSecond
 * @param newItemsPerMinute items published per minute of simulated time after the start
 * @param seed fixes the world and every choice its users make
 */
public record SimSettings(int users, int items, int categories, int creators, double eventsPerSecond,
    double garbageShare, double newItemsPerMinute, long seed) {

  public SimSettings {
    if (users < 1 || items < 1 || categories < 1 || creators < 1) {
      throw new IllegalArgumentException("users, items, categories and creators must be positive: " + this);
    }
    if (eventsPerSecond <= 0 || garbageShare < 0 || newItemsPerMinute < 0) {
      throw new IllegalArgumentException("rates must be positive (garbage and new items may be 0): " + this);
    }
  }

  /** Laptop-sized: 5,000 users, 2,000 items, 500 events/s. */
  public static SimSettings defaults() {
    return new SimSettings(5_000, 2_000, 12, 250, 500, 0.005, 20, 42L);
  }

  public SimSettings withUsers(int v) {
    return new SimSettings(v, items, categories, creators, eventsPerSecond, garbageShare, newItemsPerMinute, seed);
  }

  /** A new catalog size; creators and arrivals scale with it (one creator per 8 items, 1 % per minute). */
  public SimSettings withItems(int v) {
    return new SimSettings(users, v, categories, Math.max(10, v / 8), eventsPerSecond, garbageShare,
        Math.max(1, v / 100.0), seed);
  }

  public SimSettings withCategories(int v) {
    return new SimSettings(users, items, v, creators, eventsPerSecond, garbageShare, newItemsPerMinute, seed);
  }

  public SimSettings withCreators(int v) {
    return new SimSettings(users, items, categories, v, eventsPerSecond, garbageShare, newItemsPerMinute, seed);
  }

  public SimSettings withEventsPerSecond(double v) {
    return new SimSettings(users, items, categories, creators, v, garbageShare, newItemsPerMinute, seed);
  }

  public SimSettings withGarbageShare(double v) {
    return new SimSettings(users, items, categories, creators, eventsPerSecond, v, newItemsPerMinute, seed);
  }

  public SimSettings withNewItemsPerMinute(double v) {
    return new SimSettings(users, items, categories, creators, eventsPerSecond, garbageShare, v, seed);
  }

  public SimSettings withSeed(long v) {
    return new SimSettings(users, items, categories, creators, eventsPerSecond, garbageShare, newItemsPerMinute, v);
  }
}
