/**
 * The handle type of the WebGPU backend: `GpuTensor` (a shape and dtype over a reference-counted
 * pooled buffer that `reshape` views share), its element types and byte sizes, the backend's
 * error type, the walk `scope` uses to find the handles a result holds, and the host-side
 * conversion `upload` does before writing (`uploadData`).
 *
 * @module
 */
import { BackendError } from "../../backend.ts";
import { numel, Tensor } from "../../tensor.ts";
import { fmt } from "../cpu/_shape.ts";

/**
 * Thrown when WebGPU is unavailable, a handle is misused, or an op gets impossible shapes (a
 * `BackendError`, so callers can catch CPU and GPU misuse alike).
 */
export class WebGpuError extends BackendError {}

/**
 * Element types a `GpuTensor` holds: 4-byte `float32` / `int32`, and `float16` storage (two
 * halves per 32-bit word) for weights uploaded as float16, widened to f32 inside the kernels.
 */
export type GpuDType = "float32" | "int32" | "float16";

/** Bytes of a buffer holding `n` elements of `dtype` (a whole number of 32-bit words). */
export function bytesFor(n: number, dtype: GpuDType): number {
  return dtype === "float16" ? Math.ceil(n / 2) * 4 : n * 4;
}

/** A reference-counted GPU buffer shared by a tensor and its reshaped views. */
export interface Storage {
  buffer: GPUBuffer;
  refs: number;
}

/**
 * A tensor living in a GPU storage buffer: the `Backend<GpuTensor>` handle. `reshape` views share
 * the buffer; the buffer returns to the pool when the last view is disposed.
 */
export class GpuTensor {
  /** Shape, outermost first. */
  readonly dims: readonly number[];
  /** Element type (4 bytes per element). */
  readonly dtype: GpuDType;
  /** Host copy of small uploaded id tensors, used for range checks (never of GPU results). */
  readonly hostInts: Int32Array | undefined;
  #storage: Storage;
  #disposed = false;

  /** Wraps `storage` (internal: tensors are made by `WebGpuBackend`). */
  constructor(storage: Storage, dims: readonly number[], dtype: GpuDType, hostInts?: Int32Array) {
    this.#storage = storage;
    this.dims = Object.freeze([...dims]);
    this.dtype = dtype;
    this.hostInts = hostInts;
  }

  /** The GPU buffer (its size is a pool bucket, at least `byteSize`). */
  get buffer(): GPUBuffer {
    return this.#storage.buffer;
  }

  /** Bytes of data: `numel(dims) * 4` (`float16`: 2 per element, rounded up to a word). */
  get byteSize(): number {
    return bytesFor(numel(this.dims), this.dtype);
  }

  /** Number of elements. */
  get size(): number {
    return numel(this.dims);
  }

  /** Whether `dispose` was called on this handle. */
  get disposed(): boolean {
    return this.#disposed;
  }

  /** @internal The shared storage (for views). */
  _storage(): Storage {
    return this.#storage;
  }

  /** @internal Marks the handle disposed; true if it was live. */
  _markDisposed(): boolean {
    if (this.#disposed) return false;
    this.#disposed = true;
    return true;
  }
}

/** Adds the `GpuTensor`s reachable from `value` through arrays and plain objects to `into`. */
export function collectHandles(value: unknown, into: Set<GpuTensor>): void {
  if (value instanceof GpuTensor) {
    into.add(value);
  } else if (Array.isArray(value)) {
    for (const v of value) collectHandles(v, into);
  } else if (value !== null && typeof value === "object") {
    const proto = Object.getPrototypeOf(value);
    if (proto === Object.prototype || proto === null) {
      for (const v of Object.values(value)) collectHandles(v, into);
    }
  }
}

/**
 * The words `upload` writes for host tensor `t`, and their dtype: float16 kept as fp16 storage
 * when `halfStorage` (padded to a whole 32-bit word), otherwise widened to float32 like
 * bfloat16; int64 (range-checked) and bool narrowed to int32. Small int32 data also comes back
 * as `hostInts`, the host copy id range checks read.
 */
export function uploadData(
  t: Tensor,
  halfStorage: boolean,
): { data: Float32Array | Int32Array | Uint16Array; dtype: GpuDType; hostInts?: Int32Array } {
  if (!(t instanceof Tensor)) throw new WebGpuError("upload: expected a host Tensor");
  let data: Float32Array | Int32Array | Uint16Array;
  let dtype: GpuDType;
  let hostInts: Int32Array | undefined;
  switch (t.dtype) {
    case "float32":
      data = t.data as Float32Array;
      dtype = "float32";
      break;
    case "float16":
      if (halfStorage) {
        // Pad to a whole 32-bit word.
        data = new Uint16Array(t.size + (t.size & 1));
        data.set(t.data as Uint16Array);
        dtype = "float16";
        break;
      }
      data = t.toFloat32().data;
      dtype = "float32";
      break;
    case "bfloat16":
      data = t.toFloat32().data;
      dtype = "float32";
      break;
    case "int32":
      data = t.data as Int32Array;
      dtype = "int32";
      break;
    case "int64": {
      const src = t.data as BigInt64Array;
      const out = new Int32Array(src.length);
      for (let i = 0; i < src.length; i++) {
        const v = src[i];
        if (v > 2147483647n || v < -2147483648n) {
          throw new WebGpuError(
            `upload: int64 value ${v} at flat index ${i} of ${fmt(t.dims)} does not fit int32`,
          );
        }
        out[i] = Number(v);
      }
      data = out;
      dtype = "int32";
      break;
    }
    case "bool":
      data = Int32Array.from(t.data as Uint8Array);
      dtype = "int32";
      break;
    default:
      throw new WebGpuError(`upload: unsupported dtype "${t.dtype}"`);
  }
  if (dtype === "int32" && data.length <= 1 << 16) hostInts = (data as Int32Array).slice();
  return { data, dtype, hostInts };
}
