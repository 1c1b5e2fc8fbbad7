/**
 * WGSL sources of the WebGPU kernels, one generator per op family. Every kernel reads its
 * parameters from binding 0, a read-only `array<u32>` (floats stored as their bits), so one
 * parameter buffer layout serves every shape; the host side lives in `webgpu.ts`.
 *
 * @module
 */
import type { Activation } from "../../backend.ts";

/** Threads per workgroup of the 1-D kernels (elementwise, copies, row reductions). */
export const WG = 256;
/** Largest rank of the strided elementwise and copy kernels. */
export const MAX_RANK = 8;
/** Output tile of the matmul kernel: `TILE_M x TILE_N` per workgroup, `4 x 4` per thread. */
export const TILE_M = 32;
/** See `TILE_M`. */
export const TILE_N = 32;
/** Depth of one shared-memory step of the matmul kernel. */
export const TILE_K = 16;
/** Largest number of broadcast batch dims of the matmul kernel. */
export const MAX_BATCH_RANK = 4;

/** Float32 `finfo.min`, what Hugging Face adds at masked attention positions. */
export const F32_MIN = -3.4028234663852886e38;

const HEADER = /* wgsl */ `
@group(0) @binding(0) var<storage, read> P: array<u32>;
fn pf(i: u32) -> f32 { return bitcast<f32>(P[i]); }
`;

/** Flat thread index of a 2-D dispatch of `WG`-sized workgroups. */
const FLAT = /* wgsl */ `
fn flat(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> u32 {
  return (wid.y * nwg.x + wid.x) * ${WG}u + lid;
}
`;

/**
 * Opening of the entry point of a 1-D kernel (needs `FLAT`): `i` is the flat thread index and
 * threads past `n = P[0]` return. The kernel's body and closing brace follow.
 */
const FLAT_ENTRY = `@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let i = flat(wid, nwg, lid);
  if (i >= P[0]) { return; }`;

/**
 * Offsets of element `i` in two strided views of the same logical shape. Params from index 1:
 * `[rank, dims[MAX_RANK], stridesA[MAX_RANK], stridesB[MAX_RANK]]`.
 */
const STRIDED = /* wgsl */ `
fn strided(i: u32) -> vec2<u32> {
  var rem = i;
  var o = vec2<u32>(0u, 0u);
  for (var d = i32(P[1]) - 1; d >= 0; d--) {
    let u = u32(d);
    let sz = P[2u + u];
    let c = rem % sz;
    rem = rem / sz;
    o += c * vec2<u32>(P[${2 + MAX_RANK}u + u], P[${2 + 2 * MAX_RANK}u + u]);
  }
  return o;
}
`;

/** Accurate float32 erfc (Chebyshev fit, fractional error below 1.2e-7 everywhere). */
const ERFC = /* wgsl */ `
fn erfc_(x: f32) -> f32 {
  let z = abs(x);
  let t = 1.0 / (1.0 + 0.5 * z);
  let p = -z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
    t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 +
    t * (-0.82215223 + t * 0.17087277))))))));
  let r = t * exp(p);
  return select(2.0 - r, r, x >= 0.0);
}
`;

/** WGSL expression of `activation` applied to the f32 expression `v`. */
function actExpr(kind: Activation, v: string): string {
  switch (kind) {
    case "gelu":
      // 0.5 x (1 + erf(x / sqrt 2)) = 0.5 x erfc(-x / sqrt 2): no cancellation for x < 0.
      return `(0.5 * (${v}) * erfc_(-(${v}) * 0.70710678118654752))`;
    case "gelu_new":
    case "gelu_pytorch_tanh":
      // 0.5 x (1 + tanh(u)) = x * sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3).
      return `((${v}) / (1.0 + exp(-1.5957691216057308 * ((${v}) + 0.044715 * (${v}) * (${v}) * (${v})))))`;
    case "relu":
      return `max(${v}, 0.0)`;
    case "tanh":
      return `tanh(clamp(${v}, -15.0, 15.0))`;
    case "none":
      return v;
  }
}

/** Elementwise unary op: `out[i] = f(x[i])`. Params: `[n, scaleBits]`. */
export function unarySource(op: Activation | "scale"): string {
  const expr = op === "scale" ? "X[i] * pf(1u)" : actExpr(op, "X[i]");
  return HEADER + FLAT + ERFC + /* wgsl */ `
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> O: array<f32>;
${FLAT_ENTRY}
  O[i] = ${expr};
}
`;
}

