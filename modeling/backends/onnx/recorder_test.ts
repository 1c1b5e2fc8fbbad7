/**
 * `OnnxRecorder` on its own: a small model written once over `Backend` ops, traced into an
 * ONNX graph and run by onnxruntime-node at two different batch sizes and lengths (the axes
 * are symbolic), equals the CPU backend on the same random inputs (1e-5).
 */
import { assertEquals, assertRejects } from "@std/assert";
import type { Backend } from "../../backend.ts";
import { cpu } from "../cpu/cpu.ts";
import { Tensor } from "../../tensor.ts";
import { mergeHeads, paddingMask, splitHeads, tracePlaceholder } from "../../models/_layers.ts";
import { encodeModel } from "./_onnx_proto.ts";
import { OnnxRecorder } from "./recorder.ts";
import { loadRuntime } from "./runtime.ts";
import { OnnxModelError } from "./graph_builder.ts";

const E = 8, H = 2, V = 11, P = 16;

/** A seeded uniform source (mulberry32). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randn(r: () => number, dims: number[]): Tensor<"float32"> {
  const n = dims.reduce((a, d) => a * d, 1);
  return new Tensor("float32", Float32Array.from({ length: n }, () => r() - 0.5), dims);
}

const R = rng(7);
const W = {
  emb: randn(R, [V, E]),
  pos: randn(R, [P, E]),
  q: randn(R, [E, E]),
  qb: randn(R, [E]),
  k: randn(R, [E, E]),
  v: randn(R, [E, E]),
  o: randn(R, [E, E]),
  ob: randn(R, [E]),
  lnw: randn(R, [E]),
  lnb: randn(R, [E]),
};

/**
 * Embeddings (+ RoBERTa-style positions), fused-eligible padded self-attention, causal
 * self-attention, and cross-attention of `ids`' rows grouped onto `src`'s fewer rows.
 */
function tiny<T>(
  b: Backend<T>,
  ids: Tensor<"int32">, // [n, t]
  mask: Tensor<"float32">, // [n, t]
  src: Tensor<"int32">, // [g, s], g divides n
  srcMask: Tensor<"float32">, // [g, s]
): T {
  const w = Object.fromEntries(Object.entries(W).map(([k, t]) => [k, b.upload(t)]));
  const t = b.dims(b.upload(ids))[1];
  const embed = (x: Tensor<"int32">) => b.embedding(w.emb, b.upload(x));
  let x = b.add(embed(ids), b.embedding(w.pos, b.positionIds(2, t)));
  x = b.add(x, b.embedding(w.pos, b.positionIds(0, t, { ids, paddingIdx: 1 })));
  x = b.layerNorm(x, w.lnw, w.lnb, 1e-5); // [n, t, E]
  const heads = (y: T) => splitHeads(b, y, H);
  const scale = 1 / Math.sqrt(E / H);
  const q = heads(b.linear(x, w.q, w.qb));
  const k = heads(b.linear(x, w.k));
  const v = heads(b.linear(x, w.v));
  const padded = b.attention(q, k, v, { mask: paddingMask(b, mask), scale }).output;
  const causal = b.attention(q, k, v, { mask: b.maskBias(mask, t), scale }).output;
  const s = embed(src); // [g, s, E]
  const cross = b.attention(q, heads(b.linear(s, w.k)), heads(b.linear(s, w.v)), {
    mask: paddingMask(b, srcMask),
    scale,
  }).output; // [n, H, t, E / H]: row r attends to src row r / (n / g)
  const h = b.linear(mergeHeads(b, padded), w.o, w.ob, "gelu");
  return b.add(b.add(h, mergeHeads(b, causal)), b.softmax(mergeHeads(b, cross)));
}

function ids(r: () => number, n: number, t: number): Tensor<"int32"> {
  return new Tensor("int32", Int32Array.from({ length: n * t }, () => Math.floor(r() * V)), [n, t]);
}

/** Right-padded masks: row i keeps its first `t - (i % 2)` positions. */
function mask(n: number, t: number): Tensor<"float32"> {
  return new Tensor(
    "float32",
    Float32Array.from({ length: n * t }, (_, i) => (i % t) < t - (Math.floor(i / t) % 2) ? 1 : 0),
    [n, t],
  );
}

