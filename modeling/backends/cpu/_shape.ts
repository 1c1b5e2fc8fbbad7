/**
 * Shape helpers of the CPU backend: strides, broadcasting, axis normalisation, and a structural
 * view of typed arrays for dtype-agnostic copies. The WebGPU backend and autograd use the same
 * shape arithmetic from here.
 *
 * @module
 */
import { BackendError } from "../../backend.ts";

/** `[2, 3]` → `"[2, 3]"`, for error messages. */
export function fmt(dims: readonly number[]): string {
  return `[${dims.join(", ")}]`;
}

/** Row-major strides of `dims` (in elements). */
export function stridesOf(dims: readonly number[]): number[] {
  const s = new Array<number>(dims.length);
  let acc = 1;
  for (let i = dims.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= dims[i];
  }
  return s;
}

/** NumPy broadcast of two shapes, or `undefined` when they do not broadcast. */
export function broadcastShapes(
  a: readonly number[],
  b: readonly number[],
): number[] | undefined {
  const rank = Math.max(a.length, b.length);
  const out = new Array<number>(rank);
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da === db || db === 1) out[i] = da;
    else if (da === 1) out[i] = db;
    else return undefined;
  }
  return out;
}

/**
 * Strides to read a tensor of shape `dims` as if broadcast to `outDims` (right-aligned; 0 where
 * a dim is broadcast). `dims` must broadcast to `outDims`.
 */
export function broadcastStrides(dims: readonly number[], outDims: readonly number[]): number[] {
  const own = stridesOf(dims);
  const out = new Array<number>(outDims.length).fill(0);
  const shift = outDims.length - dims.length;
  for (let i = 0; i < dims.length; i++) {
    out[i + shift] = dims[i] === 1 && outDims[i + shift] !== 1 ? 0 : own[i];
  }
  return out;
}

/** Normalises `axis` (negative counts from the end) or throws naming `op`. */
export function normAxis(op: string, axis: number, rank: number, dims: readonly number[]): number {
  if (!Number.isInteger(axis) || axis < -rank || axis >= rank) {
    throw new BackendError(
      `cpu.${op}: axis ${axis} is out of range for shape ${fmt(dims)} (expected an integer in ` +
        `[${-rank}, ${rank - 1}])`,
    );
  }
  return axis < 0 ? axis + rank : axis;
}

/** Product of `dims[from, to)`. */
export function prod(dims: readonly number[], from = 0, to = dims.length): number {
  let n = 1;
  for (let i = from; i < to; i++) n *= dims[i];
  return n;
}

/**
 * The structural part of every typed array the copy kernels use. Copies only ever move elements
 * between arrays of the same runtime type, so this view is safe for every dtype.
 */
export interface Chunky {
  /** Element count. */
  readonly length: number;
  /** Element access (number or bigint at runtime). */
  [i: number]: unknown;
  /** `TypedArray.prototype.set`. */
  set(src: Chunky, offset?: number): void;
  /** `TypedArray.prototype.subarray`. */
  subarray(begin: number, end: number): Chunky;
}

/** Views a typed array as `Chunky`. */
export function chunky(data: unknown): Chunky {
  return data as Chunky;
}
