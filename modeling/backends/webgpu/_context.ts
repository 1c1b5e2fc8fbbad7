/**
 * What the op implementations (`_shape_ops.ts`, `_math_ops.ts`) use of `WebGpuBackend`: the
 * `OpContext` the backend builds once over its private members (operand checks, allocation,
 * parameter buffers, dispatch recording, and the public ops they compose), and the host-side
 * helpers they share (float bits, axis coalescing, padding, workgroup grids).
 *
 * @module
 */
import type { GpuDType, GpuTensor } from "./_tensor.ts";

/** Largest workgroup count per grid dimension. */
export const MAX_GROUPS = 65535;

/** The backend as the op implementations see it (each member is the backend's own). */
export interface OpContext {
  /** `t` itself, after checking it is a live `GpuTensor` (`op` and `what` name it in errors). */
  check(t: GpuTensor, op: string, what?: string): GpuTensor;
  /** `t` as float32: fp16 storage widened into a scratch tensor of the current op. */
  float(t: GpuTensor, op: string, what?: string): GpuTensor;
  /** A weight operand: fp16 storage read natively by the kernel, otherwise float32. */
  weight(t: GpuTensor, op: string, what: string): GpuTensor;
  /** A new handle over a pooled buffer. */
  alloc(dims: readonly number[], dtype?: GpuDType, hostInts?: Int32Array): GpuTensor;
  /** A parameter buffer holding `values` as u32 (`cache`: reused for equal values). */
  paramBuffer(values: readonly number[], cache: boolean): GPUBuffer;
  /** Records one dispatch: binding 0 is the parameter buffer, then `buffers` in order. */
  dispatch(
    key: string,
    source: () => string,
    params: GPUBuffer,
    buffers: readonly GPUBuffer[],
    groups: readonly [number, number, number],
  ): void;
  /** `WebGpuBackend.reshape`. */
  reshape(x: GpuTensor, dims: readonly number[]): GpuTensor;
  /** `WebGpuBackend.dispose`. */
  dispose(t: GpuTensor): void;
  /** `WebGpuBackend.softmax`. */
  softmax(x: GpuTensor): GpuTensor;
  /** `WebGpuBackend.matmul`. */
  matmul(a: GpuTensor, b: GpuTensor, opts?: { transposeB?: boolean }): GpuTensor;
}

const f32b = new Float32Array(1);
const u32b = new Uint32Array(f32b.buffer);

/** The bits of `x` as a float32, as a u32. */
export function fbits(x: number): number {
  f32b[0] = x;
  return u32b[0];
}

/** Merges adjacent axes that are contiguous in every stride set (drops size-1 axes). */
export function coalesce(dims: readonly number[], strides: number[][]): [number[], number[][]] {
  const od: number[] = [];
  const os: number[][] = strides.map(() => []);
  for (let i = 0; i < dims.length; i++) {
    if (dims[i] === 1) continue;
    const last = od.length - 1;
    if (last >= 0 && strides.every((s, j) => os[j][last] === s[i] * dims[i])) {
      od[last] *= dims[i];
      strides.forEach((s, j) => (os[j][last] = s[i]));
    } else {
      od.push(dims[i]);
      strides.forEach((s, j) => os[j].push(s[i]));
    }
  }
  return [od, os];
}

/** `values` padded with zeros to length `n`. */
export function pad(values: readonly number[], n: number): number[] {
  const out = [...values];
  while (out.length < n) out.push(0);
  return out;
}

/** A 2-D grid of `n` workgroups within the per-dimension limit. */
export function grid(n: number): [number, number, number] {
  if (n <= MAX_GROUPS) return [n, 1, 1];
  const y = Math.ceil(n / MAX_GROUPS);
  return [Math.ceil(n / y), y, 1];
}
