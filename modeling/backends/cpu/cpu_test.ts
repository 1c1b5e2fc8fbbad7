/**
 * Known-answer tests of the CPU reference backend. Hand-computed values come from float64
 * arithmetic (Python `math` / NumPy) and are compared with the tolerance named in each test;
 * larger cases compare against naive float64 loops written here.
 */
import { assert, assertAlmostEquals, assertEquals, assertThrows } from "@std/assert";
import { BackendError, cpu, CpuBackend, erf } from "./cpu.ts";
import { FLOAT32_MIN, floatToBf16, floatToHalf, Tensor } from "../../tensor.ts";

// ---- helpers -----------------------------------------------------------------------------------

/** mulberry32: a tiny seeded RNG for test inputs. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function rand(dims: number[], seed: number): Tensor<"float32"> {
  const r = rng(seed);
  const n = dims.reduce((a, b) => a * b, 1);
  const d = new Float32Array(n);
  for (let i = 0; i < n; i++) d[i] = r() * 2 - 1;
  return new Tensor("float32", d, dims);
}

function f(t: Tensor): Float32Array {
  return t.data as Float32Array;
}

/** |actual - expected| <= atol + rtol·|expected| elementwise. */
function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  rtol = 1e-6,
  atol = 1e-6,
  what = "",
): void {
  assertEquals(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i], e = expected[i];
    if (Number.isNaN(e)) {
      assert(Number.isNaN(a), `${what}[${i}]: expected NaN, got ${a}`);
      continue;
    }
    const tol = atol + rtol * Math.abs(e);
    assert(Math.abs(a - e) <= tol, `${what}[${i}]: got ${a}, expected ${e} (tol ${tol})`);
  }
}

function naiveMatmul(
  a: Float32Array,
  b: Float32Array,
  m: number,
  k: number,
  n: number,
  transposeB = false,
): Float64Array {
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += a[i * k + p] * (transposeB ? b[j * k + p] : b[p * n + j]);
      out[i * n + j] = s;
    }
  }
  return out;
}

// ---- data movement -----------------------------------------------------------------------------

Deno.test("cpu.upload converts float16/bfloat16 to float32 exactly, passes float32 through", async () => {
  const half = new Tensor("float16", new Uint16Array([0x3c00, 0xc000, 0x3555]), [3]);
  const up = cpu.upload(half);
  assertEquals(up.dtype, "float32");
  assertEquals(up.tolist(), [1, -2, 0.333251953125]); // exact half values
  const bf = new Tensor("bfloat16", new Uint16Array([floatToBf16(1.5), floatToBf16(-0.25)]), [2]);
  assertEquals(cpu.upload(bf).tolist(), [1.5, -0.25]);
  const x = Tensor.from([1, 2]);
  assert(cpu.upload(x) === x);
  assert((await cpu.read(x)) === x);
  assertEquals(cpu.dims(Tensor.zeros([2, 3], "int32")), [2, 3]);
  cpu.dispose(x);
  assertEquals(cpu.name, "cpu");
  assert(new CpuBackend().name === "cpu");
});

// ---- shape ops ---------------------------------------------------------------------------------

Deno.test("cpu.reshape shares data and infers -1", () => {
  const x = Tensor.from([[1, 2, 3], [4, 5, 6]]);
  const y = cpu.reshape(x, [3, -1]);
  assertEquals(y.dims, [3, 2]);
  assert(y.data === x.data);
  assertEquals(cpu.reshape(x, [6]).tolist(), [1, 2, 3, 4, 5, 6]);
  assertThrows(() => cpu.reshape(x, [4, -1]), BackendError, "cannot infer -1");
  assertThrows(() => cpu.reshape(x, [4, 2]), BackendError, "cannot reshape [2, 3]");
  assertThrows(() => cpu.reshape(x, [-1, -1]), BackendError, "invalid target shape");
});

Deno.test("cpu.permute matches index arithmetic for [2,3,4] and every perm; any dtype", () => {
  const x = rand([2, 3, 4], 1);
  const perms = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]];
  for (const perm of perms) {
    const y = cpu.permute(x, perm);
    assertEquals(y.dims, perm.map((p) => x.dims[p]));
    for (let i = 0; i < 2; i++) {
      for (let j = 0; j < 3; j++) {
        for (let l = 0; l < 4; l++) {
          const src = [i, j, l];
          const o = perm.map((p) => src[p]);
          const off = (o[0] * y.dims[1] + o[1]) * y.dims[2] + o[2];
          assertEquals(y.data[off], x.data[(i * 3 + j) * 4 + l], `perm ${perm} at ${src}`);
        }
      }
    }
    assert(y.data !== x.data, "permute copies");
  }
  const ints = Tensor.from([[1, 2, 3], [4, 5, 6]], "int64");
  const t = cpu.permute(ints, [1, 0]);
  assertEquals(t.dtype, "int64");
  assertEquals(t.tolist(), [[1, 4], [2, 5], [3, 6]]);
  assertThrows(() => cpu.permute(x, [0, 0, 1]), BackendError, "not a permutation");
  assertThrows(() => cpu.permute(x, [0, 1]), BackendError, "not a permutation");
});

