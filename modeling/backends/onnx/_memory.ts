/**
 * Peak memory of the onnx backend (a script, not a test): loads a model on onnxruntime-node,
 * runs three encodes of `srcLen` tokens, each followed by ten decode steps, and prints the
 * process's resident (`VmRSS`) and peak (`VmHWM`) memory after each stage.
 *
 * Usage: `deno run -A modeling/backends/onnx/_memory.ts [dir] [fp32|fp16|int8] [srcLen]`
 * (default `bench/.cache/bert2bert-base`, made by `bench/make_model.ts`; fp32; 512).
 *
 * @module
 */
import { OnnxEncoderDecoder } from "./mod.ts";
import type { OnnxPrecision } from "./_graph.ts";

/** `VmRSS` and `VmHWM` of this process, in MiB. */
function memory(): string {
  const status = Deno.readTextFileSync("/proc/self/status");
  const mib = (key: string) =>
    (Number(status.match(new RegExp(`${key}:\\s+(\\d+)`))?.[1] ?? NaN) / 1024).toFixed(0);
  return `rss ${mib("VmRSS")} MiB, peak ${mib("VmHWM")} MiB`;
}

if (import.meta.main) {
  const [dir = "bench/.cache/bert2bert-base", precision = "fp32", srcLen = "512"] = Deno.args;
  console.log(`start: ${memory()}`);
  let t0 = performance.now();
  const model = await OnnxEncoderDecoder.fromPretrained(dir, {
    runtime: "node",
    precision: precision as OnnxPrecision,
  });
  console.log(`load ${(performance.now() - t0).toFixed(0)} ms: ${memory()}`);
  const ids = [Array.from({ length: Number(srcLen) }, (_, i) => 1000 + i)];
  const mask = ids.map((r) => r.map(() => 1));
  for (let rep = 0; rep < 3; rep++) {
    t0 = performance.now();
    const state = await model.encode(ids, mask);
    console.log(`encode ${(performance.now() - t0).toFixed(0)} ms: ${memory()}`);
    t0 = performance.now();
    let cache = null;
    for (let i = 0; i < 10; i++) {
      cache = (await model.decodeStep(state, [[101 + i]], cache)).cache;
    }
    console.log(`10 decode steps ${(performance.now() - t0).toFixed(0)} ms: ${memory()}`);
  }
  await model.release();
}
