/**
 * Peak memory of the onnx backend (a script, not a test): loads a model on onnxruntime-node,
 * runs `reps` encodes of `srcLen` tokens, each followed by `steps` one-token decode steps (then
 * disposes the cache and the state, as `generate()` does), and prints the process's resident
 * (`VmRSS`) and peak (`VmHWM`) memory after each stage, then the peak as a multiple of the
 * weight files' size.
 *
 * Usage: `deno run -A bench/onnx/memory.ts [dir] [fp32|fp16|int8] [srcLen] [steps]
 * [reps]` (default `bench/.cache/bert2bert-base`, made by `bench/make_model.ts`; fp32; 512
 * tokens; 10 steps; 3 repetitions). `... fp32 400 60` mimics the bench's greedy workload
 * (400 tokens in, 60 new, batch 1, three repetitions).
 *
 * @module
 */
import { OnnxEncoderDecoder } from "../../modeling/backends/onnx/mod.ts";
import type { OnnxPrecision } from "../../modeling/backends/onnx/mod.ts";

const MIB = 1024 * 1024;

/** `VmRSS` and `VmHWM` of this process, in bytes. */
function memory(): { rss: number; peak: number } {
  const status = Deno.readTextFileSync("/proc/self/status");
  const kib = (key: string) => Number(status.match(new RegExp(`${key}:\\s+(\\d+)`))?.[1] ?? NaN);
  return { rss: kib("VmRSS") * 1024, peak: kib("VmHWM") * 1024 };
}

function report(): string {
  const { rss, peak } = memory();
  return `rss ${(rss / MIB).toFixed(0)} MiB, peak ${(peak / MIB).toFixed(0)} MiB`;
}

/** Bytes of the weight files in `dir` (`*.safetensors`, else `*.bin`). */
function weightBytes(dir: string): number {
  const files = [...Deno.readDirSync(dir)].filter((e) => e.isFile).map((e) => e.name);
  const st = files.filter((f) => f.endsWith(".safetensors"));
  return (st.length > 0 ? st : files.filter((f) => f.endsWith(".bin")))
    .reduce((n, f) => n + Deno.statSync(`${dir}/${f}`).size, 0);
}

if (import.meta.main) {
  const [
    dir = "bench/.cache/bert2bert-base",
    precision = "fp32",
    srcLen = "512",
    steps = "10",
    reps = "3",
  ] = Deno.args;
  console.log(`start: ${report()}`);
  let t0 = performance.now();
  const model = await OnnxEncoderDecoder.fromPretrained(dir, {
    runtime: "node",
    precision: precision as OnnxPrecision,
  });
  console.log(`load ${(performance.now() - t0).toFixed(0)} ms: ${report()}`);
  const ids = [Array.from({ length: Number(srcLen) }, (_, i) => 1000 + i)];
  const mask = ids.map((r) => r.map(() => 1));
  for (let rep = 0; rep < Number(reps); rep++) {
    t0 = performance.now();
    const state = await model.encode(ids, mask);
    console.log(`encode ${(performance.now() - t0).toFixed(0)} ms: ${report()}`);
    t0 = performance.now();
    let cache = null;
    for (let i = 0; i < Number(steps); i++) {
      cache = (await model.decodeStep(state, [[101 + i]], cache)).cache;
    }
    console.log(`${steps} decode steps ${(performance.now() - t0).toFixed(0)} ms: ${report()}`);
    if (cache) model.dispose(cache); // as `generate()` does when it is done
    model.dispose(state);
  }
  await model.release();
  const w = weightBytes(dir);
  console.log(
    `peak ${(memory().peak / MIB).toFixed(0)} MiB = ${(memory().peak / w).toFixed(3)}× ` +
      `the weights (${(w / 1e6).toFixed(1)} MB)`,
  );
}
