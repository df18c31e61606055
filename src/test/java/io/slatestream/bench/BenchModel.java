package io.slatestream.bench;

import io.slatestream.avro.ModelRelease;
import io.slatestream.avro.TrainingExample;
import io.slatestream.config.JobConfig;
import io.slatestream.features.FeatureVectorBuilder;
import io.slatestream.model.ExampleSelection;
import io.slatestream.model.ModelTrainer;
import io.slatestream.model.TrainerConfig;
import io.slatestream.model.TrainingResult;
import io.slatestream.train.TrainCommand;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * The model a benchmark serves once the heuristic has logged for a while: the project's trainer at
 * its default settings (time split, early stopping) on the answered impressions of the examples
 * the run logged. Unlike {@code train}, slates of the last label window are kept: a benchmark's
 * warm-up is shorter than one, and a NO_ACTION row, which that rule guards against, is no training
 * row here. Its trees are what its scoring costs, so the summary names them.
 */
final class BenchModel {
  record Trained(ModelRelease release, String summary) {}

  private BenchModel() {}

  static Trained train(JobConfig config, List<TrainingExample> logged, Path dir, String version, long createdMs)
      throws Exception {
    FeatureVectorBuilder vectors = new FeatureVectorBuilder(config);
    List<ModelTrainer.Example> rows = TrainCommand.toRows(logged, ExampleSelection.ANSWERED);
    TrainerConfig settings = TrainerConfig.defaults();
    try (TrainingResult trained = new ModelTrainer(vectors.spec().names(), vectors.spec().id(), settings).train(rows)) {
      String sha = trained.writeModel(dir, version);
      ModelRelease release = new ModelRelease(version,
          dir.toAbsolutePath().resolve(TrainingResult.MODEL_FILE).toUri().toString(), sha, vectors.spec().id(),
          createdMs);
      return new Trained(release, String.format(Locale.ROOT, "%s: %d trees of depth <= %d, trained on %,d answered of"
              + " %,d logged examples, validation AUC %.3f", version, trained.numTrees(), settings.maxDepth(),
          rows.size(), logged.size(), trained.validationMetrics().auc()));
    }
  }
}