Deno.test("cpu.slice along first, middle, last and negative axes", () => {
  const x = Tensor.from([[[1, 2], [3, 4], [5, 6]], [[7, 8], [9, 10], [11, 12]]]); // [2,3,2]
  assertEquals(cpu.slice(x, 0, 1, 2).tolist(), [[[7, 8], [9, 10], [11, 12]]]);
  assertEquals(cpu.slice(x, 1, 1, 3).tolist(), [[[3, 4], [5, 6]], [[9, 10], [11, 12]]]);
  assertEquals(cpu.slice(x, -1, 1, 2).tolist(), [[[2], [4], [6]], [[8], [10], [12]]]);
  assertEquals(cpu.slice(x, 1, 2, 2).dims, [2, 0, 2]);
  const ids = Tensor.from([[1, 2, 3]], "int32");
  assertEquals(cpu.slice(ids, 1, 0, 2).tolist(), [[1, 2]]);
  assertThrows(() => cpu.slice(x, 1, 2, 4), BackendError, "out of bounds");
  assertThrows(() => cpu.slice(x, 3, 0, 1), BackendError, "axis 3 is out of range");
});

Deno.test("cpu.concat along axes 0, 1 and -1, ints and floats", () => {
  const a = Tensor.from([[1, 2], [3, 4]]);
  const b = Tensor.from([[5, 6]]);
  assertEquals(cpu.concat([a, b], 0).tolist(), [[1, 2], [3, 4], [5, 6]]);
  const c = Tensor.from([[7], [8]]);
  assertEquals(cpu.concat([a, c], 1).tolist(), [[1, 2, 7], [3, 4, 8]]);
  assertEquals(cpu.concat([c, a, c], -1).tolist(), [[7, 1, 2, 7], [8, 3, 4, 8]]);
  const i = Tensor.from([[1, 2]], "int64");
  assertEquals(cpu.concat([i, i], 0).tolist(), [[1, 2], [1, 2]]);
  assertThrows(() => cpu.concat([a, b], 1), BackendError, "xs[1] is [1, 2] float32");
  assertThrows(() => cpu.concat([b, i], 0), BackendError, "expected float32");
  assertThrows(() => cpu.concat([], 0), BackendError, "at least one");
});

Deno.test("cpu.indexSelect picks (repeated) rows along an axis", () => {
  const x = Tensor.from([[1, 2, 3], [4, 5, 6]]);
  assertEquals(cpu.indexSelect(x, 0, [1, 1, 0]).tolist(), [[4, 5, 6], [4, 5, 6], [1, 2, 3]]);
  assertEquals(cpu.indexSelect(x, 1, [2, 0]).tolist(), [[3, 1], [6, 4]]);
  assertEquals(cpu.indexSelect(x, 0, []).dims, [0, 3]);
  assertThrows(() => cpu.indexSelect(x, 0, [2]), BackendError, "index 2 is out of range");
});

// ---- matmul / linear ---------------------------------------------------------------------------

Deno.test("cpu.matmul equals a float64 triple loop on sizes 1, 3, 17, 65 (rtol 1e-6, atol 1e-6)", () => {
  const sizes = [1, 3, 17, 65];
  let seed = 10;
  for (const m of sizes) {
    for (const k of sizes) {
      for (const n of [1, 3, 17, 65]) {
        const a = rand([m, k], seed++);
        const bn = rand([k, n], seed++);
        const bt = rand([n, k], seed++);
        assertClose(
          f(cpu.matmul(a, bn)),
          naiveMatmul(f(a), f(bn), m, k, n),
          1e-6,
          1e-6,
          `NN ${m}x${k}x${n}`,
        );
        assertClose(
          f(cpu.matmul(a, bt, { transposeB: true })),
          naiveMatmul(f(a), f(bt), m, k, n, true),
          1e-6,
          1e-6,
          `NT ${m}x${k}x${n}`,
        );
      }
    }
  }
});

