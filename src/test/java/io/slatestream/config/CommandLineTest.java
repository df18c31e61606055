package io.slatestream.config;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.slatestream.config.CommandLine.Arg;
import java.util.Set;
import org.junit.jupiter.api.Test;

class CommandLineTest {

  @Test
  void readsPairsBothWaysInOrderAndFlagsAlone() {
    assertThat(CommandLine.parse(new String[] {"--users", "10", "--publish", "--slate.size=6", "--k", "--x",
        "--jaas=a=b"}, Set.of("publish")))
        .containsExactly(new Arg("users", "10"), new Arg("publish", "true"), new Arg("slate.size", "6"),
            new Arg("k", "--x"), new Arg("jaas", "a=b"));
  }

  @Test
  void aFlagCanBeGivenAValueAndThatValueMustBeABoolean() {
    Arg off = CommandLine.parse(new String[] {"--publish=false"}, Set.of("publish")).get(0);
    assertThat(CommandLine.bool(off)).isFalse();
    assertThat(CommandLine.bool(new Arg("monotone", "true"))).isTrue();
    assertThatThrownBy(() -> CommandLine.bool(new Arg("monotone", "yes")))
        .isInstanceOf(IllegalArgumentException.class).hasMessage("--monotone takes true or false, not 'yes'");
  }

  @Test
  void rejectsWhatIsNotAnOptionAndAnOptionWithoutItsValue() {
    assertThatThrownBy(() -> CommandLine.parse("users", "10"))
        .isInstanceOf(IllegalArgumentException.class).hasMessage("Expected --option value, got 'users'");
    assertThatThrownBy(() -> CommandLine.parse("--"))
        .isInstanceOf(IllegalArgumentException.class).hasMessage("Expected --option value, got '--'");
    assertThatThrownBy(() -> CommandLine.parse("--users", "10", "--items"))
        .isInstanceOf(IllegalArgumentException.class).hasMessage("Missing value for '--items'");
    assertThat(CommandLine.parse()).isEmpty();
  }
}