Deno.test("OnnxRecorder: a traced tiny model = cpu backend at two batch sizes and lengths (symbolic axes, 1e-5)", async () => {
  const sentinels = { batch: 1201, tgt_len: 1409, cross_batch: 1103, src_len: 1601 };
  const rec = new OnnxRecorder("tiny", "fp32", sentinels);
  const ph = <D extends "int32" | "float32">(dtype: D, dims: number[]) => {
    const n = dims[0] * dims[1];
    const data = dtype === "int32" ? new Int32Array(n) : new Float32Array(n);
    return tracePlaceholder(new Tensor(dtype, data as Tensor<D>["data"], dims));
  };
  const inputs = {
    ids: ph("int32", [1201, 1409]),
    mask: ph("float32", [1201, 1409]),
    src: ph("int32", [1103, 1601]),
    src_mask: ph("float32", [1103, 1601]),
  };
  for (const [name, t] of Object.entries(inputs)) rec.bind(t, name, "int64");
  const out = tiny(rec, inputs.ids, inputs.mask, inputs.src, inputs.src_mask);
  rec.output("y", out, ["batch", "tgt_len", E]);
  const graph = rec.build();
  // The padded self-attention became one fused MultiHeadAttention; the other two did not.
  assertEquals(graph.nodes.filter((n) => n.opType === "MultiHeadAttention").length, 1);
  assertEquals(graph.nodes.filter((n) => n.opType === "Softmax").length, 3);

  const { ort } = await loadRuntime("node", 1);
  const session = await ort.InferenceSession.create(encodeModel(graph));
  try {
    const r = rng(11);
    for (const [n, t, g, s] of [[2, 3, 1, 4], [6, 5, 3, 2]]) {
      const x = { ids: ids(r, n, t), mask: mask(n, t), src: ids(r, g, s), src_mask: mask(g, s) };
      const expected = tiny(cpu, x.ids, x.mask, x.src, x.src_mask);
      const feeds = Object.fromEntries(
        Object.entries(x).map((
          [k, v],
        ) => [k, new ort.Tensor("int64", BigInt64Array.from(v.data, BigInt), [...v.dims])]),
      );
      const y = (await session.run(feeds)).y;
      assertEquals(y.dims, [n, t, E]);
      const got = y.data as Float32Array;
      let worst = 0;
      expected.data.forEach((e, i) => (worst = Math.max(worst, Math.abs((e as number) - got[i]))));
      if (!(worst < 1e-5)) throw new Error(`[${n}, ${t}] / [${g}, ${s}]: max |Δ| ${worst}`);
    }
  } finally {
    await session.release();
  }
});

Deno.test("OnnxRecorder: reading a traced value is an OnnxModelError (no data until the graph runs)", async () => {
  const rec = new OnnxRecorder("r", "fp32", { batch: 1201 });
  const x = rec.input("x", "float32", [1201, 2]);
  await assertRejects(() => rec.read(x), OnnxModelError, "no data until the graph runs");
});

Deno.test("sentinelsAvoiding: the default sentinels unless a model number lies within 100 of one, then the smallest shift (steps of 10) that clears every number", async () => {
  const { SENTINELS, sentinelsAvoiding } = await import("./traced_graphs.ts");
  assertEquals(sentinelsAvoiding([32, 99, 512, 30522]), { ...SENTINELS });
  // 1024 (e.g. GPT-2's n_positions) is 73 below cross_batch 1097: shift by 30 → 1127.
  const moved = sentinelsAvoiding([1024]);
  assertEquals(moved.cross_batch, SENTINELS.cross_batch + 30);
  for (const v of Object.values(moved)) assertEquals(Math.abs(v - 1024) >= 100, true);
});

