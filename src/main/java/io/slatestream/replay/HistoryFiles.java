package io.slatestream.replay;

import com.fasterxml.jackson.databind.ObjectReader;
import com.fasterxml.jackson.dataformat.csv.CsvMapper;
import io.slatestream.avro.InteractionType;
import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.OffsetDateTime;
import java.time.format.DateTimeParseException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * Reads the replay's two input files (README, "Replay and backtest", documents them):
 *
 * <pre>
 * interactions.csv   user_id,item_id,type,watch_time_ms,timestamp_ms
 * items.csv          item_id,category,creator_id,published_ms[,duration_ms]
 * </pre>
 *
 * UTF-8, one record per line, a header line naming the columns (any order; other columns are
 * ignored), fields quoted as in RFC 4180 where they hold a comma or a quote. Timestamps are epoch
 * milliseconds or ISO-8601 instants with an offset ({@code 2024-05-01T12:00:00Z},
 * {@code 2024-05-01T14:00:00+02:00}). In items.csv, {@code creator_id}, {@code published_ms} and
 * {@code duration_ms} may be left empty (or their columns left out); the defaults are applied by
 * {@link Timeline}. Empty lines are skipped; every other line that cannot be used is reported with
 * its file and line number, counted and skipped: nothing is dropped silently.
 */
public final class HistoryFiles {
  private HistoryFiles() {}

  public static final List<String> INTERACTION_COLUMNS =
      List.of("user_id", "item_id", "type", "watch_time_ms", "timestamp_ms");
  public static final List<String> ITEM_COLUMNS = List.of("item_id", "category", "creator_id", "published_ms");
  static final List<String> REQUIRED_ITEM_COLUMNS = List.of("item_id", "category");
  static final String DURATION_COLUMN = "duration_ms";

  /** One line of interactions.csv. */
  public record Interaction(long line, String userId, String itemId, InteractionType type, long watchTimeMs,
      long timeMs) {}

  /** One line of items.csv; {@code creatorId}, {@code publishedMs} are null when left empty. */
  public record Item(long line, String itemId, String category, String creatorId, Long publishedMs,
      long durationMs) {}

  /** A line that was skipped, and why. */
  public record Problem(String file, long line, String message) {
    @Override
    public String toString() {
      return file + ":" + line + ": " + message;
    }
  }

  /** Both files as read: the usable records, and every line skipped with its reason. */
  public record History(List<Interaction> interactions, Map<String, Item> items, List<Problem> problems) {}

  /** Without a schema, Jackson reads a CSV line as an array of its fields. */
  private static final ObjectReader LINE = new CsvMapper().readerFor(String[].class);

  public static History read(Path interactionsCsv, Path itemsCsv) throws IOException {
    List<Problem> problems = new ArrayList<>();
    Map<String, Item> items = readItems(itemsCsv, problems);
    List<Interaction> interactions = readInteractions(interactionsCsv, problems);
    return new History(interactions, items, problems);
  }

  static List<Interaction> readInteractions(Path file, List<Problem> problems) throws IOException {
    List<Interaction> out = new ArrayList<>();
    String name = file.getFileName().toString();
    forEachRecord(file, INTERACTION_COLUMNS, (line, row) -> {
      String user = row.get("user_id");
      String item = row.get("item_id");
      if (user.isEmpty()) {
        return "user_id is empty";
      }
      if (item.isEmpty()) {
        return "item_id is empty";
      }
      InteractionType type;
      try {
        type = InteractionType.valueOf(row.get("type").toUpperCase(Locale.ROOT));
      } catch (IllegalArgumentException e) {
        return "type '" + row.get("type") + "' is neither LIKE nor SKIP";
      }
      Long watch = wholeNumber(row.get("watch_time_ms"));
      if (watch == null || watch < 0) {
        return "watch_time_ms '" + row.get("watch_time_ms") + "' is not a whole number >= 0";
      }
      long time;
      try {
        time = timestamp(row.get("timestamp_ms"));
      } catch (IllegalArgumentException e) {
        return "timestamp_ms " + e.getMessage();
      }
      out.add(new Interaction(line, user, item, type, watch, time));
      return null;
    }, name, problems);
    return out;
  }

