/**
 * The side-by-side harness: makes (once) the shared bert2bert model, writes the plan every
 * contender reads, checks PyTorch's logits against encdec's, runs each contender on each
 * workload in its own process (interleaved per workload, so contenders see the same machine
 * load), and gathers a results object: median times, ratios to PyTorch, tokens/s, peak RSS,
 * decode-step time and generation overhead, and whether the generated ids agree.
 *
 * `bench/run.ts` is the command line; `tests/bench_smoke_test.ts` runs the `tiny` preset.
 *
 * @module
 */
import { ENCDEC_CONTENDERS } from "./_encdec_worker.ts";
import { ensureModel, modelDir } from "./make_model.ts";
import {
  buildWorkloads,
  checkInput,
  type Plan,
  PRESETS,
  type Settings,
  type WorkerResult,
  type WorkloadName,
  WORKLOADS,
} from "./_workloads.ts";
import { SPECIAL } from "./make_model.ts";

/** The PyTorch contender's name. */
export const TORCH = "pytorch";
/** Debian's Python, which has torch 1.13 (the pyenv `python3` on PATH has none). */
export const SYSTEM_PYTHON = "/usr/bin/python3";

/** Options of {@link runSuite}. */
export interface SuiteOptions {
  /** Preset: `full` (the workloads), `quick` or `tiny` (CI). */
  mode: Settings["mode"];
  /** Contenders to run (default: every available one). */
  contenders?: string[];
  /** Workloads to run (default: all four). */
  workloads?: WorkloadName[];
  /** Overrides the preset's repetitions. */
  reps?: number;
  /** Where the model and plan are cached (default `bench/.cache`). */
  cacheDir?: string;
  /** Seconds before a worker is killed (default: 1800 full, 600 quick, 120 tiny). */
  workerTimeoutS?: number;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
}

/** One (workload, contender) cell of the results. */
export interface ResultRow {
  workload: WorkloadName;
  label: string;
  contender: string;
  /** Timed repetitions that ran. */
  reps: number;
  medianMs: number | null;
  minMs: number | null;
  /** Median time / PyTorch's median on the same workload (null without PyTorch). */
  ratioToTorch: number | null;
  /** Input tokens/s (encoder) or generated tokens/s (generate: rows × new tokens / time). */
  tokensPerS: number | null;
  peakRssBytes: number | null;
  /** Peak RSS / the weight file's bytes. */
  peakRssToWeights: number | null;
  /** Median time of one decode step after the first (generate workloads), ms. */
  decodeStepMs: number | null;
  /** Median share of the time spent outside encode and decode steps, % (generate workloads). */
  overheadPct: number | null;
  /** Generated ids equal PyTorch's (null when either side has none). */
  sameIdsAsTorch: boolean | null;
  loadMs: number | null;
  /** Why the cell has no numbers. */
  error?: string;
}

/** What {@link runSuite} returns and `bench/results/latest.json` holds. */
export interface SuiteResults {
  schema: "encdec-bench/1";
  date: string;
  command: string;
  settings: Settings;
  machine: { cpu: string; cores: number; memoryGiB: number; shared: boolean; note: string };
  versions: Record<string, unknown>;
  model: { dir: string; weightBytes: number; config: string };
  /** PyTorch vs each contender's logits on the check input (null without PyTorch). */
  parity: Record<string, Parity> | null;
  contenders: string[];
  unavailable: { contender: string; reason: string }[];
  rows: ResultRow[];
  /** `bench/generation_overhead_bench.ts` output, when run. */
  generationOverhead?: GenerationOverhead;
}

/** One contender's logits against PyTorch's on the check input. */
export interface Parity {
  maxAbsDiff: number;
  /** Same argmax at every position. */
  sameArgmax: boolean;
  /** The bar for fp32 backends (bert-base size). */
  tolerance: number;
  ok: boolean;
}