Deno.test("OnnxRecorder.topk: one TopK node for values and indices, = cpu.topk on random rows (exact)", async () => {
  const rec = new OnnxRecorder("topk", "fp32", { batch: 1201 });
  const x = rec.input("x", "float32", [1201, 7]);
  const { values, indices } = rec.topk(x, 3);
  rec.output("i", indices, ["batch", 3]);
  rec.output("v", values, ["batch", 3]);
  const graph = rec.build();
  assertEquals(graph.nodes.filter((n) => n.opType === "TopK").length, 1);
  const { ort } = await loadRuntime("node", 1);
  const session = await ort.InferenceSession.create(encodeModel(graph));
  try {
    const t = randn(rng(5), [4, 7]);
    const out = await session.run({ x: new ort.Tensor("float32", t.data, [4, 7]) });
    const want = cpu.topk(t, 3);
    assertEquals(
      Array.from(out.v.data as Float32Array),
      Array.from(want.values.data as Float32Array),
    );
    assertEquals(
      Array.from(out.i.data as BigInt64Array, Number),
      Array.from(want.indices.data as Int32Array),
    );
  } finally {
    await session.release();
  }
});

/** The ops the tiny model above does not use, on symbolic batch and length. */
function rest<T>(b: Backend<T>, x: Tensor<"float32">, y: Tensor<"float32">): T {
  const X = b.upload(x), Y = b.upload(y); // [n, t, E], [n, t, E]
  const [n, t] = b.dims(X);
  const q = b.reshape(X, [n, t, H, E / H]), k = b.reshape(Y, [n, t, H, E / H]);
  const qh = b.permute(q, [0, 2, 1, 3]), kh = b.permute(k, [0, 2, 1, 3]); // [n, H, t, d]
  const causal = b.attention(qh, kh, kh, { causal: true, scale: 0.5, returnProbs: true });
  const scores = b.logSoftmax(b.scale(b.matmul(qh, kh, { transposeB: true }), 0.25));
  const acts = (["relu", "tanh", "gelu_new", "gelu_pytorch_tanh"] as const)
    .map((a) => b.activation(X, a))
    .reduce((s, a) => b.add(s, a));
  const first = b.slice(X, 1, 0, 1); // [n, 1, E]
  const cat = b.concat([first, b.slice(Y, 1, 1, t)], 1); // [n, t, E]
  const swapped = b.indexSelect(cat, 2, [...Array(E).keys()].reverse());
  const merged = b.reshape(b.permute(causal.output, [0, 2, 1, 3]), [n, t, E]);
  const p = b.reshape(b.permute(b.add(causal.probs!, scores), [0, 2, 1, 3]), [n, t, H * t]);
  return b.concat([b.mul(acts, swapped), merged, p], 2); // [n, t, 2E + H·t]
}

Deno.test("OnnxRecorder: matmul (transposeB), causal attention with probs, logSoftmax, scale, mul, activations, slice/concat/indexSelect = cpu at two sizes (1e-5)", async () => {
  const rec = new OnnxRecorder("rest", "fp32", { batch: 1201, tgt_len: 1409 });
  const ph = (dims: number[]) =>
    tracePlaceholder(new Tensor("float32", new Float32Array(dims[0] * dims[1] * dims[2]), dims));
  const px = ph([1201, 1409, E]), py = ph([1201, 1409, E]);
  rec.bind(px, "x", "float32");
  rec.bind(py, "y", "float32");
  rec.output("z", rest(rec, px, py), ["batch", "tgt_len", "width"]);
  const { ort } = await loadRuntime("node", 1);
  const session = await ort.InferenceSession.create(encodeModel(rec.build()));
  try {
    const r = rng(3);
    for (const [n, t] of [[1, 2], [3, 5]]) {
      const xs = randn(r, [n, t, E]), ys = randn(r, [n, t, E]);
      const expected = rest(cpu, xs, ys);
      const out = await session.run({
        x: new ort.Tensor("float32", xs.data, [n, t, E]),
        y: new ort.Tensor("float32", ys.data, [n, t, E]),
      });
      assertEquals(out.z.dims, [...expected.dims]);
      const got = out.z.data as Float32Array;
      let worst = 0;
      expected.data.forEach((e, i) => (worst = Math.max(worst, Math.abs((e as number) - got[i]))));
      if (!(worst < 1e-5)) throw new Error(`[${n}, ${t}]: max |Δ| ${worst}`);
    }
  } finally {
    await session.release();
  }
});
