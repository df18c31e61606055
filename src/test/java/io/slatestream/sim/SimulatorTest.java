package io.slatestream.sim;

import static org.assertj.core.api.Assertions.assertThat;

import io.slatestream.avro.Interaction;
import io.slatestream.avro.Item;
import io.slatestream.avro.SlateRequest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

class SimulatorTest {
  private static final long T0 = 1_700_000_000_000L;

  private static final SimSettings SMALL = SimSettings.defaults().withUsers(300).withItems(1_500)
      .withEventsPerSecond(20).withGarbageShare(0.02).withNewItemsPerMinute(6).withSeed(7);

  /** Records every record sent, in order, and serves slates with the given server. */
  private static final class Recording implements Simulator.Outbox {
    final List<String> records = new ArrayList<>();
    final OfflineServer server;

    Recording(OfflineServer server) {
      this.server = server;
    }

    @Override
    public void item(Item item) {
      records.add("item " + item);
    }

    @Override
    public void interaction(Interaction e) {
      records.add("interaction " + e);
      server.interaction(e);
    }

    @Override
    public void request(SlateRequest r) {
      records.add("request " + r);
      server.request(r);
    }

    @Override
    public void raw(String key, byte[] value) {
      records.add("raw " + key + " " + Arrays.toString(value));
    }
  }

  private record Run(Simulator sim, List<String> records, List<Simulator.Answer> answers, List<Integer> positions,
      List<Double> likeProbabilities) {
    long likes() {
      return answers.stream().filter(a -> a == Simulator.Answer.LIKE).count();
    }

    double likeRate() {
      return (double) likes() / answers.size();
    }
  }

  private static Run run(SimSettings s, long simulatedMs, Function<World, Function<OfflineServer, OfflineServer.Policy>> policy) {
    World world = new World(s, T0);
    OfflineServer server = new OfflineServer(world, "p", policy.apply(world), 10);
    Recording out = new Recording(server);
    Simulator sim = new Simulator(world, T0, out, server);
    List<Simulator.Answer> answers = new ArrayList<>();
    List<Integer> positions = new ArrayList<>();
    List<Double> probabilities = new ArrayList<>();
    sim.observer((t, u, slate, p, item, a, like) -> {
      answers.add(a);
      positions.add(p);
      probabilities.add(like);
    });
    sim.publishCatalog();
    for (long t = T0; t <= T0 + simulatedMs; t += 1_000) {
      sim.advanceTo(t);
    }
    return new Run(sim, out.records, answers, positions, probabilities);
  }

  private static Function<World, Function<OfflineServer, OfflineServer.Policy>> random(long seed) {
    return w -> server -> OfflineServer.random(w, seed);
  }

  @Test
  void theSameSeedAndTheSameSlatesGiveTheSameStream() {
    Run a = run(SMALL, 600_000, random(1));
    Run b = run(SMALL, 600_000, random(1));
    assertThat(a.records()).hasSizeGreaterThan(10_000).isEqualTo(b.records());
    assertThat(a.records()).anyMatch(r -> r.startsWith("raw ")).anyMatch(r -> r.contains("\"watchTimeMs\": -1"));

    Run otherSeed = run(SMALL.withSeed(8), 600_000, random(1));
    assertThat(otherSeed.records()).isNotEqualTo(a.records());
    Run otherSlates = run(SMALL, 600_000, random(2));
    assertThat(otherSlates.records().subList(0, 1_500)).as("the catalog depends on the seed only")
        .isEqualTo(a.records().subList(0, 1_500));
    assertThat(otherSlates.records()).as("users answer what they were served").isNotEqualTo(a.records());
  }

  @Test
  void activityIsCalibratedToTheEventRateAndNewItemsArrive() {
    Run r = run(SMALL, 1_200_000, random(1));
    Simulator sim = r.sim();
    double perSecond = (sim.interactionsSent.get() + sim.requestsSent.get()) / 1_200.0;
    System.out.printf("target %.0f events/s, simulated %.1f events/s, %d sessions, %.1f steps each%n",
        SMALL.eventsPerSecond(), perSecond, sim.sessionsStarted.get(),
        (sim.interactionsSent.get() + sim.requestsSent.get()) / (double) sim.sessionsStarted.get());
    assertThat(perSecond).isBetween(SMALL.eventsPerSecond() * 0.6, SMALL.eventsPerSecond() * 1.4);
    assertThat(sim.garbageSent.get() / 1_200.0).isBetween(0.2, 0.6); // 2 % of 20/s
    assertThat(sim.itemsPublished.get()).isEqualTo(1_500 + 120); // 6 per minute for 20 minutes
    assertThat(sim.world().catalog().size()).isEqualTo(1_620);
  }

