/**
 * WebGPU vs the CPU backend on bert2bert models with random weights (fixed seed): encoder
 * forward (`encode` + reading the encoder output back), one cached beam-4 decode step
 * (`decodeStep`, reading `[4, vocab]` logits) and the same step on the top-k fast path
 * (`decodeStepTopK`, k = 8, what beam-4 search reads), plus the WebGPU dispatches, submits and
 * readbacks per decode step from `WebGpuBackend.stats()`. Prints median milliseconds.
 *
 * Sizes: `small` (2 layers, 128 wide, vocab 1,000, 32 source tokens), `mid` (6 layers, 512
 * wide, 8 heads, vocab 30,522, 128 source tokens) and `base` (bert-base: 12 layers, 768 wide,
 * 512 source tokens; for real GPUs).
 *
 * Run: `deno run --unstable-webgpu -A bench/webgpu_bench.ts [small,mid] [--reps 5] [--steps 10]
 * [--json out.json]`.
 *
 * @module
 */
import { BertConfig, EncoderDecoderConfig } from "@encdec/config";
import {
  type Backend,
  cpu,
  type EncoderDecoderCache,
  EncoderDecoderModel,
  type EncoderState,
  WebGpuBackend,
} from "@encdec/modeling";
import { median } from "./_stats.ts";

/** Model shapes the benchmark knows. */
const SIZES = {
  small: { layers: 2, hidden: 128, heads: 2, inter: 512, vocab: 1000, src: 32 },
  mid: { layers: 6, hidden: 512, heads: 8, inter: 2048, vocab: 30522, src: 128 },
  base: { layers: 12, hidden: 768, heads: 12, inter: 3072, vocab: 30522, src: 512 },
} as const;
type Size = keyof typeof SIZES;

const BEAMS = 4;
const TOP_K = 2 * BEAMS;

/** One size on one backend: median times and per-step WebGPU counters. */
interface Row {
  size: Size;
  device: string;
  encoderMs: number;
  decodeStepMs: number;
  decodeStepTopKMs: number;
  perStep?: { dispatches: number; submits: number; readbacks: number };
  perStepTopK?: { dispatches: number; submits: number; readbacks: number };
}

function model(size: Size, device: Backend<unknown>): EncoderDecoderModel {
  const s = SIZES[size];
  const bert = new BertConfig({
    vocabSize: s.vocab,
    hiddenSize: s.hidden,
    numHiddenLayers: s.layers,
    numAttentionHeads: s.heads,
    intermediateSize: s.inter,
    maxPositionEmbeddings: 512,
  });
  const config = EncoderDecoderConfig.fromEncoderDecoderConfigs(bert, bert, {
    decoderStartTokenId: 101 % s.vocab,
    padTokenId: 0,
    eosTokenId: 102 % s.vocab,
  });
  return new EncoderDecoderModel(config, { seed: 1234, device });
}

type Counters = { dispatches: number; submits: number; readbacks: number };
function counters(b: Backend<unknown>): Counters | undefined {
  if (!(b instanceof WebGpuBackend)) return undefined;
  const { dispatches, submits, readbacks } = b.stats();
  return { dispatches, submits, readbacks };
}
function perStep(a?: Counters, b?: Counters, steps = 1): Counters | undefined {
  if (!a || !b) return undefined;
  return {
    dispatches: (b.dispatches - a.dispatches) / steps,
    submits: (b.submits - a.submits) / steps,
    readbacks: (b.readbacks - a.readbacks) / steps,
  };
}

async function bench(size: Size, device: Backend<unknown>, reps: number, steps: number) {
  const m = model(size, device);
  const s = SIZES[size];
  const ids = [Array.from({ length: s.src }, (_, i) => 5 + ((i * 37) % (s.vocab - 5)))];
  const mask = ids.map((r) => r.map(() => 1));

  // encoder forward, including reading the output back (the device finishes the work)
  const enc: number[] = [];
  for (let i = 0; i <= reps; i++) {
    const t0 = performance.now();
    const st = await m.encode(ids, mask);
    await device.read(st.hidden);
    if (i > 0) enc.push(performance.now() - t0); // the first run compiles kernels
    m.dispose(st);
  }

  // one decode step of beam-4 search after a few cached tokens
  const one = await m.encode(ids, mask);
  const state: EncoderState = m.expandEncoderState(one, BEAMS);
  m.dispose(one);
  const start = Array.from({ length: BEAMS }, () => [101 % s.vocab]);
  const decode = async (topk: boolean): Promise<[number, Counters | undefined]> => {
    let cache: EncoderDecoderCache | null = null;
    const times: number[] = [];
    let c0: Counters | undefined;
    for (let i = 0; i <= steps; i++) {
      const tokens = i === 0 ? start : start.map((_, r) => [(2000 + 13 * i + r) % s.vocab]);
      if (i === 1) c0 = counters(device);
      const t0 = performance.now();
      cache = topk
        ? (await m.decodeStepTopK(state, tokens, cache, TOP_K)).cache
        : (await m.decodeStep(state, tokens, cache)).cache;
      if (i > 0) times.push(performance.now() - t0); // step 0 builds the cross-attention K/V
    }
    const c = perStep(c0, counters(device), steps);
    m.dispose(cache!);
    return [median(times), c];
  };
  await decode(false); // warm-up: compiles the decode-step kernels
  const [stepMs, stepCounts] = await decode(false);
  const [topkMs, topkCounts] = await decode(true);
  m.dispose(state);
  const row: Row = {
    size,
    device: device.name,
    encoderMs: median(enc),
    decodeStepMs: stepMs,
    decodeStepTopKMs: topkMs,
  };
  if (stepCounts) row.perStep = stepCounts;
  if (topkCounts) row.perStepTopK = topkCounts;
  return row;
}

if (import.meta.main) {
  const args = [...Deno.args];
  const opt = (name: string, dflt: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args.splice(i, 2)[1] : dflt;
  };
  const reps = Number(opt("--reps", "3"));
  const steps = Number(opt("--steps", "10"));
  const json = opt("--json", "");
  const sizes = (args[0] ?? "small,mid").split(",") as Size[];
  for (const s of sizes) if (!(s in SIZES)) throw new Error(`unknown size "${s}"`);
  const gpu = await WebGpuBackend.create();
  console.log(
    `WebGPU adapter: ${gpu.adapterDescription}${gpu.isFallbackAdapter ? " (fallback)" : ""}`,
  );
  const rows: Row[] = [];
  for (const size of sizes) {
    for (const device of [cpu as Backend<unknown>, gpu as Backend<unknown>]) {
      const r = await bench(size, device, reps, steps);
      rows.push(r);
      const c = (x?: Counters) => x ? `${x.dispatches}/${x.submits}/${x.readbacks}` : "-";
      console.log(
        `${size.padEnd(5)} ${device.name.padEnd(6)} encoder ${r.encoderMs.toFixed(1)} ms | ` +
          `decode step (beam ${BEAMS}) ${r.decodeStepMs.toFixed(2)} ms, dispatches/submits/` +
          `readbacks ${c(r.perStep)} | top-${TOP_K} step ${r.decodeStepTopKMs.toFixed(2)} ms, ` +
          `${c(r.perStepTopK)}`,
      );
    }
  }
  if (json) {
    await Deno.writeTextFile(
      json,
      JSON.stringify({ adapter: gpu.adapterDescription, reps, steps, rows }, null, 2),
    );
  }
  gpu.destroy();
}
