/**
 * Gradient kernels of the autograd backend that have no forward twin in `Backend`: broadcast
 * reduction, activation derivatives, layer-norm / softmax / cross-entropy backward, scatter-adds.
 * All on float32 host tensors with float64 accumulation, like the CPU backend.
 *
 * @module
 */
import type { Activation } from "../backend.ts";
import { erf } from "../backends/cpu/cpu.ts";
import { broadcastStrides, prod } from "../backends/cpu/_shape.ts";
import { Tensor } from "../tensor.ts";

/** A float32 host tensor. */
export type F32 = Tensor<"float32">;

/** Wraps a float32 buffer. */
export function f32(data: Float32Array, dims: readonly number[]): F32 {
  return new Tensor("float32", data, dims);
}

/** The float32 data of `t` (grads and differentiable values are float32). */
export function data(t: Tensor): Float32Array {
  return (t.dtype === "float32" ? t.data : t.toFloat32().data) as Float32Array;
}

/**
 * Sums `g` (shape `gDims`, the broadcast result) down to `dims` (an input that was broadcast):
 * leading axes summed away, axes of size 1 summed. Returns `g` itself when nothing to reduce.
 */
export function sumToShape(g: F32, dims: readonly number[]): F32 {
  const gDims = g.dims;
  if (gDims.length === dims.length && gDims.every((d, i) => d === dims[i])) return g;
  const out = new Float64Array(prod(dims));
  const s = broadcastStrides(dims, gDims);
  const rank = gDims.length;
  const gd = g.data;
  if (rank === 0) {
    out[0] = gd[0];
  } else {
    const idx = new Array<number>(rank).fill(0);
    let o = 0;
    for (let i = 0; i < gd.length; i++) {
      out[o] += gd[i];
      for (let d = rank - 1; d >= 0; d--) {
        idx[d]++;
        o += s[d];
        if (idx[d] < gDims[d]) break;
        o -= s[d] * gDims[d];
        idx[d] = 0;
      }
    }
  }
  return f32(Float32Array.from(out), dims);
}

const INV_SQRT2 = 1 / Math.SQRT2;
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);
const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/** `dL/dz = g · act'(z)` elementwise, for the pre-activation `z` (and output `y` for tanh). */
export function activationGrad(g: F32, z: Float32Array, kind: Activation): F32 {
  const gd = g.data;
  const out = new Float32Array(gd.length);
  switch (kind) {
    case "none":
      return g;
    case "gelu":
      for (let i = 0; i < gd.length; i++) {
        const x = z[i];
        const cdf = 0.5 * (1 + erf(x * INV_SQRT2));
        out[i] = gd[i] * (cdf + x * Math.exp(-0.5 * x * x) * INV_SQRT_2PI);
      }
      break;
    case "gelu_new":
    case "gelu_pytorch_tanh":
      for (let i = 0; i < gd.length; i++) {
        const x = z[i];
        const t = Math.tanh(SQRT_2_OVER_PI * (x + 0.044715 * x * x * x));
        const du = SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x);
        out[i] = gd[i] * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * du);
      }
      break;
    case "relu":
      for (let i = 0; i < gd.length; i++) out[i] = z[i] > 0 ? gd[i] : 0;
      break;
    case "tanh":
      for (let i = 0; i < gd.length; i++) {
        const t = Math.tanh(z[i]);
        out[i] = gd[i] * (1 - t * t);
      }
      break;
  }
  return f32(out, g.dims);
}

/**
 * Layer-norm backward over the last axis. Returns `dx`, `dWeight`, `dBias`:
 * `x̂ = (x - μ)·r`, `dx = r·(ĝ - mean(ĝ) - x̂·mean(ĝ·x̂))` with `ĝ = g·w`.
 */
export function layerNormGrad(
  g: F32,
  x: Float32Array,
  w: Float32Array,
  eps: number,
): { dx: F32; dw: F32; db: F32 } {
  const h = w.length;
  const gd = g.data;
  const dx = new Float32Array(gd.length);
  const dw = new Float64Array(h), db = new Float64Array(h);
  const xhat = new Float64Array(h), gh = new Float64Array(h);
  for (let o = 0; o < gd.length; o += h) {
    let mean = 0;
    for (let j = 0; j < h; j++) mean += x[o + j];
    mean /= h;
    let v = 0;
    for (let j = 0; j < h; j++) v += (x[o + j] - mean) ** 2;
    const r = 1 / Math.sqrt(v / h + eps);
    let m1 = 0, m2 = 0;
    for (let j = 0; j < h; j++) {
      xhat[j] = (x[o + j] - mean) * r;
      gh[j] = gd[o + j] * w[j];
      m1 += gh[j];
      m2 += gh[j] * xhat[j];
      dw[j] += gd[o + j] * xhat[j];
      db[j] += gd[o + j];
    }
    m1 /= h;
    m2 /= h;
    for (let j = 0; j < h; j++) dx[o + j] = r * (gh[j] - m1 - xhat[j] * m2);
  }
  return {
    dx: f32(dx, g.dims),
    dw: f32(Float32Array.from(dw), [h]),
    db: f32(Float32Array.from(db), [h]),
  };
}

