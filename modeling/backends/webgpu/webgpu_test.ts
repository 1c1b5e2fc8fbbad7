/**
 * Op parity of the WebGPU backend against the CPU reference backend (`../cpu/cpu.ts`) on seeded
 * random shapes, including size 1, odd sizes and sizes above the 256-thread workgroup.
 *
 * Tolerance of every float comparison, unless a test says otherwise:
 * `|gpu - cpu| <= 1e-5 * |cpu| + 1e-5 * max(1, max|cpu|)` (relative 1e-5, plus an absolute floor
 * of 1e-5 times the tensor's scale for sums whose terms cancel). Index outputs compare exactly.
 *
 * Without a WebGPU adapter (or without `--unstable-webgpu`) every test is ignored with the reason
 * printed; CI installs Mesa's lavapipe so they run there.
 */
import { assert, assertEquals, assertRejects, assertThrows } from "@std/assert";
import { Tensor } from "../../tensor.ts";
import type { Activation } from "../../backend.ts";
import { cpu } from "../cpu/cpu.ts";
import { type GpuTensor, WebGpuBackend, WebGpuError } from "./mod.ts";
import { webgpuForTests } from "../../../testing/webgpu.ts";

const ignore = !(await webgpuForTests("webgpu_test")).available;
const gpu: WebGpuBackend | undefined = ignore ? undefined : await WebGpuBackend.create();

/** A WebGPU test, ignored when no adapter exists. */
function gpuTest(name: string, fn: (g: WebGpuBackend) => Promise<void> | void): void {
  Deno.test({ name: `webgpu: ${name}`, ignore, fn: () => fn(gpu!) });
}

/** mulberry32: a small seeded RNG for reproducible inputs. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A float32 tensor of uniform values in `[-amp, amp)`. */
function rand(dims: number[], seed: number, amp = 1): Tensor {
  const r = rng(seed);
  const t = Tensor.zeros(dims, "float32");
  for (let i = 0; i < t.size; i++) (t.data as Float32Array)[i] = (r() * 2 - 1) * amp;
  return t;
}

function ints(
  dims: number[],
  hi: number,
  seed: number,
  dtype: "int32" | "int64" = "int32",
): Tensor {
  const r = rng(seed);
  const t = Tensor.zeros(dims, dtype);
  for (let i = 0; i < t.size; i++) {
    const v = Math.floor(r() * hi);
    if (dtype === "int64") (t.data as BigInt64Array)[i] = BigInt(v);
    else (t.data as Int32Array)[i] = v;
  }
  return t;
}

/** Asserts same shape and `|a - e| <= rtol |e| + rtol max(1, max|e|)` everywhere. */
function assertClose(actual: Tensor, expected: Tensor, what: string, rtol = 1e-5): void {
  assertEquals([...actual.dims], [...expected.dims], `${what}: shape`);
  let scale = 1;
  for (let i = 0; i < expected.size; i++) scale = Math.max(scale, Math.abs(expected.get(i)));
  for (let i = 0; i < expected.size; i++) {
    const a = actual.get(i);
    const e = expected.get(i);
    if (Number.isNaN(e)) {
      assert(Number.isNaN(a), `${what}: [${i}] expected NaN, got ${a}`);
      continue;
    }
    if (a === e) continue;
    const tol = rtol * Math.abs(e) + rtol * scale;
    assert(Math.abs(a - e) <= tol, `${what}: [${i}] gpu ${a} vs cpu ${e} (tol ${tol})`);
  }
}

/** Reads `t` and disposes it. */
async function take(g: WebGpuBackend, t: GpuTensor): Promise<Tensor> {
  const out = await g.read(t);
  g.dispose(t);
  return out;
}

