/**
 * Entry point of the `encdec` command line: `run`, `download`, `env`, `train`, `eval`.
 *
 * Run it with the least-privilege flags of `deno task encdec` (see `permissions.ts`). Errors are
 * one line on stderr; exit status 0 ok, 1 runtime error, 2 usage error; `ENCDEC_DEBUG=1` adds
 * the stack trace.
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
import { evalCommand, trainCommand } from "./commands/_training.ts";

/** The sub-commands, in `--help` order. */
export const COMMANDS: readonly Command[] = [
  runCommand,
  downloadCommand,
  envCommand,
  trainCommand,
  evalCommand,
];

function help(): string {
  const w = Math.max(...COMMANDS.map((c) => c.name.length));
  return `encdec: encoder-decoder models (bert2bert, roberta2roberta, bert2gpt2, BertGeneration) in Deno

Usage: encdec <command> [options]        encdec <command> --help

Commands
${COMMANDS.map((c) => `  ${c.name.padEnd(w)}  ${c.summary}`).join("\n")}

Exit status: 0 ok, 1 runtime error, 2 usage error. ENCDEC_DEBUG=1 prints stack traces.
`;
}

/** Runs the command line `args` (without the program name); resolves to the exit status. */
export async function main(args: string[]): Promise<number> {
  try {
    const [name, ...rest] = args;
    if (name === undefined || name === "-h" || name === "--help" || name === "help") {
      await writeOut(help());
      return name === undefined ? EXIT_USAGE : EXIT_OK;
    }
    const command = COMMANDS.find((c) => c.name === name);
    if (!command) {
      throw new UsageError(
        `unknown command "${name}"; expected one of ${COMMANDS.map((c) => c.name).join(", ")} ` +
          `(see encdec --help)`,
      );
    }
    return await command.run(rest);
  } catch (e) {
    writeErr(formatError(e));
    if (debugEnabled() && e instanceof Error && e.stack) writeErr(e.stack);
    return exitCodeFor(e);
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