/** Softmax backward over the last axis from the output `y`: `dx = y·(g - Σ g·y)`. */
export function softmaxGrad(g: F32, y: Float32Array): F32 {
  const n = g.dims[g.dims.length - 1];
  const gd = g.data;
  const out = new Float32Array(gd.length);
  for (let o = 0; o < gd.length; o += n) {
    let dot = 0;
    for (let j = 0; j < n; j++) dot += gd[o + j] * y[o + j];
    for (let j = 0; j < n; j++) out[o + j] = y[o + j] * (gd[o + j] - dot);
  }
  return f32(out, g.dims);
}

/** Log-softmax backward from the output `y`: `dx = g - exp(y)·Σ g`. */
export function logSoftmaxGrad(g: F32, y: Float32Array): F32 {
  const n = g.dims[g.dims.length - 1];
  const gd = g.data;
  const out = new Float32Array(gd.length);
  for (let o = 0; o < gd.length; o += n) {
    let sum = 0;
    for (let j = 0; j < n; j++) sum += gd[o + j];
    for (let j = 0; j < n; j++) out[o + j] = gd[o + j] - Math.exp(y[o + j]) * sum;
  }
  return f32(out, g.dims);
}

/**
 * Cross-entropy backward: `d logits[r] = g/count · (softmax(logits[r]) - q_r)` with
 * `q_r = (1-ε)·onehot(y_r) + ε/V`, zero for ignored rows.
 */
export function crossEntropyGrad(
  g: number,
  logits: F32,
  labels: Tensor,
  ignore: number,
  eps: number,
): F32 {
  const [n, V] = logits.dims;
  const ld = logits.data;
  const out = new Float32Array(n * V);
  let count = 0;
  for (let r = 0; r < n; r++) if (labels.get(r) !== ignore) count++;
  const scale = g / count;
  for (let r = 0; r < n; r++) {
    const y = labels.get(r);
    if (y === ignore) continue;
    const o = r * V;
    let max = -Infinity;
    for (let j = 0; j < V; j++) if (ld[o + j] > max) max = ld[o + j];
    // One exp per element: the exps are kept in `out`, then scaled in place.
    let sum = 0;
    for (let j = 0; j < V; j++) {
      const e = Math.exp(ld[o + j] - max);
      out[o + j] = e;
      sum += e;
    }
    const k = scale / sum, base = scale * eps / V;
    for (let j = 0; j < V; j++) out[o + j] = out[o + j] * k - base;
    out[o + y] -= scale * (1 - eps);
  }
  return f32(out, logits.dims);
}

/** `dWeight [vocab, h]` of `weight[ids]`: rows of `g [..., h]` added at their ids. */
export function embeddingGrad(g: F32, ids: Tensor, vocab: number): F32 {
  const h = g.dims[g.dims.length - 1];
  const out = new Float32Array(vocab * h);
  const gd = g.data;
  for (let i = 0; i < ids.size; i++) {
    const o = ids.get(i) * h;
    for (let j = 0; j < h; j++) out[o + j] += gd[i * h + j];
  }
  return f32(out, [vocab, h]);
}

/** Gradient of `x[..., start:end, ...]` along `axis`: `g` written into zeros of `dims`. */
export function sliceGrad(g: F32, dims: readonly number[], axis: number, start: number): F32 {
  const out = new Float32Array(prod(dims));
  const outer = prod(dims, 0, axis), inner = prod(dims, axis + 1);
  const size = dims[axis], len = g.dims[axis];
  const chunk = len * inner;
  for (let o = 0; o < outer; o++) {
    out.set(g.data.subarray(o * chunk, (o + 1) * chunk), (o * size + start) * inner);
  }
  return f32(out, dims);
}

/** Gradient of `indexSelect(x, axis, indices)`: rows of `g` added back at their indices. */
export function indexSelectGrad(
  g: F32,
  dims: readonly number[],
  axis: number,
  indices: readonly number[],
): F32 {
  const out = new Float32Array(prod(dims));
  const outer = prod(dims, 0, axis), inner = prod(dims, axis + 1);
  const size = dims[axis];
  let at = 0;
  for (let o = 0; o < outer; o++) {
    for (const i of indices) {
      const base = (o * size + i) * inner;
      for (let j = 0; j < inner; j++) out[base + j] += g.data[at + j];
      at += inner;
    }
  }
  return f32(out, dims);
}

/** Gradient of `topk` values: each `g` entry added at its index along the last axis. */
export function topkGrad(g: F32, indices: Tensor, dims: readonly number[]): F32 {
  const n = dims[dims.length - 1], k = g.dims[g.dims.length - 1];
  const out = new Float32Array(prod(dims));
  const rows = k === 0 ? 0 : g.size / k;
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < k; j++) out[r * n + indices.get(r * k + j)] += g.data[r * k + j];
  }
  return f32(out, dims);
}

/** The permutation that undoes `perm`. */
export function inversePerm(perm: readonly number[]): number[] {
  const inv = new Array<number>(perm.length);
  perm.forEach((p, i) => inv[p] = i);
  return inv;
}

/** `[..., a, b]` → `[..., b, a]` as a permutation of `rank` axes. */
export function swapLast(rank: number): number[] {
  const p = [...Array(rank).keys()];
  [p[rank - 2], p[rank - 1]] = [p[rank - 1], p[rank - 2]];
  return p;
}
