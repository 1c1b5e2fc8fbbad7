/**
 * `deno task fuzz`: the seeded, reproducible fuzz run over every parser of untrusted model files.
 *
 * ```
 * deno task fuzz [--target NAME]... [--iterations N] [--seed S] [--time-limit-ms T]
 *                [--input-timeout-ms T] [--rss-limit-mb M] [--only I] [--replay FILE] [--list]
 * ```
 *
 * Prints one table row per target (inputs, accepted, typed errors, crashes, hangs, memory
 * findings, max RSS), saves each failing input to `fuzz/crashes/<target>-<seed>-<i>.bin` with
 * the command that replays it, and exits 1 when anything crashed, hung or exceeded the memory
 * bound (0 otherwise).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { formatTable, fuzzTarget, type TargetReport } from "./harness.ts";
import { targetByName, TARGETS } from "./targets.ts";

const USAGE =
  `usage: deno task fuzz [--target NAME]... [--iterations N] [--seed S] [--time-limit-ms T]
                      [--input-timeout-ms T] [--rss-limit-mb M] [--only I] [--replay FILE] [--list]`;

function int(value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new Error(`${flag} must be a non-negative integer, got "${value}"\n${USAGE}`);
  }
  return n;
}

/** Runs the CLI with `args`; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      target: { type: "string", multiple: true },
      iterations: { type: "string" },
      seed: { type: "string" },
      "time-limit-ms": { type: "string" },
      "input-timeout-ms": { type: "string" },
      "rss-limit-mb": { type: "string" },
      only: { type: "string" },
      replay: { type: "string" },
      "crash-dir": { type: "string" },
      list: { type: "boolean" },
      help: { type: "boolean" },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (values.list) {
    for (const t of TARGETS) console.log(`${t.name.padEnd(24)} ${t.description}`);
    return 0;
  }
  const names = values.target ?? TARGETS.map((t) => t.name);
  for (const n of names) targetByName(n);
  const seed = int(values.seed, "--seed", 1);
  const only = values.only === undefined ? undefined : int(values.only, "--only", 0);
  const replay = values.replay === undefined ? undefined : await Deno.readFile(values.replay);
  const iterations = only !== undefined || replay
    ? 1
    : int(values.iterations, "--iterations", 10_000);
  const timeLimit = values["time-limit-ms"] === undefined
    ? undefined
    : int(values["time-limit-ms"], "--time-limit-ms", 0);
  const crashDir = values["crash-dir"] ?? new URL("./crashes", import.meta.url).pathname;
  const reports: TargetReport[] = [];
  const t0 = Date.now();
  for (const name of names) {
    const left = timeLimit === undefined ? undefined : Math.max(0, timeLimit - (Date.now() - t0));
    const r = await fuzzTarget(name, {
      iterations,
      seed,
      first: only ?? 0,
      timeLimitMs: left === undefined
        ? undefined
        : Math.floor(left / Math.max(1, names.length - reports.length)),
      inputTimeoutMs: int(values["input-timeout-ms"], "--input-timeout-ms", 5000),
      rssLimitBytes: int(values["rss-limit-mb"], "--rss-limit-mb", 4096) * 2 ** 20,
      crashDir: replay ? undefined : crashDir,
      replay,
    });
    reports.push(r);
    const bad = r.findings.length;
    console.error(
      `${name}: ${r.inputs} inputs, ${r.ok} ok, ${r.typed} typed errors, ${bad} findings` +
        (r.seeds.errors.length
          ? `; ${r.seeds.errors.length}/${r.seeds.total} seeds REJECTED: ${r.seeds.errors[0]}`
          : ""),
    );
    for (const f of r.findings) {
      console.error(
        `  #${f.index} ${f.outcome} ${f.kind}: ${f.message}${f.stack ? `\n    at ${f.stack}` : ""}`,
      );
      if (f.repro) console.error(`    repro: ${f.repro}`);
    }
  }
  console.log(
    `\nfuzz seed ${seed}, ${iterations} inputs per target${
      timeLimit !== undefined ? `, time limit ${timeLimit} ms` : ""
    }`,
  );
  console.log(formatTable(reports));
  return reports.some((r) => r.findings.length > 0) ? 1 : 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
