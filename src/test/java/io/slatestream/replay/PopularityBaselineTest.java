package io.slatestream.replay;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class PopularityBaselineTest {

  @Test
  void mostLikedFirstTiesByIdOnlyLikedItems() {
    PopularityBaseline p = new PopularityBaseline(50);
    p.observe("u1", "b", true);
    p.observe("u2", "a", true);
    p.observe("u3", "c", true);
    p.observe("u4", "c", true);
    p.observe("u5", "d", false); // a skip is no like
    assertThat(p.top("someone", 10)).containsExactly("c", "a", "b");
    assertThat(p.top("someone", 2)).containsExactly("c", "a");
    assertThat(p.likes("c")).isEqualTo(2);
    assertThat(p.likes("d")).isZero();
  }

  @Test
  void leavesOutTheItemsOfTheUsersRecentInteractionsAsTheJobDoes() {
    PopularityBaseline p = new PopularityBaseline(2);
    p.observe("x", "a", true);
    p.observe("x", "a", true);
    p.observe("x", "b", true);
    p.observe("x", "c", true);
    p.observe("u", "a", false); // skipped: seen all the same
    p.observe("u", "b", true);
    assertThat(p.seen("u")).containsExactlyInAnyOrder("a", "b");
    assertThat(p.top("u", 10)).containsExactly("c");
    p.observe("u", "d", false); // the third interaction pushes the first ("a") out of the last two
    assertThat(p.seen("u")).containsExactlyInAnyOrder("b", "d");
    assertThat(p.top("u", 10)).containsExactly("a", "c");
  }
}
