/**
 * Entry point of the `encdec` command line: `run`, `download`, `env`, `train`, `eval`.
 *
 * `deno task encdec` starts it through the launcher (`launch.ts`) with the least-privilege flags
 * of the invocation (see `permissions.ts`). Errors are one line on stderr (usage errors add the
 * command's usage line); exit status 0 ok, 1 runtime error, 2 usage error; `ENCDEC_DEBUG=1` adds
 * the stack trace. `encdec` alone prints the usage on stderr and exits 2; `--help` prints it on
 * stdout and exits 0; `--version` prints the version.
 *
 * @example
 * ```ts
 * import { main } from "./main.ts";
 * const status = await main(["env"]);
 * ```
 *
 * @module
 */
import {
  type Command,
  debugEnabled,
  EXIT_OK,
  EXIT_USAGE,
  exitCodeFor,
  formatError,
  UsageError,
  writeErr,
  writeOut,
} from "./_cli.ts";
import { downloadCommand } from "./commands/download.ts";
import { envCommand } from "./commands/env.ts";
import { runCommand } from "./commands/run.ts";
import { evalCommand } from "./commands/eval.ts";
import { trainCommand } from "./commands/train.ts";
import cliManifest from "./deno.json" with { type: "json" };

/** The sub-commands, in `--help` order. */
export const COMMANDS: readonly Command[] = [
  runCommand,
  downloadCommand,
  envCommand,
  trainCommand,
  evalCommand,
];

/** Commands with `-q, --quiet` (the others print no notes or progress). */
const QUIET_COMMANDS = new Set(["run", "download", "train"]);

function help(): string {
  const w = Math.max(...COMMANDS.map((c) => c.name.length));
  return `encdec: encoder-decoder models (bert2bert, roberta2roberta, bert2gpt2, BertGeneration) in Deno

Usage: encdec [-q] <command> [options]   encdec <command> --help        encdec --version

Commands
${COMMANDS.map((c) => `  ${c.name.padEnd(w)}  ${c.summary}`).join("\n")}

-q (before or after the command) silences notes and progress on stderr; errors still print.
Exit status: 0 ok, 1 runtime error, 2 usage error. ENCDEC_DEBUG=1 prints stack traces.
`;
}

/** Runs the command line `args` (without the program name); resolves to the exit status. */
export async function main(args: string[]): Promise<number> {
  let command: Command | undefined;
  try {
    // `encdec -q <command>`: the same as `<command> -q` for the commands that print notes.
    const quiet = args[0] === "-q" || args[0] === "--quiet";
    const [name, ...rest] = quiet ? args.slice(1) : args;
    if (name === undefined) {
      // Like git, cargo and argparse CLIs: a bare call is a usage error, the usage goes to stderr.
      writeErr(help());
      return EXIT_USAGE;
    }
    if (name === "-h" || name === "--help" || name === "help") {
      await writeOut(help());
      return EXIT_OK;
    }
    if (name === "-V" || name === "--version" || name === "version") {
      await writeOut(`encdec ${cliManifest.version}\n`);
      return EXIT_OK;
    }
    command = COMMANDS.find((c) => c.name === name);
    if (!command) {
      throw new UsageError(
        `unknown command "${name}"; expected one of ${COMMANDS.map((c) => c.name).join(", ")} ` +
          `(see encdec --help)`,
      );
    }
    return await command.run(
      quiet && QUIET_COMMANDS.has(command.name) ? ["--quiet", ...rest] : rest,
    );
  } catch (e) {
    writeErr(formatError(e));
    if (e instanceof UsageError) writeErr(usageLine(command));
    if (debugEnabled() && e instanceof Error && e.stack) writeErr(e.stack);
    return exitCodeFor(e);
  }
}

/** The `Usage:` line of a command's help (or of `encdec` itself). */
function usageLine(command: Command | undefined): string {
  const text = command ? command.help : help();
  return /^Usage: .*$/m.exec(text)?.[0] ?? "Usage: encdec <command> [options]";
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