  static Map<String, Item> readItems(Path file, List<Problem> problems) throws IOException {
    Map<String, Item> out = new LinkedHashMap<>();
    String name = file.getFileName().toString();
    forEachRecord(file, REQUIRED_ITEM_COLUMNS, (line, row) -> {
      String id = row.get("item_id");
      String category = row.get("category");
      if (id.isEmpty()) {
        return "item_id is empty";
      }
      if (category.isEmpty()) {
        return "category is empty";
      }
      Item earlier = out.get(id);
      if (earlier != null) {
        return "item_id '" + id + "' was already defined on line " + earlier.line();
      }
      String creator = row.getOrDefault("creator_id", "");
      Long published = null;
      String p = row.getOrDefault("published_ms", "");
      if (!p.isEmpty()) {
        try {
          published = timestamp(p);
        } catch (IllegalArgumentException e) {
          return "published_ms " + e.getMessage();
        }
      }
      long duration = 0;
      String d = row.getOrDefault(DURATION_COLUMN, "");
      if (!d.isEmpty()) {
        Long v = wholeNumber(d);
        if (v == null || v < 0) {
          return "duration_ms '" + d + "' is not a whole number >= 0";
        }
        duration = v;
      }
      out.put(id, new Item(line, id, category, creator.isEmpty() ? null : creator, published, duration));
      return null;
    }, name, problems);
    return out;
  }

  /** Checks one record; returns null if it was used, else why it was skipped. */
  @FunctionalInterface
  interface RecordHandler {
    String accept(long line, Map<String, String> row);
  }

  private static void forEachRecord(Path file, List<String> required, RecordHandler handler, String name,
      List<Problem> problems) throws IOException {
    try (BufferedReader in = Files.newBufferedReader(file, StandardCharsets.UTF_8)) {
      String headerLine = in.readLine();
      if (headerLine == null) {
        throw new IllegalArgumentException(name + " is empty: it needs a header line " + String.join(",", required));
      }
      if (headerLine.startsWith("\uFEFF")) {
        headerLine = headerLine.substring(1); // a byte order mark some spreadsheets write
      }
      String[] header = fields(headerLine);
      if (header == null) {
        throw new IllegalArgumentException(name + ":1: the header line is not valid CSV");
      }
      Map<String, Integer> columns = new HashMap<>();
      for (int i = 0; i < header.length; i++) {
        columns.putIfAbsent(header[i].trim().toLowerCase(Locale.ROOT), i);
      }
      List<String> missing = required.stream().filter(c -> !columns.containsKey(c)).toList();
      if (!missing.isEmpty()) {
        throw new IllegalArgumentException(name + ":1: the header " + Arrays.toString(header) + " lacks the column(s) "
            + missing + " (expected " + String.join(",", required) + ")");
      }
      String text;
      long line = 1;
      while ((text = in.readLine()) != null) {
        line++;
        if (text.isBlank()) {
          continue;
        }
        String[] f = fields(text);
        String problem;
        if (f == null) {
          problem = "not valid CSV (an unbalanced quote?)";
        } else if (f.length != header.length) {
          problem = f.length + " fields, the header has " + header.length;
        } else {
          Map<String, String> row = new HashMap<>();
          columns.forEach((col, i) -> row.put(col, f[i].trim()));
          problem = handler.accept(line, row);
        }
        if (problem != null) {
          problems.add(new Problem(name, line, problem));
        }
      }
    }
  }

  /** The fields of one CSV line, or null if it is not valid CSV. */
  private static String[] fields(String line) {
    try {
      String[] f = LINE.readValue(line);
      return f == null ? new String[] {""} : f;
    } catch (IOException e) {
      return null;
    }
  }

  private static Long wholeNumber(String s) {
    try {
      return Long.parseLong(s);
    } catch (NumberFormatException e) {
      return null;
    }
  }

  /**
   * Epoch milliseconds, or an ISO-8601 date-time with an offset. A time without an offset is
   * refused rather than guessed: the same history must replay alike in every time zone.
   */
  static long timestamp(String s) {
    long ms;
    if (!s.isEmpty() && s.chars().allMatch(Character::isDigit)) {
      Long v = wholeNumber(s);
      if (v == null) {
        throw new IllegalArgumentException("'" + s + "' is too large for epoch milliseconds");
      }
      ms = v;
    } else {
      try {
        ms = OffsetDateTime.parse(s).toInstant().toEpochMilli();
      } catch (DateTimeParseException e) {
        throw new IllegalArgumentException("'" + s + "' is neither epoch milliseconds nor an ISO-8601 date-time"
            + " with an offset (e.g. 2024-05-01T12:00:00Z)");
      }
    }
    if (ms <= 0) {
      throw new IllegalArgumentException("'" + s + "' is not after 1970-01-01T00:00:00Z");
    }
    return ms;
  }
}