gpuTest("upload/read round trip: float32, float16, int64 -> int32, bool (exact)", async (g) => {
  const f = rand([3, 5], 1);
  assertEquals((await take(g, g.upload(f))).data, f.data);
  const h = f.to("float16"); // 15 halves: odd, padded to a whole word on the device
  const hb = await take(g, g.upload(h));
  assertEquals([hb.dtype, hb.data], ["float16", h.data]);
  const i = Tensor.from([[1, -2, 30522]], "int64");
  const back = await take(g, g.upload(i));
  assertEquals(back.dtype, "int32");
  assertEquals(back.tolist(), [[1, -2, 30522]]);
  const b = new Tensor("bool", new Uint8Array([1, 0, 1]), [3]);
  assertEquals((await take(g, g.upload(b))).tolist(), [1, 0, 1]);
  const empty = await take(g, g.upload(Tensor.zeros([0, 4], "float32")));
  assertEquals([...empty.dims], [0, 4]);
  assertThrows(
    () => g.upload(Tensor.from([2 ** 40], "int64")),
    WebGpuError,
    "does not fit int32",
  );
});

gpuTest("reshape shares the buffer (no copy) and -1 infers a size", async (g) => {
  const x = g.upload(rand([4, 6], 2));
  const y = g.reshape(x, [2, -1, 3]);
  assertEquals([...y.dims], [2, 4, 3]);
  assert(x.buffer === y.buffer, "reshape must not copy");
  g.dispose(x);
  // The view keeps the storage alive after the original is disposed.
  assertEquals((await take(g, y)).data, rand([4, 6], 2).data);
  assertThrows(() => g.reshape(g.upload(rand([4], 3)), [3]), WebGpuError, "cannot reshape");
});

gpuTest("permute matches cpu (exact) on 2-4 d shapes incl. 1 and > 256", async (g) => {
  const cases: [number[], number[]][] = [
    [[1, 1], [1, 0]],
    [[3, 300], [1, 0]],
    [[2, 3, 1, 5], [0, 2, 1, 3]],
    [[2, 7, 3, 5], [0, 2, 1, 3]],
    [[2, 3, 4, 5], [3, 1, 0, 2]],
  ];
  for (const [i, [dims, perm]] of cases.entries()) {
    const x = rand(dims, 10 + i);
    const got = await take(g, g.permute(g.upload(x), perm));
    assertEquals(got.data, cpu.permute(x, perm).data, `permute ${dims} ${perm}`);
  }
  const ids = ints([2, 3], 100, 5);
  const got = await take(g, g.permute(g.upload(ids), [1, 0]));
  assertEquals(got.tolist(), cpu.permute(ids, [1, 0]).tolist());
});

gpuTest("slice, concat and indexSelect match cpu (exact)", async (g) => {
  const x = rand([3, 7, 5], 20);
  const gx = g.upload(x);
  for (const [axis, s, e] of [[0, 1, 2], [1, 2, 7], [2, 0, 1], [-1, 1, 4], [1, 0, 0]]) {
    const got = await take(g, g.slice(gx, axis, s, e));
    assertEquals(got.data, cpu.slice(x, axis, s, e).data, `slice ${axis} ${s}:${e}`);
  }
  const parts = [rand([3, 1, 5], 21), rand([3, 4, 5], 22), rand([3, 300, 5], 23)];
  const gp = parts.map((p) => g.upload(p));
  for (const axis of [1]) {
    const got = await take(g, g.concat(gp, axis));
    assertEquals(got.data, cpu.concat(parts, axis).data, `concat axis ${axis}`);
  }
  const a0 = [rand([1, 4], 24), rand([2, 4], 25)];
  const got0 = await take(g, g.concat(a0.map((p) => g.upload(p)), 0));
  assertEquals(got0.data, cpu.concat(a0, 0).data, "concat axis 0");
  for (const [axis, idx] of [[0, [2, 0, 0, 1]], [1, [6]], [2, [4, 3, 2, 1, 0, 0]]] as const) {
    const got = await take(g, g.indexSelect(gx, axis, idx));
    assertEquals(got.data, cpu.indexSelect(x, axis, idx).data, `indexSelect ${axis} ${idx}`);
  }
  assertThrows(() => g.indexSelect(gx, 0, [3]), WebGpuError, "out of range");
  assertThrows(() => g.slice(gx, 3, 0, 1), WebGpuError, "axis 3");
  assertThrows(() => g.concat([gx, gp[0]], 0), WebGpuError, "does not match");
  g.dispose(gx);
  gp.forEach((t) => g.dispose(t));
});

