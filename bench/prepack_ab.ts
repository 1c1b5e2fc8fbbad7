/**
 * A/B for issue 18 goal 2: load and decode speed with onnxruntime weight pre-packing on
 * (default) or off (`session.disable_prepacking`), fp32 bert2bert-base from the graph cache, one
 * fresh process per run. Run: `deno run -A bench/prepack_ab.ts <pack|nopack> [fp32|int8]`.
 *
 * @module
 */
import * as ortNode from "onnxruntime-node";
import { OnnxEncoderDecoder } from "../modeling/backends/onnx/mod.ts";
const nopack = Deno.args[0] === "nopack";
const precision = (Deno.args[1] ?? "fp32") as "fp32" | "int8";
const cpu = () => {
  const f = Deno.readTextFileSync("/proc/self/stat").split(") ")[1].split(" ");
  return (Number(f[11]) + Number(f[12])) / 100;
};
// deno-lint-ignore no-explicit-any
const IS = (ortNode as any).InferenceSession ?? (ortNode as any).default.InferenceSession;
const create = IS.create.bind(IS);
// deno-lint-ignore no-explicit-any
IS.create = (m: unknown, o: any) => {
  if (nopack) {
    o = {
      ...o,
      extra: { ...o.extra, session: { ...o.extra?.session, "session.disable_prepacking": "1" } },
    };
  }
  return create(m, o);
};
const t0 = performance.now(), c0 = cpu();
const m = await OnnxEncoderDecoder.fromPretrained("bench/.cache/bert2bert-seed-st", {
  runtime: "node",
  precision,
  numThreads: 2,
  graphCache: `${Deno.cwd()}/bench/.cache/graphs-decode`,
});
const load = (performance.now() - t0) / 1000, loadCpu = cpu() - c0;
const ids = [[101, ...Array.from({ length: 398 }, (_, i) => 1000 + (i * 7919) % 20000), 102]];
let t = performance.now();
const st = await m.encode(ids, [ids[0].map(() => 1)]);
const encodeS = (performance.now() - t) / 1000;
let out = await m.decodeStep(st, [[101]], null);
const steps: number[] = [];
for (let s = 1; s < 16; s++) {
  t = performance.now();
  out = await m.decodeStep(st, [[1000 + s]], out.cache);
  steps.push(performance.now() - t);
}
const rss = Number(Deno.readTextFileSync("/proc/self/status").match(/VmHWM:\s+(\d+)/)![1]) / 1024;
console.log(JSON.stringify({
  prepack: !nopack,
  precision,
  load,
  loadCpu,
  encodeS,
  stepMs: steps.sort((a, b) => a - b)[7],
  peakRssMiB: Math.round(rss),
  checksum: out.logits.slice(0, 8).reduce((a, b) => a + b, 0),
  loadavg: Deno.readTextFileSync("/proc/loadavg").trim(),
}));