/**
 * Broadcasting binary op. Params: `[n, rank, dims[MAX_RANK], aStrides[MAX_RANK],
 * bStrides[MAX_RANK]]` (stride 0 on broadcast axes).
 */
export function binarySource(op: "add" | "mul"): string {
  const sym = op === "add" ? "+" : "*";
  return HEADER + FLAT + STRIDED + /* wgsl */ `
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@group(0) @binding(3) var<storage, read_write> O: array<f32>;
${FLAT_ENTRY}
  let o = strided(i);
  O[i] = A[o.x] ${sym} B[o.y];
}
`;
}

/**
 * Strided copy of 32-bit words (any dtype): iterates over `dims`, reads
 * `src[srcBase + sum(c * srcStrides)]`, writes `dst[dstBase + sum(c * dstStrides)]`.
 * Params: `[n, rank, dims[R], srcStrides[R], dstStrides[R], srcBase, dstBase]`.
 */
export function copySource(): string {
  return HEADER + FLAT + STRIDED + /* wgsl */ `
@group(0) @binding(1) var<storage, read> S: array<u32>;
@group(0) @binding(2) var<storage, read_write> D: array<u32>;
${FLAT_ENTRY}
  let o = strided(i);
  D[P[${3 + 3 * MAX_RANK}u] + o.y] = S[P[${2 + 3 * MAX_RANK}u] + o.x];
}
`;
}

/**
 * Gather of whole slices along an axis (also the embedding lookup).
 * `x` viewed as `[outer, axisLen, inner]`, out `[outer, k, inner]`, `out[o, j, e] = x[o, idx[j], e]`.
 * Params: `[n, inner, k, axisLen]`; the indices come from binding 3 (int32).
 */
export function gatherSource(half: boolean): string {
  const read = half
    ? `let si = (o * axisLen + idx) * inner + e;
  D[i] = unpack2x16float(S[si >> 1u])[si & 1u];`
    : "D[i] = S[(o * axisLen + idx) * inner + e];";
  return HEADER + FLAT + /* wgsl */ `
@group(0) @binding(1) var<storage, read> S: array<u32>;
@group(0) @binding(2) var<storage, read_write> D: array<${half ? "f32" : "u32"}>;
@group(0) @binding(3) var<storage, read> I: array<i32>;
${FLAT_ENTRY}
  let inner = P[1];
  let k = P[2];
  let axisLen = P[3];
  let e = i % inner;
  let j = (i / inner) % k;
  let o = i / (inner * k);
  let idx = u32(clamp(I[j], 0, i32(axisLen) - 1));
  ${read}
}
`;
}

/** Largest `m` of the skinny (decode-step) matmul kernel. */
export const SKINNY_M = 8;
/** Output columns per workgroup of the skinny kernel. */
export const SKINNY_N = 8;

/** fp16 storage → f32: `out[i] = half(x[i])`, two halves packed per u32 word. Params: `[n]`. */
export function castHalfSource(): string {
  return HEADER + FLAT + /* wgsl */ `
@group(0) @binding(1) var<storage, read> X: array<u32>;
@group(0) @binding(2) var<storage, read_write> O: array<f32>;
${FLAT_ENTRY}
  O[i] = unpack2x16float(X[i >> 1u])[i & 1u];
}
`;
}

/** Options that select a matmul variant (each variant is its own pipeline). */
export interface MatmulVariant {
  /** Read `b` as `[..., n, k]`. */
  transposeB: boolean;
  /** Add `bias[n]` (binding 4). */
  bias: boolean;
  /** Activation after the bias. */
  activation: Activation;
  /** Attention scores: multiply by `scale`, add a broadcast mask (binding 4), causal fill. */
  attention: false | { mask: boolean; causal: boolean };
  /** `m <= SKINNY_M` (decode steps): threads split `k` instead of tiling `m x n`. */
  skinny: boolean;
  /** `b` is stored as fp16 (two halves per u32 word), widened to f32 on load. */
  halfB: boolean;
}

/**
 * Batched matmul `[..., m, k] @ [..., k, n]` with a fused epilogue (bias, activation, attention
 * scale / causal fill / mask). Two bodies:
 * - tiled: a workgroup of 8x8 threads computes a 32x32 output tile, 4x4 outputs per thread,
 *   staging 32x16 and 16x32 tiles of the inputs in workgroup memory;
 * - skinny (`m <= 8`): a workgroup of 32x8 threads computes 8 output columns for every row;
 *   the 32 lanes of a column split `k` (coalesced reads of `b`) and are summed in workgroup memory.
 *
 * Params: `[M, N, K, batchRank, batchDims[4], aStr[4], bStr[4], scaleBits, maskStr[4],
 * maskRowStride, maskColStride, causalOffset(i32)]`; the batch index is `workgroup_id.z`.
 */
