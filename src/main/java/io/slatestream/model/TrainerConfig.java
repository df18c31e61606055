package io.slatestream.model;

import java.util.Map;

/**
 * Training settings of {@link ModelTrainer}.
 *
 * @param validationFraction share of the latest rows (by time) held out for validation, in (0, 1)
 * @param maxRounds upper bound on boosting rounds
 * @param earlyStoppingRounds stop when validation log loss has not improved for this many rounds;
 *     0 disables early stopping (all {@code maxRounds} rounds are kept)
 * @param maxDepth tree depth
 * @param eta learning rate
 * @param minChildWeight minimum hessian sum in a leaf
 * @param subsample row sampling per tree, (0, 1]
 * @param colsampleBytree column sampling per tree, (0, 1]
 * @param seed random seed (sampling); with {@code nthread = 1} training is bit-for-bit repeatable
 * @param nthread XGBoost threads for training; 1 keeps runs deterministic
 * @param verbose print XGBoost's per-round evaluation log
 * @param monotone features the model's output may only rise with (+1) or only fall with (-1), by
 *     name; features not named are unconstrained. Names unknown to the trained spec are refused.
 */
public record TrainerConfig(
        double validationFraction,
        int maxRounds,
        int earlyStoppingRounds,
        int maxDepth,
        double eta,
        double minChildWeight,
        double subsample,
        double colsampleBytree,
        long seed,
        int nthread,
        boolean verbose,
        Map<String, Integer> monotone) {

    public TrainerConfig {
        monotone = Map.copyOf(monotone);
        monotone.forEach((name, direction) -> {
            if (direction != -1 && direction != 0 && direction != 1) {
                throw new IllegalArgumentException("monotone direction of " + name + " must be -1, 0 or 1: " + direction);
            }
        });
        if (!(validationFraction > 0 && validationFraction < 1)) {
            throw new IllegalArgumentException("validationFraction must be in (0, 1): " + validationFraction);
        }
        if (maxRounds < 1) {
            throw new IllegalArgumentException("maxRounds must be >= 1: " + maxRounds);
        }
        if (earlyStoppingRounds < 0) {
            throw new IllegalArgumentException("earlyStoppingRounds must be >= 0: " + earlyStoppingRounds);
        }
        if (maxDepth < 1) {
            throw new IllegalArgumentException("maxDepth must be >= 1: " + maxDepth);
        }
        if (!(eta > 0 && eta <= 1)) {
            throw new IllegalArgumentException("eta must be in (0, 1]: " + eta);
        }
        if (!(minChildWeight >= 0)) {
            throw new IllegalArgumentException("minChildWeight must be >= 0: " + minChildWeight);
        }
        if (!(subsample > 0 && subsample <= 1)) {
            throw new IllegalArgumentException("subsample must be in (0, 1]: " + subsample);
        }
        if (!(colsampleBytree > 0 && colsampleBytree <= 1)) {
            throw new IllegalArgumentException("colsampleBytree must be in (0, 1]: " + colsampleBytree);
        }
        if (nthread < 1) {
            throw new IllegalArgumentException("nthread must be >= 1: " + nthread);
        }
    }

    /**
     * Train on the earliest 80 %, validate on the latest 20 %; up to 500 rounds, patience 20; trees
     * of depth 4 with at least 5 of hessian weight per leaf; no monotone constraints.
     *
     * <p>Shallow trees and heavy leaves because the examples come from one serving policy: deep
     * trees fit the corners of what it happened to serve, and a model scores every candidate, most
     * of which that policy never showed. In the evaluation (README, Evaluation) depth 6 with leaves
     * of weight 1 scored candidates worse online than the heuristic whose log it learned from.
     */
    public static TrainerConfig defaults() {
        return new TrainerConfig(0.2, 500, 20, 4, 0.1, 5.0, 1.0, 1.0, 42L, 1, false, Map.of());
    }

    public TrainerConfig withValidationFraction(double v) {
        return new TrainerConfig(v, maxRounds, earlyStoppingRounds, maxDepth, eta, minChildWeight,
                subsample, colsampleBytree, seed, nthread, verbose, monotone);
    }

    public TrainerConfig withMaxRounds(int v) {
        return new TrainerConfig(validationFraction, v, earlyStoppingRounds, maxDepth, eta, minChildWeight,
                subsample, colsampleBytree, seed, nthread, verbose, monotone);
    }

    public TrainerConfig withEarlyStoppingRounds(int v) {
        return new TrainerConfig(validationFraction, maxRounds, v, maxDepth, eta, minChildWeight,
                subsample, colsampleBytree, seed, nthread, verbose, monotone);
    }

    public TrainerConfig withMaxDepth(int v) {
        return new TrainerConfig(validationFraction, maxRounds, earlyStoppingRounds, v, eta, minChildWeight,
                subsample, colsampleBytree, seed, nthread, verbose, monotone);
    }

    public TrainerConfig withEta(double v) {
        return new TrainerConfig(validationFraction, maxRounds, earlyStoppingRounds, maxDepth, v, minChildWeight,
                subsample, colsampleBytree, seed, nthread, verbose, monotone);
    }

    public TrainerConfig withMinChildWeight(double v) {
        return new TrainerConfig(validationFraction, maxRounds, earlyStoppingRounds, maxDepth, eta, v,
                subsample, colsampleBytree, seed, nthread, verbose, monotone);
    }

    public TrainerConfig withSubsample(double v) {
        return new TrainerConfig(validationFraction, maxRounds, earlyStoppingRounds, maxDepth, eta, minChildWeight,
                v, colsampleBytree, seed, nthread, verbose, monotone);
    }

    public TrainerConfig withColsampleBytree(double v) {
        return new TrainerConfig(validationFraction, maxRounds, earlyStoppingRounds, maxDepth, eta, minChildWeight,
                subsample, v, seed, nthread, verbose, monotone);
    }

    public TrainerConfig withSeed(long v) {
        return new TrainerConfig(validationFraction, maxRounds, earlyStoppingRounds, maxDepth, eta, minChildWeight,
                subsample, colsampleBytree, v, nthread, verbose, monotone);
    }

    public TrainerConfig withNthread(int v) {
        return new TrainerConfig(validationFraction, maxRounds, earlyStoppingRounds, maxDepth, eta, minChildWeight,
                subsample, colsampleBytree, seed, v, verbose, monotone);
    }

    public TrainerConfig withVerbose(boolean v) {
        return new TrainerConfig(validationFraction, maxRounds, earlyStoppingRounds, maxDepth, eta, minChildWeight,
                subsample, colsampleBytree, seed, nthread, v, monotone);
    }

    public TrainerConfig withMonotone(Map<String, Integer> v) {
        return new TrainerConfig(validationFraction, maxRounds, earlyStoppingRounds, maxDepth, eta, minChildWeight,
                subsample, colsampleBytree, seed, nthread, verbose, v);
    }
}