/** The stub-model overhead bench compared with one real decode step. */
export interface GenerationOverhead {
  /** Lines printed by the overhead bench. */
  output: string[];
  /** Beam-4 overhead per step from that bench, ms (null if not parsed). */
  beam4StubMsPerStep: number | null;
  /** The fastest backend's beam-4 decode step (bert2bert-base), ms. */
  fastestDecodeStepMs: number | null;
  fastestContender: string | null;
  /** Stub overhead / decode step, %. Target < 5. */
  pct: number | null;
}

const median = (xs: number[]): number | null => {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** Runs a command; returns its stdout's last JSON line, or throws with stderr's tail. */
async function runJson(
  cmd: string,
  args: string[],
  timeoutS: number,
  env?: Record<string, string>,
  clearEnv?: string[],
): Promise<Record<string, unknown>> {
  const environment = { ...Deno.env.toObject(), ...env };
  for (const k of clearEnv ?? []) delete environment[k];
  const child = new Deno.Command(cmd, {
    args,
    stdout: "piped",
    stderr: "piped",
    env: environment,
    clearEnv: true,
    signal: AbortSignal.timeout(timeoutS * 1000),
  });
  let out: Deno.CommandOutput;
  try {
    out = await child.output();
  } catch (e) {
    throw new Error(`${cmd} ${args.join(" ")}: ${(e as Error).message}`);
  }
  const stdout = new TextDecoder().decode(out.stdout).trim();
  if (out.signal === "SIGTERM") throw new Error(`timed out after ${timeoutS} s`);
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).trim().split("\n").slice(-6).join(" | ");
    throw new Error(`exit ${out.code}: ${err || stdout.slice(-400)}`);
  }
  const last = stdout.split("\n").filter((l) => l.startsWith("{")).at(-1);
  if (!last) throw new Error(`no JSON line in output: ${stdout.slice(-400)}`);
  return JSON.parse(last);
}

const DENO_FLAGS = ["run", "--unstable-webgpu", "-A"];
const WORKER = new URL("./_encdec_worker.ts", import.meta.url).pathname;
const TORCH_REF = new URL("./torch_ref.py", import.meta.url).pathname;
/** OpenBLAS tuning variables left unset for the PyTorch process (see the README). */
export const TORCH_CLEAR_ENV = ["OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"];

function runWorkerProcess(
  plan: string,
  contender: string,
  what: string,
  timeoutS: number,
  extra: string[] = [],
): Promise<Record<string, unknown>> {
  if (contender === TORCH) {
    return runJson(SYSTEM_PYTHON, [TORCH_REF, plan, what, ...extra], timeoutS, {}, TORCH_CLEAR_ENV);
  }
  return runJson(
    Deno.execPath(),
    [...DENO_FLAGS, WORKER, plan, contender, what, ...extra],
    timeoutS,
  );
}

