/**
 * The fuzz harness: runs a target's inputs in a Worker under a per-input time bound and an RSS
 * bound, classifies every outcome (accepted, typed `EncdecError`, crash, hang, memory), saves the
 * inputs that failed with the command that replays them, and prints a table.
 *
 * Input `i` of a run with seed `s` is a pure function of `(target, s, i)`, so any finding is
 * reproduced by `deno task fuzz --target T --seed s --only i`, or from its saved bytes by
 * `--replay FILE`.
 *
 * @module
 */
import { inputSeed, Rand } from "./mutate.ts";
import { seedsOf, targetByName } from "./targets.ts";

/** Slots of the shared progress array the worker writes and the main thread reads. */
export const SLOT = {
  index: 0,
  started: 1,
  stop: 2,
  ok: 3,
  typed: 4,
  crashes: 5,
  done: 6,
  slowestMs: 7,
} as const;

/** Message to the worker. */
export interface WorkerRequest {
  /** Target name. */
  target: string;
  /** Seed of the run. */
  runSeed: number;
  /** First input index (inclusive). */
  from: number;
  /** Last input index (exclusive). */
  to: number;
  /** Scratch directory of the target (file-based targets write their input here). */
  dir: string;
  /** Shared `Float64Array` buffer, laid out by {@link SLOT}. */
  progress: SharedArrayBuffer;
  /** Run the unmutated seeds first and report which are rejected. */
  checkSeeds: boolean;
  /** Bytes to run instead of a generated input (`--replay`). */
  replay?: Uint8Array;
}

/** Message from the worker. */
export type WorkerMessage =
  | { type: "seeds"; total: number; errors: string[] }
  | { type: "crash"; index: number; kind: string; message: string; stack: string }
  | { type: "done" };

/** Options of {@link fuzzTarget}. */
export interface FuzzOptions {
  /** Number of inputs (indices `first .. first + iterations - 1`). */
  iterations: number;
  /** Seed of the run (32-bit). */
  seed: number;
  /** First input index (default 0); with `iterations: 1` this is `--only`. */
  first?: number;
  /** Stop starting new inputs after this many milliseconds (default: no limit). */
  timeLimitMs?: number;
  /** An input running longer than this is a hang (default 5000 ms). */
  inputTimeoutMs?: number;
  /** Resident set size above which the running input is a memory finding (default 4 GiB). */
  rssLimitBytes?: number;
  /** Where failing inputs are saved (default: not saved). */
  crashDir?: string;
  /** Bytes to run instead of generated inputs. */
  replay?: Uint8Array;
}

/** One failing input. */
export interface Finding {
  /** Input index. */
  index: number;
  /** `crash` (an error that is not an `EncdecError`), `hang` or `memory`. */
  outcome: "crash" | "hang" | "memory";
  /** Error class, or the bound that was exceeded. */
  kind: string;
  /** Error message or bound details. */
  message: string;
  /** Top stack frames (crashes). */
  stack?: string;
  /** Where the input was saved. */
  file?: string;
  /** Command that replays the input. */
  repro: string;
}

/** What one target's run found. */
export interface TargetReport {
  /** Target name. */
  target: string;
  /** Seed of the run. */
  seed: number;
  /** Inputs run. */
  inputs: number;
  /** Inputs the parser accepted. */
  ok: number;
  /** Inputs rejected with an `EncdecError` (the expected way to fail). */
  typed: number;
  /** Crashes, hangs and memory findings. */
  findings: Finding[];
  /** Largest RSS of the process seen during the run, in bytes. */
  maxRssBytes: number;
  /** Slowest input that finished, in milliseconds. */
  slowestMs: number;
  /** Unmutated seeds run and those rejected (with messages). */
  seeds: { total: number; errors: string[] };
  /** Wall time of the run. */
  elapsedMs: number;
}

/** Regenerates input `index` of the run `(target, seed)` exactly as the worker made it. */
export async function regenerateInput(
  target: string,
  seed: number,
  index: number,
): Promise<Uint8Array> {
  const t = targetByName(target);
  return await t.generate(new Rand(inputSeed(seed, index)), await seedsOf(t));
}

/**
 * Fuzzes one target: inputs run in a Worker; a watchdog ticking every 20 ms terminates the
 * worker when the current input exceeds the time bound or the process exceeds the RSS bound,
 * records the finding and starts a fresh worker at the next index.
 *
 * @example
 * ```ts ignore
 * import { fuzzTarget } from "./harness.ts";
 * const report = await fuzzTarget("safetensors", { iterations: 200, seed: 1 });
 * report.findings.length; // 0
 * ```
 */
