package io.slatestream.replay;

import static org.assertj.core.api.Assertions.assertThat;

import io.slatestream.avro.Interaction;
import io.slatestream.avro.InteractionType;
import io.slatestream.avro.Item;
import io.slatestream.avro.SlateRequest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The lockstep's guarantees, checked at every request against a job that records what it was
 * given: no record at or after the like's time was sent, every interaction of the user before it
 * was sent and passed a barrier, and other users' may lag by at most the staleness bound.
 */
class LockstepTest {

  /** Remembers what was sent and what passed a barrier; checks every request against the history. */
  private static final class CheckingJob implements Lockstep.Job {
    final Timeline timeline;
    final long maxStalenessMs;
    final List<Long> sent = new ArrayList<>();
    final Map<String, List<Long>> sentByUser = new HashMap<>();
    int processed;
    int barriers;
    int itemsSent;
    final List<String> violations = new ArrayList<>();
    final Map<String, Lockstep.Answer> answers = new LinkedHashMap<>();
    final Map<String, Integer> requestsPerUserAndTime = new HashMap<>();

    CheckingJob(Timeline timeline, long maxStalenessMs) {
      this.timeline = timeline;
      this.maxStalenessMs = maxStalenessMs;
    }

    @Override
    public void send(Item item) {
      itemsSent++;
      sent.add(item.getPublishedTimeMs());
    }

    @Override
    public void send(Interaction e) {
      sent.add(e.getEventTimeMs());
      sentByUser.computeIfAbsent(e.getUserId(), u -> new ArrayList<>()).add(e.getEventTimeMs());
    }

    @Override
    public void barrier(long atMs) {
      barriers++;
      if (!sent.isEmpty() && atMs > sent.get(sent.size() - 1)) {
        violations.add("barrier at " + atMs + " is later than the last record fed");
      }
      processed = sent.size();
    }

    @Override
    public void request(SlateRequest r) {
      long t = r.getEventTimeMs() + 1;
      String user = r.getUserId();
      requestsPerUserAndTime.merge(user + "@" + t, 1, Integer::sum);
      for (long s : sent) {
        if (s >= t) {
          violations.add(r.getRequestId() + ": a record at " + s + " was fed before the slate for " + t);
        }
      }
      long ownBefore = timeline.feed().stream().filter(e -> e instanceof Timeline.Event ev
          && ev.source().userId().equals(user) && e.timeMs() < t).count();
      if (sentByUser.getOrDefault(user, List.of()).size() != ownBefore) {
        violations.add(r.getRequestId() + ": " + user + " has " + ownBefore + " interactions before " + t
            + " but " + sentByUser.getOrDefault(user, List.of()).size() + " were fed");
      }
      if (processed != sent.size()) {
        violations.add(r.getRequestId() + ": requested before a barrier covered everything fed");
      }
      long firstUnfed = timeline.feed().size() > sent.size() ? timeline.feed().get(sent.size()).timeMs()
          : Long.MAX_VALUE;
      if (t - firstUnfed > maxStalenessMs) {
        violations.add(r.getRequestId() + ": others' records from " + firstUnfed + " on are missing, "
            + (t - firstUnfed) + " ms before the like");
      }
      if (r.getSlateSize() != 10) {
        violations.add(r.getRequestId() + ": slate size " + r.getSlateSize());
      }
      answers.put(r.getRequestId(), Lockstep.Answer.slate(List.of("x")));
    }

    @Override
    public Map<String, Lockstep.Answer> await(List<String> requestIds) {
      Map<String, Lockstep.Answer> out = new HashMap<>();
      requestIds.forEach(id -> out.put(id, answers.remove(id)));
      return out;
    }
  }

  /** Users in sessions with likes and skips, ties in time included, and items published meanwhile. */
  private static Timeline randomHistory(long seed) {
    SplittableRandom r = new SplittableRandom(seed);
    List<HistoryFiles.Interaction> interactions = new ArrayList<>();
    long line = 2;
    for (int u = 0; u < 30; u++) {
      long t = 1_000_000 + r.nextInt(600_000);
      for (int step = 0; step < 25; step++) {
        t += r.nextInt(4) == 0 ? 0 : r.nextInt(1, 120_000); // a quarter share their instant with the step before
        interactions.add(new HistoryFiles.Interaction(line++, "u" + u, "i" + r.nextInt(40),
            r.nextBoolean() ? InteractionType.LIKE : InteractionType.SKIP, 3_000, t));
      }
    }
    Map<String, HistoryFiles.Item> items = new LinkedHashMap<>();
    for (int i = 0; i < 40; i++) {
      items.put("i" + i, new HistoryFiles.Item(i + 2, "i" + i, "c" + i % 3, null,
          i < 20 ? 1L : 1_000_000L + r.nextInt(2_000_000), 0));
    }
    return Timeline.of(new HistoryFiles.History(interactions, items, List.of()), Duration.ZERO);
  }

