package io.slatestream.functions;

import io.slatestream.avro.state.Impression;
import io.slatestream.avro.state.PendingSlate;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

/**
 * The served feature vectors of a pending slate, stored without repeating what every item of the
 * slate shares. The user's features (counts, like rate, session, recency: half of a vector) are
 * the same for every item of a slate, and the position feature is the impression's position, which
 * is stored anyway; a served slate of ten items kept them ten times. Packed, a column whose value
 * is bit-for-bit the same in every vector is stored once per slate, the position column not at all
 * (when it holds exactly each impression's position), and the rest per impression, as raw IEEE 754
 * bits: {@link #vector} gives back exactly the vector that was served, whatever its values
 * (NaN included). Which columns are shared is decided per slate from the values, so nothing here
 * depends on what the features mean, and a slate served under an earlier feature spec unpacks as
 * it was written.
 *
 * <p>Slates written by release 1 carry each full vector in their impressions' {@code features}
 * ({@code featureWidth} 0); they unpack from there.
 */
final class PackedVectors {
  private PackedVectors() {}

  /**
   * A pending slate holding {@code vectors} (one per impression, in the same order, all of one
   * width) packed. {@code positionColumn} is the column holding each impression's position, or -1.
   */
  static PendingSlate pack(String slateId, long servedMs, String modelVersion, String featureSpecId,
      List<Impression> impressions, float[][] vectors, int positionColumn) {
    int n = vectors.length;
    int width = vectors[0].length;
    if (positionColumn >= width) {
      positionColumn = -1;
    }
    for (int i = 0; i < n && positionColumn >= 0; i++) {
      if (Float.floatToRawIntBits(vectors[i][positionColumn])
          != Float.floatToRawIntBits((float) impressions.get(i).getPosition())) {
        positionColumn = -1; // not the position as stored: kept as a value like any other
      }
    }
    byte[] sharedMask = new byte[(width + 7) / 8];
    int shared = 0;
    for (int j = 0; j < width; j++) {
      if (j == positionColumn) {
        continue;
      }
      int bits = Float.floatToRawIntBits(vectors[0][j]);
      boolean same = true;
      for (int i = 1; i < n && same; i++) {
        same = Float.floatToRawIntBits(vectors[i][j]) == bits;
      }
      if (same) {
        sharedMask[j >>> 3] |= (byte) (1 << (j & 7));
        shared++;
      }
    }
    int own = width - shared - (positionColumn >= 0 ? 1 : 0);
    ByteBuffer sharedValues = ByteBuffer.allocate(4 * shared).order(ByteOrder.LITTLE_ENDIAN);
    for (int j = 0; j < width; j++) {
      if (isShared(sharedMask, j)) {
        sharedValues.putInt(Float.floatToRawIntBits(vectors[0][j]));
      }
    }
    for (int i = 0; i < n; i++) {
      ByteBuffer values = ByteBuffer.allocate(4 * own).order(ByteOrder.LITTLE_ENDIAN);
      for (int j = 0; j < width; j++) {
        if (j != positionColumn && !isShared(sharedMask, j)) {
          values.putInt(Float.floatToRawIntBits(vectors[i][j]));
        }
      }
      Impression imp = impressions.get(i);
      imp.setFeatures(List.of());
      imp.setItemFeatures(values.flip());
    }
    return PendingSlate.newBuilder()
        .setSlateId(slateId)
        .setServedTimeMs(servedMs)
        .setModelVersion(modelVersion)
        .setFeatureSpecId(featureSpecId)
        .setImpressions(impressions)
        .setFeatureWidth(width)
        .setSharedColumns(ByteBuffer.wrap(sharedMask))
        .setSharedFeatures(sharedValues.flip())
        .setPositionColumn(positionColumn)
        .build();
  }

  /** The vector served for {@code imp}, an impression of {@code slate}, exactly as it was served. */
  static List<Float> vector(PendingSlate slate, Impression imp) {
    int width = slate.getFeatureWidth();
    if (width == 0) {
      return new ArrayList<>(imp.getFeatures()); // written by release 1
    }
    ByteBuffer mask = slate.getSharedColumns();
    ByteBuffer shared = slate.getSharedFeatures().duplicate().order(ByteOrder.LITTLE_ENDIAN);
    ByteBuffer own = imp.getItemFeatures().duplicate().order(ByteOrder.LITTLE_ENDIAN);
    List<Float> v = new ArrayList<>(width);
    for (int j = 0; j < width; j++) {
      if (j == slate.getPositionColumn()) {
        v.add((float) imp.getPosition());
      } else if ((mask.get(mask.position() + (j >>> 3)) & (1 << (j & 7))) != 0) {
        v.add(Float.intBitsToFloat(shared.getInt()));
      } else {
        v.add(Float.intBitsToFloat(own.getInt()));
      }
    }
    return v;
  }

  private static boolean isShared(byte[] mask, int column) {
    return (mask[column >>> 3] & (1 << (column & 7))) != 0;
  }
}
