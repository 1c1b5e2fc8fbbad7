/**
 * The one tensor type of encdec: a shape (`dims`), a dtype and a typed array in row-major order.
 *
 * Tensors are host (CPU) values. Device backends (WebGPU, onnxruntime) hold their own handles and
 * turn them into a `Tensor` with `Backend.read`.
 *
 * @module
 */
import { EncdecError } from "@encdec/config";

/** Element types a tensor can hold. `float16`/`bfloat16` are stored as raw 16-bit words. */
export type DType = "float32" | "float16" | "bfloat16" | "int32" | "int64" | "bool";

/** Typed array that backs each dtype. */
export interface DataTypeMap {
  /** 32-bit floats. */
  float32: Float32Array;
  /** IEEE half floats as raw 16-bit words. */
  float16: Uint16Array;
  /** bfloat16 as raw 16-bit words (the upper half of a float32). */
  bfloat16: Uint16Array;
  /** 32-bit integers (ids on the host). */
  int32: Int32Array;
  /** 64-bit integers (checkpoint ids, ONNX inputs). */
  int64: BigInt64Array;
  /** Booleans as bytes 0/1. */
  bool: Uint8Array;
}

/** Any typed array a tensor can hold. */
export type TensorData = DataTypeMap[DType];

/** A nested list of numbers, as `tolist()` returns (`bigint` never escapes: int64 becomes number). */
export type NestedList = number | NestedList[];

/** Thrown for impossible shapes, dtypes or data lengths. */
export class TensorError extends EncdecError {}

/** Bytes per element of each dtype. */
export const DTYPE_BYTES: Readonly<Record<DType, number>> = {
  float32: 4,
  float16: 2,
  bfloat16: 2,
  int32: 4,
  int64: 8,
  bool: 1,
};

/**
 * The most negative finite float32, `torch.finfo(torch.float32).min`: what Hugging Face adds to
 * masked attention scores, and what causal masking writes.
 */
export const FLOAT32_MIN: number = -3.4028234663852886e38;

/** Number of elements of a shape. */
export function numel(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

/** Allocates a zero-filled typed array of `dtype` with `n` elements. */
export function allocate<D extends DType>(dtype: D, n: number): DataTypeMap[D] {
  switch (dtype) {
    case "float32":
      return new Float32Array(n) as DataTypeMap[D];
    case "float16":
    case "bfloat16":
      return new Uint16Array(n) as DataTypeMap[D];
    case "int32":
      return new Int32Array(n) as DataTypeMap[D];
    case "int64":
      return new BigInt64Array(n) as DataTypeMap[D];
    case "bool":
      return new Uint8Array(n) as DataTypeMap[D];
  }
  throw new TensorError(`unknown dtype "${dtype}"`);
}

// ---- half precision conversions --------------------------------------------------------------

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE half (as a 16-bit word) → number. */
export function halfToFloat(h: number): number {
  const s = (h & 0x8000) ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** number → IEEE half word, round to nearest even (as `torch.Tensor.half()`). */
export function floatToHalf(v: number): number {
  f32[0] = v;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && (half & 1))) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (half & 1))) half++;
  e = half >>> 10;
  return sign | half;
}

/** bfloat16 word → number. */
export function bf16ToFloat(h: number): number {
  u32[0] = h << 16;
  return f32[0];
}

/** Float32 bits of every half word, as `halfToFloat` stored in a `Float32Array` gives them. */
let halfTable: Uint32Array | undefined;
/** Float32 bits of every bfloat16 word, as `bf16ToFloat` stored in a `Float32Array` gives them. */
let bf16Table: Uint32Array | undefined;

function wordTable(conv: (h: number) => number): Uint32Array {
  const f = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) f[h] = conv(h);
  return new Uint32Array(f.buffer);
}

/**
 * float32 values of half (`float16`) or `bfloat16` words, through a 65,536-entry table of their
 * float32 bits: bit for bit what storing `halfToFloat` / `bf16ToFloat` of each word in a
 * `Float32Array` gives (every half and bfloat16 value is exact in float32; NaNs as stored by
 * that path), at a table load per element. Writes into `out` when given (same length).
 *
 * @example
 * ```ts
 * import { halfWordsToFloat32 } from "./tensor.ts";
 * halfWordsToFloat32("float16", new Uint16Array([0x3c00, 0xc000]))[1]; // -2
 * ```
 */
export function halfWordsToFloat32(
  dtype: "float16" | "bfloat16",
  words: ArrayLike<number>,
  out: Float32Array = new Float32Array(words.length),
): Float32Array {
  if (out.length !== words.length) {
    throw new TensorError(`halfWordsToFloat32: ${words.length} words into ${out.length} floats`);
  }
  const table = dtype === "float16"
    ? (halfTable ??= wordTable(halfToFloat))
    : (bf16Table ??= wordTable(bf16ToFloat));
  // Copied as bits (a Uint32Array view), so no value passes through a JS number.
  const bits = new Uint32Array(out.buffer, out.byteOffset, out.length);
  const n = words.length;
  for (let i = 0; i < n; i++) bits[i] = table[words[i] & 0xffff];
  return out;
}

