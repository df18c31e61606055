package io.slatestream.sim;

/**
 * A slate as a simulated user reads it: its id (answers carry it, so training labels join), the
 * items by number in rank order (-1 for an id the simulator does not know), the model that ranked
 * it, and where known the candidate source of each item (else null).
 */
public record ServedSlate(String slateId, int[] items, String modelVersion, String[] sources) {

  public ServedSlate(String slateId, int[] items, String modelVersion) {
    this(slateId, items, modelVersion, null);
  }

  /** The candidate source of the item at {@code position}, or "unknown". */
  public String source(int position) {
    return sources == null || position >= sources.length ? "unknown" : sources[position];
  }
}
