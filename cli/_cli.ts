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

/** The first Deno permission denial in `e` or its `cause` chain (a wrapped denial included). */
function findDenial(e: unknown): Error | undefined {
  for (let c = e, depth = 0; c instanceof Error && depth < 8; c = c.cause, depth++) {
    if (c instanceof Deno.errors.NotCapable || c instanceof Deno.errors.PermissionDenied) return c;
  }
  return undefined;
}

/** What a denial means and how to allow it, in one clause. */
function denialText(denial: Error): string {
  const m = /Requires (\w+) access to (.+?), run again with the (--allow-\w+) flag/.exec(
    denial.message,
  );
  if (!m) return `permission denied: ${oneLine(denial.message)}`;
  const [, kind, target, flag] = m;
  const bare = target.replace(/^"|"$/g, "");
  const hint = kind === "net"
    ? `deno task encdec allows only the Hub's hosts or HF_ENDPOINT's; for a mirror whose files ` +
      `redirect elsewhere set ENCDEC_ALLOW_HOSTS=${bare}`
    : `deno task encdec grants the paths named on the command line and the Hub cache; ` +
      `started by hand, add ${flag}=${bare}`;
  return `${kind} access to ${target} is not permitted for this call (least-privilege ` +
    `permissions): ${hint}`;
}

/**
 * The one line printed for an error: encdec's own errors by message, permission denials with the
 * way to allow them (also when another error wraps the denial, so a denied read is never reported
 * as "not found" alone), anything else by type and message (`ENCDEC_DEBUG=1` adds the stack).
 *
 * @example
 * ```ts
 * import { formatError } from "./_cli.ts";
 * formatError(new Deno.errors.NotCapable('Requires net access to "cdn.example:443", run again with the --allow-net flag'));
 * // 'encdec: error: net access to "cdn.example:443" is not permitted for this call ...'
 * ```
 */
export function formatError(e: unknown): string {
  const denial = findDenial(e);
  if (e instanceof EncdecError) {
    const text = oneLine(e.message);
    return `encdec: error: ${text}${denial ? ` (${denialText(denial)})` : ""}`;
  }
  if (denial) return `encdec: error: ${denialText(denial)}`;
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
