/**
 * The onnxruntime-node engine of this tree against the one of another git revision, in ONE
 * process, decode steps interleaved (A, B, A, B, ...), so that both see the same machine load:
 * the way to compare two graph builders on a shared or noisy machine. Used for issue 15 (the
 * traced graphs against the hand-built ones of 60ed350) and for graph changes since.
 *
 * Both engines load the same checkpoint (no graph cache), encode the same source, and run the
 * same decode steps: `beams` rows per source, each step feeding the same new tokens to both and
 * reordering the cache with the same rows (a fixed pattern that duplicates and drops beams, as
 * beam search does). Reported: median step time of each, per past-length window, and B ÷ A; the
 * logits of both are compared (max |Δ|) so a faster but different graph does not pass unseen.
 *
 * Usage: `deno run -A bench/decoder_ab.ts --rev <git rev> [--model <dir>] [--precision
 * fp32|int8] [--beams 4] [--steps 64] [--source-tokens 400] [--encoder-reps 0]
 * [--encoder-tokens 512] [--options-a <json>] [--options-b <json>]`. `--rev .` runs this tree
 * against itself; `--options-a/-b` add `fromPretrained` options for A or B (e.g.
 * `{"trimHeap":false}`); `--encoder-reps n` also times `n` interleaved encoder runs of each. The
 * revision's `modeling/` is extracted to `bench/.cache/rev-<rev>/` (git archive). Prints one JSON
 * line per window and a summary; with `--out <file>` writes the summary as JSON.
 *
 * @module
 */
import { OnnxEncoderDecoder } from "../modeling/backends/onnx/mod.ts";
import { median } from "./_stats.ts";

/** The engine surface both revisions share. */
interface Engine {
  encode(ids: number[][], mask: number[][]): Promise<unknown>;
  dispose(value: unknown): void;
  expandEncoderState(state: unknown, n: number): unknown;
  decodeStep(
    state: unknown,
    tokens: number[][],
    cache: unknown,
  ): Promise<{ logits: Float32Array; cache: unknown }>;
  reorderCache(cache: unknown, rows: readonly number[]): unknown;
  release(): Promise<void>;
}

/** `modeling/` of revision `rev`, extracted once under `bench/.cache/`. */
async function revisionModeling(rev: string): Promise<string> {
  const sha = new TextDecoder().decode(
    (await new Deno.Command("git", { args: ["rev-parse", "--short", rev] }).output()).stdout,
  ).trim();
  if (!sha) throw new Error(`--rev ${rev}: not a git revision`);
  const dir = `${Deno.cwd()}/bench/.cache/rev-${sha}`;
  try {
    await Deno.stat(`${dir}/modeling/backends/onnx/mod.ts`);
    return dir;
  } catch { /* extract */ }
  await Deno.mkdir(dir, { recursive: true });
  const archive = new Deno.Command("sh", {
    args: ["-c", `git archive ${sha} modeling | tar -x -C ${dir}`],
  });
  if (!(await archive.output()).success) throw new Error(`git archive ${sha} failed`);
  // Its deno.json would make it a workspace member of its own; the repo's import map serves it.
  await Deno.remove(`${dir}/modeling/deno.json`).catch(() => {});
  return dir;
}

