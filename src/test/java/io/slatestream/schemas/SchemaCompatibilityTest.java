package io.slatestream.schemas;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import org.apache.avro.Schema;
import org.apache.avro.SchemaCompatibility;
import org.apache.avro.SchemaCompatibility.SchemaCompatibilityType;
import org.apache.avro.specific.SpecificData;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Schemas evolve only in ways that keep old data readable: topics hold records written by earlier
 * releases, and savepoints hold state written by them. Each release's schemas are committed under
 * src/test/resources/schemas/vN; the schemas of the code must read data written with every one.
 * (Add a new vN folder when a release ships; never edit an old one.)
 */
class SchemaCompatibilityTest {

  static Stream<Path> releases() throws Exception {
    try (Stream<Path> s = Files.list(Path.of("src", "test", "resources", "schemas"))) {
      return s.filter(Files::isDirectory).sorted().toList().stream();
    }
  }

  /** Every named record and enum of one release, by full name. */
  static Map<String, Schema> parse(Path root) throws Exception {
    Schema.Parser parser = new Schema.Parser();
    List<Path> files = new ArrayList<>();
    // Dependencies first, as the build imports them.
    for (String first : List.of("common", "Item.avsc", "ModelRelease.avsc", "state/ItemStats.avsc")) {
      Path p = root.resolve(first);
      if (Files.isDirectory(p)) {
        try (Stream<Path> s = Files.list(p)) {
          s.sorted().forEach(files::add);
        }
      } else if (Files.exists(p)) {
        files.add(p);
      }
    }
    try (Stream<Path> s = Files.walk(root)) {
      s.filter(p -> p.toString().endsWith(".avsc")).sorted().filter(p -> !files.contains(p)).forEach(files::add);
    }
    Map<String, Schema> byName = new TreeMap<>();
    for (Path f : files) {
      Schema schema = parser.parse(f.toFile());
      byName.put(schema.getFullName(), schema);
    }
    return byName;
  }

  @ParameterizedTest
  @MethodSource("releases")
  void theCodesSchemasReadEverythingAnEarlierReleaseWrote(Path release) throws Exception {
    Map<String, Schema> old = parse(release);
    assertThat(old).as("schemas of %s", release).isNotEmpty();
    for (Map.Entry<String, Schema> e : old.entrySet()) {
      Class<?> generated = Class.forName(e.getKey());
      Schema current = SpecificData.get().getSchema(generated);
      SchemaCompatibility.SchemaPairCompatibility c =
          SchemaCompatibility.checkReaderWriterCompatibility(current, e.getValue());
      assertThat(c.getType()).as("%s of %s readable by today's schema: %s", e.getKey(), release, c.getDescription())
          .isEqualTo(SchemaCompatibilityType.COMPATIBLE);
    }
  }

  @ParameterizedTest
  @MethodSource("releases")
  void noTypeOfAnEarlierReleaseIsRemoved(Path release) throws Exception {
    // A type that disappears cannot read its old data at all.
    for (String name : parse(release).keySet()) {
      assertThat(Class.forName(name)).as("%s still generated", name).isNotNull();
    }
  }
}