export function matmulSource(v: MatmulVariant): string {
  const R = MAX_BATCH_RANK;
  const extra = v.bias
    ? `@group(0) @binding(4) var<storage, read> BIAS: array<f32>;`
    : v.attention && v.attention.mask
    ? `@group(0) @binding(4) var<storage, read> MASK: array<f32>;`
    : "";
  let epilogue = "";
  if (v.bias) epilogue += "val = val + BIAS[c];\n";
  if (v.activation !== "none") epilogue += `val = ${actExpr(v.activation, "val")};\n`;
  if (v.attention) {
    // As the CPU backend: hidden keys become F32_MIN first, then the additive mask is added.
    epilogue += `val = val * pf(${4 + 3 * R}u);\n`;
    if (v.attention.causal) {
      epilogue += `if (i32(c) > i32(r) + bitcast<i32>(P[${7 + 4 * R}u])) { val = ${F32_MIN}; }\n`;
    }
    if (v.attention.mask) {
      epilogue += `val = val + MASK[mOff + r * P[${5 + 4 * R}u] + c * P[${6 + 4 * R}u]];\n`;
    }
  }
  const common = HEADER + ERFC + /* wgsl */ `
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<${v.halfB ? "u32" : "f32"}>;
@group(0) @binding(3) var<storage, read_write> O: array<f32>;
${extra}
// Offsets of batch z into a, b and the mask.
fn offsets(z: u32) -> vec3<u32> {
  var rem = z;
  var o = vec3<u32>(0u, 0u, 0u);
  for (var d = i32(P[3]) - 1; d >= 0; d--) {
    let u = u32(d);
    let sz = P[4u + u];
    let c = rem % sz;
    rem = rem / sz;
    o += c * vec3<u32>(P[${4 + R}u + u], P[${4 + 2 * R}u + u], P[${5 + 3 * R}u + u]);
  }
  return o;
}
fn bAt(bOff: u32, k: u32, n: u32, N: u32, K: u32) -> f32 {
  let i = bOff + ${v.transposeB ? "n * K + k" : "k * N + n"};
  return ${v.halfB ? "unpack2x16float(B[i >> 1u])[i & 1u]" : "B[i]"};
}
fn epi(acc: f32, r: u32, c: u32, mOff: u32) -> f32 {
  var val = acc;
  ${epilogue}
  return val;
}
`;
  if (v.skinny) {
    return common + /* wgsl */ `
var<workgroup> sk: array<f32, ${SKINNY_M * SKINNY_N * 32}>;
@compute @workgroup_size(32, ${SKINNY_N})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let M = P[0];
  let N = P[1];
  let K = P[2];
  let off = offsets(wid.z);
  let n = wid.x * ${SKINNY_N}u + lid.y;
  let lane = lid.x;
  var acc: array<f32, ${SKINNY_M}>;
  if (n < N) {
    for (var k = lane; k < K; k += 32u) {
      let bv = bAt(off.y, k, n, N, K);
      for (var m = 0u; m < M; m++) { acc[m] = acc[m] + A[off.x + m * K + k] * bv; }
    }
  }
  for (var m = 0u; m < ${SKINNY_M}u; m++) { sk[(lid.y * ${SKINNY_M}u + m) * 32u + lane] = acc[m]; }
  workgroupBarrier();
  if (lane < M && n < N) {
    var s = 0.0;
    for (var l = 0u; l < 32u; l++) { s += sk[(lid.y * ${SKINNY_M}u + lane) * 32u + l]; }
    O[wid.z * M * N + lane * N + n] = epi(s, lane, n, off.z);
  }
}
`;
  }
  const loadB = v.transposeB
    ? `let n = e / ${TILE_K}u; let kk = e % ${TILE_K}u; let gn = col0 + n; let gk = k0 + kk;
       var bv = 0.0; if (gn < N && gk < K) { bv = bAt(off.y, gk, gn, N, K); }
       Bs[kk * ${TILE_N}u + n] = bv;`
    : `let kk = e / ${TILE_N}u; let n = e % ${TILE_N}u; let gn = col0 + n; let gk = k0 + kk;
       var bv = 0.0; if (gn < N && gk < K) { bv = bAt(off.y, gk, gn, N, K); }
       Bs[e] = bv;`;
  return common + /* wgsl */ `
var<workgroup> As: array<f32, ${TILE_M * TILE_K}>;
var<workgroup> Bs: array<f32, ${TILE_K * TILE_N}>;
@compute @workgroup_size(8, 8)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
  let M = P[0];
  let N = P[1];
  let K = P[2];
  let off = offsets(wid.z);
  let row0 = wid.y * ${TILE_M}u;
  let col0 = wid.x * ${TILE_N}u;
  let tid = lid3.y * 8u + lid3.x;
  var acc: array<f32, 16>;
  for (var k0 = 0u; k0 < K; k0 += ${TILE_K}u) {
    for (var l = 0u; l < ${(TILE_M * TILE_K) / 64}u; l++) {
      let e = tid + l * 64u;
      let r = e / ${TILE_K}u;
      let kk = e % ${TILE_K}u;
      let gr = row0 + r;
      let gk = k0 + kk;
      var av = 0.0;
      if (gr < M && gk < K) { av = A[off.x + gr * K + gk]; }
      As[e] = av;
    }
    for (var l = 0u; l < ${(TILE_K * TILE_N) / 64}u; l++) {
      let e = tid + l * 64u;
      ${loadB}
    }
    workgroupBarrier();
    for (var kk = 0u; kk < ${TILE_K}u; kk++) {
      var bv: array<f32, 4>;
      for (var j = 0u; j < 4u; j++) { bv[j] = Bs[kk * ${TILE_N}u + lid3.x * 4u + j]; }
      for (var i = 0u; i < 4u; i++) {
        let av = As[(lid3.y * 4u + i) * ${TILE_K}u + kk];
        for (var j = 0u; j < 4u; j++) { acc[i * 4u + j] = acc[i * 4u + j] + av * bv[j]; }
      }
    }
    workgroupBarrier();
  }
  let oOff = wid.z * M * N;
  for (var i = 0u; i < 4u; i++) {
    let r = row0 + lid3.y * 4u + i;
    if (r >= M) { continue; }
    for (var j = 0u; j < 4u; j++) {
      let c = col0 + lid3.x * 4u + j;
      if (c >= N) { continue; }
      O[oOff + r * N + c] = epi(acc[i * 4u + j], r, c, off.z);
    }
  }
}
`;
}

