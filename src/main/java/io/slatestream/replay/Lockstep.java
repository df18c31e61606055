package io.slatestream.replay;

import io.slatestream.avro.Interaction;
import io.slatestream.avro.InteractionType;
import io.slatestream.avro.Item;
import io.slatestream.avro.SlateRequest;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Feeds a {@link Timeline} to the job in event-time order and asks it for a slate just before each
 * evaluated like, without ever letting the future reach that slate.
 *
 * <p><b>Why lockstep.</b> The job processes records as they arrive, not in event-time order, and
 * requests and interactions come in on different topics: sending the whole history at once would
 * let a slate see interactions after its request, the user's own included. So the replay feeds in
 * rounds and waits for the job between them. One round:
 *
 * <ol>
 *   <li><b>Feed</b> every record before the earliest target not yet answered (a target is a user's
 *       like(s) at one instant {@code t}), catalog items and interactions alike, in time order.
 *   <li><b>Barrier</b>: wait until the job has processed every interaction fed so far ({@link
 *       Job#barrier}).
 *   <li><b>Request</b> a slate at event time {@code t − 1} for every target {@code (u, t)} not yet
 *       requested whose user has no interaction left unfed before {@code t} and with
 *       {@code t} less than {@code maxStaleness} after the first record not yet fed. The earliest
 *       target always qualifies, so every round makes progress.
 *   <li><b>Wait</b> for all those slates. Only then does the next round feed anything at or after
 *       their {@code t}.
 * </ol>
 *
 * Hence, for every slate of a like of user {@code u} at {@code t}: the job has processed all of
 * {@code u}'s own interactions before {@code t}, and no interaction, of anyone, at or after
 * {@code t}; of other users' interactions before {@code t}, those within {@code maxStaleness}
 * before {@code t} may be missing (0 makes every slate see the whole past, at one round per
 * target). The popularity baseline ranks from exactly the interactions fed when the slate was
 * requested.
 */
public final class Lockstep {

  /** The job, as the lockstep drives it. */
  public interface Job {
    void send(Item item);

    void send(Interaction interaction);

    /**
     * Returns once the job has processed every interaction sent before this call, and the records
     * sent so far are in the broker. {@code atMs} is the event time to use for anything the barrier
     * itself sends: never later than what was fed.
     */
    void barrier(long atMs) throws Exception;

    void request(SlateRequest request);

    /** Blocks until every request has its answer. */
    Map<String, Answer> await(List<String> requestIds) throws Exception;
  }

  /** The job's answer to a request: the slate's item ids in rank order, or why it was refused. */
  public record Answer(List<String> items, String refusal) {
    public static Answer slate(List<String> items) {
      return new Answer(List.copyOf(items), null);
    }

    public static Answer refused(String reason) {
      return new Answer(List.of(), reason);
    }
  }

  /**
   * One evaluated like.
   *
   * @param jobSlate the job's slate for the target, or empty if refused
   * @param baseline the popularity baseline's list for the target
   * @param reachable whether any ranker could have listed the item: it was in the catalog and not
   *     among the user's last {@code features.recent-items} interactions
   * @param othersMissingMs how far before {@code t} other users' interactions may be missing from
   *     the slate (0: everything before {@code t} was fed)
   * @param seenInJobSlate items of the job's slate among the user's last {@code features.recent-items}
   *     interactions: the job never serves those, so anything but 0 means it had not processed the
   *     user's history when it ranked (a check of the barrier, reported)
   */
  public record Evaluation(Timeline.Target target, HistoryFiles.Interaction like, List<String> jobSlate,
      List<String> baseline, boolean reachable, long othersMissingMs, int seenInJobSlate, String refusal) {}

  /** Progress, for the console. */
  public interface Progress {
    void round(int round, int fed, int answered, long frontierMs);
  }

  /** What a run did besides the evaluations. */
  public record Result(List<Evaluation> evaluations, int fed, int rounds, int barriers, long requests) {}

  private final Timeline timeline;
  private final Job job;
  private final PopularityBaseline baseline;
  private final int k;
  private final long maxStalenessMs;

  public Lockstep(Timeline timeline, Job job, PopularityBaseline baseline, int k, long maxStalenessMs) {
    if (k < 1) {
      throw new IllegalArgumentException("k must be >= 1, was " + k);
    }
    if (maxStalenessMs < 0) {
      throw new IllegalArgumentException("maxStaleness must be >= 0, was " + maxStalenessMs);
    }
    this.timeline = timeline;
    this.job = job;
    this.baseline = baseline;
    this.k = k;
    this.maxStalenessMs = maxStalenessMs;
  }

  public Result run(Progress progress) throws Exception {
    List<Timeline.Entry> feed = timeline.feed();
    List<Timeline.Target> targets = timeline.targets();
    boolean[] requested = new boolean[targets.size()];
    Set<String> inCatalog = new HashSet<>();
    List<Evaluation> evaluations = new ArrayList<>();
    int fed = 0;
    int processed = 0;
    int firstOpen = 0;
    int rounds = 0;
    int barriers = 0;
    long requests = 0;
    long lastFedMs = feed.isEmpty() ? 0 : feed.get(0).timeMs();
    // Records after the last target are not fed: no slate could see them.
    while (firstOpen < targets.size()) {
      rounds++;
      long limit = firstOpen < targets.size() ? targets.get(firstOpen).timeMs() : Long.MAX_VALUE;
      while (fed < feed.size() && feed.get(fed).timeMs() < limit) {
        Timeline.Entry e = feed.get(fed++);
        lastFedMs = e.timeMs();
        if (e instanceof Timeline.CatalogRecord c) {
          inCatalog.add(c.item().getItemId());
          job.send(c.item());
        } else {
          Timeline.Event ev = (Timeline.Event) e;
          job.send(ev.interaction());
          baseline.observe(ev.source().userId(), ev.source().itemId(), ev.source().type() == InteractionType.LIKE);
        }
      }
      if (processed < fed) {
        job.barrier(lastFedMs);
        barriers++;
        processed = fed;
      }
      long frontier = fed < feed.size() ? feed.get(fed).timeMs() : Long.MAX_VALUE;
      Map<String, Timeline.Target> asked = new LinkedHashMap<>();
      Map<String, List<String>> baselines = new LinkedHashMap<>();
      Map<String, Long> missing = new LinkedHashMap<>();
      for (int i = firstOpen; i < targets.size(); i++) {
        Timeline.Target t = targets.get(i);
        long othersMissingMs = Math.max(0, t.timeMs() - frontier);
        if (othersMissingMs > maxStalenessMs) {
          break;
        }
        if (requested[i] || t.lastOwnBefore() >= fed) {
          continue;
        }
        requested[i] = true;
        String id = "replay-" + t.index();
        job.request(SlateRequest.newBuilder()
            .setRequestId(id)
            .setUserId(t.userId())
            .setSlateSize(k)
            .setEventTimeMs(t.timeMs() - 1)
            .build());
        requests++;
        asked.put(id, t);
        baselines.put(id, baseline.top(t.userId(), k));
        missing.put(id, othersMissingMs);
      }
      Map<String, Answer> answers = job.await(new ArrayList<>(asked.keySet()));
      for (Map.Entry<String, Timeline.Target> a : asked.entrySet()) {
        Timeline.Target t = a.getValue();
        Answer answer = answers.get(a.getKey());
        Set<String> seen = baseline.seen(t.userId());
        int seenInSlate = (int) answer.items().stream().filter(seen::contains).count();
        for (HistoryFiles.Interaction like : t.likes()) {
          boolean reachable = inCatalog.contains(like.itemId()) && !seen.contains(like.itemId());
          evaluations.add(new Evaluation(t, like, answer.items(), baselines.get(a.getKey()), reachable,
              missing.get(a.getKey()), seenInSlate, answer.refusal()));
        }
      }
      while (firstOpen < targets.size() && requested[firstOpen]) {
        firstOpen++;
      }
      progress.round(rounds, fed, evaluations.size(), lastFedMs);
    }
    return new Result(evaluations, fed, rounds, barriers, requests);
  }
}
