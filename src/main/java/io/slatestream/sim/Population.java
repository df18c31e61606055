package io.slatestream.sim;

import java.util.SplittableRandom;

/**
 * The simulated users, in primitive arrays indexed by user number ({@code user-<n>} on the topics):
 * latent preferences (per category, and a few favourite creators), an activity level and a time
 * zone for their daily rhythm, and fatigue per category, which rises with every item of that
 * category they watch and decays with {@link #FATIGUE_HALF_LIFE_MS}. A user's traits depend only on
 * the seed and their number.
 */
public final class Population {
  /** Favourite creators per user. */
  static final int FAVOURITE_CREATORS = 4;
  static final long FATIGUE_HALF_LIFE_MS = 15 * 60_000L;

  private final int users;
  private final int categories;
  private final float[] categoryPreference;
  private final int[] favouriteCreator;
  private final float[] favouriteCreatorWeight;
  private final float[] activity;
  private final float[] timeZoneHours;
  private final byte[] device;
  private final float[] fatigue;
  private final long[] fatigueAtMs;

  Population(SimSettings s, Catalog catalog) {
    this.users = s.users();
    this.categories = s.categories();
    categoryPreference = new float[users * categories];
    favouriteCreator = new int[users * FAVOURITE_CREATORS];
    favouriteCreatorWeight = new float[users * FAVOURITE_CREATORS];
    activity = new float[users];
    timeZoneHours = new float[users];
    device = new byte[users];
    fatigue = new float[users * categories];
    fatigueAtMs = new long[users];
    for (int u = 0; u < users; u++) {
      SplittableRandom r = SimRandom.of(s.seed(), SimRandom.USER, u);
      int base = u * categories;
      for (int c = 0; c < categories; c++) {
        categoryPreference[base + c] = (float) Math.max(-1.0, Math.min(0.2, -0.4 + 0.25 * SimRandom.gaussian(r)));
      }
      // Two favourite categories, sometimes a third, milder one.
      int first = r.nextInt(categories);
      int second = categories == 1 ? first : (first + 1 + r.nextInt(categories - 1)) % categories;
      categoryPreference[base + first] = (float) (0.6 + 0.4 * r.nextDouble());
      categoryPreference[base + second] = (float) (0.6 + 0.4 * r.nextDouble());
      if (r.nextBoolean()) {
        int third = r.nextInt(categories);
        if (third != first && third != second) {
          categoryPreference[base + third] = (float) (0.3 + 0.3 * r.nextDouble());
        }
      }
      for (int k = 0; k < FAVOURITE_CREATORS; k++) {
        int[] pool = catalog.creatorsIn(k % 2 == 0 ? first : second);
        int creator = pool.length > 0 ? pool[r.nextInt(pool.length)] : r.nextInt(catalog.creators());
        favouriteCreator[u * FAVOURITE_CREATORS + k] = creator;
        favouriteCreatorWeight[u * FAVOURITE_CREATORS + k] = (float) (0.5 + 0.5 * r.nextDouble());
      }
      double sigma = 0.8; // log-normal activity with mean 1: a few heavy users, many light ones
      activity[u] = (float) Math.exp(sigma * SimRandom.gaussian(r) - sigma * sigma / 2);
      timeZoneHours[u] = (float) (24 * r.nextDouble());
      device[u] = (byte) r.nextInt(3);
    }
  }

  public int size() {
    return users;
  }

  /** Latent preference for a category, in [-1, 1]. */
  public float categoryPreference(int user, int category) {
    return categoryPreference[user * categories + category];
  }

  /** Latent preference for a creator: in [0.5, 1] for the user's favourites, else 0. */
  public float creatorPreference(int user, int creator) {
    int base = user * FAVOURITE_CREATORS;
    float best = 0f;
    for (int k = 0; k < FAVOURITE_CREATORS; k++) {
      if (favouriteCreator[base + k] == creator) {
        best = Math.max(best, favouriteCreatorWeight[base + k]);
      }
    }
    return best;
  }

  /** Relative activity: sessions per day compared with the average user (mean 1). */
  public float activity(int user) {
    return activity[user];
  }

  /** Offset of the user's local time from the simulated clock, hours. */
  public float timeZoneHours(int user) {
    return timeZoneHours[user];
  }

  public String device(int user) {
    return switch (device[user]) {
      case 0 -> "android";
      case 1 -> "ios";
      default -> "web";
    };
  }

  /** Fatigue of the user for a category at {@code atMs}: recent items of it watched, decayed. */
  public float fatigue(int user, int category, long atMs) {
    float f = fatigue[user * categories + category];
    if (f == 0f) {
      return 0f;
    }
    long dt = atMs - fatigueAtMs[user];
    return dt <= 0 ? f : (float) (f * Math.pow(0.5, (double) dt / FATIGUE_HALF_LIFE_MS));
  }

  /** The user watched an item of {@code category} at {@code atMs}. */
  void tire(int user, int category, long atMs) {
    int base = user * categories;
    long dt = atMs - fatigueAtMs[user];
    if (dt > 0) {
      float factor = (float) Math.pow(0.5, (double) dt / FATIGUE_HALF_LIFE_MS);
      for (int c = 0; c < categories; c++) {
        fatigue[base + c] *= factor;
      }
      fatigueAtMs[user] = atMs;
    }
    fatigue[base + category] += 1f;
  }

  public static String userId(int user) {
    return "user-" + user;
  }

  /** The number of a {@code user-<n>} id, or -1 for anything else. */
  public static int parseUserId(String id) {
    return Catalog.parseSuffix(id, "user-");
  }
}
