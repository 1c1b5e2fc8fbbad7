/**
 * Measurement script (not a test): encoder forward of a bert-base-sized bert2bert (hidden 768,
 * 12 layers, 12 heads, intermediate 3072) on `--tokens` tokens (default 512), random weights from
 * a seeded init, on onnxruntime (node / web, fp32 / int8) and the plain TypeScript CPU model.
 *
 * Usage: `deno run -A bench/onnx/encoder_bench.ts [--tokens 512] [--reps 5]
 * [--skip-ts] [--only node,web,int8,fp16] [--gen]`; `--gen` also times 60 forced decode steps after
 * a 400-token input at batch 1 (greedy) and batch 4 with a reorder every step (beam-4 cost).
 *
 * @module
 */
import { BertConfig, EncoderDecoderConfig } from "@encdec/config";
import { EncoderDecoderModel } from "../../modeling/models/encoder_decoder.ts";
import { OnnxEncoderDecoder } from "../../modeling/backends/onnx/mod.ts";
import type { OnnxPrecision } from "../../modeling/backends/onnx/mod.ts";
import { randomBert2Bert } from "./_random_weights.ts";
import { median } from "../_stats.ts";

const arg = (name: string, def: string) => {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Deno.args[i + 1] : def;
};
const tokens = Number(arg("tokens", "512"));
const reps = Number(arg("reps", "5"));
const only = arg("only", "node,web,int8,fp16").split(",");
const skipTs = Deno.args.includes("--skip-ts");
const gen = Deno.args.includes("--gen");

// Seeded token ids (xorshift32), no Math.random.
let seed = 12345;
const next = () => {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) / 2 ** 32;
};
const ids = [[
  101,
  ...Array.from({ length: tokens - 2 }, () => 1000 + Math.floor(next() * 28000)),
  102,
]];
const mask = [ids[0].map(() => 1)];

const cfg = EncoderDecoderConfig.fromEncoderDecoderConfigs(new BertConfig(), new BertConfig(), {
  decoderStartTokenId: 101,
  padTokenId: 0,
});
let t0 = performance.now();
// With the TypeScript model in the comparison both use its seeded init; otherwise the weights
// come from `randomBert2Bert` (same layout, no model code).
const ts = skipTs ? null : new EncoderDecoderModel(cfg, { seed: 1 });
const sd = ts ? await ts.stateDict() : randomBert2Bert(cfg, 1);
console.log(
  `random bert-base bert2bert built in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
);

async function time(label: string, f: () => Promise<unknown>, n: number): Promise<number[]> {
  await f(); // warm-up
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await f();
    ms.push(performance.now() - t);
  }
  console.log(
    `${label}: median ${median(ms).toFixed(1)} ms over ${n} (${
      ms.map((x) => x.toFixed(0)).join(", ")
    })`,
  );
  return ms;
}

const gflop =
  (2 * tokens * 12 * (4 * 768 * 768 + 2 * 768 * 3072) + 4 * tokens * tokens * 768 * 12) / 1e9;
console.log(
  `encoder forward, 1 × ${tokens} tokens ≈ ${
    gflop.toFixed(1)
  } GFLOP; ${navigator.hardwareConcurrency} cores`,
);

let reference: Float32Array | null = null;
const runs: [string, "node" | "web", OnnxPrecision][] = [
  ["onnxruntime-node fp32", "node", "fp32"],
  ["onnxruntime-node fp16-storage", "node", "fp16"],
  ["onnxruntime-node int8", "node", "int8"],
  ["onnxruntime-web fp32", "web", "fp32"],
];
for (const [label, runtime, precision] of runs) {
  const key = runtime === "web" ? "web" : precision === "fp32" ? "node" : precision;
  if (!only.includes(key)) continue;
  t0 = performance.now();
  const model = await OnnxEncoderDecoder.create(cfg, sd, { runtime, precision });
  console.log(`${label}: sessions built in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  // encode() = encoder graph + cross-K/V graph; time the encoder alone through logits-free path.
  await time(`${label} encode (encoder + cross K/V)`, () => model.encode(ids, mask), reps);
  const st = await model.encode(ids, mask);
  if (reference === null) reference = st.lastHiddenState.data.slice();
  else {
    let d = 0;
    for (let i = 0; i < reference.length; i++) {
      d = Math.max(d, Math.abs(reference[i] - st.lastHiddenState.data[i]));
    }
    console.log(`${label}: max |Δ hidden| vs first onnx run ${d.toExponential(2)}`);
  }
  if (gen) {
    const src = [ids[0].slice(0, 400)];
    const srcMask = [src[0].map(() => 1)];
    for (const beams of [1, 4]) {
      await time(`${label} encode 400 + 60 steps, batch ${beams}`, async () => {
        const st = model.expandEncoderState(await model.encode(src, srcMask), beams);
        let cache = null;
        let tok = Array.from({ length: beams }, () => [101]);
        for (let i = 0; i < 60; i++) {
          const out = await model.decodeStep(st, tok, cache);
          const rows = Array.from({ length: beams }, (_, b) => (b + i) % beams);
          cache = beams > 1 ? model.reorderCache(out.cache, rows) : out.cache;
          tok = rows.map((_, b) => [1000 + ((b * 7 + i * 13) % 20000)]);
        }
      }, 2);
    }
  }
  await model.release();
}

if (ts) {
  const ms = await time("TypeScript CPU model encode", () => ts.encode(ids, mask), 1);
  void ms;
  const st = await ts.encode(ids, mask);
  const h = (st as unknown as { hidden: { data: Float32Array } }).hidden;
  if (reference && h?.data) {
    let d = 0;
    for (let i = 0; i < reference.length; i++) d = Math.max(d, Math.abs(reference[i] - h.data[i]));
    console.log(`TS CPU vs onnx fp32: max |Δ hidden| ${d.toExponential(2)}`);
  }
}
