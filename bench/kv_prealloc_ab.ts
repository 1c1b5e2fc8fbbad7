/**
 * A/B for issue 18 goal 3: decode steps with onnxruntime allocating the present K/V outputs
 * (copied into JS) against pre-allocated JS output buffers passed as `fetches`, interleaved in
 * one process (int8 or fp32, 4 rows of one 400-token source, steps 40-79). Run:
 * `deno run -A bench/kv_prealloc_ab.ts [int8|fp32]` (model and graph cache as decode_bound.ts).
 *
 * @module
 */
import { OnnxEncoderDecoder } from "../modeling/backends/onnx/mod.ts";
const precision = (Deno.args[0] ?? "int8") as "int8" | "fp32";
const m = await OnnxEncoderDecoder.fromPretrained("bench/.cache/bert2bert-seed-st", {
  runtime: "node",
  precision,
  numThreads: 2,
  graphCache: `${Deno.cwd()}/bench/.cache/graphs-decode`,
});
// deno-lint-ignore no-explicit-any
const mm = m as any;
const ort = mm.ort, sess = mm.decoder, orig = sess.run.bind(sess);
let prealloc = false;
sess.run = (feeds: Record<string, { dims: number[] }>) => {
  if (!prealloc) return orig(feeds);
  const [, h, P, d] = feeds["past_key_0"].dims;
  const B = feeds["input_ids"].dims[0], T = feeds["input_ids"].dims[1];
  const fetches: Record<string, unknown> = {};
  for (const n of sess.outputNames) {
    fetches[n] = n.startsWith("present_")
      ? new ort.Tensor("float32", new Float32Array(B * h * (P + T) * d), [B, h, P + T, d])
      : null;
  }
  return orig(feeds, fetches);
};
const ids = [[101, ...Array.from({ length: 398 }, (_, i) => 1000 + (i * 7919) % 20000), 102]];
const enc = await m.encode(ids, [ids[0].map(() => 1)]);
const rows = 4;
const st = m.expandEncoderState(enc, rows);
const times: Record<string, number[]> = { ort: [], prealloc: [] };
let ref: Float32Array | null = null;
for (let rep = 0; rep < 6; rep++) {
  for (const mode of rep % 2 ? ["prealloc", "ort"] : ["ort", "prealloc"]) {
    prealloc = mode === "prealloc";
    let out = await m.decodeStep(st, Array.from({ length: rows }, () => [101]), null);
    for (let s = 1; s < 80; s++) {
      const cache = m.reorderCache(out.cache, [0, 0, 1, 2]);
      const t = performance.now();
      out = await m.decodeStep(
        st,
        Array.from({ length: rows }, (_, r) => [1000 + s * 7 + r]),
        cache,
      );
      if (s >= 40) times[mode].push(performance.now() - t);
    }
    if (ref === null) ref = out.logits.slice();
    else if (out.logits.some((v, i) => v !== ref![i])) throw new Error(`${mode}: logits differ`);
    m.dispose(out.cache);
  }
}
const med = (x: number[]) => [...x].sort((a, b) => a - b)[x.length >> 1];
console.log(
  JSON.stringify({
    precision,
    rows,
    pastLen: "40-79",
    loadavg: Deno.readTextFileSync("/proc/loadavg").trim(),
    ortMs: med(times.ort),
    preallocMs: med(times.prealloc),
    ratio: med(times.prealloc) / med(times.ort),
    n: times.ort.length,
  }),
);
