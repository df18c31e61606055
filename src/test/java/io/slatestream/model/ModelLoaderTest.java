package io.slatestream.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.slatestream.avro.ModelRelease;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import ml.dmlc.xgboost4j.java.Booster;
import ml.dmlc.xgboost4j.java.XGBoostError;
import org.assertj.core.api.AbstractThrowableAssert;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ModelLoaderTest {

    private static final int WIDTH = 6;
    private static final String SPEC = "spec-v1-abc";
    private static Booster booster;
    private static byte[] modelBytes;

    @TempDir
    Path dir;

    @BeforeAll
    static void train() throws XGBoostError {
        booster = SyntheticData.referenceBooster(15, 4, WIDTH, 1_500, 21L);
        modelBytes = booster.toByteArray("ubj");
    }

    @AfterAll
    static void dispose() {
        booster.dispose();
    }

    private final ModelLoader loader = new ModelLoader(SPEC, WIDTH);

    @Test
    void loadsAVerifiedModelThroughFlinkFileSystems() throws Exception {
        Path file = write("model.ubj", modelBytes);
        ModelRelease release = release("v7", file.toUri().toString(), ModelLoader.sha256Hex(modelBytes), SPEC);
        assertThat(release.getModelUri()).startsWith("file:/");
        float[] rows = SyntheticData.rows(4, WIDTH, 1L, 0.0);
        try (GbdtModel model = loader.load(release)) {
            assertThat(model.version()).isEqualTo("v7");
            assertThat(model.featureSpecId()).isEqualTo(SPEC);
            float[][] expected = GbdtModelTest.predict(booster, rows, 4);
            float[] scores = model.score(rows, 4);
            for (int i = 0; i < 4; i++) {
                assertThat(scores[i]).isEqualTo(expected[i][0]);
            }
        }
    }

    @Test
    void acceptsAPlainPathAndAnUpperCaseChecksum() throws Exception {
        Path file = write("model.ubj", modelBytes);
        String upper = ModelLoader.sha256Hex(modelBytes).toUpperCase(Locale.ROOT);
        try (GbdtModel model = loader.load(release("v1", file.toString(), upper, SPEC))) {
            assertThat(model.numTrees()).isEqualTo(15);
        }
    }

    @Test
    void checksumIsTheLowerCaseHexSha256OfTheFile() throws Exception {
        Path file = write("model.ubj", modelBytes);
        String sha = ModelLoader.sha256Hex(Files.readAllBytes(file));
        assertThat(sha).matches("[0-9a-f]{64}");
        // Known vector: sha256("abc")
        assertThat(ModelLoader.sha256Hex("abc".getBytes(StandardCharsets.US_ASCII)))
                .isEqualTo("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    @Test
    void rejectsAMissingFile() {
        String uri = dir.resolve("nope/model.ubj").toUri().toString();
        assertRejected(release("v2", uri, ModelLoader.sha256Hex(modelBytes), SPEC),
                ModelRejectedException.Kind.UNREADABLE)
                .hasMessage("cannot read model file " + uri + ": file not found");
    }

    @Test
    void rejectsADirectory() {
        String uri = dir.toUri().toString();
        assertRejected(release("v2", uri, ModelLoader.sha256Hex(modelBytes), SPEC),
                ModelRejectedException.Kind.UNREADABLE)
                .hasMessage("cannot read model file " + uri + ": it is a directory");
    }

    @Test
    void rejectsAFileSystemThatIsNotAvailable() {
        String uri = "nosuchfs://bucket/models/v2/model.ubj";
        assertRejected(release("v2", uri, ModelLoader.sha256Hex(modelBytes), SPEC),
                ModelRejectedException.Kind.UNREADABLE)
                .hasMessageStartingWith("cannot read model file " + uri + ": ")
                .hasMessageContaining("nosuchfs");
    }

    @Test
    void rejectsAFileLargerThanTheLimit() throws Exception {
        Path file = write("model.ubj", modelBytes);
        ModelLoader small = new ModelLoader(SPEC, WIDTH, 1024);
        assertThatThrownBy(() -> small.load(release("v2", file.toUri().toString(), ModelLoader.sha256Hex(modelBytes), SPEC)))
                .isInstanceOfSatisfying(ModelRejectedException.class,
                        e -> assertThat(e.kind()).isEqualTo(ModelRejectedException.Kind.UNREADABLE))
                .hasMessageContaining("file has " + modelBytes.length + " bytes, limit is 1024");
    }

    @Test
    void rejectsAChecksumMismatch() throws Exception {
        Path file = write("model.ubj", modelBytes);
        String wrong = ModelLoader.sha256Hex("another model".getBytes(StandardCharsets.UTF_8));
        assertRejected(release("v3", file.toUri().toString(), wrong, SPEC), ModelRejectedException.Kind.CHECKSUM_MISMATCH)
                .hasMessage("checksum mismatch: expected " + wrong + ", file has " + ModelLoader.sha256Hex(modelBytes));
    }

    @Test
    void rejectsAFileChangedAfterRelease() throws Exception {
        byte[] changed = modelBytes.clone();
        changed[changed.length / 2] ^= 0x01;
        Path file = write("model.ubj", changed);
        assertRejected(release("v3", file.toUri().toString(), ModelLoader.sha256Hex(modelBytes), SPEC),
                ModelRejectedException.Kind.CHECKSUM_MISMATCH);
    }

    @Test
    void rejectsAnotherFeatureSpec() throws Exception {
        Path file = write("model.ubj", modelBytes);
        assertRejected(release("v4", file.toUri().toString(), ModelLoader.sha256Hex(modelBytes), "spec-v0-old"),
                ModelRejectedException.Kind.FEATURE_SPEC_MISMATCH)
                .hasMessage("feature spec mismatch: model 'spec-v0-old', job '" + SPEC + "'");
    }

    @Test
    void rejectsCorruptBytesWhoseChecksumMatches() throws Exception {
        byte[] garbage = "{\"learner\": this is not a model".getBytes(StandardCharsets.UTF_8);
        Path file = write("model.ubj", garbage);
        assertRejected(release("v5", file.toUri().toString(), ModelLoader.sha256Hex(garbage), SPEC),
                ModelRejectedException.Kind.CORRUPT)
                .hasMessageStartingWith("corrupt model: ")
                .hasMessageNotContaining("\n");
    }

    @Test
    void rejectsATruncatedModel() throws Exception {
        byte[] truncated = Arrays.copyOf(modelBytes, modelBytes.length - 100);
        Path file = write("model.ubj", truncated);
        assertRejected(release("v5", file.toUri().toString(), ModelLoader.sha256Hex(truncated), SPEC),
                ModelRejectedException.Kind.CORRUPT)
                .hasMessageStartingWith("corrupt model: ");
    }

    @Test
    void rejectsAnEmptyFile() throws Exception {
        Path file = write("model.ubj", new byte[0]);
        assertRejected(release("v5", file.toUri().toString(), ModelLoader.sha256Hex(new byte[0]), SPEC),
                ModelRejectedException.Kind.CORRUPT)
                .hasMessage("corrupt model: the file is empty");
    }

    @Test
    void rejectsAModelWithAnotherNumberOfFeatures() throws Exception {
        Path file = write("model.ubj", modelBytes);
        ModelLoader wider = new ModelLoader(SPEC, WIDTH + 4);
        assertThatThrownBy(() -> wider.load(release("v6", file.toUri().toString(), ModelLoader.sha256Hex(modelBytes), SPEC)))
                .isInstanceOfSatisfying(ModelRejectedException.class,
                        e -> assertThat(e.kind()).isEqualTo(ModelRejectedException.Kind.FEATURE_COUNT_MISMATCH))
                .hasMessage("feature count mismatch: model has " + WIDTH + " features, job provides " + (WIDTH + 4));
    }

    @Test
    void rejectsAnIncompleteRelease() throws Exception {
        Path file = write("model.ubj", modelBytes);
        String uri = file.toUri().toString();
        String sha = ModelLoader.sha256Hex(modelBytes);
        assertRejected(release(" ", uri, sha, SPEC), ModelRejectedException.Kind.INVALID_RELEASE)
                .hasMessage("invalid release: model release has no version");
        assertRejected(release("v1", "", sha, SPEC), ModelRejectedException.Kind.INVALID_RELEASE)
                .hasMessage("invalid release: model release v1 has no model URI");
        assertRejected(release("v1", uri, "md5:1234", SPEC), ModelRejectedException.Kind.INVALID_RELEASE)
                .hasMessageContaining("has no valid checksum");
    }

    private Path write(String name, byte[] bytes) throws Exception {
        Path file = dir.resolve(name);
        Files.write(file, bytes);
        return file;
    }

    private static ModelRelease release(String version, String uri, String checksum, String spec) {
        return ModelRelease.newBuilder()
                .setVersion(version)
                .setModelUri(uri)
                .setChecksum(checksum)
                .setFeatureSpecId(spec)
                .setCreatedTimeMs(1_700_000_000_000L)
                .build();
    }

    private AbstractThrowableAssert<?, ? extends Throwable> assertRejected(
            ModelRelease release, ModelRejectedException.Kind kind) {
        return assertThatThrownBy(() -> loader.load(release))
                .isInstanceOfSatisfying(ModelRejectedException.class, e -> assertThat(e.kind()).isEqualTo(kind));
    }
}
