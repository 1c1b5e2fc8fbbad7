/**
 * Row kernels of the CPU backend (softmax, log-softmax, row maximum, top-k order), float64
 * inside, over the last axis of row-major float32 data.
 *
 * @module
 */
import type { Tensor } from "../../tensor.ts";
import { type F32, f32, minRank, out32 } from "./_checks.ts";

/** Numerically stable softmax of `src[off, off+n)` into `dst[off, off+n)` (float64 inside). */
export function softmaxRow(src: Float32Array, dst: Float32Array, off: number, n: number): void {
  const max = rowMax(src, off, n);
  // exp in float64; stored (float32-rounded) then normalised, so `dst` may alias `src`.
  let sum = 0;
  for (let j = 0; j < n; j++) {
    const e = Math.exp(src[off + j] - max);
    dst[off + j] = e;
    sum += e;
  }
  const inv = 1 / sum;
  for (let j = 0; j < n; j++) dst[off + j] *= inv;
}

/**
 * `log_softmax` of `src[off, off+n)` into `dst[dstOff, dstOff+n)`, as `x - max - log Σ exp(x - max)`.
 */
export function logSoftmaxRow(
  src: Float32Array,
  dst: Float32Array,
  off: number,
  n: number,
  dstOff = off,
): void {
  const max = rowMax(src, off, n);
  let sum = 0;
  for (let j = 0; j < n; j++) sum += Math.exp(src[off + j] - max);
  const lse = max + Math.log(sum);
  for (let j = 0; j < n; j++) dst[dstOff + j] = src[off + j] - lse;
}

/** Applies a row kernel to every last-axis row of a float32 `x` into a new tensor. */
export function rowwise(
  op: string,
  x: Tensor,
  row: (src: Float32Array, dst: Float32Array, off: number, n: number) => void,
): F32 {
  const xd = f32(op, "x", x);
  minRank(op, "x", x, 1);
  const n = x.dims[x.dims.length - 1];
  const out = new Float32Array(xd.length);
  for (let o = 0; o < xd.length; o += n) row(xd, out, o, n);
  return out32(out, x.dims);
}

/** Largest entry of `src[off, off+n)`; NaN if any entry is NaN (it poisons the row, as in torch). */
export function rowMax(src: Float32Array, off: number, n: number): number {
  let max = -Infinity;
  for (let j = 0; j < n; j++) {
    const v = src[off + j];
    if (v > max || v !== v) max = v;
  }
  return max;
}

/** Is `(va, ia)` ranked before `(vb, ib)` by `topk`? Larger first, NaN largest, ties: lower index. */
export function before(va: number, ia: number, vb: number, ib: number): boolean {
  if (va !== va) return vb === vb || ia < ib;
  if (vb !== vb) return false;
  return va > vb || (va === vb && ia < ib);
}