/** Workgroup tree reductions shared by the row kernels (one workgroup per row). */
const REDUCE = /* wgsl */ `
var<workgroup> red: array<f32, ${WG}>;
fn reduceSum(v: f32, lid: u32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s = s >> 1u) {
    if (lid < s) { red[lid] = red[lid] + red[lid + s]; }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}
fn reduceMax(v: f32, lid: u32) -> f32 {
  red[lid] = v;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s = s >> 1u) {
    if (lid < s) { red[lid] = max(red[lid], red[lid + s]); }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}
fn rowIndex(wid: vec3<u32>, nwg: vec3<u32>) -> u32 { return wid.y * nwg.x + wid.x; }
`;

const ROW_ENTRY = `@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let row = rowIndex(wid, nwg);
  if (row >= P[0]) { return; }
  let H = P[1];
  let base = row * H;`;

/** Layer norm over rows of length `H`. Params: `[rows, H, epsBits]`. */
export function layerNormSource(): string {
  return HEADER + REDUCE + /* wgsl */ `
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> W: array<f32>;
@group(0) @binding(3) var<storage, read> Bb: array<f32>;
@group(0) @binding(4) var<storage, read_write> O: array<f32>;
${ROW_ENTRY}
  var s = 0.0;
  for (var j = lid; j < H; j += ${WG}u) { s += X[base + j]; }
  let mean = reduceSum(s, lid) / f32(H);
  var q = 0.0;
  for (var j = lid; j < H; j += ${WG}u) { let d = X[base + j] - mean; q += d * d; }
  let inv = 1.0 / sqrt(reduceSum(q, lid) / f32(H) + pf(2u));
  for (var j = lid; j < H; j += ${WG}u) { O[base + j] = (X[base + j] - mean) * inv * W[j] + Bb[j]; }
}
`;
}

/** Softmax (or log-softmax) over rows of length `H`. Params: `[rows, H]`. */
export function softmaxSource(log: boolean): string {
  const write = log ? "X[base + j] - mx - log(total)" : "exp(X[base + j] - mx) / total";
  return HEADER + REDUCE + /* wgsl */ `
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> O: array<f32>;
${ROW_ENTRY}
  var m = -3.4028234663852886e38;
  for (var j = lid; j < H; j += ${WG}u) { m = max(m, X[base + j]); }
  let mx = reduceMax(m, lid);
  var s = 0.0;
  for (var j = lid; j < H; j += ${WG}u) { s += exp(X[base + j] - mx); }
  let total = reduceSum(s, lid);
  for (var j = lid; j < H; j += ${WG}u) { O[base + j] = ${write}; }
}
`;
}