Deno.test("cpu.matmul broadcasts leading dims: [2,1,3,5] @ [4,5,2] → [2,4,3,2]", () => {
  const a = rand([2, 1, 3, 5], 1);
  const b = rand([4, 5, 2], 2);
  const y = cpu.matmul(a, b);
  assertEquals(y.dims, [2, 4, 3, 2]);
  for (let i = 0; i < 2; i++) {
    for (let j = 0; j < 4; j++) {
      const ref = naiveMatmul(
        f(a).subarray(i * 15, (i + 1) * 15),
        f(b).subarray(j * 10, (j + 1) * 10),
        3,
        5,
        2,
      );
      const got = f(y).subarray((i * 4 + j) * 6, (i * 4 + j + 1) * 6);
      assertClose(got, ref, 1e-6, 1e-6, `batch ${i},${j}`);
    }
  }
  // [3,2] @ [2,2,4] broadcasts a over b's batch.
  const c = Tensor.from([[1, 2], [3, 4], [5, 6]]);
  const d = Tensor.from([[[1, 0, 0, 1], [0, 1, 0, 1]], [[2, 0, 0, 0], [0, 0, 2, 0]]]);
  assertEquals(cpu.matmul(c, d).tolist(), [
    [[1, 2, 0, 3], [3, 4, 0, 7], [5, 6, 0, 11]],
    [[2, 0, 4, 0], [6, 0, 8, 0], [10, 0, 12, 0]],
  ]);
});

Deno.test("cpu.matmul rejects bad shapes and dtypes with the op and shapes in the message", () => {
  const a = rand([2, 3], 1);
  assertThrows(
    () => cpu.matmul(a, rand([4, 5], 2)),
    BackendError,
    "cpu.matmul: inner dims differ: a [2, 3] vs b [4, 5]",
  );
  assertThrows(
    () => cpu.matmul(a, rand([4, 5], 2), { transposeB: true }),
    BackendError,
    "transposeB",
  );
  assertThrows(
    () => cpu.matmul(rand([2, 2, 3], 1), rand([3, 3, 4], 2)),
    BackendError,
    "do not broadcast",
  );
  assertThrows(() => cpu.matmul(Tensor.from([[1]], "int32"), a), BackendError, "a has dtype int32");
  assertThrows(() => cpu.matmul(rand([3], 1), a), BackendError, "at least 2 dims");
});

Deno.test("cpu.linear equals x·Wᵀ+b in float64 on odd sizes, across cache blocks (rtol 1e-6)", () => {
  let seed = 100;
  for (
    const [rows, nIn, nOut] of [[1, 1, 1], [3, 17, 5], [5, 65, 7], [2, 300, 250], [7, 3, 1030]]
  ) {
    const x = rand([rows, nIn], seed++);
    const w = rand([nOut, nIn], seed++);
    const b = rand([nOut], seed++);
    const ref = naiveMatmul(f(x), f(w), rows, nIn, nOut, true);
    for (let i = 0; i < ref.length; i++) ref[i] += f(b)[i % nOut];
    assertClose(f(cpu.linear(x, w, b)), ref, 1e-6, 1e-6, `linear ${rows}x${nIn}x${nOut}`);
    const noBias = naiveMatmul(f(x), f(w), rows, nIn, nOut, true);
    assertClose(f(cpu.linear(x, w)), noBias, 1e-6, 1e-6, "no bias");
  }
  // 3-D input, fused activation: known answer.
  const x = Tensor.from([[[1, 2]], [[-1, 0]]]); // [2,1,2]
  const w = Tensor.from([[1, 0], [0, 1], [1, 1]]);
  const b = Tensor.from([0, -3, 0]);
  assertEquals(cpu.linear(x, w, b).tolist(), [[[1, -1, 3]], [[-1, -3, -1]]]);
  assertEquals(cpu.linear(x, w, b, "relu").tolist(), [[[1, 0, 3]], [[0, 0, 0]]]);
  const g = cpu.linear(Tensor.from([[1]]), Tensor.from([[1]]), undefined, "gelu");
  assertAlmostEquals(g.item(), 0.8413447737693787, 1e-7);
});

Deno.test("cpu.linear rejects a weight that does not fit and half weights not uploaded", () => {
  const x = rand([2, 3], 1);
  assertThrows(() => cpu.linear(x, rand([4, 5], 2)), BackendError, "expected [out, 3]");
  assertThrows(() => cpu.linear(x, rand([4, 3], 2), rand([5], 3)), BackendError, "expected [4]");
  const half = new Tensor("float16", new Uint16Array(12).fill(floatToHalf(1)), [4, 3]);
  assertThrows(() => cpu.linear(x, half), BackendError, "upload() converts half tensors");
  assertEquals(cpu.linear(Tensor.from([[1, 1, 1]]), cpu.upload(half)).tolist(), [[3, 3, 3, 3]]);
});

// ---- elementwise ---------------------------------------------------------------------------------

