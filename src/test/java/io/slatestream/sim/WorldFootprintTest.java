package io.slatestream.sim;

import static org.assertj.core.api.Assertions.assertThat;

import java.lang.management.ManagementFactory;
import java.lang.management.MemoryMXBean;
import org.junit.jupiter.api.Test;

/**
 * The demo's largest world, 100,000 users and 50,000 items, is built and its heap footprint
 * printed (measured, not asserted: it depends on the JVM). Every per-user and per-item value is a
 * primitive array entry, so it is a few tens of MiB.
 */
class WorldFootprintTest {

  @Test
  void aWorldOf100kUsersAnd50kItemsIsBuiltAndMeasured() {
    MemoryMXBean memory = ManagementFactory.getMemoryMXBean();
    long before = usedAfterGc(memory);
    long t0 = System.nanoTime();
    SimSettings s = SimSettings.defaults().withUsers(100_000).withItems(50_000);
    World world = new World(s, 1_700_000_000_000L);
    Simulator sim = new Simulator(world, 1_700_000_000_000L, new OfflineServer(world, "none",
        server -> (u, t, n, allowed) -> new int[0], 10), u -> null);
    long built = System.nanoTime() - t0;
    long after = usedAfterGc(memory);
    System.out.printf("world of %,d users x %,d items (%d categories, %,d creators): built in %d ms, "
            + "heap retained %.1f MiB%n", world.population().size(), world.catalog().size(), s.categories(),
        s.creators(), built / 1_000_000, (after - before) / 1048576.0);
    assertThat(world.population().size()).isEqualTo(100_000);
    assertThat(world.catalog().size()).isEqualTo(50_000);
    assertThat(world.catalog().creators()).isEqualTo(6_250);
    assertThat(world.trueLikeProbability(99_999, 49_999, 1_700_000_000_000L)).isBetween(0.0, 1.0);
    assertThat(sim.nextEventMs()).isGreaterThanOrEqualTo(1_700_000_000_000L);
  }

  private static long usedAfterGc(MemoryMXBean memory) {
    for (int i = 0; i < 3; i++) {
      System.gc();
    }
    return memory.getHeapMemoryUsage().getUsed();
  }
}