  @Test
  void usersLikeWhatTheTruthSaysTheyLikeAndAnOracleBeatsPopularityAndRandom() {
    Run random = run(SMALL, 900_000, random(1));
    Run popular = run(SMALL, 900_000, w -> OfflineServer::popularity);
    Run oracle = run(SMALL, 900_000, w -> server -> OfflineServer.oracle(w));
    System.out.printf("like rate: random %.3f, popularity %.3f, oracle %.3f%n", random.likeRate(),
        popular.likeRate(), oracle.likeRate());
    // Tastes differ more than quality does: knowing the user is worth far more than knowing the item.
    assertThat(oracle.likeRate()).isGreaterThan(popular.likeRate() + 0.15).isGreaterThan(random.likeRate() + 0.15);

    // Calibration of the simulator itself: answers bucketed by their true like probability are
    // liked about that often.
    int[] n = new int[5];
    int[] liked = new int[5];
    double[] expected = new double[5];
    List<Run> all = List.of(random, oracle);
    for (Run r : all) {
      for (int i = 0; i < r.answers().size(); i++) {
        double p = r.likeProbabilities().get(i);
        int b = Math.min(4, (int) (p * 5));
        n[b]++;
        expected[b] += p;
        liked[b] += r.answers().get(i) == Simulator.Answer.LIKE ? 1 : 0;
      }
    }
    for (int b = 0; b < 5; b++) {
      if (n[b] >= 500) {
        double observed = (double) liked[b] / n[b];
        double mean = expected[b] / n[b];
        assertThat(observed).as("bucket %d (%d answers)", b, n[b]).isCloseTo(mean, org.assertj.core.data.Offset.offset(0.03));
      }
    }
  }

  @Test
  void poorMatchesAreQuickSkippedMoreAndTopPositionsAnsweredMore() {
    Run r = run(SMALL, 900_000, random(1));
    long[] byPosition = new long[10];
    r.positions().forEach(p -> byPosition[p]++);
    assertThat(byPosition[0]).isGreaterThan(byPosition[1]);
    assertThat(byPosition[1]).isGreaterThan(byPosition[3]);
    double quickLow = 0;
    double low = 0;
    double quickHigh = 0;
    double high = 0;
    for (int i = 0; i < r.answers().size(); i++) {
      boolean quick = r.answers().get(i) == Simulator.Answer.QUICK_SKIP;
      if (r.answers().get(i) == Simulator.Answer.LIKE) {
        continue;
      }
      if (r.likeProbabilities().get(i) < 0.1) {
        low++;
        quickLow += quick ? 1 : 0;
      } else if (r.likeProbabilities().get(i) > 0.4) {
        high++;
        quickHigh += quick ? 1 : 0;
      }
    }
    assertThat(quickLow / low).isGreaterThan(quickHigh / high + 0.2);
  }

  @Test
  void fatigueRisesWithSimilarItemsAndDecays() {
    World w = new World(SMALL, T0);
    int user = 3;
    int item = 0;
    int category = w.catalog().category(item);
    double fresh = w.trueLikeProbability(user, item, T0);
    double freshLogit = w.truth().logit(user, item, T0);
    for (int i = 0; i < 5; i++) {
      w.population().tire(user, category, T0);
    }
    double tired = w.trueLikeProbability(user, item, T0);
    double rested = w.trueLikeProbability(user, item, T0 + 2 * 3_600_000L);
    int other = -1;
    for (int i = 0; i < w.catalog().size() && other < 0; i++) {
      if (w.catalog().category(i) != category) {
        other = i;
      }
    }
    assertThat(tired).isLessThan(fresh * 0.8);
    for (int i = 0; i < 50; i++) {
      w.population().tire(user, category, T0);
    }
    double exhausted = w.trueLikeProbability(user, item, T0);
    assertThat(exhausted).as("fatigue is bounded").isLessThan(tired)
        .isGreaterThanOrEqualTo(GroundTruth.sigmoid(freshLogit - GroundTruth.FATIGUE_MAX));
    assertThat(w.population().fatigue(user, category, T0)).isEqualTo(55f);
    assertThat(w.population().fatigue(user, category, T0 + Population.FATIGUE_HALF_LIFE_MS)).isCloseTo(27.5f,
        org.assertj.core.data.Offset.offset(1e-4f));
    assertThat(w.population().fatigue(user, w.catalog().category(other), T0)).isZero();
    // Two hours later fatigue is gone; only the item's freshness has faded meanwhile.
    assertThat(rested).isGreaterThan(tired);
  }

  @Test
  void idsRoundTripAndForeignIdsAreRecognised() {
    assertThat(Catalog.parseItemId(Catalog.itemId(49_999))).isEqualTo(49_999);
    assertThat(Population.parseUserId(Population.userId(99_999))).isEqualTo(99_999);
    assertThat(Catalog.parseItemId("item-")).isEqualTo(-1);
    assertThat(Catalog.parseItemId("item-1x")).isEqualTo(-1);
    assertThat(Catalog.parseItemId("other-1")).isEqualTo(-1);
    assertThat(Catalog.parseItemId(null)).isEqualTo(-1);
  }
}