Deno.test("cpu.add / cpu.mul broadcast like NumPy (exact small-integer answers)", () => {
  const a = Tensor.from([[1, 2, 3], [4, 5, 6]]);
  assertEquals(cpu.add(a, Tensor.from([10, 20, 30])).tolist(), [[11, 22, 33], [14, 25, 36]]);
  assertEquals(cpu.add(Tensor.from([[1], [2]]), Tensor.from([[10, 20, 30]])).tolist(), [
    [11, 21, 31],
    [12, 22, 32],
  ]);
  assertEquals(cpu.mul(a, Tensor.from([[2], [3]])).tolist(), [[2, 4, 6], [12, 15, 18]]);
  assertEquals(cpu.mul(a, a).tolist(), [[1, 4, 9], [16, 25, 36]]);
  assertEquals(cpu.add(new Tensor("float32", new Float32Array([1]), []), a).tolist(), [
    [2, 3, 4],
    [5, 6, 7],
  ]);
  // [2,1,3] * [4,1] → [2,4,3]
  const x = Tensor.from([[[1, 2, 3]], [[4, 5, 6]]]);
  const y = Tensor.from([[1], [0], [-1], [2]]);
  const z = cpu.mul(x, y);
  assertEquals(z.dims, [2, 4, 3]);
  assertEquals(z.tolist(), [
    [[1, 2, 3], [0, 0, 0], [-1, -2, -3], [2, 4, 6]],
    [[4, 5, 6], [0, 0, 0], [-4, -5, -6], [8, 10, 12]],
  ]);
  // additive mask [2,1,1,3] onto scores [2,2,1,3]
  const s = Tensor.from([[[[1, 1, 1]], [[2, 2, 2]]], [[[3, 3, 3]], [[4, 4, 4]]]]);
  const m = Tensor.from([[[[0, 0, -10]]], [[[-10, 0, 0]]]]);
  assertEquals(cpu.add(s, m).tolist(), [
    [[[1, 1, -9]], [[2, 2, -8]]],
    [[[-7, 3, 3]], [[-6, 4, 4]]],
  ]);
  assertThrows(
    () => cpu.add(a, Tensor.from([1, 2])),
    BackendError,
    "cpu.add: shapes a [2, 3] and b [2] do not broadcast",
  );
  assertThrows(
    () => cpu.mul(a, Tensor.from([1, 2, 3], "int32")),
    BackendError,
    "b has dtype int32",
  );
  assertEquals(cpu.scale(a, 0.5).tolist(), [[0.5, 1, 1.5], [2, 2.5, 3]]);
});

Deno.test("erf matches Python math.erf to 1e-15", () => {
  const cases: [number, number][] = [
    [0, 0],
    [0.001, 0.0011283787909692365],
    [0.5, 0.5204998778130465],
    [1, 0.8427007929497149],
    [-1, -0.8427007929497149],
    [2, 0.9953222650189527],
    [2.5, 0.999593047982555],
    [3, 0.9999779095030014],
    [-3.5, -0.9999992569016276],
    [4, 0.9999999845827421],
    [5.5, 0.9999999999999927],
    [6, 1],
    [-30, -1],
  ];
  for (const [x, e] of cases) assertAlmostEquals(erf(x), e, 1e-15, `erf(${x})`);
  assert(Number.isNaN(erf(NaN)));
});

Deno.test("cpu.activation known answers (float32 of float64 references, atol 1e-7)", () => {
  const x = Tensor.from([1, -1, 0.5, -2, 3, 0]);
  const gelu = [
    0.8413447737693787,
    -0.15865525603294373,
    0.3457312285900116,
    -0.0455002635717392,
    2.995950222015381,
    0,
  ];
  const tanh = [
    0.8411920070648193,
    -0.15880800783634186,
    0.3457140028476715,
    -0.04540230706334114,
    2.9963626861572266,
    0,
  ];
  assertClose(f(cpu.activation(x, "gelu")), gelu, 0, 1e-7, "gelu");
  assertClose(f(cpu.activation(x, "gelu_new")), tanh, 0, 1e-7, "gelu_new");
  assertClose(f(cpu.activation(x, "gelu_pytorch_tanh")), tanh, 0, 1e-7, "gelu_pytorch_tanh");
  assertEquals(cpu.activation(x, "relu").tolist(), [1, 0, 0.5, 0, 3, 0]);
  assertClose(f(cpu.activation(x, "tanh")), [1, -1, 0.5, -2, 3, 0].map(Math.tanh), 0, 1e-7, "tanh");
  assert(cpu.activation(x, "none") === x);
  // GELU against the float64 erf definition on a dense grid (the table erf is < 1e-9 off).
  const grid = new Float32Array(2001).map((_, i) => -10 + i * 0.01);
  const g = f(cpu.activation(new Tensor("float32", grid, [2001]), "gelu"));
  const ref = Array.from(grid, (v) => 0.5 * v * (1 + erf(v / Math.SQRT2)));
  assertClose(g, ref, 1e-6, 1e-7, "gelu grid");
  const gt = f(cpu.activation(new Tensor("float32", grid, [2001]), "gelu_new"));
  const refT = Array.from(
    grid,
    (v) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3))),
  );
  assertClose(gt, refT, 1e-6, 1e-7, "gelu_new grid");
  // saturation and NaN: gelu(±40) = 40 / -0, gelu_new(±40) likewise; NaN stays NaN
  const ext = Tensor.from([40, -40, NaN, Infinity]);
  for (const kind of ["gelu", "gelu_new"] as const) {
    const y = f(cpu.activation(ext, kind));
    assertEquals([y[0], Math.abs(y[1]), y[3]], [40, 0, Infinity], kind);
    assert(Number.isNaN(y[2]), `${kind}(NaN)`);
  }
  assert(Number.isNaN(f(cpu.activation(Tensor.from([NaN]), "relu"))[0]), "relu(NaN)");
  // deno-lint-ignore no-explicit-any
  assertThrows(() => cpu.activation(x, "silu" as any), BackendError, 'unknown activation "silu"');
});