if (import.meta.main) {
  const args: Record<string, string> = {
    model: "bench/.cache/bert2bert-seed-st",
    precision: "fp32",
    beams: "4",
    steps: "64",
    "source-tokens": "400",
    "encoder-tokens": "512",
    "encoder-reps": "0",
    "options-a": "{}",
    "options-b": "{}",
  };
  for (let i = 0; i < Deno.args.length; i += 2) {
    const flag = Deno.args[i];
    if (!flag.startsWith("--") || !(flag.slice(2) in { ...args, rev: 1, out: 1 })) {
      throw new Error(`${flag}: unknown flag (see the module docs)`);
    }
    args[flag.slice(2)] = Deno.args[i + 1];
  }
  if (!args.rev) throw new Error("--rev <git revision> is required");
  const beams = Number(args.beams), steps = Number(args.steps);
  const srcLen = Number(args["source-tokens"]);
  const precision = args.precision as "fp32" | "int8";
  // `--rev .`: this tree against itself (to compare `--options-a` with `--options-b`).
  const mod = args.rev === "."
    ? { OnnxEncoderDecoder }
    : await import(`${await revisionModeling(args.rev)}/modeling/backends/onnx/mod.ts`);
  const options = { runtime: "node", precision, graphCache: false } as const;
  const extra = [JSON.parse(args["options-a"]), JSON.parse(args["options-b"])];
  const engines: [string, Engine][] = [];
  const classes = [OnnxEncoderDecoder, mod.OnnxEncoderDecoder as typeof OnnxEncoderDecoder];
  const names = ["A (this tree)", `B (${args.rev})`];
  for (let i = 0; i < 2; i++) {
    const t = performance.now();
    const m = await classes[i].fromPretrained(args.model, { ...options, ...extra[i] });
    console.error(`${names[i]}: loaded in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    engines.push([names[i], m as unknown as Engine]);
  }
  const vocab = (engines[0][1] as unknown as { vocabSize: number }).vocabSize;
  // A deterministic source (token ids 1000..) and decode tokens.
  const ids = [[
    101 % vocab,
    ...Array.from({ length: srcLen - 2 }, (_, i) => (1000 + (i * 37) % 20000) % vocab),
    102 % vocab,
  ]];
  const mask = [ids[0].map(() => 1)];
  // The encoder, interleaved the same way (`--encoder-reps` runs each, `--encoder-tokens` long).
  const encLen = Number(args["encoder-tokens"]);
  const encIds = [
    Array.from({ length: encLen }, (_, i) => (i === 0 ? 101 : 1000 + i * 13) % vocab),
  ];
  const encTimes: number[][] = engines.map(() => []);
  for (let r = 0; r < Number(args["encoder-reps"]); r++) {
    for (const i of r % 2 === 0 ? [0, 1] : [1, 0]) {
      const e = engines[i][1];
      const t = performance.now();
      const s = await e.encode(encIds, [encIds[0].map(() => 1)]);
      encTimes[i].push(performance.now() - t);
      e.dispose(s);
    }
  }
  const states = await Promise.all(engines.map(async ([, e]) => {
    const s = await e.encode(ids, mask);
    return beams > 1 ? e.expandEncoderState(s, beams) : s;
  }));
  const caches: unknown[] = engines.map(() => null);
  const times: number[][] = engines.map(() => []);
  let maxDiff = 0;
  const reorder = Array.from({ length: beams }, (_, i) => (i === beams - 1 ? 0 : i));
  for (let step = 0; step < steps; step++) {
    const tokens = Array.from(
      { length: beams },
      (_, b) => [(step === 0 ? 101 : 2000 + ((step * 7 + b * 13) % 5000)) % vocab],
    );
    const logits: Float32Array[] = [];
    // Alternate which engine goes first, so neither always runs right after the other's GC.
    const order = step % 2 === 0 ? [0, 1] : [1, 0];
    for (const i of order) {
      const e = engines[i][1];
      const t = performance.now();
      const r = await e.decodeStep(states[i], tokens, caches[i]);
      times[i].push(performance.now() - t);
      logits[i] = r.logits;
      caches[i] = beams > 1 && step > 0 ? e.reorderCache(r.cache, reorder) : r.cache;
    }
    if (logits[0].length !== logits[1].length || logits[0].length === 0) {
      throw new Error(`step ${step}: logits of ${logits[0].length} and ${logits[1].length} values`);
    }
    for (let j = 0; j < logits[0].length; j++) {
      maxDiff = Math.max(maxDiff, Math.abs(logits[0][j] - logits[1][j]));
    }
  }
  const windows: Record<string, unknown>[] = [];
  for (let from = 1; from < steps; from += 16) {
    const to = Math.min(steps, from + 16);
    const a = median(times[0].slice(from, to)), b = median(times[1].slice(from, to));
    windows.push({
      past: `${from}-${to - 1}`,
      aMs: +a.toFixed(1),
      bMs: +b.toFixed(1),
      bOverA: +(b / a).toFixed(3),
    });
    console.log(JSON.stringify(windows.at(-1)));
  }
  const a = median(times[0].slice(1)), b = median(times[1].slice(1));
  const summary = {
    date: new Date().toISOString(),
    loadavg: (await Deno.readTextFile("/proc/loadavg")).trim(),
    rev: args.rev,
    model: args.model,
    precision,
    beams,
    steps,
    sourceTokens: srcLen,
    vocab,
    encoderTokens: encLen,
    medianEncoderMs: encTimes[0].length
      ? { a: +median(encTimes[0]).toFixed(1), b: +median(encTimes[1]).toFixed(1) }
      : null,
    medianStepMs: { a: +a.toFixed(1), b: +b.toFixed(1) },
    bOverA: +(b / a).toFixed(3),
    maxLogitDiff: maxDiff,
    windows,
  };
  console.log(JSON.stringify(summary));
  if (args.out) await Deno.writeTextFile(args.out, JSON.stringify(summary, null, 2) + "\n");
  for (const [, e] of engines) await e.release();
}
