package io.slatestream.inspect;

import com.fasterxml.jackson.databind.SequenceWriter;
import com.fasterxml.jackson.dataformat.csv.CsvMapper;
import com.fasterxml.jackson.dataformat.csv.CsvSchema;
import io.slatestream.inspect.SavepointReader.Counts;
import io.slatestream.inspect.SavepointReader.ItemRow;
import io.slatestream.inspect.SavepointReader.UserRow;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Writes what a savepoint holds as three RFC 4180 CSV files (header row always, CRLF line ends,
 * fields quoted only when they contain a comma, a quote or a line break; an empty field is a
 * missing value). The README section "Inspecting a savepoint" documents every column; notebooks
 * depend on the names, so columns are only ever added at the end.
 */
public final class CsvExport {
  private CsvExport() {}

  public static final String USERS = "users.csv";
  public static final String USER_CATEGORIES = "user_categories.csv";
  public static final String ITEMS = "items.csv";

  /** Rows written per file. */
  public record Written(long users, long userCategories, long items) {}

  // Jackson's default ("loose") quoting: it also quotes some fields that would not need it (e.g.
  // with spaces), which RFC 4180 allows. Its strict check looks for the configured line separator
  // (CRLF) only and would leave a bare LF inside a value unquoted, breaking the row.
  private static final CsvMapper MAPPER = CsvMapper.builder().build();

  /**
   * The columns of users.csv. The counter columns follow {@code halfLivesMs} (the job's
   * {@code features.half-lives}), named by {@link #shortDuration}: likes_1h, skips_1h, ...
   */
  public static List<String> userColumns(List<Long> halfLivesMs) {
    List<String> cols = new ArrayList<>(List.of("user_id", "anchor_ms", "last_event_ms", "total_events",
        "events_in_session"));
    for (long h : halfLivesMs) {
      String d = shortDuration(h);
      cols.addAll(List.of("likes_" + d, "skips_" + d, "quick_skips_" + d));
    }
    cols.addAll(List.of("recent_count", "category_count", "top_category", "top_category_affinity"));
    return cols;
  }

  public static final List<String> USER_CATEGORY_COLUMNS = List.of("user_id", "category", "affinity");

  public static final List<String> ITEM_COLUMNS = List.of("item_id", "category", "creator_id", "published_ms",
      "deleted", "stats_anchor_ms", "impressions", "likes", "skips", "quick_skips", "like_rate");

  /**
   * A duration in the largest unit that holds it exactly: {@code 7d}, {@code 36h}, {@code 90min},
   * {@code 45s}, {@code 1500ms}.
   */
  public static String shortDuration(long ms) {
    long[] units = {86_400_000L, 3_600_000L, 60_000L, 1_000L};
    String[] names = {"d", "h", "min", "s"};
    for (int i = 0; i < units.length; i++) {
      if (ms != 0 && ms % units[i] == 0) {
        return ms / units[i] + names[i];
      }
    }
    return ms + "ms";
  }

  public static Written write(SavepointReader.Contents contents, List<Long> halfLivesMs, Path dir)
      throws IOException {
    Files.createDirectories(dir);
    List<String> userColumns = userColumns(halfLivesMs);
    long categories = 0;
    try (SequenceWriter users = writer(dir.resolve(USERS), userColumns);
        SequenceWriter cats = writer(dir.resolve(USER_CATEGORIES), USER_CATEGORY_COLUMNS)) {
      for (UserRow u : contents.users()) {
        List<Object> row = new ArrayList<>(List.of(u.userId(), u.anchorMs(), u.lastEventMs(), u.totalEvents(),
            u.eventsInSession()));
        for (long h : halfLivesMs) {
          Optional<Counts> c = u.counts(h);
          row.add(c.map(Counts::likes).orElse(null));
          row.add(c.map(Counts::skips).orElse(null));
          row.add(c.map(Counts::quickSkips).orElse(null));
        }
        row.add(u.recentCount());
        row.add(u.categoryAffinity().size());
        row.add(u.topCategory());
        row.add(u.topCategoryAffinity());
        users.write(byName(userColumns, row));
        for (Map.Entry<String, Double> c : u.categoryAffinity().entrySet()) {
          cats.write(byName(USER_CATEGORY_COLUMNS, List.of(u.userId(), c.getKey(), c.getValue())));
          categories++;
        }
      }
    }
    try (SequenceWriter items = writer(dir.resolve(ITEMS), ITEM_COLUMNS)) {
      for (ItemRow i : contents.items()) {
        items.write(byName(ITEM_COLUMNS, Arrays.asList(i.itemId(), i.category(), i.creatorId(), i.publishedMs(),
            i.deleted(), i.statsAnchorMs(), i.impressions(), i.likes(), i.skips(), i.quickSkips(), i.likeRate())));
      }
    }
    return new Written(contents.users().size(), categories, contents.items().size());
  }

  /**
   * A row as column name to value. Rows are written as maps rather than arrays because the CSV
   * generator drops null array elements instead of leaving their cells empty.
   */
  private static Map<String, Object> byName(List<String> columns, List<Object> values) {
    if (columns.size() != values.size()) {
      throw new IllegalStateException(values.size() + " values for columns " + columns);
    }
    Map<String, Object> row = new LinkedHashMap<>();
    for (int i = 0; i < columns.size(); i++) {
      row.put(columns.get(i), values.get(i));
    }
    return row;
  }

  private static SequenceWriter writer(Path file, List<String> columns) throws IOException {
    CsvSchema.Builder schema = CsvSchema.builder().setUseHeader(true).setLineSeparator("\r\n");
    columns.forEach(schema::addColumn);
    return MAPPER.writer(schema.build()).writeValues(file.toFile());
  }
}
