package io.slatestream.local;

import static org.assertj.core.api.Assertions.assertThat;

import io.slatestream.avro.Interaction;
import io.slatestream.avro.InteractionType;
import io.slatestream.avro.Item;
import io.slatestream.avro.SlateRequest;
import io.slatestream.ranking.ModelHoldout;
import io.slatestream.sim.Simulator;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class SplitOutboxTest {

  /** What one deployment's topics received, as "kind:key". */
  private static final class Recorded implements Simulator.Outbox {
    final List<String> records = new ArrayList<>();

    @Override
    public void item(Item item) {
      records.add("item:" + item.getItemId());
    }

    @Override
    public void interaction(Interaction e) {
      records.add("interaction:" + e.getUserId());
    }

    @Override
    public void request(SlateRequest r) {
      records.add("request:" + r.getUserId());
    }

    @Override
    public void raw(String key, byte[] value) {
      records.add("raw:" + key);
    }
  }

  @Test
  void eachUserGoesToTheDeploymentOfTheirGroupAndTheCatalogToBoth() {
    ModelHoldout holdout = new ModelHoldout(0.5);
    Recorded treated = new Recorded();
    Recorded control = new Recorded();
    SplitOutbox out = new SplitOutbox(treated, control, holdout);

    out.item(Item.newBuilder().setItemId("item-1").setCategory("c").setCreatorId("k").setDurationMs(1)
        .setPublishedTimeMs(1).build());
    List<String> heldOut = new ArrayList<>();
    List<String> served = new ArrayList<>();
    for (int u = 0; u < 200; u++) {
      String user = "user-" + u;
      (holdout.holdsOut(user) ? heldOut : served).add(user);
      out.interaction(Interaction.newBuilder().setEventId("e" + u).setUserId(user).setItemId("item-1")
          .setType(InteractionType.LIKE).setWatchTimeMs(1).setEventTimeMs(1).build());
      out.request(SlateRequest.newBuilder().setRequestId("r" + u).setUserId(user).setSlateSize(0)
          .setEventTimeMs(1).build());
    }
    out.raw("garbage", new byte[] {1});

    assertThat(heldOut).isNotEmpty();
    assertThat(served).isNotEmpty();
    assertThat(control.records).containsExactlyElementsOf(expected(heldOut, false));
    assertThat(treated.records).containsExactlyElementsOf(expected(served, true));
  }

  private static List<String> expected(List<String> users, boolean withGarbage) {
    List<String> out = new ArrayList<>(List.of("item:item-1"));
    users.forEach(u -> out.addAll(List.of("interaction:" + u, "request:" + u)));
    if (withGarbage) {
      out.add("raw:garbage");
    }
    return out;
  }
}
