package io.slatestream.inspect;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.MappingIterator;
import com.fasterxml.jackson.dataformat.csv.CsvMapper;
import com.fasterxml.jackson.dataformat.csv.CsvParser;
import io.slatestream.config.JobConfig;
import io.slatestream.inspect.SavepointReader.Counts;
import io.slatestream.inspect.SavepointReader.ItemRow;
import io.slatestream.inspect.SavepointReader.UserRow;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The CSV files' names, columns and RFC 4180 form, which analysts' notebooks depend on. */
class CsvExportTest {

  @TempDir Path dir;

  @Test
  void columnsWithTheDefaultHalfLivesAreTheDocumentedOnes() {
    assertThat(CsvExport.userColumns(SavepointReader.halfLivesMs(JobConfig.defaults()))).containsExactly(
        "user_id", "anchor_ms", "last_event_ms", "total_events", "events_in_session",
        "likes_1h", "skips_1h", "quick_skips_1h", "likes_1d", "skips_1d", "quick_skips_1d",
        "likes_7d", "skips_7d", "quick_skips_7d",
        "recent_count", "category_count", "top_category", "top_category_affinity");
    assertThat(CsvExport.USER_CATEGORY_COLUMNS).containsExactly("user_id", "category", "affinity");
    assertThat(CsvExport.ITEM_COLUMNS).containsExactly("item_id", "category", "creator_id", "published_ms", "deleted",
        "stats_anchor_ms", "impressions", "likes", "skips", "quick_skips", "like_rate");
  }

  @Test
  void counterColumnsFollowTheConfiguredHalfLives() {
    JobConfig config = JobConfig.of(Map.of("features.half-lives", "30 min;36 h;90 s;1500 ms"));
    assertThat(CsvExport.userColumns(SavepointReader.halfLivesMs(config)).subList(5, 17)).containsExactly(
        "likes_30min", "skips_30min", "quick_skips_30min", "likes_36h", "skips_36h", "quick_skips_36h",
        "likes_90s", "skips_90s", "quick_skips_90s", "likes_1500ms", "skips_1500ms", "quick_skips_1500ms");
    assertThat(CsvExport.shortDuration(7 * 86_400_000L)).isEqualTo("7d");
    assertThat(CsvExport.shortDuration(48 * 3_600_000L)).isEqualTo("2d");
    assertThat(CsvExport.shortDuration(25 * 3_600_000L)).isEqualTo("25h");
  }

  @Test
  void fieldsAreQuotedOnlyWhenNeededAndMissingValuesAreEmpty() throws Exception {
    long h = 3_600_000L;
    TreeMap<String, Double> affinity = new TreeMap<>(Map.of("news, \"local\"", 1.5, "line\nbreak", -0.5));
    UserRow user = new UserRow("u,1", 10L, 20L, 3L, 2, List.of(new Counts(h, 1.0, 2.0, 0.5)), 3, affinity,
        "news, \"local\"");
    ItemRow catalogOnly = new ItemRow("i1", "music", "c1", 5L, false, null, null, null, null, null);
    ItemRow statsOnly = new ItemRow("i2", null, null, null, null, 7L, 4.0, 1.0, 3.0, 2.0);
    CsvExport.Written w = CsvExport.write(new SavepointReader.Contents(List.of(user), List.of(catalogOnly, statsOnly)),
        List.of(h, 86_400_000L), dir);
    assertThat(w).isEqualTo(new CsvExport.Written(1, 2, 2));

    assertThat(Files.readString(dir.resolve("users.csv"), StandardCharsets.UTF_8)).isEqualTo(
        "user_id,anchor_ms,last_event_ms,total_events,events_in_session,likes_1h,skips_1h,quick_skips_1h,"
            + "likes_1d,skips_1d,quick_skips_1d,recent_count,category_count,top_category,top_category_affinity\r\n"
            + "\"u,1\",10,20,3,2,1.0,2.0,0.5,,,,3,2,\"news, \"\"local\"\"\",1.5\r\n");
    assertThat(Files.readString(dir.resolve("user_categories.csv"), StandardCharsets.UTF_8)).isEqualTo(
        "user_id,category,affinity\r\n"
            + "\"u,1\",\"line\nbreak\",-0.5\r\n"
            + "\"u,1\",\"news, \"\"local\"\"\",1.5\r\n");
    assertThat(Files.readString(dir.resolve("items.csv"), StandardCharsets.UTF_8)).isEqualTo(
        "item_id,category,creator_id,published_ms,deleted,stats_anchor_ms,impressions,likes,skips,quick_skips,like_rate\r\n"
            + "i1,music,c1,5,false,,,,,,\r\n"
            + "i2,,,,,7,4.0,1.0,3.0,2.0,0.25\r\n");

    // And a CSV reader gets the values back.
    CsvMapper mapper = new CsvMapper().enable(CsvParser.Feature.WRAP_AS_ARRAY);
    try (MappingIterator<List<String>> rows = mapper.readerFor(List.class)
        .readValues(dir.resolve("user_categories.csv").toFile())) {
      assertThat(rows.readAll()).containsExactly(List.of("user_id", "category", "affinity"),
          List.of("u,1", "line\nbreak", "-0.5"), List.of("u,1", "news, \"local\"", "1.5"));
    }
  }

  @Test
  void anEmptySavepointStillGetsHeaders() throws Exception {
    CsvExport.write(new SavepointReader.Contents(List.of(), List.of()), List.of(3_600_000L), dir);
    assertThat(Files.readAllLines(dir.resolve("users.csv"))).hasSize(1);
    assertThat(Files.readString(dir.resolve("user_categories.csv"))).isEqualTo("user_id,category,affinity\r\n");
    assertThat(Files.readAllLines(dir.resolve("items.csv"))).hasSize(1);
  }
}