gpuTest("matmul matches cpu (1e-5): odd, 1, > tile, batched broadcast, transposeB", async (g) => {
  // m <= 8 runs the skinny (decode) kernel, larger m the tiled one: both are covered.
  const cases: [number[], number[], boolean][] = [
    [[1, 1], [1, 1], false],
    [[3, 5], [5, 7], false],
    [[33, 17], [17, 40], false],
    [[70, 65], [65, 3], false],
    [[2, 3, 9, 20], [2, 3, 20, 11], false],
    [[2, 1, 5, 8], [3, 8, 6], false],
    [[4, 37], [45, 37], true],
    [[2, 2, 1, 16], [2, 2, 9, 16], true],
    [[40, 37], [45, 37], true],
    [[2, 9, 300], [2, 33, 300], true],
  ];
  for (const [i, [ad, bd, t]] of cases.entries()) {
    const a = rand(ad, 30 + i);
    const b = rand(bd, 40 + i);
    const got = await take(g, g.matmul(g.upload(a), g.upload(b), { transposeB: t }));
    assertClose(got, cpu.matmul(a, b, { transposeB: t }), `matmul ${ad} @ ${bd} t=${t}`);
  }
  assertThrows(
    () => g.matmul(g.upload(rand([2, 3], 1)), g.upload(rand([4, 5], 2))),
    WebGpuError,
    "inner sizes differ",
  );
});

gpuTest("linear with fused bias + every activation matches cpu (1e-5)", async (g) => {
  const x = rand([3, 5, 37], 50); // 15 rows: the tiled kernel
  const w = rand([70, 37], 51, 0.3);
  const bias = rand([70], 52);
  const acts: Activation[] = ["none", "gelu", "gelu_new", "relu", "tanh"];
  for (const act of acts) {
    const got = await take(g, g.linear(g.upload(x), g.upload(w), g.upload(bias), act));
    assertClose(got, cpu.linear(x, w, bias, act), `linear ${act}`);
    const x1 = x.reshape([15, 37]).toFloat32();
    const one = Tensor.zeros([2, 1, 37], "float32"); // 2 rows: the skinny kernel
    (one.data as Float32Array).set((x1.data as Float32Array).subarray(0, 74));
    const got1 = await take(g, g.linear(g.upload(one), g.upload(w), g.upload(bias), act));
    assertClose(got1, cpu.linear(one, w, bias, act), `linear (2 rows) ${act}`);
  }
  const x1 = rand([1, 300], 53);
  const w1 = rand([5, 300], 54);
  const noBias = await take(g, g.linear(g.upload(x1), g.upload(w1)));
  assertClose(noBias, cpu.linear(x1, w1), "linear without bias, in = 300");
});

gpuTest("add / mul with broadcasting and scale match cpu (1e-5)", async (g) => {
  const cases: [number[], number[]][] = [
    [[300], [300]],
    [[3, 1, 5], [4, 1]],
    [[], [2, 3]],
    [[2, 3, 4], [4]],
    [[2, 1, 1, 7], [2, 3, 5, 1]],
    [[1], [1]],
  ];
  for (const [i, [ad, bd]] of cases.entries()) {
    const a = rand(ad, 60 + i);
    const b = rand(bd, 70 + i);
    const ga = g.upload(a);
    const gb = g.upload(b);
    assertClose(await take(g, g.add(ga, gb)), cpu.add(a, b), `add ${ad} + ${bd}`);
    assertClose(await take(g, g.mul(ga, gb)), cpu.mul(a, b), `mul ${ad} * ${bd}`);
    g.dispose(ga);
    g.dispose(gb);
  }
  const x = rand([5, 301], 80);
  assertClose(await take(g, g.scale(g.upload(x), -0.125)), cpu.scale(x, -0.125), "scale");
  assertThrows(
    () => g.add(g.upload(rand([3], 1)), g.upload(rand([4], 2))),
    WebGpuError,
    "do not broadcast",
  );
});

gpuTest("activations match cpu (1e-5) on [-12, 12] incl. the gelu tails", async (g) => {
  const n = 2401;
  const x = Tensor.zeros([n], "float32");
  for (let i = 0; i < n; i++) (x.data as Float32Array)[i] = -12 + (24 * i) / (n - 1);
  const gx = g.upload(x);
  const acts: Activation[] = ["gelu", "gelu_new", "gelu_pytorch_tanh", "relu", "tanh", "none"];
  for (const act of acts) {
    assertClose(await take(g, g.activation(gx, act)), cpu.activation(x, act), `activation ${act}`);
  }
  g.dispose(gx);
});

