/**
 * What every `encdec` command shares: the `Command` shape, argument parsing on `node:util`
 * `parseArgs` with usage errors, typed number options, stdout writing and the one-line error
 * report with its exit code.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { EncdecError, InvalidRepoIdError } from "@encdec/config";

/** Exit status: success. */
export const EXIT_OK = 0;
/** Exit status: the command was valid but failed (model, Hub, device, permission, ...). */
export const EXIT_RUNTIME = 1;
/** Exit status: bad command line or unusable input (unknown option, empty or binary stdin). */
export const EXIT_USAGE = 2;

/** A command line or input the user has to fix; exit status 2. */
export class UsageError extends EncdecError {}

/** A read, write or network access outside the permissions the CLI was started with. */
export class AccessDeniedError extends EncdecError {}

/** One `encdec` sub-command. */
export interface Command {
  /** Name on the command line (`run`). */
  name: string;
  /** One line for `encdec --help`. */
  summary: string;
  /** Full `--help` text. */
  help: string;
  /** Runs with the arguments after the command name; resolves to the exit status. */
  run(args: string[]): Promise<number>;
}

/** Option table of `parseArgs`. */
export type OptionSpec = Record<
  string,
  { type: "string" | "boolean"; short?: string; multiple?: boolean }
>;

/** Parsed options and positionals. */
export interface Parsed {
  /** Option values by long name. */
  values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  /** Positional arguments. */
  positionals: string[];
}

/** `parseArgs` (strict) with `-h/--help`; its errors become `UsageError` naming the command. */
export function parseCommandArgs(command: string, args: string[], options: OptionSpec): Parsed {
  try {
    const { values, positionals } = parseArgs({
      args,
      options: { ...options, help: { type: "boolean", short: "h" } },
      allowPositionals: true,
      strict: true,
    });
    return { values: values as Parsed["values"], positionals };
  } catch (e) {
    const msg = (e as Error).message.replace(/\. To specify a positional.*$/s, "");
    throw new UsageError(`${command}: ${msg}; see encdec ${command} --help`);
  }
}

/** A string option, or `undefined`. */
export function str(p: Parsed, name: string): string | undefined {
  const v = p.values[name];
  return typeof v === "string" ? v : undefined;
}

/** A number option (`--top-p 0.9`), checked; `undefined` when absent. */
export function num(
  p: Parsed,
  name: string,
  kind: "int" | "float",
  check?: (v: number) => boolean,
  expected = kind === "int" ? "an integer" : "a number",
): number | undefined {
  const raw = str(p, name);
  if (raw === undefined) return undefined;
  const v = Number(raw);
  if (raw.trim() === "" || !Number.isFinite(v) || (kind === "int" && !Number.isInteger(v))) {
    throw new UsageError(`--${name}: expected ${expected}, got "${raw}"`);
  }
  if (check && !check(v)) throw new UsageError(`--${name}: expected ${expected}, got ${raw}`);
  return v;
}

/** An option restricted to `choices`. */
export function choice<T extends string>(
  p: Parsed,
  name: string,
  choices: readonly T[],
): T | undefined {
  const raw = str(p, name);
  if (raw === undefined) return undefined;
  if (!(choices as readonly string[]).includes(raw)) {
    throw new UsageError(`--${name}: expected one of ${choices.join(", ")}, got "${raw}"`);
  }
  return raw as T;
}

const encoder = new TextEncoder();

/** Writes `text` to stdout completely; a closed pipe (`encdec run | head`) ends quietly. */
export async function writeOut(text: string): Promise<void> {
  let bytes = encoder.encode(text);
  try {
    while (bytes.length > 0) bytes = bytes.subarray(await Deno.stdout.write(bytes));
  } catch (e) {
    if (e instanceof Deno.errors.BrokenPipe) return;
    throw e;
  }
}

/** Writes one line to stderr. */
export function writeErr(line: string): void {
  try {
    Deno.stderr.writeSync(encoder.encode(line.endsWith("\n") ? line : line + "\n"));
  } catch {
    // stderr closed: nothing left to tell.
  }
}

/** The exit status for an error: usage errors 2, everything else 1. */
export function exitCodeFor(e: unknown): number {
  return e instanceof UsageError || e instanceof InvalidRepoIdError ? EXIT_USAGE : EXIT_RUNTIME;
}

function oneLine(s: string): string {
  return s.replace(/\s*\n\s*/g, " ").trim();
}

/**
 * The one line printed for an error: encdec's own errors by message, permission denials with the
 * flag that allows them, anything else by type and message (`ENCDEC_DEBUG=1` adds the stack).
 */
export function formatError(e: unknown): string {
  if (e instanceof EncdecError) return `encdec: error: ${oneLine(e.message)}`;
  if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) {
    const m = /Requires (\w+) access to (.+?), run again with the (--allow-\w+) flag/.exec(
      e.message,
    );
    if (m) {
      return `encdec: error: ${m[1]} access to ${m[2]} is not permitted: encdec runs with ` +
        `least-privilege permissions; add ${m[3]}=${m[2].replace(/^"|"$/g, "")} if you mean it`;
    }
    return `encdec: error: permission denied: ${oneLine(e.message)}`;
  }
  if (e instanceof Error) {
    return `encdec: unexpected error: ${e.name}: ${
      oneLine(e.message)
    } (set ENCDEC_DEBUG=1 for details)`;
  }
  return `encdec: unexpected error: ${oneLine(String(e))}`;
}

/** Whether `ENCDEC_DEBUG` asks for stack traces (false when env access is not granted). */
export function debugEnabled(): boolean {
  try {
    const v = Deno.env.get("ENCDEC_DEBUG");
    return v !== undefined && v !== "" && v !== "0";
  } catch {
    return false;
  }
}
