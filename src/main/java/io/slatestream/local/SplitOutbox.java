package io.slatestream.local;

import io.slatestream.avro.Interaction;
import io.slatestream.avro.Item;
import io.slatestream.avro.SlateRequest;
import io.slatestream.ranking.ModelHoldout;
import io.slatestream.sim.Simulator;

/**
 * The simulated users split between two deployments of the job: a user the control-group hash
 * holds out sends their interactions and requests to the control deployment, every other user to
 * the treated one; both receive the whole catalog. Each deployment keeps item statistics from its
 * own users only, so what one arm's ranking teaches about the catalogue does not reach the other:
 * the comparison is free of the interference a shared deployment has. Undecodable records go to
 * the treated deployment (whose dead letters the local run checks).
 */
final class SplitOutbox implements Simulator.Outbox {
  private final Simulator.Outbox treated;
  private final Simulator.Outbox control;
  private final ModelHoldout holdout;

  SplitOutbox(Simulator.Outbox treated, Simulator.Outbox control, ModelHoldout holdout) {
    this.treated = treated;
    this.control = control;
    this.holdout = holdout;
  }

  @Override
  public void item(Item item) {
    treated.item(item);
    control.item(item);
  }

  @Override
  public void interaction(Interaction e) {
    (heldOut(e.getUserId()) ? control : treated).interaction(e);
  }

  @Override
  public void request(SlateRequest r) {
    (heldOut(r.getUserId()) ? control : treated).request(r);
  }

  /** Records without a user (invalid ones, which the job dead-letters) go to the treated deployment. */
  private boolean heldOut(String userId) {
    return userId != null && holdout.holdsOut(userId);
  }

  @Override
  public void raw(String key, byte[] value) {
    treated.raw(key, value);
  }
}
