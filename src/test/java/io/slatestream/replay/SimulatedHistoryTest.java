package io.slatestream.replay;

import static org.assertj.core.api.Assertions.assertThat;

import io.slatestream.avro.InteractionType;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SimulatedHistoryTest {
  @TempDir Path dir;

  private SimulatedHistory.Written simulate(String name, String policy, long seed) throws Exception {
    return SimulatedHistory.run("--output", dir.resolve(name).toString(), "--users", "200", "--items", "150",
        "--rate", "5", "--duration", "20min", "--seed", Long.toString(seed), "--policy", policy);
  }

  @Test
  void writesAHistoryTheReplayReadsCleanlyTheSameForTheSameOptions() throws Exception {
    SimulatedHistory.Written a = simulate("a", "mixed", 3);
    HistoryFiles.History h = HistoryFiles.read(a.interactions(), a.items());
    assertThat(h.problems()).isEmpty();
    assertThat(h.interactions()).hasSize((int) a.interactionCount()).hasSizeGreaterThan(1_000);
    assertThat(h.interactions().stream().filter(i -> i.type() == InteractionType.LIKE).count())
        .isEqualTo(a.likeCount()).isPositive();
    assertThat(h.items()).hasSize((int) a.itemCount());
    assertThat(a.itemCount()).as("the initial catalog and the items published during the 20 minutes")
        .isGreaterThan(150);
    assertThat(h.interactions()).allSatisfy(i -> assertThat(h.items()).containsKey(i.itemId()));

    SimulatedHistory.Written again = simulate("again", "mixed", 3);
    assertThat(Files.readString(again.interactions())).isEqualTo(Files.readString(a.interactions()));
    assertThat(Files.readString(simulate("oracle", "oracle", 3).interactions()))
        .as("users answer what the policy showed them").isNotEqualTo(Files.readString(a.interactions()));
  }
}