Deno.test("cpu.layerNorm of [1,2,3,4] (biased variance, eps inside sqrt; atol 1e-6)", () => {
  const x = Tensor.from([[1, 2, 3, 4], [2, 2, 2, 2]]);
  const ones = Tensor.from([1, 1, 1, 1]);
  const zeros = Tensor.from([0, 0, 0, 0]);
  const y = cpu.layerNorm(x, ones, zeros, 1e-5);
  assertClose(
    f(y),
    [-1.3416354199689269, -0.447211806656309, 0.447211806656309, 1.3416354199689269, 0, 0, 0, 0],
    0,
    1e-6,
  );
  const w = Tensor.from([1, 0.5, -1, 2]);
  const b = Tensor.from([0, 1, 0, -1]);
  const z = cpu.layerNorm(Tensor.from([1, 2, 3, 4]), w, b, 1e-12);
  assertClose(
    f(z),
    [-1.3416407864993372, 0.7763932022501105, -0.447213595499779, 1.6832815729986743],
    0,
    1e-6,
  );
  assertThrows(
    () => cpu.layerNorm(x, Tensor.from([1, 1]), zeros, 1e-5),
    BackendError,
    "expected both [4]",
  );
});

Deno.test("cpu.softmax / logSoftmax of [1,2,3], large values, and degenerate rows (atol 1e-7)", () => {
  const p = cpu.softmax(Tensor.from([[1, 2, 3], [1001, 1002, 1003]]));
  const e = [0.09003057317038046, 0.24472847105479764, 0.6652409557748218];
  assertClose(f(p), [...e, ...e], 0, 1e-7);
  const lp = cpu.logSoftmax(Tensor.from([1, 2, 3]));
  assertClose(f(lp), [-2.4076059644443806, -1.4076059644443804, -0.4076059644443804], 0, 1e-6);
  // all entries at the finite mask minimum → uniform, as torch
  assertClose(
    f(cpu.softmax(Tensor.from([FLOAT32_MIN, FLOAT32_MIN, FLOAT32_MIN]))),
    [1 / 3, 1 / 3, 1 / 3],
    0,
    1e-7,
  );
  // -inf entries get probability 0; an all -inf row is NaN, as torch
  assertEquals(cpu.softmax(Tensor.from([0, -Infinity])).tolist(), [1, 0]);
  const nan = cpu.softmax(Tensor.from([-Infinity, -Infinity]));
  assert(f(nan).every(Number.isNaN));
  assert(f(cpu.softmax(Tensor.from([0, NaN]))).every(Number.isNaN));
});

Deno.test("cpu.embedding gathers rows for int32/int64 ids and rejects ids outside the vocab", () => {
  const w = Tensor.from([[0, 0], [1, 10], [2, 20]]);
  assertEquals(cpu.embedding(w, Tensor.from([[2, 0], [1, 1]], "int64")).tolist(), [
    [[2, 20], [0, 0]],
    [[1, 10], [1, 10]],
  ]);
  assertEquals(cpu.embedding(w, Tensor.from([1], "int32")).dims, [1, 2]);
  assertThrows(
    () => cpu.embedding(w, Tensor.from([0, 3], "int32")),
    BackendError,
    "id 3 at flat position 1",
  );
  assertThrows(
    () => cpu.embedding(w, Tensor.from([-1], "int64")),
    BackendError,
    "vocabulary [0, 3)",
  );
  assertThrows(() => cpu.embedding(w, Tensor.from([1])), BackendError, "expected int32 or int64");
});

// ---- attention -----------------------------------------------------------------------------------