gpuTest("layerNorm matches cpu (1e-5) on rows of 1, 7 and 300", async (g) => {
  for (const [i, dims] of [[1, 1], [3, 7], [2, 3, 300]].entries()) {
    const h = dims[dims.length - 1];
    const x = rand(dims, 90 + i, 3);
    const w = rand([h], 95 + i);
    const b = rand([h], 99 + i);
    const got = await take(g, g.layerNorm(g.upload(x), g.upload(w), g.upload(b), 1e-12));
    assertClose(got, cpu.layerNorm(x, w, b, 1e-12), `layerNorm ${dims}`);
  }
});

gpuTest("softmax / logSoftmax match cpu (1e-5) on rows of 1, 7 and 513", async (g) => {
  for (const [i, dims] of [[1], [4, 7], [2, 3, 513]].entries()) {
    const x = rand(dims, 110 + i, 8);
    const gx = g.upload(x);
    assertClose(await take(g, g.softmax(gx)), cpu.softmax(x), `softmax ${dims}`);
    assertClose(await take(g, g.logSoftmax(gx)), cpu.logSoftmax(x), `logSoftmax ${dims}`);
    g.dispose(gx);
  }
});

gpuTest("embedding gathers the same rows as cpu (exact); bad ids throw", async (g) => {
  const w = rand([50, 300], 120);
  const gw = g.upload(w);
  for (const dtype of ["int32", "int64"] as const) {
    const ids = ints([2, 9], 50, 121, dtype);
    const got = await take(g, g.embedding(gw, g.upload(ids)));
    assertEquals(got.data, cpu.embedding(w, ids).data, `embedding ${dtype}`);
  }
  assertThrows(
    () => g.embedding(gw, g.upload(Tensor.from([3, 50], "int64"))),
    WebGpuError,
    "id 50",
  );
  g.dispose(gw);
});

gpuTest("attention matches cpu (1e-5): padding mask, causal, decode step, long keys", async (g) => {
  const cases: {
    q: number[];
    tk: number;
    mask?: number[];
    causal?: boolean;
  }[] = [
    { q: [2, 3, 7, 8], tk: 7, mask: [2, 1, 1, 7] },
    { q: [1, 2, 5, 4], tk: 5, causal: true },
    { q: [3, 2, 1, 8], tk: 9, causal: true },
    { q: [1, 1, 3, 16], tk: 300, mask: [1, 1, 3, 300] },
    { q: [2, 2, 4, 8], tk: 4, causal: true, mask: [2, 1, 1, 4] },
    { q: [1, 1, 1, 1], tk: 1 },
    { q: [1, 2, 20, 8], tk: 20, causal: true, mask: [1, 1, 20, 20] },
    { q: [2, 1, 12, 8], tk: 30, mask: [2, 1, 1, 30] },
  ];
  for (const [i, c] of cases.entries()) {
    const [b, h, , d] = c.q;
    const q = rand(c.q, 130 + i);
    const k = rand([b, h, c.tk, d], 140 + i);
    const v = rand([b, h, c.tk, d + 3], 150 + i);
    let mask: Tensor | undefined;
    if (c.mask) {
      mask = rand(c.mask, 160 + i);
      // Padding-style: a few positions get the finite minimum, the rest 0.
      const md = mask.data as Float32Array;
      for (let j = 0; j < md.length; j++) md[j] = md[j] > 0.5 ? -3.4028234663852886e38 : 0;
      md[0] = 0;
    }
    const opts = { scale: 1 / Math.sqrt(d), causal: c.causal, returnProbs: true };
    const want = cpu.attention(q, k, v, { ...opts, mask });
    const got = g.attention(g.upload(q), g.upload(k), g.upload(v), {
      ...opts,
      mask: mask && g.upload(mask),
    });
    const what = `attention q ${c.q} tk ${c.tk} mask ${c.mask} causal ${c.causal}`;
    assertClose(await take(g, got.output), want.output, `${what}: output`);
    assertClose(await take(g, got.probs!), want.probs!, `${what}: probs`);
  }
});

