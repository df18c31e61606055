package io.slatestream.replay;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.slatestream.avro.InteractionType;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class HistoryFilesTest {
  @TempDir Path dir;

  private HistoryFiles.History read(String interactions, String items) throws Exception {
    Path i = Files.writeString(dir.resolve("interactions.csv"), interactions);
    Path c = Files.writeString(dir.resolve("items.csv"), items);
    return HistoryFiles.read(i, c);
  }

  @Test
  void readsBothFormatsWithIsoTimestampsQuotesAndDefaults() throws Exception {
    HistoryFiles.History h = read("""
        \uFEFFuser_id,item_id,type,watch_time_ms,timestamp_ms
        u1,a,LIKE,1200,1735808400000
        u2,"b,2",skip,300,2025-01-02T10:00:00+01:00

        u1,c,Like,0,2025-01-02T09:00:00.250Z
        """, """
        category,item_id,extra,creator_id,published_ms,duration_ms
        music,a,x,ann,2025-01-01T00:00:00Z,
        music,"b,2",y,,,90000
        """);
    assertThat(h.problems()).isEmpty();
    assertThat(h.interactions()).containsExactly(
        new HistoryFiles.Interaction(2, "u1", "a", InteractionType.LIKE, 1200, 1735808400000L),
        new HistoryFiles.Interaction(3, "u2", "b,2", InteractionType.SKIP, 300, 1735808400000L),
        new HistoryFiles.Interaction(5, "u1", "c", InteractionType.LIKE, 0, 1735808400250L));
    assertThat(h.items().get("a")).isEqualTo(new HistoryFiles.Item(2, "a", "music", "ann", 1735689600000L, 0));
    assertThat(h.items().get("b,2")).as("creator and published left empty")
        .isEqualTo(new HistoryFiles.Item(3, "b,2", "music", null, null, 90000));
  }

  @Test
  void everyUnusableLineIsReportedWithItsLineNumberAndSkipped() throws Exception {
    HistoryFiles.History h = read("""
        user_id,item_id,type,watch_time_ms,timestamp_ms
        u1,a,LIKE,1200,1735808400000
        u1,a,LOVE,1200,1735808400000
        u1,a,SKIP,-5,1735808400000
        u1,a,SKIP,1.5,1735808400000
        u1,a,SKIP,100,2025-01-02T09:00:00
        u1,a,SKIP,100,0
        ,a,SKIP,100,1735808400000
        u1,,SKIP,100,1735808400000
        u1,a,SKIP,100
        u1,"a,SKIP,100,1735808400000
        u2,b,SKIP,100,1735808400001
        """, """
        item_id,category
        a,music
        a,film
        b,
        ,music
        """);
    assertThat(h.interactions()).extracting(HistoryFiles.Interaction::line).containsExactly(2L, 12L);
    assertThat(h.items()).containsOnlyKeys("a");
    assertThat(h.problems()).extracting(Object::toString).containsExactly(
        "items.csv:3: item_id 'a' was already defined on line 2",
        "items.csv:4: category is empty",
        "items.csv:5: item_id is empty",
        "interactions.csv:3: type 'LOVE' is neither LIKE nor SKIP",
        "interactions.csv:4: watch_time_ms '-5' is not a whole number >= 0",
        "interactions.csv:5: watch_time_ms '1.5' is not a whole number >= 0",
        "interactions.csv:6: timestamp_ms '2025-01-02T09:00:00' is neither epoch milliseconds nor an ISO-8601"
            + " date-time with an offset (e.g. 2024-05-01T12:00:00Z)",
        "interactions.csv:7: timestamp_ms '0' is not after 1970-01-01T00:00:00Z",
        "interactions.csv:8: user_id is empty",
        "interactions.csv:9: item_id is empty",
        "interactions.csv:10: 4 fields, the header has 5",
        "interactions.csv:11: not valid CSV (an unbalanced quote?)");
  }

  @Test
  void aMissingColumnOrAnEmptyFileIsAnErrorNotASkippedLine() throws Exception {
    assertThatThrownBy(() -> read("user_id,item_id,type,timestamp_ms\n", "item_id,category\n"))
        .hasMessageContaining("interactions.csv:1").hasMessageContaining("[watch_time_ms]");
    assertThatThrownBy(() -> read("", "item_id,category\n")).hasMessageContaining("interactions.csv is empty");
    assertThatThrownBy(() -> read(String.join(",", HistoryFiles.INTERACTION_COLUMNS) + "\n", "item_id,creator_id\n"))
        .hasMessageContaining("items.csv:1").hasMessageContaining("[category]");
  }

  @Test
  void theCommittedExampleReadsCleanly() throws Exception {
    Path res = Path.of("src", "test", "resources", "replay");
    HistoryFiles.History h = HistoryFiles.read(res.resolve("interactions.csv"), res.resolve("items.csv"));
    assertThat(h.problems()).isEmpty();
    assertThat(h.interactions()).hasSize(17);
    assertThat(h.items()).hasSize(8);
    assertThat(h.items().get("news-1").creatorId()).isEqualTo("Daily, Inc.");
    assertThat(List.copyOf(h.items().keySet())).startsWith("jazz-1", "jazz-2", "jazz-3");
  }
}