export async function fuzzTarget(name: string, opts: FuzzOptions): Promise<TargetReport> {
  targetByName(name);
  const first = opts.first ?? 0;
  const end = first + opts.iterations;
  const timeout = opts.inputTimeoutMs ?? 5000;
  const rssLimit = opts.rssLimitBytes ?? 4 * 1024 ** 3;
  const t0 = Date.now();
  const dir = await Deno.makeTempDir({ prefix: `encdec-fuzz-${name}-` });
  const report: TargetReport = {
    target: name,
    seed: opts.seed,
    inputs: 0,
    ok: 0,
    typed: 0,
    findings: [],
    maxRssBytes: Deno.memoryUsage().rss,
    slowestMs: 0,
    seeds: { total: 0, errors: [] },
    elapsedMs: 0,
  };
  const repro = (i: number) =>
    opts.replay ? "" : `deno task fuzz --target ${name} --seed ${opts.seed} --only ${i}`;
  let next = first;
  let checkSeeds = !opts.replay;
  try {
    while (next < end) {
      const progress = new SharedArrayBuffer(8 * 8);
      const shared = new Float64Array(progress);
      shared[SLOT.index] = next;
      const worker = new Worker(new URL("./_worker.ts", import.meta.url).href, { type: "module" });
      const outcome = await new Promise<{ stoppedAt?: number; finding?: Finding }>(
        (resolve, reject) => {
          let settled = false;
          const finish = (v: { stoppedAt?: number; finding?: Finding }) => {
            if (settled) return;
            settled = true;
            clearInterval(tick);
            worker.terminate();
            resolve(v);
          };
          const tick = setInterval(() => {
            const rss = Deno.memoryUsage().rss;
            report.maxRssBytes = Math.max(report.maxRssBytes, rss);
            if (opts.timeLimitMs !== undefined && Date.now() - t0 > opts.timeLimitMs) {
              shared[SLOT.stop] = 1;
            }
            const started = shared[SLOT.started];
            const i = shared[SLOT.index];
            if (started > 0 && Date.now() - started > timeout) {
              finish({
                stoppedAt: i,
                finding: {
                  index: i,
                  outcome: "hang",
                  kind: "timeout",
                  message: `still running after ${timeout} ms`,
                  repro: repro(i),
                },
              });
            } else if (started > 0 && rss > rssLimit) {
              finish({
                stoppedAt: i,
                finding: {
                  index: i,
                  outcome: "memory",
                  kind: "rss",
                  message: `process RSS ${(rss / 2 ** 20).toFixed(0)} MiB > limit ${
                    (rssLimit / 2 ** 20).toFixed(0)
                  } MiB`,
                  repro: repro(i),
                },
              });
            }
          }, 20);
          worker.onmessage = (ev: MessageEvent<WorkerMessage>) => {
            const m = ev.data;
            if (m.type === "seeds") report.seeds = { total: m.total, errors: m.errors };
            else if (m.type === "crash") {
              report.findings.push({
                index: m.index,
                outcome: "crash",
                kind: m.kind,
                message: m.message,
                stack: m.stack,
                repro: repro(m.index),
              });
            } else finish({});
          };
          worker.onerror = (ev: ErrorEvent) => {
            // An error that escaped the target (an unawaited rejection, a throw in a callback).
            ev.preventDefault();
            const i = shared[SLOT.index];
            if (shared[SLOT.started] === 0 && shared[SLOT.done] === 0) {
              // Not inside an input: the worker itself failed to start (a harness or import error).
              clearInterval(tick);
              worker.terminate();
              settled = true;
              reject(
                new Error(`fuzz worker for "${name}" failed before its first input: ${ev.message}`),
              );
              return;
            }
            finish({
              stoppedAt: i,
              finding: {
                index: i,
                outcome: "crash",
                kind: "uncaught",
                message: String(ev.message).slice(0, 500),
                repro: repro(i),
              },
            });
          };
          worker.postMessage(
            {
              target: name,
              runSeed: opts.seed,
              from: next,
              to: end,
              dir,
              progress,
              checkSeeds,
              replay: opts.replay,
            } satisfies WorkerRequest,
          );
        },
      );
      checkSeeds = false;
      report.ok += shared[SLOT.ok];
      report.typed += shared[SLOT.typed];
      report.inputs += shared[SLOT.done];
      report.slowestMs = Math.max(report.slowestMs, shared[SLOT.slowestMs]);
      if (outcome.finding) {
        report.findings.push(outcome.finding);
        report.inputs++;
      }
      if (outcome.stoppedAt === undefined) break; // worker finished its range, or was told to stop
      next = outcome.stoppedAt + 1;
      if (opts.timeLimitMs !== undefined && Date.now() - t0 > opts.timeLimitMs) break;
    }
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
  report.findings.sort((a, b) => a.index - b.index);
  if (opts.crashDir && !opts.replay && report.findings.length > 0) {
    await Deno.mkdir(opts.crashDir, { recursive: true });
    for (const f of report.findings) {
      const file = `${opts.crashDir}/${name}-${opts.seed}-${f.index}.bin`;
      await Deno.writeFile(file, await regenerateInput(name, opts.seed, f.index));
      f.file = file;
      f.repro += `  (or: deno task fuzz --target ${name} --replay ${file})`;
    }
  }
  report.elapsedMs = Date.now() - t0;
  return report;
}

/** Formats reports as a Markdown table: inputs, ok, typed errors, crashes, hangs, memory, max RSS. */
export function formatTable(reports: TargetReport[]): string {
  const rows = [
    [
      "target",
      "inputs",
      "ok",
      "typed errors",
      "crashes",
      "hangs",
      "memory",
      "max RSS",
      "slowest",
      "time",
    ],
    ...reports.map((r) => {
      const n = (o: Finding["outcome"]) => String(r.findings.filter((f) => f.outcome === o).length);
      return [
        r.target,
        String(r.inputs),
        String(r.ok),
        String(r.typed),
        n("crash"),
        n("hang"),
        n("memory"),
        `${(r.maxRssBytes / 2 ** 20).toFixed(0)} MiB`,
        `${r.slowestMs.toFixed(0)} ms`,
        `${(r.elapsedMs / 1000).toFixed(1)} s`,
      ];
    }),
  ];
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  const line = (r: string[]) =>
    `| ${r.map((x, c) => (c === 0 ? x.padEnd(widths[c]) : x.padStart(widths[c]))).join(" | ")} |`;
  return [
    line(rows[0]),
    `|${widths.map((w, c) => (c === 0 ? "-".repeat(w + 2) : "-".repeat(w + 1) + ":")).join("|")}|`,
    ...rows.slice(1).map(line),
  ].join("\n");
}
