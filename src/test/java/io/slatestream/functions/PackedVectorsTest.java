package io.slatestream.functions;

import static org.assertj.core.api.Assertions.assertThat;

import io.slatestream.avro.state.Impression;
import io.slatestream.avro.state.PendingSlate;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class PackedVectorsTest {

  private static List<Impression> impressions(int n) {
    List<Impression> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      out.add(Impression.newBuilder().setItemId("i" + i).setPosition(i).setScore(1.0 / (i + 1)).build());
    }
    return out;
  }

  private static List<Float> boxed(float[] v) {
    List<Float> out = new ArrayList<>();
    for (float f : v) {
      out.add(f);
    }
    return out;
  }

  @Test
  void everyVectorComesBackBitForBitWithSharedColumnsStoredOnce() {
    // Columns 0-1 shared (one NaN, as a user without events has), 2 per item, 3 the position.
    float[][] vectors = {
        {Float.NaN, -0.0f, 0.25f, 0f},
        {Float.NaN, -0.0f, 7.5f, 1f},
        {Float.NaN, -0.0f, Float.MIN_VALUE, 2f}};
    List<Impression> imps = impressions(3);
    PendingSlate slate = PackedVectors.pack("s", 10L, "v", "spec", imps, vectors, 3);

    assertThat(slate.getFeatureWidth()).isEqualTo(4);
    assertThat(slate.getPositionColumn()).isEqualTo(3);
    assertThat(slate.getSharedFeatures().remaining()).as("two shared values, once").isEqualTo(8);
    for (int i = 0; i < 3; i++) {
      Impression imp = slate.getImpressions().get(i);
      assertThat(imp.getFeatures()).isEmpty();
      assertThat(imp.getItemFeatures().remaining()).as("one value of its own").isEqualTo(4);
      List<Float> back = PackedVectors.vector(slate, imp);
      assertThat(back).hasSize(4);
      for (int j = 0; j < 4; j++) {
        assertThat(Float.floatToRawIntBits(back.get(j))).as("impression %d column %d", i, j)
            .isEqualTo(Float.floatToRawIntBits(vectors[i][j]));
      }
    }
  }

  @Test
  void aPositionColumnThatIsNotThePositionIsStoredAsAValue() {
    float[][] vectors = {{1f, 5f}, {2f, 5f}};
    PendingSlate slate = PackedVectors.pack("s", 10L, "v", "spec", impressions(2), vectors, 1);
    assertThat(slate.getPositionColumn()).isEqualTo(-1);
    assertThat(PackedVectors.vector(slate, slate.getImpressions().get(0))).containsExactly(1f, 5f);
    assertThat(PackedVectors.vector(slate, slate.getImpressions().get(1))).containsExactly(2f, 5f);
  }

  @Test
  void anImpressionRemovedByItsAnswerLeavesTheOthersIntact() {
    float[][] vectors = {{3f, 0.5f, 0f}, {3f, 0.7f, 1f}, {3f, 0.9f, 2f}};
    PendingSlate slate = PackedVectors.pack("s", 10L, "v", "spec", impressions(3), vectors, 2);
    slate.getImpressions().remove(1);
    assertThat(PackedVectors.vector(slate, slate.getImpressions().get(1))).containsExactly(3f, 0.9f, 2f);
  }

  @Test
  void aSlateOfAnEarlierReleaseKeepsItsFullVectors() {
    Impression imp = Impression.newBuilder().setItemId("i").setPosition(4).setScore(0.5)
        .setFeatures(boxed(new float[] {1f, Float.NaN, 4f})).build();
    PendingSlate old = PendingSlate.newBuilder().setSlateId("s").setServedTimeMs(1L).setModelVersion("v")
        .setFeatureSpecId("spec").setImpressions(List.of(imp)).build();
    assertThat(old.getFeatureWidth()).as("the default of a release 1 record").isZero();
    assertThat(PackedVectors.vector(old, imp)).containsExactly(1f, Float.NaN, 4f);
  }
}
