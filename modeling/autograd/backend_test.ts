// Every backward rule of AutogradBackend against central finite differences of its own float32
// forward (step h = 5e-3, evaluated in float64): |tape - fd| <= 1e-3 + 1e-2·|fd| unless noted.
// Shapes are small, odd, and include broadcast cases.
import { assert, assertAlmostEquals, assertEquals, assertThrows } from "@std/assert";
import { cpu } from "../backends/cpu/cpu.ts";
import { FLOAT32_MIN, Tensor } from "../tensor.ts";
import { AutogradBackend, GradTensor } from "./backend.ts";
import { gradCheck, randn, seeded } from "./_test_util.ts";
import { AutogradError, Var } from "./var.ts";

const r = seeded(1);

Deno.test("matmul: 2-D, broadcast batch of b, transposeB with both batches broadcast", () => {
  gradCheck((ag, [a, b]) => ag.matmul(a, b), [randn([3, 5], r), randn([5, 4], r)]);
  gradCheck((ag, [a, b]) => ag.matmul(a, b), [randn([2, 3, 5], r), randn([5, 4], r)]);
  gradCheck(
    (ag, [a, b]) => ag.matmul(a, b, { transposeB: true }),
    [randn([2, 1, 3, 5], r), randn([3, 4, 5], r)],
  );
});

Deno.test("linear: with/without bias, every fused activation", () => {
  for (const act of ["none", "gelu", "gelu_new", "relu", "tanh"] as const) {
    gradCheck(
      (ag, [x, w, b]) => ag.linear(x, w, b, act),
      [randn([2, 3, 5], r), randn([7, 5], r, 0.5), randn([7], r)],
    );
  }
  gradCheck((ag, [x, w]) => ag.linear(x, w), [randn([4, 3], r), randn([2, 3], r)]);
});

Deno.test("add / mul with broadcasting, scale", () => {
  gradCheck((ag, [a, b]) => ag.add(a, b), [randn([2, 3, 4], r), randn([4], r)]);
  gradCheck((ag, [a, b]) => ag.add(a, b), [randn([2, 1, 4], r), randn([3, 1], r)]);
  gradCheck((ag, [a, b]) => ag.mul(a, b), [randn([2, 3, 4], r), randn([3, 1], r)]);
  gradCheck((ag, [a, b]) => ag.mul(a, b), [randn([1], r), randn([2, 5], r)]);
  gradCheck((ag, [a]) => ag.scale(a, -1.7), [randn([3, 2], r)]);
});

Deno.test("activation: gelu, gelu_new, gelu_pytorch_tanh, relu, tanh, none", () => {
  for (const act of ["gelu", "gelu_new", "gelu_pytorch_tanh", "relu", "tanh", "none"] as const) {
    gradCheck((ag, [x]) => ag.activation(x, act), [randn([3, 7], r, 2)]);
  }
});

Deno.test("layerNorm: x, weight and bias", () => {
  gradCheck(
    (ag, [x, w, b]) => ag.layerNorm(x, w, b, 1e-5),
    [randn([2, 3, 7], r, 2), randn([7], r), randn([7], r)],
  );
});

Deno.test("softmax and logSoftmax over the last axis", () => {
  gradCheck((ag, [x]) => ag.softmax(x), [randn([3, 5], r, 2)]);
  gradCheck((ag, [x]) => ag.logSoftmax(x), [randn([2, 3, 5], r, 2)]);
});

Deno.test("embedding: repeated ids scatter-add; a tied weight accumulates both uses", () => {
  const ids = Tensor.from([[1, 3, 1], [0, 3, 4]], "int32");
  gradCheck((ag, [w, i]) => ag.embedding(w, i), [randn([5, 3], r), ids]);
  // weight used as the embedding table and as the output projection (tied LM head)
  gradCheck(
    (ag, [w, i, p]) => ag.linear(ag.mul(ag.embedding(w, i), p), w),
    [randn([5, 3], r), ids, randn([3], r)],
  );
});

Deno.test("attention: additive padding mask, causal with past keys (tq < tk), plain", () => {
  const q = randn([2, 2, 3, 4], r), k = randn([2, 2, 5, 4], r), v = randn([2, 2, 5, 3], r);
  const maskData = new Float32Array(2 * 5);
  maskData.fill(FLOAT32_MIN, 8, 10); // row 1: last two keys hidden
  const mask = new Tensor("float32", maskData, [2, 1, 1, 5]);
  gradCheck(
    (ag, [a, b, c, m]) => ag.attention(a, b, c, { mask: m, scale: 0.5 }).output,
    [q, k, v, mask],
    { maxElements: 40, constants: [3] },
  );
  gradCheck(
    (ag, [a, b, c]) => ag.attention(a, b, c, { causal: true, scale: 0.5 }).output,
    [q, k, v],
    { maxElements: 40 },
  );
  gradCheck(
    (ag, [a, b, c]) => ag.attention(a, b, c, { scale: 1 / Math.sqrt(4) }).output,
    [randn([1, 3, 4, 4], r), randn([1, 3, 4, 4], r), randn([1, 3, 4, 2], r)],
    { maxElements: 40 },
  );
});

Deno.test("crossEntropy: ignore index and label smoothing", () => {
  const labels = Tensor.from([2, -100, 0, 4], "int64");
  gradCheck((ag, [x, y]) => ag.crossEntropy(x, y), [randn([4, 5], r, 2), labels]);
  gradCheck(
    (ag, [x, y]) => ag.crossEntropy(x, y, { labelSmoothing: 0.1 }),
    [randn([4, 5], r, 2), labels],
  );
});

