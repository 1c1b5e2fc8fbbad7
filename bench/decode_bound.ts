/**
 * Decode steps against the memory limit (issue 18, goal 3): this machine's read bandwidth,
 * measured as onnxruntime-node streams a large buffer with the threads the model uses, and each
 * decode step of bert2bert-base (fp32, int8; greedy = 1 row, beam 4 = 4 rows of one source)
 * as a multiple of (bytes the step must read ÷ that bandwidth).
 *
 * Bytes per step, from the config: the decoder's weights a step reads (per layer self Q/K/V/O,
 * cross Q/O, the feed-forward pair; the LM head transform and the tied vocabulary matrix; int8
 * stores the linear layers in one byte, the tied LM head among them), and, separately, the
 * caches (the cross K/V of the one source row, the self K/V of every row at the median past
 * length). The cross K/V are projected by the first step, which is not counted.
 *
 * The floor: the same steps of `make_model.ts floor` (bert-base's graph, 12 layers and 12 heads,
 * at 48 wide and vocab 1,000: the same nodes, next to no bytes), measured in the same minutes:
 * what onnxruntime spends per step whatever the bytes (its per-node cost). Each row also gives
 * (step − floor) ÷ bound: how close the rest comes to the bandwidth.
 *
 * Usage: `deno run -A bench/decode_bound.ts [model dir] [reps]`; prints and writes
 * `bench/results/decode-bound.json`. The model loads through the graph cache
 * (`bench/.cache/graphs` unless `ENCDEC_GRAPH_CACHE` says otherwise).
 *
 * @module
 */
import type { InferenceSession } from "onnxruntime-node";
import { AutoConfig, type BertConfig, type EncoderDecoderConfig } from "@encdec/config";
import { OnnxEncoderDecoder } from "../modeling/backends/onnx/onnx_model.ts";
import { loadRuntime } from "../modeling/backends/onnx/runtime.ts";
import { encodeModel } from "../modeling/backends/onnx/_onnx_proto.ts";
import type { OnnxPrecision } from "../modeling/backends/onnx/graph_builder.ts";
import { median } from "./_stats.ts";
import { ensureModel } from "./make_model.ts";

const THREADS = 2;
const SRC_LEN = 400;
const STEPS = 24;

/**
 * Read bandwidth (bytes/s): onnxruntime's `ReduceSum` over a 512 MiB float tensor
 * `[64, 2M]` (rows split over the intra-op threads), median and best of `reps` runs.
 */
export async function readBandwidth(reps: number): Promise<{ median: number; best: number }> {
  const { ort } = await loadRuntime("node", THREADS);
  const rows = 64, cols = 1 << 21; // 64 × 2 Mi floats = 512 MiB
  const model = encodeModel({
    name: "bandwidth",
    nodes: [{
      opType: "ReduceSum",
      inputs: ["x", "axes"],
      outputs: ["y"],
      name: "sum",
      attrs: { keepdims: 0 },
    }],
    initializers: [{
      name: "axes",
      dtype: "int64",
      dims: [1],
      raw: new Uint8Array(new BigInt64Array([1n]).buffer),
    }],
    inputs: [{ name: "x", dtype: "float32", dims: [rows, cols] }],
    outputs: [{ name: "y", dtype: "float32", dims: [rows] }],
  });
  const session: InferenceSession = await ort.InferenceSession.create(model, {
    intraOpNumThreads: THREADS,
    interOpNumThreads: 1,
    executionMode: "sequential",
    extra: { session: { "intra_op.allow_spinning": "0" } },
  });
  const data = new Float32Array(rows * cols).fill(1);
  const x = new ort.Tensor("float32", data, [rows, cols]);
  await session.run({ x }); // warm
  const rates: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    await session.run({ x });
    rates.push(data.byteLength / ((performance.now() - t) / 1000));
  }
  await session.release();
  return { median: median(rates), best: Math.max(...rates) };
}

/** Bytes of weights and of caches one decode step reads. */
export function stepBytes(
  config: EncoderDecoderConfig,
  precision: OnnxPrecision,
  rows: number,
  past: number,
): { weights: number; caches: number } {
  const d = config.decoder as BertConfig;
  const h = d.hiddenSize, f = d.intermediateSize, L = d.numHiddenLayers, V = d.vocabSize;
  const linear = L * (6 * h * h + 2 * h * f) + h * h; // + LM head transform
  const wBytes = precision === "int8" ? 1 : precision === "fp16" ? 2 : 4;
  // The tied vocabulary matrix: int8 like the other linear layers since 2026-12-06 (fp16 runs
  // are counted with a float32 matrix, as before; the bench measures fp32 and int8).
  const weights = linear * wBytes + V * h * (precision === "int8" ? 1 : 4);
  const cross = L * 2 * SRC_LEN * h * 4; // one source row, shared by the beams
  const self = rows * L * 2 * past * h * 4;
  return { weights, caches: cross + self };
}

