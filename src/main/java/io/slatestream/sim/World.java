package io.slatestream.sim;

/**
 * A simulated world with known ground truth: the {@link Catalog}, the {@link Population} and how
 * its users answer what they are shown ({@link GroundTruth}). Built entirely from the seed.
 */
public final class World {
  private final SimSettings settings;
  private final Catalog catalog;
  private final Population population;
  private final GroundTruth truth;

  public World(SimSettings settings, long startMs) {
    this.settings = settings;
    this.catalog = new Catalog(settings, startMs);
    this.population = new Population(settings, catalog);
    this.truth = new GroundTruth(catalog, population);
  }

  public SimSettings settings() {
    return settings;
  }

  public Catalog catalog() {
    return catalog;
  }

  public Population population() {
    return population;
  }

  public GroundTruth truth() {
    return truth;
  }

  /**
   * The true probability that {@code user} likes {@code item} if they examine it at {@code atMs},
   * with their fatigue at that moment: what an oracle ranks by.
   */
  public double trueLikeProbability(int user, int item, long atMs) {
    return truth.likeProbability(user, item, atMs);
  }
}
