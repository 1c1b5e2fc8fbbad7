/**
 * Micro-benchmarks of the CPU reference backend on BERT-base shapes (hidden 768, intermediate
 * 3072, 12 heads, 64 tokens): the linear layers, attention, GELU, layer norm, and the
 * vocabulary-sized log-softmax / top-k of a decoding step.
 *
 * Run: `deno bench bench/cpu_ops_bench.ts`.
 *
 * @module
 */
import { cpu, Tensor } from "@encdec/modeling";

/** Deterministic values in [-0.5, 0.5) (Park–Miller), so runs compare. */
function filled(dims: number[], seed: number): Tensor {
  const n = dims.reduce((a, b) => a * b, 1);
  const d = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) {
    s = (s * 16807) % 2147483647;
    d[i] = s / 2147483647 - 0.5;
  }
  return new Tensor("float32", d, dims);
}

const x = filled([64, 768], 1);
const x1 = filled([1, 768], 2);
const wUp = filled([3072, 768], 3);
const bUp = filled([3072], 4);
const h = filled([64, 3072], 5);
const wDown = filled([768, 3072], 6);
const q = filled([1, 12, 64, 64], 7);
const ln = filled([768], 8);
const logits = filled([4, 30522], 9);

Deno.bench("cpu linear 64x768 -> 3072 + gelu", { group: "linear", baseline: true }, () => {
  cpu.linear(x, wUp, bUp, "gelu");
});
Deno.bench("cpu linear 64x3072 -> 768", { group: "linear" }, () => {
  cpu.linear(h, wDown);
});
Deno.bench("cpu linear 1x768 -> 3072 (decode step)", { group: "linear" }, () => {
  cpu.linear(x1, wUp, bUp);
});
Deno.bench("cpu attention [1,12,64,64]", () => {
  cpu.attention(q, q, q, { scale: 0.125 });
});
Deno.bench("cpu gelu 64x3072", () => {
  cpu.activation(h, "gelu");
});
Deno.bench("cpu layerNorm 64x768", () => {
  cpu.layerNorm(x, ln, ln, 1e-12);
});
Deno.bench("cpu logSoftmax 4x30522", () => {
  cpu.logSoftmax(logits);
});
Deno.bench("cpu topk 8 of 122088", () => {
  cpu.topk(cpu.reshape(logits, [1, -1]), 8);
});