/** number → bfloat16 word, round to nearest even. */
export function floatToBf16(v: number): number {
  f32[0] = v;
  const x = u32[0];
  if ((x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff)) return (x >>> 16) | 0x40;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

// ---- the tensor --------------------------------------------------------------------------------

/**
 * A dense, row-major host tensor.
 *
 * @example
 * ```ts
 * import { Tensor } from "@encdec/modeling";
 * const t = Tensor.from([[1, 2], [3, 4]]);
 * t.dims; // [2, 2]
 * t.tolist(); // [[1, 2], [3, 4]]
 * ```
 */
export class Tensor<D extends DType = DType> {
  /** Shape, outermost first. */
  readonly dims: readonly number[];
  /** Element type. */
  readonly dtype: D;
  /** Row-major data; `data.length === numel(dims)`. */
  readonly data: DataTypeMap[D];

  /** Wraps `data` (not copied) with shape `dims`. */
  constructor(dtype: D, data: DataTypeMap[D], dims: readonly number[]) {
    for (const d of dims) {
      if (!Number.isInteger(d) || d < 0) {
        throw new TensorError(`invalid shape [${dims.join(", ")}]: sizes must be integers >= 0`);
      }
    }
    const n = numel(dims);
    if (data.length !== n) {
      throw new TensorError(
        `data of length ${data.length} does not fit shape [${dims.join(", ")}] (${n} elements)`,
      );
    }
    this.dtype = dtype;
    this.data = data;
    this.dims = Object.freeze([...dims]);
  }

  /** A zero-filled tensor. */
  static zeros<D extends DType>(dims: readonly number[], dtype: D): Tensor<D> {
    return new Tensor(dtype, allocate(dtype, numel(dims)), dims);
  }

  /**
   * Builds a tensor from a (rectangular) nested list of numbers. The default dtype is `float32`;
   * pass `"int64"` / `"int32"` for ids.
   */
  static from(list: NestedList, dtype: DType = "float32"): Tensor {
    const dims: number[] = [];
    let probe: NestedList = list;
    while (Array.isArray(probe)) {
      dims.push(probe.length);
      probe = probe[0] ?? 0;
    }
    const flat: number[] = [];
    const walk = (x: NestedList, depth: number) => {
      if (depth === dims.length) {
        if (typeof x !== "number") throw new TensorError(`ragged nested list at depth ${depth}`);
        flat.push(x);
        return;
      }
      if (!Array.isArray(x) || x.length !== dims[depth]) {
        throw new TensorError(
          `ragged nested list: expected ${dims[depth]} items at depth ${depth}`,
        );
      }
      for (const y of x) walk(y, depth + 1);
    };
    walk(list, 0);
    const t = Tensor.zeros(dims, dtype);
    t.setFromNumbers(flat);
    return t;
  }

  /** Number of elements. */
  get size(): number {
    return this.data.length;
  }

  /** Element `i` of the flat data, as a JS number (half types decoded, int64 converted). */
  get(i: number): number {
    const v = this.data[i];
    switch (this.dtype) {
      case "float16":
        return halfToFloat(v as number);
      case "bfloat16":
        return bf16ToFloat(v as number);
      case "int64":
        return Number(v as bigint);
      default:
        return v as number;
    }
  }

  /** Writes `values` into the data, converting to the dtype. */
  private setFromNumbers(values: readonly number[]): void {
    const d = this.data;
    for (let i = 0; i < values.length; i++) {
      switch (this.dtype) {
        case "float16":
          (d as Uint16Array)[i] = floatToHalf(values[i]);
          break;
        case "bfloat16":
          (d as Uint16Array)[i] = floatToBf16(values[i]);
          break;
        case "int64":
          (d as BigInt64Array)[i] = BigInt(Math.trunc(values[i]));
          break;
        default:
          (d as Float32Array)[i] = values[i];
      }
    }
  }

  /** The values as a nested list of numbers (a scalar tensor gives a number). */
  tolist(): NestedList {
    const build = (offset: number, depth: number): NestedList => {
      if (depth === this.dims.length) return this.get(offset);
      const stride = numel(this.dims.slice(depth + 1));
      const out: NestedList[] = [];
      for (let i = 0; i < this.dims[depth]; i++) out.push(build(offset + i * stride, depth + 1));
      return out;
    };
    return build(0, 0);
  }

  /** The single value of a one-element tensor. */
  item(): number {
    if (this.size !== 1) {
      throw new TensorError(`item() needs a one-element tensor, got shape [${this.dims}]`);
    }
    return this.get(0);
  }

  /** A tensor sharing this data with another shape of the same size. */
  reshape(dims: readonly number[]): Tensor<D> {
    const resolved = [...dims];
    const inferred = resolved.indexOf(-1);
    if (inferred >= 0) {
      const rest = numel(resolved.filter((_, i) => i !== inferred));
      resolved[inferred] = rest === 0 ? 0 : this.size / rest;
    }
    if (numel(resolved) !== this.size) {
      throw new TensorError(`cannot reshape [${this.dims}] to [${dims}]`);
    }
    return new Tensor(this.dtype, this.data, resolved);
  }

  /** A float32 copy (half types decoded, ints converted). */
  toFloat32(): Tensor<"float32"> {
    if (this.dtype === "float32") {
      return new Tensor("float32", (this.data as Float32Array).slice(), this.dims);
    }
    if (this.dtype === "float16" || this.dtype === "bfloat16") {
      return new Tensor(
        "float32",
        halfWordsToFloat32(this.dtype, this.data as Uint16Array),
        this.dims,
      );
    }
    const out = new Float32Array(this.size);
    for (let i = 0; i < out.length; i++) out[i] = this.get(i);
    return new Tensor("float32", out, this.dims);
  }

  /** A copy converted to `dtype` (floats rounded to nearest even for half types). */
  to<T extends DType>(dtype: T): Tensor<T> {
    if ((dtype as DType) === this.dtype) {
      return new Tensor(dtype, this.data.slice() as DataTypeMap[T], this.dims);
    }
    const out = Tensor.zeros(this.dims, dtype);
    const values = new Array<number>(this.size);
    for (let i = 0; i < values.length; i++) values[i] = this.get(i);
    (out as Tensor<T>).setFromNumbers(values);
    return out;
  }
}
