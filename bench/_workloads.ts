/**
 * The suite's workloads, their settings (`full`, `quick`, `tiny`) and the shared plan file every
 * contender reads: the same input ids and generation settings for encdec and PyTorch.
 *
 * @module
 */
import { type ModelSize, SPECIAL } from "./make_model.ts";

/** Workload names, in table order. */
export const WORKLOADS = ["encoder", "greedy", "beam4", "throughput"] as const;
/** One of {@link WORKLOADS}. */
export type WorkloadName = typeof WORKLOADS[number];

/** One workload as every contender runs it. */
export interface Workload {
  name: WorkloadName;
  /** Human label for the table. */
  label: string;
  /** `"encoder"`: one encoder forward; `"generate"`: encode + decode. */
  kind: "encoder" | "generate";
  /** `[batch, srcLen]` input ids (no padding). */
  inputIds: number[][];
  /** Beams (1 = greedy). */
  numBeams: number;
  /** New tokens, forced: `minNewTokens = maxNewTokens`, so EOS never ends a run early. */
  newTokens: number;
}

/** The settings a run uses. */
export interface Settings {
  /** `"full"`, `"quick"` or `"tiny"`. */
  mode: "full" | "quick" | "tiny";
  /** Model size. */
  size: ModelSize;
  /** Timed repetitions per workload (median reported); slow contenders stop at `budgetS`. */
  reps: number;
  /** After the first repetition, no new repetition starts once this many seconds have passed. */
  budgetS: number;
  encoderTokens: number;
  genTokens: number;
  newTokens: number;
  documents: number;
}

/** The three presets: the workloads, a shortened one for the slow CPU backend, and CI's. */
export const PRESETS: Record<Settings["mode"], Settings> = {
  full: {
    mode: "full",
    size: "base",
    reps: 5,
    budgetS: 60,
    encoderTokens: 512,
    genTokens: 400,
    newTokens: 60,
    documents: 8,
  },
  quick: {
    mode: "quick",
    size: "base",
    reps: 3,
    budgetS: 20,
    encoderTokens: 512,
    genTokens: 400,
    newTokens: 20,
    documents: 2,
  },
  tiny: {
    mode: "tiny",
    size: "tiny",
    reps: 1,
    budgetS: 0,
    encoderTokens: 32,
    genTokens: 24,
    newTokens: 4,
    documents: 2,
  },
};

/**
 * `n` document-like ids: `[CLS] w … w [SEP]`, words drawn by a fixed Park–Miller generator from
 * `[lo, vocab)` (never a special id), so every contender sees the same tokens.
 */
export function documentIds(n: number, vocab: number, seed: number): number[] {
  const lo = vocab > 2000 ? 1000 : 5;
  let s = (seed * 48271 + 11) % 2147483647;
  const ids: number[] = [SPECIAL.decoderStart];
  while (ids.length < n - 1) {
    s = (s * 16807) % 2147483647;
    const t = lo + (s % (vocab - lo));
    if (t !== SPECIAL.decoderStart && t !== SPECIAL.eos) ids.push(t);
  }
  ids.push(SPECIAL.eos);
  return ids;
}

/**
 * The workloads of `settings` for a model with `vocab` tokens.
 *
 * @example
 * ```ts
 * import { buildWorkloads, PRESETS } from "./_workloads.ts";
 * const w = buildWorkloads(PRESETS.tiny, 1000);
 * w.map((x) => x.name); // ["encoder", "greedy", "beam4", "throughput"]
 * ```
 */
export function buildWorkloads(settings: Settings, vocab: number): Workload[] {
  const s = settings;
  const doc = (i: number, n: number) => documentIds(n, vocab, i + 1);
  return [
    {
      name: "encoder",
      label: `encoder forward, 1 × ${s.encoderTokens}`,
      kind: "encoder",
      inputIds: [doc(0, s.encoderTokens)],
      numBeams: 1,
      newTokens: 0,
    },
    {
      name: "greedy",
      label: `greedy, ${s.genTokens} in → ${s.newTokens} new`,
      kind: "generate",
      inputIds: [doc(1, s.genTokens)],
      numBeams: 1,
      newTokens: s.newTokens,
    },
    {
      name: "beam4",
      label: `beam 4, ${s.genTokens} in → ${s.newTokens} new`,
      kind: "generate",
      inputIds: [doc(1, s.genTokens)],
      numBeams: 4,
      newTokens: s.newTokens,
    },
    {
      name: "throughput",
      label: `throughput: ${s.documents} docs × ${s.genTokens}, beam 4, ${s.newTokens} new`,
      kind: "generate",
      inputIds: Array.from({ length: s.documents }, (_, i) => doc(10 + i, s.genTokens)),
      numBeams: 4,
      newTokens: s.newTokens,
    },
  ];
}

/** Input of the logits parity check (encdec vs PyTorch). */
export interface CheckInput {
  inputIds: number[][];
  decoderInputIds: number[][];
}

/** A short encoder input and decoder prefix for the logits check. */
export function checkInput(vocab: number): CheckInput {
  return {
    inputIds: [documentIds(48, vocab, 99)],
    decoderInputIds: [[SPECIAL.decoderStart, ...documentIds(10, vocab, 98).slice(1, 9)]],
  };
}

/** The plan file a run writes and every worker reads. */
export interface Plan {
  settings: Settings;
  modelDir: string;
  workloads: Workload[];
  check: CheckInput;
  special: typeof SPECIAL;
}

/** What a worker prints (one JSON line) for one workload. */
export interface WorkerResult {
  contender: string;
  workload: WorkloadName;
  /** Wall time of each timed repetition, ms. */
  timesMs: number[];
  /** Time inside the model's encode, per repetition (generate workloads), ms. */
  encodeMs?: number[];
  /** Time inside the model's decode steps, per repetition, ms. */
  decodeMs?: number[];
  /** Time of the first decode step (cross-attention K/V projected there), per repetition, ms. */
  firstStepMs?: number[];
  /** Decode steps per repetition. */
  steps?: number;
  /** Generated sequences of the last repetition (compared across contenders). */
  sequences?: number[][];
  /** Peak resident set of the worker process (`VmHWM`), bytes. */
  peakRssBytes: number;
  /** Model load time, ms. */
  loadMs: number;
}

/** The process's peak resident set size in bytes (Linux `VmHWM`), or 0 when unknown. */
export function peakRss(): number {
  try {
    const m = Deno.readTextFileSync("/proc/self/status").match(/VmHWM:\s+(\d+)\s+kB/);
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}
