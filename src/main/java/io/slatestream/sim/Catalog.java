package io.slatestream.sim;

import io.slatestream.avro.Item;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * The simulated catalog, in primitive arrays indexed by item number ({@code item-<n>} on the
 * topics). Creators have a home category and a quality of their own; an item's quality is its
 * creator's plus noise of its own, and it is published in the creator's home category most of the
 * time. The initial catalog was published over the 30 days before the start, skewed to recent
 * days; new items arrive during the run at {@link SimSettings#newItemsPerMinute()}.
 *
 * <p>An item's attributes depend only on the seed and its number, so the same seed gives the same
 * catalog whenever an item is published.
 */
public final class Catalog {
  /** Share of a creator's items published outside their home category. */
  static final double OFF_CATEGORY_SHARE = 0.15;
  static final long INITIAL_SPAN_MS = 30L * 24 * 3_600_000;

  private final long seed;
  private final int categories;
  private final int[] creatorCategory;
  private final float[] creatorQuality;
  private final int[][] creatorsByCategory;

  private int size;
  private byte[] category;
  private int[] creator;
  private float[] quality;
  private long[] publishedMs;
  private int[] durationMs;

  Catalog(SimSettings s, long startMs) {
    if (s.categories() > 127) {
      throw new IllegalArgumentException("at most 127 categories, got " + s.categories());
    }
    this.seed = s.seed();
    this.categories = s.categories();
    this.creatorCategory = new int[s.creators()];
    this.creatorQuality = new float[s.creators()];
    int[] perCategory = new int[categories];
    for (int c = 0; c < s.creators(); c++) {
      SplittableRandom r = SimRandom.of(seed, SimRandom.CREATOR, c);
      creatorCategory[c] = c % categories;
      creatorQuality[c] = (float) SimRandom.gaussian(r);
      perCategory[creatorCategory[c]]++;
    }
    creatorsByCategory = new int[categories][];
    for (int k = 0; k < categories; k++) {
      creatorsByCategory[k] = new int[perCategory[k]];
      perCategory[k] = 0;
    }
    for (int c = 0; c < s.creators(); c++) {
      int k = creatorCategory[c];
      creatorsByCategory[k][perCategory[k]++] = c;
    }
    int capacity = Math.max(16, s.items() + s.items() / 8);
    category = new byte[capacity];
    creator = new int[capacity];
    quality = new float[capacity];
    publishedMs = new long[capacity];
    durationMs = new int[capacity];
    for (int i = 0; i < s.items(); i++) {
      SplittableRandom r = SimRandom.of(seed, SimRandom.ARRIVAL, i);
      double u = r.nextDouble();
      add(startMs - (long) (INITIAL_SPAN_MS * u * u * u));
    }
  }

  /** Publishes the next item at {@code atMs}; returns its number. */
  int add(long atMs) {
    if (size == category.length) {
      int n = size + size / 2;
      category = Arrays.copyOf(category, n);
      creator = Arrays.copyOf(creator, n);
      quality = Arrays.copyOf(quality, n);
      publishedMs = Arrays.copyOf(publishedMs, n);
      durationMs = Arrays.copyOf(durationMs, n);
    }
    int i = size++;
    SplittableRandom r = SimRandom.of(seed, SimRandom.ITEM, i);
    int c = r.nextInt(creatorCategory.length);
    creator[i] = c;
    category[i] = (byte) (r.nextDouble() < OFF_CATEGORY_SHARE ? r.nextInt(categories) : creatorCategory[c]);
    quality[i] = (float) (0.7 * creatorQuality[c] + 0.7 * SimRandom.gaussian(r));
    durationMs[i] = 10_000 + r.nextInt(170_000);
    publishedMs[i] = atMs;
    return i;
  }

  public int size() {
    return size;
  }

  public int categories() {
    return categories;
  }

  public int creators() {
    return creatorCategory.length;
  }

  public int category(int item) {
    return category[item];
  }

  public int creator(int item) {
    return creator[item];
  }

  /** Intrinsic quality (standard-normal scale): how likeable the item is to anyone. */
  public float quality(int item) {
    return quality[item];
  }

  public long publishedMs(int item) {
    return publishedMs[item];
  }

  public int durationMs(int item) {
    return durationMs[item];
  }

  public float creatorQuality(int creator) {
    return creatorQuality[creator];
  }

  int creatorCategory(int creator) {
    return creatorCategory[creator];
  }

  int[] creatorsIn(int category) {
    return creatorsByCategory[category];
  }

  public Item toItem(int item) {
    return Item.newBuilder()
        .setItemId(itemId(item))
        .setCategory(categoryName(category[item]))
        .setCreatorId("creator-" + creator[item])
        .setDurationMs(durationMs[item])
        .setPublishedTimeMs(publishedMs[item])
        .setTags(List.of())
        .build();
  }

  public static String categoryName(int category) {
    return "cat-" + category;
  }

  public static String itemId(int item) {
    return "item-" + item;
  }

  /** The number of an {@code item-<n>} id, or -1 for anything else. */
  public static int parseItemId(String id) {
    return parseSuffix(id, "item-");
  }

  static int parseSuffix(String id, String prefix) {
    if (id == null || !id.startsWith(prefix) || id.length() == prefix.length() || id.length() > prefix.length() + 9) {
      return -1;
    }
    int n = 0;
    for (int i = prefix.length(); i < id.length(); i++) {
      char ch = id.charAt(i);
      if (ch < '0' || ch > '9') {
        return -1;
      }
      n = n * 10 + (ch - '0');
    }
    return n;
  }
}