gpuTest("crossEntropy matches cpu (1e-5): ignore index, label smoothing, vocab 300", async (g) => {
  const logits = rand([6, 300], 170, 5);
  const labels = Tensor.from([3, -100, 299, 0, 17, -100], "int64");
  const gl = g.upload(logits);
  const gy = g.upload(labels);
  for (const labelSmoothing of [0, 0.1]) {
    const got = await take(g, g.crossEntropy(gl, gy, { labelSmoothing }));
    assertClose(
      got,
      cpu.crossEntropy(logits, labels, { labelSmoothing }),
      `ce ε=${labelSmoothing}`,
    );
  }
  const allIgnored = Tensor.from(Array(6).fill(-1), "int32");
  const nan = await take(g, g.crossEntropy(gl, g.upload(allIgnored), { ignoreIndex: -1 }));
  assert(Number.isNaN(nan.item()), "every label ignored gives NaN, as torch");
  assertThrows(
    () => g.crossEntropy(gl, g.upload(Tensor.from([1, 2, 3, 4, 5, 300], "int32"))),
    WebGpuError,
    "label 300",
  );
});

gpuTest("topk matches cpu: values (exact), indices (exact, ties lower index first)", async (g) => {
  const cases: [number[], number][] = [[[1], 1], [[3, 1000], 5], [[2, 1200], 8], [[4, 7], 7]];
  for (const [i, [dims, k]] of cases.entries()) {
    const x = rand(dims, 180 + i);
    const got = g.topk(g.upload(x), k);
    const want = cpu.topk(x, k);
    assertEquals((await take(g, got.values)).data, want.values.data, `topk values ${dims} ${k}`);
    assertEquals((await take(g, got.indices)).data, want.indices.data, `topk idx ${dims} ${k}`);
  }
  const ties = Tensor.from([[1, 3, 3, -Infinity, 3, 2]]);
  const t = g.topk(g.upload(ties), 6);
  assertEquals((await take(g, t.indices)).tolist(), [[1, 2, 4, 5, 0, 3]]);
  assertEquals((await take(g, t.values)).tolist(), [[3, 3, 3, 2, 1, -Infinity]]);
});

gpuTest("buffer pool: repeated allocate/dispose cycles do not grow the pool", async (g) => {
  const x = rand([4, 33], 190);
  const w = rand([50, 33], 191);
  const gx = g.upload(x);
  const gw = g.upload(w);
  const cycle = async () => {
    const h = g.linear(gx, gw, undefined, "gelu"); // [4, 50]
    const p = g.softmax(h);
    const top = g.topk(p, 3);
    g.dispose(h);
    g.dispose(p);
    g.dispose(top.indices);
    return await take(g, top.values);
  };
  const first = await cycle();
  const before = g.stats().pool;
  for (let i = 0; i < 5; i++) assertEquals((await cycle()).data, first.data);
  const after = g.stats().pool;
  assertEquals(after.created, before.created, "no new buffers after the first cycle");
  assertEquals(after.live, before.live, "every cycle returns what it took");
  g.dispose(gx);
  g.dispose(gw);
  assertEquals(g.stats().pool.live, before.live - 2);
});

gpuTest(
  "scope: frees what the result does not hold; nested scopes; a throw frees all",
  async (g) => {
    const x = g.upload(Tensor.from([[1, 2, 3], [4, 5, 6]]));
    const live = () => g.stats().pool.live;
    const start = live();
    let inner: GpuTensor | undefined, scaled: GpuTensor | undefined;
    const out = g.scope(() => {
      scaled = g.scale(x, 2); // [2, 3], only a reshaped view of it is returned
      const view = g.reshape(scaled, [3, 2]);
      inner = g.scope(() => g.add(scaled!, scaled!)); // kept by the inner scope, dropped by the outer
      return { y: g.softmax(scaled), views: [view] };
    });
    assert(scaled!.disposed && inner!.disposed, "intermediates are disposed");
    assert(!out.y.disposed && !out.views[0].disposed && !x.disposed, "results and inputs live");
    // 2 buffers: y, and the scaled buffer shared by the returned view.
    assertEquals(live(), start + 2);
    assertEquals((await g.read(out.views[0])).data, Float32Array.from([2, 4, 6, 8, 10, 12]));
    g.dispose(out.y);
    g.dispose(out.views[0]);
    assertEquals(live(), start, "every buffer back");
    assertThrows(
      () =>
        g.scope(() => {
          g.scale(x, 3);
          throw new WebGpuError("boom");
        }),
      WebGpuError,
      "boom",
    );
    assertEquals(live(), start, "a throwing scope frees what it made");
    g.dispose(x);
  },
);