/** Float64 reference attention: explicit scores, causal, mask, softmax, weighted sum. */
function naiveAttention(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  scale: number,
  causal: boolean,
  mask?: (b: number, h: number, i: number, j: number) => number,
): { out: Float64Array; probs: Float64Array } {
  const [nb, nh, tq, d] = q.dims;
  const tk = k.dims[2], dv = v.dims[3];
  const out = new Float64Array(nb * nh * tq * dv);
  const probs = new Float64Array(nb * nh * tq * tk);
  for (let b = 0; b < nb; b++) {
    for (let h = 0; h < nh; h++) {
      for (let i = 0; i < tq; i++) {
        const s: number[] = [];
        for (let j = 0; j < tk; j++) {
          let dot = 0;
          for (let c = 0; c < d; c++) {
            dot += f(q)[((b * nh + h) * tq + i) * d + c] * f(k)[((b * nh + h) * tk + j) * d + c];
          }
          let x = dot * scale;
          if (causal && j > i + tk - tq) x = FLOAT32_MIN;
          if (mask) x += mask(b, h, i, j);
          s.push(x);
        }
        const mx = Math.max(...s);
        const ex = s.map((x) => Math.exp(x - mx));
        const sum = ex.reduce((a, c) => a + c, 0);
        for (let j = 0; j < tk; j++) {
          const p = ex[j] / sum;
          probs[((b * nh + h) * tq + i) * tk + j] = p;
          for (let c = 0; c < dv; c++) {
            out[((b * nh + h) * tq + i) * dv + c] += p * f(v)[((b * nh + h) * tk + j) * dv + c];
          }
        }
      }
    }
  }
  return { out, probs };
}

Deno.test("cpu.attention equals a naive float64 loop: no mask, padding mask, causal (rtol 1e-6, atol 1e-6)", () => {
  const q = rand([2, 3, 5, 8], 1);
  const k = rand([2, 3, 5, 8], 2);
  const v = rand([2, 3, 5, 6], 3);
  const scale = 1 / Math.sqrt(8);
  const plain = cpu.attention(q, k, v, { scale, returnProbs: true });
  const ref = naiveAttention(q, k, v, scale, false);
  assertClose(f(plain.output), ref.out, 1e-6, 1e-6, "plain out");
  assertClose(f(plain.probs!), ref.probs, 1e-6, 1e-6, "plain probs");
  assertEquals(plain.probs!.dims, [2, 3, 5, 5]);

  // padding mask [b,1,1,tk]: batch 1 hides its last two keys
  const mask = Tensor.from([[[[0, 0, 0, 0, 0]]], [[[0, 0, 0, FLOAT32_MIN, FLOAT32_MIN]]]]);
  const padded = cpu.attention(q, k, v, { scale, mask, returnProbs: true });
  const refPad = naiveAttention(
    q,
    k,
    v,
    scale,
    false,
    (b, _h, _i, j) => b === 1 && j >= 3 ? FLOAT32_MIN : 0,
  );
  assertClose(f(padded.output), refPad.out, 1e-6, 1e-6, "padded out");
  assertClose(f(padded.probs!), refPad.probs, 1e-6, 1e-6, "padded probs");

  const causal = cpu.attention(q, k, v, { scale, causal: true, returnProbs: true });
  const refC = naiveAttention(q, k, v, scale, true);
  assertClose(f(causal.output), refC.out, 1e-6, 1e-6, "causal out");
  const pc = f(causal.probs!);
  for (let i = 0; i < 5; i++) {
    for (let j = i + 1; j < 5; j++) assertEquals(pc[i * 5 + j], 0, `causal probs [0,0,${i},${j}]`);
  }
  assertEquals(pc[0], 1, "the first query sees only the first key");
  // no mask at all: without returnProbs there are no probs
  assertEquals(cpu.attention(q, k, v, { scale }).probs, undefined);
});

Deno.test("cpu.attention causal offset with a cache: tq=2 of tk=5 sees keys j <= i + 3", () => {
  const q = rand([1, 2, 2, 4], 7);
  const k = rand([1, 2, 5, 4], 8);
  const v = rand([1, 2, 5, 3], 9);
  const r = cpu.attention(q, k, v, { scale: 0.5, causal: true, returnProbs: true });
  const ref = naiveAttention(q, k, v, 0.5, true);
  assertClose(f(r.output), ref.out, 1e-6, 1e-6, "out");
  const p = f(r.probs!);
  assertEquals(p[4], 0, "query 0 does not see key 4");
  assert(p[3] > 0 && p[5 + 4] > 0, "query 0 sees key 3; query 1 sees key 4");
  // The last query of a full causal pass equals a one-step decode against the same keys.
  const qFull = rand([1, 1, 5, 4], 11);
  const kv = rand([1, 1, 5, 4], 12);
  const full = cpu.attention(qFull, kv, kv, { scale: 0.5, causal: true });
  const step = cpu.attention(cpu.slice(qFull, 2, 4, 5), kv, kv, { scale: 0.5, causal: true });
  assertClose(f(step.output), f(full.output).subarray(16, 20), 0, 1e-7, "decode step");
});

