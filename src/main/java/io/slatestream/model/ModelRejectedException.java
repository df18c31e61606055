package io.slatestream.model;

import java.util.Objects;

/**
 * A model (release) that must not serve. The message is the human-readable reason, meant for the
 * log line and the dead-letter record; {@link #kind()} is meant for metrics (one counter per kind).
 */
public final class ModelRejectedException extends Exception {

    private static final long serialVersionUID = 1L;

    /** Why a model was refused. */
    public enum Kind {
        /** The release record itself is incomplete (blank version, URI or checksum, ...). */
        INVALID_RELEASE,
        /** The release was built for another feature spec than the one this job computes. */
        FEATURE_SPEC_MISMATCH,
        /** The model file is missing, unreadable, too large, or its file system is unavailable. */
        UNREADABLE,
        /** The file's sha256 differs from the release's checksum. */
        CHECKSUM_MISMATCH,
        /** The bytes do not parse as an XGBoost model. */
        CORRUPT,
        /** The model expects a different number of features than the job provides. */
        FEATURE_COUNT_MISMATCH,
        /** The model does not output probabilities (objective other than binary:logistic). */
        UNSUPPORTED_OBJECTIVE,
        /** The smoke prediction failed or returned something that is not a probability. */
        SMOKE_TEST_FAILED
    }

    private final Kind kind;

    public ModelRejectedException(Kind kind, String reason) {
        super(reason);
        this.kind = Objects.requireNonNull(kind, "kind");
    }

    public ModelRejectedException(Kind kind, String reason, Throwable cause) {
        super(reason, cause);
        this.kind = Objects.requireNonNull(kind, "kind");
    }

    public Kind kind() {
        return kind;
    }

    /** The human-readable reason, e.g. {@code "checksum mismatch: expected ab12…, file has cd34…"}. */
    public String reason() {
        return getMessage();
    }
}
