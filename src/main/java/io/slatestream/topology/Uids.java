package io.slatestream.topology;

/**
 * Stable operator ids. State in savepoints is matched to operators by these strings: never change
 * one of them, and reuse them (as the savepoint tooling does) rather than retyping them.
 */
public final class Uids {
  private Uids() {}

  public static final String SOURCE_INTERACTIONS = "source-interactions";
  public static final String SOURCE_ITEMS = "source-items";
  public static final String SOURCE_SLATE_REQUESTS = "source-slate-requests";
  public static final String SOURCE_MODEL_RELEASES = "source-model-releases";
  public static final String SPLIT_MODEL_RELEASES = "split-model-releases";
  public static final String SPLIT_INTERACTIONS = "split-interactions";
  public static final String SPLIT_ITEMS = "split-items";
  public static final String SPLIT_SLATE_REQUESTS = "split-slate-requests";
  /** The job's own served slates, read back from the recommendations topic (a feedback loop). */
  public static final String SOURCE_SERVED_SLATES = "source-served-slates";
  public static final String SPLIT_SERVED_SLATES = "split-served-slates";
  public static final String SERVED_ITEMS = "served-items";
  public static final String ITEM_STATS = "item-stats";
  public static final String RANKER = "ranker";
  /** Stateless: keeps item statistics from holding back the ranker's event time. */
  public static final String STATS_EVENT_TIME = "stats-event-time";
  public static final String SINK_RECOMMENDATIONS = "sink-recommendations";
  public static final String SINK_DEAD_LETTERS = "sink-dead-letters";
  public static final String SINK_TRAINING_EXAMPLES = "sink-training-examples";
}
