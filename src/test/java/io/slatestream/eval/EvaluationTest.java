package io.slatestream.eval;

import static org.assertj.core.api.Assertions.assertThat;

import io.slatestream.config.JobConfig;
import io.slatestream.model.ExampleSelection;
import io.slatestream.model.TrainerConfig;
import io.slatestream.sim.SimSettings;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Test;

/** A small evaluation; asserts orderings that hold whenever the policies and metrics are right. */
class EvaluationTest {

  @Test
  void policiesOrderAsTheirKnowledgeOfTheUsersSays() throws Exception {
    SimSettings sim = SimSettings.defaults().withUsers(200).withItems(400).withEventsPerSecond(30).withSeed(11);
    JobConfig job = JobConfig.of(Map.of("training.label-window", "30 s"));
    Evaluation.Result r = new Evaluation(new Evaluation.Settings(sim, 6 * 60_000, 3 * 60_000, job.slateSize, 0.25,
        job, TrainerConfig.defaults().withMaxRounds(60), ExampleSelection.ANSWERED)).run();
    Map<String, Evaluation.Row> rows =
        r.rows().stream().collect(Collectors.toMap(Evaluation.Row::policy, Function.identity()));

    assertThat(rows.keySet()).containsExactlyInAnyOrderElementsOf(Evaluation.POLICIES);
    rows.values().forEach(row -> {
      assertThat(row.online().impressions()).as(row.policy()).isGreaterThan(500);
      assertThat(row.online().diversity()).as(row.policy()).isGreaterThan(0).isLessThanOrEqualTo(1);
      assertThat(row.online().coverage()).as(row.policy()).isGreaterThan(0).isLessThanOrEqualTo(1);
    });
    assertThat(r.trainRows()).isGreaterThan(1_000);
    assertThat(r.holdoutRows()).isGreaterThan(200);

    // Online: knowing the truth beats chance; chance spreads over the catalog more than one global top.
    assertThat(rows.get("oracle").online().likeRate()).isGreaterThan(rows.get("random").online().likeRate());
    assertThat(rows.get("random").online().coverage()).isGreaterThan(rows.get("popularity").online().coverage());
    // Offline on the same holdout: the true probability ranks likes above non-likes better than noise.
    assertThat(rows.get("oracle").offline().auc()).isGreaterThan(rows.get("random").offline().auc());
    assertThat(rows.get("oracle").offline().ndcg10()).isGreaterThan(rows.get("random").offline().ndcg10());
    // Log loss only for scorers that are probabilities.
    assertThat(rows.get("random").offline().logLoss()).isNaN();
    assertThat(rows.get("gbdt").offline().logLoss()).isPositive();

    // The split: each run's halves bracket its whole population, and serving the model to one half
    // is a run of its own, neither the heuristic's nor the model-for-everyone's.
    Evaluation.Split split = r.split();
    for (Evaluation.Online o : List.of(split.heuristic(), split.modelForHalf(), split.model())) {
      assertThat(o.likeRate()).isBetween(Math.min(o.heldOutLikeRate(), o.treatedLikeRate()),
          Math.max(o.heldOutLikeRate(), o.treatedLikeRate()));
    }
    assertThat(split.heuristic()).isSameAs(rows.get("heuristic").online());
    assertThat(split.model()).isSameAs(rows.get("gbdt").online());
    assertThat(split.modelForHalf().impressions())
        .isNotEqualTo(split.heuristic().impressions()).isNotEqualTo(split.model().impressions());

    String table = Evaluation.markdown(r);
    Evaluation.POLICIES.forEach(p -> assertThat(table).contains("| " + p + " |"));
    assertThat(table).contains("| gbdt for the treated half, heuristic for the other |");
  }
}