/** Median decode-step seconds (steps after the first) with `rows` rows of one source. */
async function decodeSteps(
  model: OnnxEncoderDecoder,
  rows: number,
): Promise<number> {
  const vocab = (model.config.decoder as BertConfig).vocabSize;
  const id = (k: number) => (1000 + k) % vocab; // bert-base: 1000-20999
  const ids = [[
    101,
    ...Array.from({ length: SRC_LEN - 2 }, (_, i) => id((i * 7919) % 20000)),
    102,
  ]];
  const enc = await model.encode(ids, [ids[0].map(() => 1)]);
  const state = model.expandEncoderState(enc, rows);
  let out = await model.decodeStep(state, Array.from({ length: rows }, () => [101]), null);
  const times: number[] = [];
  for (let s = 1; s < STEPS; s++) {
    // Beam search reorders rows every step: keep row 0 twice, drop the last.
    const cache = rows > 1
      ? model.reorderCache(out.cache, Array.from({ length: rows }, (_, r) => Math.max(0, r - 1)))
      : out.cache;
    const tokens = Array.from({ length: rows }, (_, r) => [id((s * 31 + r) % 20000)]);
    const t = performance.now();
    out = await model.decodeStep(state, tokens, cache);
    times.push((performance.now() - t) / 1000);
  }
  model.dispose(out.cache);
  model.dispose(state);
  if (state !== enc) model.dispose(enc);
  return median(times);
}

async function loadavg(): Promise<string> {
  return (await Deno.readTextFile("/proc/loadavg")).trim();
}

if (import.meta.main) {
  const dir = Deno.args[0] ?? "bench/.cache/bert2bert-seed-st";
  const reps = Number(Deno.args[1] ?? 5);
  const config = await AutoConfig.fromPretrained(dir) as EncoderDecoderConfig;
  const rowsOut: Record<string, unknown>[] = [];
  const bandwidths: { when: string; loadavg: string; median: number; best: number }[] = [];
  const bw = async (when: string) => {
    const l = await loadavg();
    const b = await readBandwidth(reps);
    bandwidths.push({ when, loadavg: l, ...b });
    console.error(`bandwidth (${when}, load ${l}): median ${(b.median / 1e9).toFixed(1)} GB/s`);
    return b;
  };
  const { dir: floorDir } = await ensureModel("floor");
  const load = (d: string, precision: OnnxPrecision) =>
    OnnxEncoderDecoder.fromPretrained(d, {
      runtime: "node",
      precision,
      numThreads: THREADS,
      graphCache: Deno.env.get("ENCDEC_GRAPH_CACHE") ?? `${Deno.cwd()}/bench/.cache/graphs`,
    });
  for (const precision of ["fp32", "int8"] as OnnxPrecision[]) {
    const model = await load(dir, precision);
    const floorModel = await load(floorDir, precision);
    for (const [name, rows] of [["greedy", 1], ["beam 4", 4]] as const) {
      for (let r = 0; r < 2; r++) {
        const before = await bw(`before ${precision} ${name}`);
        const l = await loadavg();
        const step = await decodeSteps(model, rows);
        const floor = await decodeSteps(floorModel, rows);
        const after = await bw(`after ${precision} ${name}`);
        const rate = (before.median + after.median) / 2;
        const bytes = stepBytes(config, precision, rows, Math.floor(STEPS / 2));
        const row = {
          precision,
          workload: name,
          rep: r,
          loadavg: l,
          stepMs: step * 1000,
          bandwidthGBs: rate / 1e9,
          weightMB: bytes.weights / 1e6,
          cacheMB: bytes.caches / 1e6,
          boundWeightsMs: bytes.weights / rate * 1000,
          boundAllMs: (bytes.weights + bytes.caches) / rate * 1000,
          xWeights: step / (bytes.weights / rate),
          xAll: step / ((bytes.weights + bytes.caches) / rate),
          floorMs: floor * 1000,
          xWeightsAboveFloor: (step - floor) / (bytes.weights / rate),
        };
        rowsOut.push(row);
        console.log(JSON.stringify(row));
      }
    }
    await model.release();
    await floorModel.release();
  }
  await Deno.mkdir("bench/results", { recursive: true });
  await Deno.writeTextFile(
    "bench/results/decode-bound.json",
    JSON.stringify(
      {
        date: new Date().toISOString(),
        threads: THREADS,
        srcLen: SRC_LEN,
        bandwidths,
        rows: rowsOut,
      },
      null,
      2,
    ) + "\n",
  );
}