Deno.test("cpu.attention with a [b,1,tq,tk] mask and causal+padding together", () => {
  const q = rand([2, 1, 3, 4], 21);
  const k = rand([2, 1, 3, 4], 22);
  const v = rand([2, 1, 3, 2], 23);
  const mv = [[[0, FLOAT32_MIN, 0], [0, 0, 0], [FLOAT32_MIN, 0, 0]], [[0, 0, 0], [
    0,
    0,
    FLOAT32_MIN,
  ], [0, 0, 0]]];
  const mask = Tensor.from([[mv[0]], [mv[1]]]); // [2,1,3,3]
  const r = cpu.attention(q, k, v, { scale: 0.5, mask });
  const ref = naiveAttention(q, k, v, 0.5, false, (b, _h, i, j) => mv[b][i][j]);
  assertClose(f(r.output), ref.out, 1e-6, 1e-6, "[b,1,tq,tk] mask");
  // Left padding + causal, as GPT-2 in torch: batch 0 keys 0 and 1 are padding. Query 0: key 0
  // is padding (≈ FLOAT32_MIN), key 1 is hidden twice (FLOAT32_MIN + FLOAT32_MIN = -inf), key 2
  // only by causality (FLOAT32_MIN) → [1/2, 0, 1/2]. Query 1: every key sits at FLOAT32_MIN →
  // uniform. Batch 1 (no padding) equals the naive causal loop.
  const pad = Tensor.from([[[[FLOAT32_MIN, FLOAT32_MIN, 0]]], [[[0, 0, 0]]]]);
  const both = cpu.attention(q, k, v, { scale: 0.5, mask: pad, causal: true, returnProbs: true });
  const p = f(both.probs!);
  assertEquals(Array.from(p.subarray(0, 3)), [0.5, 0, 0.5]);
  assertClose(p.subarray(3, 6), [1 / 3, 1 / 3, 1 / 3], 0, 1e-7, "uniform row");
  const refBoth = naiveAttention(q, k, v, 0.5, true);
  assertClose(f(both.output).subarray(6), refBoth.out.subarray(6), 1e-6, 1e-6, "batch 1");
});

Deno.test("cpu.attention rejects mismatched shapes and masks", () => {
  const q = rand([1, 2, 3, 4], 1);
  assertThrows(
    () => cpu.attention(q, rand([1, 2, 3, 5], 2), rand([1, 2, 3, 4], 3), { scale: 1 }),
    BackendError,
    "shapes do not agree",
  );
  assertThrows(
    () => cpu.attention(q, q, q, { scale: 1, mask: rand([2, 1, 1, 3], 4) }),
    BackendError,
    "mask [2, 1, 1, 3] does not broadcast",
  );
  assertThrows(
    () => cpu.attention(rand([2, 3, 4], 1), q, q, { scale: 1 }),
    BackendError,
    "expected 4 dims",
  );
});

// ---- loss and top-k ------------------------------------------------------------------------------

Deno.test("cpu.crossEntropy with ignore index and label smoothing (float64 references, atol 1e-6)", () => {
  const logits = Tensor.from([[1, 2, 3], [0.5, -1, 2], [3, 3, 0]]);
  const labels = Tensor.from([2, -100, 0], "int64");
  // mean over rows 0 and 2 of -log_softmax[label]
  assertAlmostEquals(cpu.crossEntropy(logits, labels).item(), 0.5626709415555415, 1e-6);
  // (1-ε)·nll + ε/V·Σ_c -log p_c, ε = 0.1
  assertAlmostEquals(
    cpu.crossEntropy(logits, labels, { labelSmoothing: 0.1 }).item(),
    0.6626709415555416,
    1e-6,
  );
  // a custom ignore index: row 1 label -100 is now out of range
  assertThrows(
    () => cpu.crossEntropy(logits, labels, { ignoreIndex: 0 }),
    BackendError,
    "label -100 at row 1",
  );
  const allIgnored = cpu.crossEntropy(logits, Tensor.from([-100, -100, -100], "int32"));
  assert(Number.isNaN(allIgnored.item()), "all rows ignored gives NaN, as torch");
  assertEquals(allIgnored.dims, []);
  assertThrows(
    () => cpu.crossEntropy(logits, Tensor.from([0, 3, 1], "int32")),
    BackendError,
    "outside the vocabulary [0, 3)",
  );
  assertThrows(
    () => cpu.crossEntropy(logits, Tensor.from([0, 1], "int32")),
    BackendError,
    "do not fit",
  );
});