/** Which contenders can run here, and why the others cannot. */
export async function availableContenders(wanted?: readonly string[]): Promise<{
  available: string[];
  unavailable: { contender: string; reason: string }[];
}> {
  const available: string[] = ["encdec-cpu"];
  const unavailable: { contender: string; reason: string }[] = [];
  const probe = (c: string) => !wanted || wanted.includes(c);
  // WebGPU: only with an adapter; on a CPU (lavapipe/llvmpipe) adapter it is for reference only.
  if (probe("encdec-webgpu")) {
    try {
      const { WebGpuBackend } = await import("../modeling/backends/webgpu/mod.ts");
      const probe = await WebGpuBackend.probe();
      if (probe.available && probe.isFallbackAdapter && !wanted) {
        unavailable.push({
          contender: "encdec-webgpu",
          reason: `software adapter (${probe.description}): not run by default; ` +
            "name it in --contenders to measure it for reference",
        });
      } else if (probe.available) available.push("encdec-webgpu");
      else unavailable.push({ contender: "encdec-webgpu", reason: probe.reason ?? "no adapter" });
    } catch (e) {
      unavailable.push({ contender: "encdec-webgpu", reason: (e as Error).message });
    }
  }
  const onnx = ENCDEC_CONTENDERS.filter((c) => c.startsWith("onnx-") && probe(c));
  if (onnx.length > 0) {
    // Each runtime is tried on the tiny model: onnxruntime-node needs its native add-on.
    const tiny = await ensureModel("tiny");
    let mod: typeof import("../modeling/backends/onnx/mod.ts") | null = null;
    let why = "";
    try {
      mod = await import("../modeling/backends/onnx/mod.ts");
    } catch (e) {
      why = `onnx backend not available yet (${(e as Error).message.split("\n")[0]})`;
    }
    for (const runtime of ["node", "web"] as const) {
      const names = onnx.filter((c) => c.startsWith(`onnx-${runtime}-`));
      if (names.length === 0) continue;
      let reason = why;
      if (mod) {
        try {
          const m = await mod.OnnxEncoderDecoder.fromPretrained(tiny.dir, { runtime });
          await m.release();
        } catch (e) {
          reason = `onnxruntime-${runtime} failed to load: ${(e as Error).message.split("\n")[0]}`;
        }
      }
      for (const c of names) {
        if (reason) unavailable.push({ contender: c, reason });
        else available.push(c);
      }
    }
  }
  if (!probe(TORCH)) return { available, unavailable };
  try {
    const r = await new Deno.Command(SYSTEM_PYTHON, { args: ["-c", "import torch"] }).output();
    if (r.success) available.push(TORCH);
    else unavailable.push({ contender: TORCH, reason: `${SYSTEM_PYTHON} cannot import torch` });
  } catch {
    unavailable.push({ contender: TORCH, reason: `${SYSTEM_PYTHON} not found` });
  }
  return { available, unavailable };
}

async function machine(): Promise<SuiteResults["machine"]> {
  let cpu = "unknown";
  try {
    // `lscpu`: reading /proc/cpuinfo needs --allow-all in Deno 2.
    const r = await new Deno.Command("lscpu", { env: { LC_ALL: "C" }, stdout: "piped" }).output();
    cpu = new TextDecoder().decode(r.stdout).match(/Model name:\s*(.+)/)?.[1]?.trim() ?? cpu;
  } catch { /* no lscpu */ }
  return {
    cpu,
    cores: navigator.hardwareConcurrency,
    memoryGiB: Math.round(Deno.systemMemoryInfo().total / 2 ** 30),
    shared: true,
    note: "shared with other engineers' test runs; medians over repetitions",
  };
}

/** Parses the overhead bench's beam-4 line (`... beam 4 ... <ms> ms ...`). */
export function parseOverhead(lines: string[]): number | null {
  for (const l of lines) {
    if (!/^\s*beam 4\b/i.test(l) || /no_repeat|group/.test(l)) continue;
    const m = l.match(/([\d.]+)\s*ms/);
    if (m) return Number(m[1]);
  }
  return null;
}

/** Runs `bench/generation_overhead_bench.ts` and compares it with the fastest decode step. */
async function generationOverhead(rows: ResultRow[]): Promise<GenerationOverhead> {
  const path = new URL("./generation_overhead_bench.ts", import.meta.url).pathname;
  let output: string[];
  try {
    const r = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", path],
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(600_000),
    }).output();
    output = new TextDecoder().decode(r.stdout).trim().split("\n");
    if (!r.success) {
      output.push(`(exit ${r.code}) ${new TextDecoder().decode(r.stderr).trim().slice(-300)}`);
    }
  } catch (e) {
    output = [`failed: ${(e as Error).message}`];
  }
  const beam = rows.filter((r) => r.workload === "beam4" && r.decodeStepMs !== null);
  const fastest = beam.sort((a, b) => a.decodeStepMs! - b.decodeStepMs!)[0];
  const stub = parseOverhead(output);
  return {
    output,
    beam4StubMsPerStep: stub,
    fastestDecodeStepMs: fastest?.decodeStepMs ?? null,
    fastestContender: fastest?.contender ?? null,
    pct: stub !== null && fastest ? (100 * stub) / fastest.decodeStepMs! : null,
  };
}

