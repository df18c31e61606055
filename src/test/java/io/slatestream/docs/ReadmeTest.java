package io.slatestream.docs;

import static org.assertj.core.api.Assertions.assertThat;

import io.slatestream.config.JobOptions;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.flink.configuration.ConfigOption;
import org.junit.jupiter.api.Test;

/** The README is the user's reference: it must document every option and promise two commands. */
class ReadmeTest {
  private final String readme = read();

  private static String read() {
    try {
      return Files.readString(Path.of("README.md"));
    } catch (Exception e) {
      throw new IllegalStateException(e);
    }
  }

  @Test
  void documentsEveryOptionWithItsDefault() {
    for (ConfigOption<?> o : JobOptions.all()) {
      Pattern row = Pattern.compile("^\\| `" + Pattern.quote(o.key()) + "` \\| `([^`]*)` \\|", Pattern.MULTILINE);
      Matcher m = row.matcher(readme);
      assertThat(m.find()).as("README documents option %s", o.key()).isTrue();
      assertThat(m.group(1)).as("README default of %s", o.key()).isNotBlank();
    }
  }

  @Test
  void documentsNoOptionThatDoesNotExist() {
    List<String> keys = JobOptions.all().stream().map(ConfigOption::key).toList();
    Matcher m = Pattern.compile("^\\| `([a-z.-]+)` \\| `", Pattern.MULTILINE).matcher(readme);
    while (m.find()) {
      assertThat(keys).as("README row %s is a real option", m.group(1)).contains(m.group(1));
    }
  }

  @Test
  void quickStartHoldsTheRunAndTestCommandsThatCiUses() throws Exception {
    String quickStart = readme.substring(readme.indexOf("## Quick start"), readme.indexOf("## What is where"));
    List<String> commands = Pattern.compile("```bash\\n(.*?)\\n```", Pattern.DOTALL).matcher(quickStart)
        .results().map(r -> r.group(1).trim()).toList();
    assertThat(commands).containsExactly("mvn -Plocal", "mvn verify");
    assertThat(Files.readString(Path.of(".ci/run"))).contains("mvn -B verify");
  }
}