Deno.test("cpu.topk sorts descending, ties to the lower index, NaN largest; indices int32", () => {
  const x = Tensor.from([[1, 3, 2, 3, 0], [5, 4, 3, 2, 1]]);
  const { values, indices } = cpu.topk(x, 3);
  assertEquals(values.tolist(), [[3, 3, 2], [5, 4, 3]]);
  assertEquals(indices.tolist(), [[1, 3, 2], [0, 1, 2]]);
  assertEquals(indices.dtype, "int32");
  assertEquals(cpu.topk(x, 0).values.dims, [2, 0]);
  assertEquals(cpu.topk(Tensor.from([0, 0, 0, 0]), 4).indices.tolist(), [0, 1, 2, 3]);
  const n = cpu.topk(Tensor.from([1, NaN, 2]), 2);
  assert(Number.isNaN(n.values.get(0)));
  assertEquals(n.indices.tolist(), [1, 2]);
  // random rows against a full sort
  const r = rand([3, 200], 5);
  const t = cpu.topk(r, 17);
  for (let row = 0; row < 3; row++) {
    const order = [...Array(200).keys()].sort((a, b) =>
      f(r)[row * 200 + b] - f(r)[row * 200 + a] || a - b
    );
    assertEquals(
      Array.from((t.indices.data as Int32Array).subarray(row * 17, row * 17 + 17)),
      order.slice(0, 17),
    );
  }
  assertThrows(() => cpu.topk(x, 6), BackendError, "k = 6 is out of range");
});

Deno.test("cpu.dropout keeps draws >= p scaled by 1/(1-p), in row-major order; p=0 and p=1", () => {
  const draws = [0.1, 0.9, 0.5, 0.49];
  let at = 0;
  const seq = { random: () => draws[at++] };
  const x = Tensor.from([[1, 2], [3, 4]]);
  // p = 0.5: draws 0.1 and 0.49 drop, 0.9 and 0.5 keep (×2)
  assertEquals(cpu.dropout(x, 0.5, seq).tolist(), [[0, 4], [6, 0]]);
  assert(cpu.dropout(x, 0, seq) === x, "p = 0 returns x");
  assertEquals(cpu.dropout(x, 1, seq).tolist(), [[0, 0], [0, 0]]);
  assertThrows(() => cpu.dropout(x, 1.5, seq), BackendError, "p = 1.5 is out of range");
});

Deno.test("cpu.attention with grouped k/v rows = k/v repeated per query row; causal groups rejected (exact)", () => {
  const fill = (dims: number[], f: (i: number) => number) =>
    new Tensor(
      "float32",
      Float32Array.from({ length: dims.reduce((a, d) => a * d, 1) }, (_, i) => f(i)),
      dims,
    );
  const q = fill([4, 2, 3, 2], (i) => Math.sin(i));
  const k = fill([2, 2, 5, 2], (i) => Math.cos(i));
  const v = fill([2, 2, 5, 2], (i) => (i % 7) - 3);
  const mask = cpu.maskBias(
    new Tensor("float32", Float32Array.from([1, 1, 1, 0, 0, 1, 1, 1, 1, 1]), [2, 5]),
  );
  const grouped = cpu.attention(q, k, v, { mask, scale: 0.5 }).output;
  const rows = [0, 0, 1, 1];
  const repeated = cpu.attention(q, cpu.indexSelect(k, 0, rows), cpu.indexSelect(v, 0, rows), {
    mask: cpu.indexSelect(mask, 0, rows),
    scale: 0.5,
  }).output;
  assertEquals(Array.from(grouped.data as Float32Array), Array.from(repeated.data as Float32Array));
  assertThrows(
    () => cpu.attention(q, k, v, { causal: true, scale: 1 }),
    BackendError,
    "g dividing b",
  );
});

Deno.test("cpu.maskBias / positionIds: HF's padding, causal and RoBERTa-position answers (exact, -0 as 0)", () => {
  const m = new Tensor("float32", Float32Array.from([1, 1, 0]), [1, 3]);
  assertEquals(Array.from(cpu.maskBias(m).data as Float32Array, (x) => x + 0), [0, 0, FLOAT32_MIN]);
  // causal over the last 2 of 3 positions: query 0 (position 1) sees keys 0..1, query 1 all.
  assertEquals(cpu.maskBias(m, 2).dims, [1, 1, 2, 3]);
  assertEquals(Array.from(cpu.maskBias(m, 2).data as Float32Array, (x) => x + 0), [
    0,
    0,
    FLOAT32_MIN,
    0,
    0,
    FLOAT32_MIN,
  ]);
  assertEquals(Array.from(cpu.positionIds(3, 4).data as Int32Array), [3, 4, 5, 6]);
  const ids = new Tensor("int32", Int32Array.from([0, 5, 1, 7]), [1, 4]); // pad id 1
  assertEquals(
    Array.from(cpu.positionIds(2, 4, { ids, paddingIdx: 1 }).data as Int32Array),
    [4, 5, 1, 6],
  );
});