async function versions(
  torchInfo: Record<string, unknown> | null,
): Promise<Record<string, unknown>> {
  const v: Record<string, unknown> = { ...Deno.version };
  try {
    // onnxruntime packages as pinned in the root import map.
    const root = JSON.parse(await Deno.readTextFile(new URL("../deno.json", import.meta.url)));
    for (const [k, spec] of Object.entries(root.imports ?? {})) {
      if (k.startsWith("onnxruntime")) v[k] = spec;
    }
  } catch { /* no root deno.json */ }
  if (torchInfo) v.pytorch = torchInfo;
  return v;
}

/**
 * Runs the suite and returns its results object.
 *
 * @example
 * ```ts ignore
 * import { runSuite } from "./harness.ts";
 * const r = await runSuite({ mode: "tiny", contenders: ["encdec-cpu"] });
 * console.log(r.rows.map((x) => x.medianMs));
 * ```
 */
export async function runSuite(opts: SuiteOptions): Promise<SuiteResults> {
  const log = opts.log ?? (() => {});
  const settings: Settings = { ...PRESETS[opts.mode] };
  if (opts.reps !== undefined) settings.reps = opts.reps;
  const cacheDir = opts.cacheDir ?? "bench/.cache";
  const timeoutS = opts.workerTimeoutS ??
    { full: 1800, quick: 600, tiny: 120 }[settings.mode];

  const { dir, weightBytes, created } = await ensureModel(
    settings.size,
    modelDir(settings.size, cacheDir),
  );
  log(`model ${dir} (${(weightBytes / 1e6).toFixed(1)} MB${created ? ", created" : ""})`);
  const config = JSON.parse(await Deno.readTextFile(`${dir}/config.json`));
  const vocab = config.decoder.vocab_size as number;

  const found = await availableContenders(opts.contenders);
  const contenders = opts.contenders ?? found.available;
  const unavailable = found.unavailable.filter((u) => !contenders.includes(u.contender));
  for (const c of contenders) {
    if (!found.available.includes(c)) throw new Error(`contender "${c}" is not available here`);
  }

  const names = opts.workloads ?? [...WORKLOADS];
  const plan: Plan = {
    settings,
    modelDir: dir,
    workloads: buildWorkloads(settings, vocab).filter((w) => names.includes(w.name)),
    check: checkInput(vocab),
    special: SPECIAL,
  };
  const planPath = `${cacheDir}/plan-${settings.mode}.json`;
  await Deno.writeTextFile(planPath, JSON.stringify(plan));

  // Versions and the logits check (PyTorch vs encdec-cpu) before any timing.
  let torchInfo: Record<string, unknown> | null = null;
  let parity: SuiteResults["parity"] = null;
  if (contenders.includes(TORCH)) {
    torchInfo = await runWorkerProcess(planPath, TORCH, "info", 120);
    log(
      `pytorch ${torchInfo.torch}, BLAS ${JSON.stringify(torchInfo.blasLibraries)}, ` +
        `512x768 @ 768x3072: ${(torchInfo.matmulGflops as number).toFixed(0)} GFLOP/s`,
    );
    const tolerance = 1e-3;
    parity = {};
    for (const c of contenders.filter((x) => x !== TORCH)) {
      const logitsPath = `${cacheDir}/check-logits-${c}.f32`;
      try {
        await runWorkerProcess(planPath, c, "check", timeoutS, [logitsPath]);
        const r = await runWorkerProcess(planPath, TORCH, "check", timeoutS, [logitsPath]);
        const d = r.maxAbsDiff as number;
        parity[c] = {
          maxAbsDiff: d,
          sameArgmax: r.sameArgmax as boolean,
          tolerance,
          ok: d < tolerance,
        };
        log(
          `logits check, PyTorch vs ${c}: max abs diff ${d.toExponential(2)}` +
            ` (${d < tolerance ? "ok" : "over"} tolerance ${tolerance})`,
        );
      } catch (e) {
        log(`logits check ${c} failed: ${(e as Error).message}`);
      }
    }
  }

  const rows: ResultRow[] = [];
  for (const w of plan.workloads) {
    const results = new Map<string, WorkerResult | Error>();
    for (const c of contenders) {
      log(`${w.name} / ${c} ...`);
      const t0 = performance.now();
      try {
        const r = await runWorkerProcess(planPath, c, w.name, timeoutS) as unknown as WorkerResult;
        results.set(c, r);
        log(
          `  ${r.timesMs.map((x) => x.toFixed(0)).join(", ")} ms (${
            ((performance.now() - t0) / 1000).toFixed(0)
          } s wall)`,
        );
      } catch (e) {
        results.set(c, e as Error);
        log(`  failed: ${(e as Error).message}`);
      }
    }
    const torch = results.get(TORCH);
    const torchMedian = torch && !(torch instanceof Error) ? median(torch.timesMs) : null;
    for (const c of contenders) {
      const r = results.get(c)!;
      const rowsOut = w.inputIds.length *
        (w.kind === "encoder" ? w.inputIds[0].length : w.newTokens);
      if (r instanceof Error) {
        rows.push({
          workload: w.name,
          label: w.label,
          contender: c,
          reps: 0,
          medianMs: null,
          minMs: null,
          ratioToTorch: null,
          tokensPerS: null,
          peakRssBytes: null,
          peakRssToWeights: null,
          decodeStepMs: null,
          overheadPct: null,
          sameIdsAsTorch: null,
          loadMs: null,
          error: r.message,
        });
        continue;
      }
      const med = median(r.timesMs)!;
      const steps = r.steps ?? 0;
      // Steps after the first (which also projects the cross-attention K/V of every row).
      const laterSteps = r.decodeMs && r.firstStepMs && steps > 1
        ? median(r.decodeMs.map((d, i) => (d - r.firstStepMs![i]) / (steps - 1)))
        : null;
      const overhead = r.decodeMs && r.encodeMs
        ? median(r.timesMs.map((t, i) => 100 * (t - r.encodeMs![i] - r.decodeMs![i]) / t))
        : null;
      const torchSeq = torch && !(torch instanceof Error) ? torch.sequences : undefined;
      rows.push({
        workload: w.name,
        label: w.label,
        contender: c,
        reps: r.timesMs.length,
        medianMs: med,
        minMs: Math.min(...r.timesMs),
        ratioToTorch: torchMedian ? med / torchMedian : null,
        tokensPerS: (rowsOut * 1000) / med,
        peakRssBytes: r.peakRssBytes || null,
        peakRssToWeights: r.peakRssBytes ? r.peakRssBytes / weightBytes : null,
        decodeStepMs: laterSteps,
        overheadPct: overhead,
        sameIdsAsTorch: torchSeq && r.sequences
          ? JSON.stringify(torchSeq) === JSON.stringify(r.sequences)
          : null,
        loadMs: r.loadMs,
      });
    }
  }

  const results: SuiteResults = {
    schema: "encdec-bench/1",
    date: new Date().toISOString(),
    command: "",
    settings,
    machine: await machine(),
    versions: await versions(torchInfo),
    model: {
      dir,
      weightBytes,
      config: settings.size === "base"
        ? "bert2bert, BertConfig() defaults ×2 (12 layers, 768 wide, vocab 30522), decoder with cross-attention"
        : "bert2bert, 2 layers, 32 wide, vocab 1000",
    },
    parity,
    contenders,
    unavailable,
    rows,
  };
  return results;
}

export { generationOverhead };
