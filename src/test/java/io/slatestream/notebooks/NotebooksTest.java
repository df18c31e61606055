package io.slatestream.notebooks;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The notebooks are kept as sources: no outputs or execution counts committed (outputs belong to a
 * run on someone's data, in target/), on the standard Python 3 kernel, in nbformat 4.
 */
class NotebooksTest {

  static Stream<Path> notebooks() throws Exception {
    try (Stream<Path> s = Files.list(Path.of("notebooks"))) {
      List<Path> found = s.filter(p -> p.toString().endsWith(".ipynb")).sorted().toList();
      assertThat(found).extracting(p -> p.getFileName().toString())
          .contains("model.ipynb", "savepoint-analysis.ipynb");
      return found.stream();
    }
  }

  @ParameterizedTest
  @MethodSource("notebooks")
  void isCommittedWithoutOutputs(Path notebook) throws Exception {
    JsonNode nb = new ObjectMapper().readTree(notebook.toFile());
    assertThat(nb.path("nbformat").asInt()).isEqualTo(4);
    assertThat(nb.at("/metadata/kernelspec/name").asText()).isEqualTo("python3");
    JsonNode cells = nb.path("cells");
    assertThat(cells.size()).isPositive();
    for (JsonNode cell : cells) {
      if (cell.path("cell_type").asText().equals("code")) {
        assertThat(cell.path("outputs").size()).as("outputs of %s", cell.path("source")).isZero();
        assertThat(cell.path("execution_count").isNull()).as("execution count of %s", cell.path("source")).isTrue();
      }
    }
    assertThat(cells.get(0).path("cell_type").asText()).as("opens with an explanation").isEqualTo("markdown");
  }
}
