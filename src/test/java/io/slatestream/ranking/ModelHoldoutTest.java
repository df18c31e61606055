package io.slatestream.ranking;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

class ModelHoldoutTest {

  @Test
  void holdsOutTheConfiguredShareOfUsers() {
    ModelHoldout half = new ModelHoldout(0.5);
    ModelHoldout tenth = new ModelHoldout(0.1);
    long heldHalf = IntStream.range(0, 20_000).filter(i -> half.holdsOut("u" + i)).count();
    long heldTenth = IntStream.range(0, 20_000).filter(i -> tenth.holdsOut("u" + i)).count();
    // Binomial(20,000, p): four standard deviations are about 280 and 170.
    assertThat(heldHalf).isBetween(10_000L - 280, 10_000L + 280);
    assertThat(heldTenth).isBetween(2_000L - 170, 2_000L + 170);
    // Nested: a user held out at 10 % is held out at 50 % too, so raising the share only adds users.
    IntStream.range(0, 20_000).filter(i -> tenth.holdsOut("u" + i))
        .forEach(i -> assertThat(half.holdsOut("u" + i)).isTrue());
  }

  @Test
  void aShareOfZeroHoldsOutNobodyAndTheGroupIsFixedByTheId() {
    ModelHoldout none = new ModelHoldout(0.0);
    assertThat(IntStream.range(0, 1_000).noneMatch(i -> none.holdsOut("u" + i))).isTrue();
    // Same id, same group, from another instance (another subtask, after a restart).
    ModelHoldout a = new ModelHoldout(0.3);
    ModelHoldout b = new ModelHoldout(0.3);
    IntStream.range(0, 1_000).forEach(i -> assertThat(a.holdsOut("u" + i)).isEqualTo(b.holdsOut("u" + i)));
    assertThatThrownBy(() -> new ModelHoldout(1.0)).isInstanceOf(IllegalArgumentException.class);
  }
}