gpuTest(
  "fp16 storage: matmul / linear / embedding read halves natively, other ops widen (1e-5)",
  async (g) => {
    // The reference is the CPU backend on the same fp16-rounded values widened to float32.
    const wide = (t: Tensor) => cpu.upload(t);
    const w16 = rand([70, 37], 210, 0.3).to("float16");
    const b16 = rand([70], 211).to("float16");
    const gw = g.upload(w16);
    assertEquals(gw.dtype, "float16");
    assertEquals(gw.byteSize, 70 * 37 * 2);
    for (const rows of [2, 15]) { // skinny and tiled kernels
      const x = rand([rows, 37], 212 + rows);
      const got = await take(g, g.linear(g.upload(x), gw, g.upload(b16), "gelu"));
      assertClose(got, cpu.linear(x, wide(w16), wide(b16), "gelu"), `fp16 linear ${rows} rows`);
    }
    const a = rand([2, 9, 37], 214);
    const got = await take(g, g.matmul(g.upload(a), gw, { transposeB: true }));
    assertClose(got, cpu.matmul(a, wide(w16), { transposeB: true }), "fp16 matmul transposeB");
    const bn = rand([37, 5], 215).to("float16"); // odd count: the last word is half padding
    const got2 = await take(g, g.matmul(g.upload(rand([3, 37], 216)), g.upload(bn)));
    assertClose(got2, cpu.matmul(rand([3, 37], 216), wide(bn)), "fp16 matmul");
    const ids = ints([2, 5], 70, 217);
    const emb = await take(g, g.embedding(gw, g.upload(ids)));
    assertEquals(emb.data, cpu.embedding(wide(w16), ids).data, "fp16 embedding (exact)");
    const lx = g.upload(rand([3, 70], 218));
    const lb = g.upload(b16);
    const live = g.stats().pool.live;
    const ln = await take(g, g.layerNorm(lx, lb, lb, 1e-5));
    assertClose(
      ln,
      cpu.layerNorm(rand([3, 70], 218), wide(b16), wide(b16), 1e-5),
      "fp16 layerNorm",
    );
    assertEquals(g.stats().pool.live, live, "the widened scratch copies are released");
    g.dispose(lx);
    g.dispose(lb);
    const p = await take(g, g.permute(gw, [1, 0]));
    assertEquals(p.data, cpu.permute(wide(w16), [1, 0]).data, "fp16 permute widens (exact)");
    g.dispose(gw);
  },
);

gpuTest("misuse gives typed errors naming the problem", (g) => {
  const x = g.upload(rand([2, 3], 200));
  g.dispose(x);
  assertThrows(() => g.softmax(x), WebGpuError, "already disposed");
  const ids = g.upload(Tensor.from([1, 2], "int32"));
  assertThrows(() => g.softmax(ids), WebGpuError, "must be float32");
  assertThrows(() => g.permute(ids, [1]), WebGpuError, "not a permutation");
  assertThrows(() => g.topk(g.upload(rand([2, 3], 1)), 4), WebGpuError, "k = 4");
});

Deno.test("without navigator.gpu, create() throws a WebGpuError that says to add --unstable-webgpu", async () => {
  // Older Deno releases expose navigator.gpu only with the flag; shadow it to take that path.
  Object.defineProperty(navigator, "gpu", { value: undefined, configurable: true });
  try {
    const e = await assertRejects(() => WebGpuBackend.create(), WebGpuError);
    assertEquals(
      e.message,
      "WebGPU backend: navigator.gpu is not available: run Deno with --unstable-webgpu",
    );
    assertEquals((await WebGpuBackend.probe()).available, false);
  } finally {
    delete (navigator as { gpu?: unknown }).gpu;
  }
  assert("gpu" in navigator, "the prototype getter is back");
});
