package io.slatestream.features;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import io.slatestream.avro.Interaction;
import io.slatestream.avro.InteractionType;
import io.slatestream.avro.Item;
import io.slatestream.avro.state.ItemStats;
import io.slatestream.avro.state.UserProfile;
import io.slatestream.config.JobConfig;
import java.util.Map;
import org.junit.jupiter.api.Test;

class FeatureVectorBuilderTest {
  private static final long T = 1_700_000_000_000L;
  private static final long HOUR = 3_600_000L;

  private final JobConfig config = JobConfig.defaults();
  private final FeatureVectorBuilder builder = new FeatureVectorBuilder(config);
  private final Item item = Item.newBuilder().setItemId("i1").setCategory("music").setCreatorId("c1")
      .setDurationMs(90_000).setPublishedTimeMs(T - 5 * HOUR).build();

  private float feature(float[] v, String name) {
    return v[builder.spec().names().indexOf(name)];
  }

  @Test
  void theSpecIdIsStableAndFollowsNamesAndHalfLives() {
    assertThat(new FeatureVectorBuilder(JobConfig.defaults()).spec().id()).isEqualTo(builder.spec().id());
    assertThat(builder.spec().names()).startsWith("user.likes.1h", "user.skips.1h", "user.quick_skips.1h")
        .contains("user.likes.7d", "slate.position").doesNotHaveDuplicates();
    FeatureVectorBuilder other = new FeatureVectorBuilder(JobConfig.of(Map.of("features.half-lives", "1 h;1 d")));
    assertThat(other.spec().id()).isNotEqualTo(builder.spec().id());
    assertThat(other.spec().size()).isEqualTo(builder.spec().size() - 3);
  }

  @Test
  void valuesFollowTheirDefinitions() {
    ProfileUpdater updater = new ProfileUpdater(config);
    UserProfile p = updater.empty();
    updater.apply(p, like("i0", T - 2 * HOUR), item);
    updater.apply(p, Interaction.newBuilder(like("i2", T - HOUR)).setType(InteractionType.SKIP).setWatchTimeMs(500).build(), item);
    ItemStats stats = new ItemStats("i1", T, 10.0, 6.0, 4.0, 1.0);

    // i0 and i2 are music, like the item, 2 h and 1 h ago at the 15 min half-life; an item the
    // catalog no longer holds (null category) is not counted.
    assertThat(builder.recentByCategory(p, id -> "music", T).get("music"))
        .isCloseTo(Math.pow(2, -8) + Math.pow(2, -4), within(1e-12));
    Map<String, Double> recent = builder.recentByCategory(p, id -> id.equals("i0") ? null : "music", T);
    assertThat(recent).containsOnlyKeys("music");
    assertThat(builder.recentByCategory(null, id -> "music", T)).isEmpty();

    float[] v = builder.build(p, recent, item, stats, 3, T);

    assertThat(v).hasSize(builder.spec().size());
    assertThat(feature(v, "user.likes.1h")).isCloseTo((float) Math.pow(2, -2), within(1e-6f));
    assertThat(feature(v, "user.skips.1h")).isCloseTo(0.5f, within(1e-6f));
    assertThat(feature(v, "user.quick_skips.1h")).isCloseTo(0.5f, within(1e-6f));
    assertThat(feature(v, "user.total_events_log")).isCloseTo((float) Math.log(3), within(1e-6f));
    assertThat(feature(v, "user.events_in_session")).isEqualTo(1f); // 1 h apart > 30 min gap
    assertThat(feature(v, "user.consecutive_skips")).isEqualTo(1f);
    assertThat(feature(v, "user.minutes_since_last_event")).isCloseTo(60f, within(1e-3f));
    double aff = Math.pow(2, -2.0 / 72) - Math.pow(2, -1.0 / 72); // +1 like 2 h ago, -1 quick skip 1 h ago, 3 d half-life
    assertThat(feature(v, "user.category_affinity")).isCloseTo((float) aff, within(1e-6f));
    assertThat(feature(v, "user.category_recent.15min")).isCloseTo((float) Math.pow(2, -4), within(1e-6f));
    assertThat(feature(v, "item.like_rate")).isCloseTo(7f / 12f, within(1e-6f));
    double r = 7.0 / 12;
    assertThat(feature(v, "item.like_rate_lower")).isCloseTo((float) (r - Math.sqrt(r * (1 - r) / 12)), within(1e-6f));
    assertThat(feature(v, "item.quick_skip_rate")).isCloseTo(1.5f / 5f, within(1e-6f));
    assertThat(feature(v, "item.likes_log")).isCloseTo((float) Math.log(7), within(1e-6f));
    assertThat(feature(v, "item.age_hours")).isCloseTo(5f, within(1e-6f));
    assertThat(feature(v, "item.duration_seconds")).isEqualTo(90f);
    assertThat(feature(v, "slate.position")).isEqualTo(3f);
  }

  @Test
  void aColdUserAndAnUnseenItemHaveNeutralValuesAndMissingWhereUndefined() {
    float[] v = builder.build(null, Map.of(), item, null, 0, T);
    assertThat(feature(v, "user.likes.1d")).isZero();
    assertThat(feature(v, "user.like_rate")).isEqualTo(0.5f);
    assertThat(feature(v, "user.minutes_since_last_event")).isNaN();
    assertThat(feature(v, "user.category_affinity_share")).isNaN();
    assertThat(feature(v, "item.like_rate")).isEqualTo(0.5f);
    assertThat(feature(v, "item.like_rate_lower")).isCloseTo((float) (0.5 - Math.sqrt(0.25 / 2)), within(1e-6f));
    assertThat(feature(v, "user.category_recent.15min")).isZero();
    assertThat(feature(v, "item.popularity")).isCloseTo((float) (Math.log(2) / 2), within(1e-6f));
  }

  @Test
  void monotoneConstraintsNameFeaturesOfTheSpec() {
    assertThat(builder.spec().names()).containsAll(FeatureVectorBuilder.monotone().keySet());
    FeatureVectorBuilder hourly = new FeatureVectorBuilder(
        JobConfig.of(Map.of("features.category-recent-half-life", "1 h")));
    assertThat(hourly.spec().names()).contains("user.category_recent.1h").doesNotContain("user.category_recent.15min");
    assertThat(FeatureVectorBuilder.monotone()).containsEntry("item.like_rate_lower", 1).doesNotContainKey("item.like_rate");
    assertThat(hourly.spec().id()).isNotEqualTo(builder.spec().id());
  }

  private static Interaction like(String itemId, long t) {
    return Interaction.newBuilder().setEventId("e-" + itemId).setUserId("u").setItemId(itemId)
        .setType(InteractionType.LIKE).setWatchTimeMs(30_000).setEventTimeMs(t).build();
  }
}