/**
 * Per-row cross-entropy: writes `[loss, counted]` per row (`[0, 0]` for the ignore index, NaN
 * loss for a label outside the vocabulary). Params: `[rows, V, ignoreIndex(i32), smoothingBits]`.
 */
export function crossEntropyRowsSource(): string {
  return HEADER + REDUCE + /* wgsl */ `
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read> L: array<i32>;
@group(0) @binding(3) var<storage, read_write> O: array<f32>;
${ROW_ENTRY}
  let label = L[row];
  let eps = pf(3u);
  var m = -3.4028234663852886e38;
  var t = 0.0;
  for (var j = lid; j < H; j += ${WG}u) { m = max(m, X[base + j]); t += X[base + j]; }
  let mx = reduceMax(m, lid);
  let sumX = reduceSum(t, lid);
  var s = 0.0;
  for (var j = lid; j < H; j += ${WG}u) { s += exp(X[base + j] - mx); }
  let lse = mx + log(reduceSum(s, lid));
  if (lid == 0u) {
    if (label == bitcast<i32>(P[2])) {
      O[row * 2u] = 0.0;
      O[row * 2u + 1u] = 0.0;
    } else {
      var loss = bitcast<f32>(0x7fc00000u);
      if (label >= 0 && u32(label) < H) {
        let nll = lse - X[base + u32(label)];
        let smoothed = lse - sumX / f32(H);
        loss = (1.0 - eps) * nll + eps * smoothed;
      }
      O[row * 2u] = loss;
      O[row * 2u + 1u] = 1.0;
    }
  }
}
`;
}

/** Mean of the per-row losses over counted rows (one workgroup). Params: `[rows]`. */
export function crossEntropyMeanSource(): string {
  return HEADER + REDUCE + /* wgsl */ `
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> O: array<f32>;
@compute @workgroup_size(${WG})
fn main(@builtin(local_invocation_index) lid: u32) {
  var s = 0.0;
  var c = 0.0;
  for (var j = lid; j < P[0]; j += ${WG}u) { s += X[j * 2u]; c += X[j * 2u + 1u]; }
  let total = reduceSum(s, lid);
  let count = reduceSum(c, lid);
  if (lid == 0u) { O[0] = total / count; }
}
`;
}

/**
 * Top-k over rows: `k` rounds of a workgroup arg-max, each over the elements that rank after the
 * previous pick in the order (value descending, index ascending). Params: `[rows, H, k]`.
 */
export function topkSource(): string {
  return HEADER + /* wgsl */ `
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> OV: array<f32>;
@group(0) @binding(3) var<storage, read_write> OI: array<i32>;
var<workgroup> rv: array<f32, ${WG}>;
var<workgroup> ri: array<u32, ${WG}>;
const NONE = 0xffffffffu;
// (v1, i1) ranks before (v2, i2)?
fn before(v1: f32, i1: u32, v2: f32, i2: u32) -> bool {
  if (i1 == NONE) { return false; }
  if (i2 == NONE) { return true; }
  return v1 > v2 || (v1 == v2 && i1 < i2);
}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let row = wid.y * nwg.x + wid.x;
  if (row >= P[0]) { return; }
  let H = P[1];
  let k = P[2];
  let base = row * H;
  var pv = 0.0;
  var pi = NONE;
  for (var r = 0u; r < k; r++) {
    var bv = 0.0;
    var bi = NONE;
    for (var j = lid; j < H; j += ${WG}u) {
      let v = X[base + j];
      if ((r == 0u || before(pv, pi, v, j)) && before(v, j, bv, bi)) { bv = v; bi = j; }
    }
    rv[lid] = bv;
    ri[lid] = bi;
    workgroupBarrier();
    for (var s = ${WG / 2}u; s > 0u; s = s >> 1u) {
      if (lid < s && before(rv[lid + s], ri[lid + s], rv[lid], ri[lid])) {
        rv[lid] = rv[lid + s];
        ri[lid] = ri[lid + s];
      }
      workgroupBarrier();
    }
    pv = rv[0];
    pi = ri[0];
    workgroupBarrier();
    if (lid == 0u) {
      OV[row * k + r] = pv;
      OI[row * k + r] = bitcast<i32>(pi);
    }
  }
}
`;
}