  @Test
  void noSlateSeesTheFutureAndEverySlateSeesItsUsersWholePast() throws Exception {
    for (long staleness : new long[] {0, 30_000, 600_000}) {
      Timeline timeline = randomHistory(staleness + 1);
      CheckingJob job = new CheckingJob(timeline, staleness);
      Lockstep.Result result = new Lockstep(timeline, job, new PopularityBaseline(50), 10, staleness).run((a, b, c, d) -> {});
      assertThat(job.violations).as("staleness %d", staleness).isEmpty();
      assertThat(result.evaluations()).hasSize((int) timeline.evaluatedLikes());
      assertThat(result.requests()).isEqualTo(timeline.targets().size());
      assertThat(job.requestsPerUserAndTime.values()).as("one request per target").containsOnly(1);
      assertThat(job.barriers).isPositive().isLessThanOrEqualTo(result.rounds());
      assertThat(result.evaluations()).allSatisfy(e -> assertThat(e.othersMissingMs()).isBetween(0L, staleness));
      if (staleness == 0) {
        assertThat(result.rounds()).as("one round per distinct like instant at most")
            .isLessThanOrEqualTo(timeline.targets().size());
      }
      System.out.printf("staleness %d ms: %d targets in %d rounds%n", staleness, timeline.targets().size(),
          result.rounds());
    }
  }

  @Test
  void theBaselineRanksFromWhatWasFedWhenTheSlateWasRequested() throws Exception {
    // u likes a at 1000, v likes b at 2000 and c at 3000, u likes c at 4000 (target: what did u like next?).
    List<HistoryFiles.Interaction> history = List.of(
        new HistoryFiles.Interaction(2, "u", "a", InteractionType.LIKE, 0, 1_000),
        new HistoryFiles.Interaction(3, "v", "b", InteractionType.LIKE, 0, 2_000),
        new HistoryFiles.Interaction(4, "w", "b", InteractionType.LIKE, 0, 2_500),
        new HistoryFiles.Interaction(5, "v", "c", InteractionType.LIKE, 0, 3_000),
        new HistoryFiles.Interaction(6, "u", "c", InteractionType.LIKE, 0, 4_000),
        new HistoryFiles.Interaction(7, "w", "c", InteractionType.LIKE, 0, 5_000));
    Map<String, HistoryFiles.Item> items = new LinkedHashMap<>();
    for (String id : List.of("a", "b", "c")) {
      items.put(id, new HistoryFiles.Item(2, id, "m", null, 1L, 0));
    }
    Timeline timeline = Timeline.of(new HistoryFiles.History(history, items, List.of()), Duration.ZERO);
    CheckingJob job = new CheckingJob(timeline, 0);
    Lockstep.Result result = new Lockstep(timeline, job, new PopularityBaseline(50), 10, 0).run((a, b, c, d) -> {});
    assertThat(job.violations).isEmpty();
    // Targets: (w, 5000) is the only other user with an earlier interaction; u at 4000.
    Lockstep.Evaluation u = result.evaluations().stream().filter(e -> e.like().userId().equals("u")).findFirst()
        .orElseThrow();
    assertThat(u.baseline()).as("b has 2 likes, c 1, a is u's own").containsExactly("b", "c");
    assertThat(u.reachable()).isTrue();
    assertThat(u.jobSlate()).containsExactly("x");
    Lockstep.Evaluation w = result.evaluations().stream().filter(e -> e.like().userId().equals("w")).findFirst()
        .orElseThrow();
    assertThat(w.baseline()).as("c (2 likes by then) and a; b is w's own").containsExactly("c", "a");
    assertThat(w.reachable()).isTrue();
    assertThat(result.fed()).as("nothing after the last target is fed").isEqualTo(3 + 5);
  }
}