Deno.test("shape ops: permute, reshape, slice, concat, indexSelect (repeats), topk values", () => {
  gradCheck((ag, [x]) => ag.permute(x, [2, 0, 1]), [randn([2, 3, 4], r)]);
  gradCheck((ag, [x]) => ag.reshape(ag.scale(x, 2), [4, -1]), [randn([2, 3, 4], r)]);
  gradCheck((ag, [x]) => ag.slice(x, 1, 1, 3), [randn([2, 4, 3], r)]);
  gradCheck((ag, [x]) => ag.slice(x, -1, 0, 2), [randn([2, 3], r)]);
  gradCheck((ag, [a, b]) => ag.concat([a, b], 1), [randn([2, 1, 3], r), randn([2, 3, 3], r)]);
  gradCheck((ag, [x]) => ag.indexSelect(x, 0, [2, 0, 2, 1]), [randn([3, 4], r)]);
  gradCheck((ag, [x]) => ag.topk(x, 2).values, [randn([3, 6], r)]);
});

Deno.test("dropout: same draws and values as cpu.dropout; gradient = keep / (1 - p); p = 0 is identity", () => {
  const x = randn([4, 9], r);
  const ag = new AutogradBackend(cpu);
  const xv = ag.parameter(x);
  const y = ag.dropout(xv, 0.3, seeded(7));
  const ref = cpu.dropout(x, 0.3, seeded(7));
  assertEquals(Array.from(y.value.data as Float32Array), Array.from(ref.data as Float32Array));
  y.backward(Tensor.from(Array.from({ length: 4 }, () => Array(9).fill(1))));
  for (let i = 0; i < x.size; i++) {
    const kept = ref.get(i) !== 0;
    assertAlmostEquals(xv.grad!.get(i), kept ? 1 / 0.7 : 0, 1e-6);
  }
  gradCheck((g, [a]) => g.dropout(a, 0.4, seeded(3)), [randn([3, 5], r)]);
  assert(ag.dropout(xv, 0, seeded(1)) === xv, "p = 0 returns the input itself");
  assert(cpu.dropout(x, 0, seeded(1)) === x, "cpu: p = 0 returns the input itself");
});

Deno.test("a transformer block end to end (residual, LN, attention, gelu FFN, CE loss)", () => {
  const H = 6, heads = 2, d = 3, T = 4, V = 7;
  const inputs = [
    randn([V, H], r, 0.5), // tied embedding / LM head
    randn([3 * H, H], r, 0.3), // qkv
    randn([H], r), // ln weight
    randn([H], r), // ln bias
    randn([5, H], r, 0.3), // ffn in
    randn([H, 5], r, 0.3), // ffn out
  ];
  const ids = Tensor.from([[1, 4, 4, 6], [0, 2, 3, 5]], "int32");
  const labels = Tensor.from([4, 4, 6, 0, 2, -100, 5, 1], "int32");
  inputs.push(ids as Tensor, labels as Tensor);
  gradCheck((ag, [emb, qkv, lw, lb, f1, f2, i, y]) => {
    const x = ag.embedding(emb, i); // [2, T, H]
    const p = ag.linear(x, qkv); // [2, T, 3H]
    const split = (j: number) =>
      ag.permute(ag.reshape(ag.slice(p, 2, j * H, (j + 1) * H), [2, T, heads, d]), [0, 2, 1, 3]);
    const a = ag.attention(split(0), split(1), split(2), { causal: true, scale: 1 / Math.sqrt(d) });
    const merged = ag.reshape(ag.permute(a.output, [0, 2, 1, 3]), [2, T, H]);
    let h = ag.layerNorm(ag.add(merged, x), lw, lb, 1e-12);
    h = ag.add(ag.linear(ag.linear(h, f1, undefined, "gelu"), f2), h);
    const logits = ag.reshape(ag.linear(h, emb), [-1, V]);
    return ag.crossEntropy(logits, y, { labelSmoothing: 0.05 });
  }, inputs);
});

Deno.test("tape plumbing: read gives a GradTensor whose backward fills grads; errors are typed", async () => {
  const ag = new AutogradBackend(cpu);
  const w = ag.parameter(Tensor.from([2, -3]));
  const loss = await ag.read(
    ag.crossEntropy(ag.reshape(w, [1, 2]), ag.upload(Tensor.from([0], "int32"))),
  );
  assert(loss instanceof GradTensor);
  await loss.backward();
  // softmax([2, -3]) = [0.99331, 0.00669]; d/dw = p - onehot(0)
  assertAlmostEquals(w.grad!.get(0), 0.9933071 - 1, 1e-6);
  assertAlmostEquals(w.grad!.get(1), 0.0066929, 1e-6);
  // grads accumulate across backward calls, as torch
  const again = ag.crossEntropy(ag.reshape(w, [1, 2]), ag.upload(Tensor.from([0], "int32")));
  again.backward();
  assertAlmostEquals(w.grad!.get(1), 2 * 0.0066929, 1e-6);
  assertThrows(() => ag.scale(w, 2).backward(), AutogradError, "scalar");
  assertThrows(
    () => ag.upload(Tensor.from([1])).backward(),
    AutogradError,
    "does not require grad",
  );
  const frozen = ag.noGrad(() => ag.scale(w, 2));
  assertEquals(frozen.requiresGrad, false);
  assert(!(new Var(Tensor.from([1])).requiresGrad));
});
