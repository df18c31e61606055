package io.slatestream.config;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * How every slatestream command reads its arguments: {@code --key value} or {@code --key=value},
 * in order, and {@code --flag} alone for the command's flags. Each command decides what a key
 * means; keys it does not know are usually job options ({@link JobOptions}).
 */
public final class CommandLine {
  private CommandLine() {}

  /** One argument: its key without the leading {@code --}, and its value ({@code "true"} for a flag). */
  public record Arg(String key, String value) {}

  /** The arguments in the order given; a flag is a key in {@code flags} given without a value. */
  public static List<Arg> parse(String[] args, Set<String> flags) {
    List<Arg> out = new ArrayList<>();
    for (int i = 0; i < args.length; i++) {
      String arg = args[i];
      if (!arg.startsWith("--") || arg.length() == 2) {
        throw new IllegalArgumentException("Expected --option value, got '" + arg + "'");
      }
      int eq = arg.indexOf('=');
      if (eq > 2) {
        out.add(new Arg(arg.substring(2, eq), arg.substring(eq + 1)));
      } else if (flags.contains(arg.substring(2))) {
        out.add(new Arg(arg.substring(2), "true"));
      } else if (i + 1 < args.length) {
        out.add(new Arg(arg.substring(2), args[++i]));
      } else {
        throw new IllegalArgumentException("Missing value for '" + arg + "'");
      }
    }
    return out;
  }

  /** {@link #parse(String[], Set)} for a command without flags. */
  public static List<Arg> parse(String... args) {
    return parse(args, Set.of());
  }

  /** A boolean option's value: exactly {@code true} or {@code false}. */
  public static boolean bool(Arg arg) {
    return switch (arg.value()) {
      case "true" -> true;
      case "false" -> false;
      default -> throw new IllegalArgumentException("--" + arg.key() + " takes true or false, not '" + arg.value() + "'");
    };
  }
}
