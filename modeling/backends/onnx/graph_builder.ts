/**
 * The low level under the ONNX recorder: a graph under construction (fresh value names, nodes
 * in the order they are emitted, cached constants, inputs and outputs, initializers whose bytes
 * are produced only when the finished graph is built) and the weight transforms the storage
 * precisions need (half casts, per-channel int8 quantization).
 *
 * @module
 */
import { EncdecError } from "@encdec/config";
import { floatToHalf, halfWordsToFloat32 } from "../../tensor.ts";
import type {
  AttrValue,
  ExternalDataRef,
  GraphSpec,
  HalfWords,
  NodeSpec,
  OnnxDType,
  TensorSpec,
  ValueInfoSpec,
} from "./_onnx_proto.ts";

/** Thrown when a checkpoint or config cannot be turned into an ONNX graph, or bad engine input. */
export class OnnxModelError extends EncdecError {}

/** Weight storage: fp32; fp16 (half storage, Cast to fp32); int8 (per-channel linear layers). */
export type OnnxPrecision = "fp32" | "fp16" | "int8";

/** The bytes of a typed array. */
export function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** float32 values of stored data (half words upcast exactly). */
export function toFloat32(dtype: string, data: ArrayLike<number>): Float32Array {
  if (dtype === "float32") return data as Float32Array;
  if (dtype !== "float16" && dtype !== "bfloat16") {
    throw new OnnxModelError(`toFloat32: dtype ${dtype}; expected float32, float16 or bfloat16`);
  }
  return halfWordsToFloat32(dtype, data);
}

/** Half words of float32 values (round to nearest even). */
export function toHalf(data: Float32Array): Uint16Array {
  const h = new Uint16Array(data.length);
  for (let i = 0; i < data.length; i++) h[i] = floatToHalf(data[i]);
  return h;
}

/** Side of the square tiles `transpose2d` copies (32 × 32 float32 = 4 KiB in, 4 KiB out). */
const TILE = 32;

/**
 * Transposes a row-major `[rows, cols]` float32 matrix, tile by tile (a whole-row walk writes
 * one element per cache line of the output: 3-4× slower on a base-size FFN matrix).
 */
export function transpose2d(src: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let i0 = 0; i0 < rows; i0 += TILE) {
    const i1 = Math.min(rows, i0 + TILE);
    for (let j0 = 0; j0 < cols; j0 += TILE) {
      const j1 = Math.min(cols, j0 + TILE);
      for (let i = i0; i < i1; i++) {
        const row = i * cols;
        for (let j = j0; j < j1; j++) out[j * rows + i] = src[row + j];
      }
    }
  }
  return out;
}

/**
 * 1.5 × 2^52: adding and subtracting it rounds a double of magnitude below 2^51 to an integer,
 * half to even (the FPU's rounding mode), as `torch.round` does.
 */
const ROUND_MAGIC = 6755399441055744;

/** Quantizes a `[in, out]` float matrix to int8 per output column (symmetric, zero point 0). */
export function quantizePerColumn(w: Float32Array, rows: number, cols: number): {
  q: Int8Array;
  scale: Float32Array;
} {
  const scale = new Float32Array(cols);
  for (let i = 0; i < rows; i++) {
    const row = i * cols;
    for (let j = 0; j < cols; j++) {
      const a = Math.abs(w[row + j]);
      if (a > scale[j]) scale[j] = a;
    }
  }
  for (let j = 0; j < cols; j++) scale[j] = scale[j] > 0 ? scale[j] / 127 : 1;
  const q = new Int8Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    const row = i * cols;
    for (let j = 0; j < cols; j++) {
      // |x| <= 127 (up to rounding) or NaN (a NaN or infinite weight); the clamp maps NaN to NaN,
      // stored as 0, as before.
      const x = w[row + j] / scale[j];
      const r = (x + ROUND_MAGIC) - ROUND_MAGIC;
      q[row + j] = r > 127 ? 127 : r < -127 ? -127 : r;
    }
  }
  return { q, scale };
}

/** Output rows `quantizeHalfLinear` converts at a time (32 × 3072 floats: 384 KiB). */
const HALF_BLOCK_ROWS = 32;

/**
 * `quantizePerColumn(transpose2d(toFloat32(dtype, words), rows, cols), cols, rows)` without the
 * two float32 copies: a `nn.Linear` weight stored as half words `[out = rows, in = cols]`
 * quantized to int8 `[in, out]` with one scale per output, a block of rows at a time through a
 * small reused buffer. Same bits.
 */
export function quantizeHalfLinear(
  dtype: "float16" | "bfloat16",
  words: Uint16Array,
  rows: number,
  cols: number,
): { q: Int8Array; scale: Float32Array } {
  if (words.length !== rows * cols) {
    throw new OnnxModelError(
      `quantizeHalfLinear: ${words.length} words for a [${rows}, ${cols}] matrix`,
    );
  }
  const scale = new Float32Array(rows);
  const q = new Int8Array(rows * cols);
  const block = new Float32Array(Math.min(rows, HALF_BLOCK_ROWS) * cols);
  for (let j0 = 0; j0 < rows; j0 += HALF_BLOCK_ROWS) {
    const n = Math.min(HALF_BLOCK_ROWS, rows - j0);
    const v = halfWordsToFloat32(
      dtype,
      words.subarray(j0 * cols, (j0 + n) * cols),
      block.subarray(0, n * cols),
    );
    quantizeRowBlock(v, n, j0, q, scale);
  }
  return { q, scale };
}

/**
 * One block of a per-output-channel int8 quantization done a block of rows at a time: `n` rows
 * `v` (float32 `[n, in]`) of an `nn.Linear` weight, output channels `j0 ..< j0 + n`, into `q`
 * (int8 `[in, out]`, `out = scale.length`) and `scale` (the largest magnitude of each row / 127,
 * or 1 for an all-zero row). The same bits as `quantizePerColumn` of the transpose; shared by
 * {@linkcode quantizeHalfLinear} and `quantizeLinearFromFile` (`_stream_quantize.ts`).
 */
export function quantizeRowBlock(
  v: Float32Array,
  n: number,
  j0: number,
  q: Int8Array,
  scale: Float32Array,
): void {
  const outF = scale.length, inF = q.length / outF;
  for (let jj = 0; jj < n; jj++) {
    const j = j0 + jj, row = jj * inF;
    let m = 0;
    for (let i = 0; i < inF; i++) {
      const a = Math.abs(v[row + i]);
      if (a > m) m = a;
    }
    scale[j] = m > 0 ? m / 127 : 1;
  }
  for (let i = 0; i < inF; i++) {
    const out = i * outF + j0;
    for (let jj = 0; jj < n; jj++) {
      // NaN (a NaN or infinite weight) passes the clamp and is stored as 0, as elsewhere.
      const x = v[jj * inF + i] / scale[j0 + jj];
      const r = (x + ROUND_MAGIC) - ROUND_MAGIC;
      q[out + jj] = r > 127 ? 127 : r < -127 ? -127 : r;
    }
  }
}

/** An initializer whose bytes are produced when the graph is built (or left in a file). */
export interface LazyInitializer {
  /** Element type. */
  dtype: OnnxDType;
  /** Shape. */
  dims: readonly number[];
  /** The raw bytes (called once, by `build`); unused when `external` is set. */
  bytes: () => Uint8Array;
  /** Where the bytes lie in a file onnxruntime maps instead. */
  external?: ExternalDataRef;
  /**
   * When `bytes()` is exactly the float32 upcast (`toFloat32`) of these half words, the parts
   * one after another: inside {@linkcode withDeferredUpcasts}, `build` then leaves the
   * conversion to whoever reads the graph (the graph cache converts them piece by piece into
   * its weight file).
   */
  upcast?: readonly HalfWords[];
}

let deferUpcasts = false;

/**
 * Runs the synchronous `trace` (tracing a graph and `GraphBuilder.build`) with the initializers
 * that declare an `upcast` built lazily: their `TensorSpec.raw` is converted on first read
 * (then kept), and `TensorSpec.upcast` tells a writer it may convert the words itself, through
 * a small reused buffer. A half checkpoint's float32 weights (twice its size) then never exist
 * in memory whole.
 */
export function withDeferredUpcasts<R>(trace: () => R): R {
  const before = deferUpcasts;
  deferUpcasts = true;
  try {
    return trace();
  } finally {
    deferUpcasts = before;
  }
}

/** The `TensorSpec` of an initializer whose float32 bytes are converted on first read. */
function deferredSpec(
  name: string,
  init: LazyInitializer,
  upcast: readonly HalfWords[],
): TensorSpec {
  let raw: Uint8Array | undefined;
  const spec = { name, dtype: init.dtype, dims: init.dims, upcast } as TensorSpec;
  Object.defineProperty(spec, "raw", { enumerable: true, get: () => (raw ??= init.bytes()) });
  return spec;
}

/**
 * One ONNX graph under construction. Nodes are appended as they are emitted (the recorder
 * emits a value only after its inputs, so the order is topological); every method returns the
 * name of the value it made.
 *
 * @example
 * ```ts
 * import { GraphBuilder } from "./graph_builder.ts";
 * const g = new GraphBuilder("tiny");
 * const x = g.input("x", "float32", ["batch", 4]);
 * g.output("y", g.op("Relu", [x]), "float32", ["batch", 4]);
 * g.build().nodes.length; // 2 (Relu, Identity)
 * ```
 */
export class GraphBuilder {
  private readonly nodes: NodeSpec[] = [];
  private readonly inits: { name: string; init: LazyInitializer }[] = [];
  private readonly ins: ValueInfoSpec[] = [];
  private readonly outs: ValueInfoSpec[] = [];
  private readonly consts = new Map<string, string>();
  private count = 0;

  /** A builder for graph `name`. */
  constructor(readonly name: string) {}

  /** A fresh value name. */
  fresh(hint = "v"): string {
    return `${hint}_${this.count++}`;
  }

  /** Adds a node with `nOut` outputs and returns their names. */
  opN(
    opType: string,
    inputs: readonly string[],
    nOut: number,
    attrs?: Record<string, AttrValue>,
    domain?: string,
  ): string[] {
    const outputs = Array.from({ length: nOut }, () => this.fresh(opType));
    this.nodes.push({ opType, inputs, outputs, name: `${opType}_n${this.count++}`, attrs, domain });
    return outputs;
  }

  /** Adds a single-output node. */
  op(
    opType: string,
    inputs: readonly string[],
    attrs?: Record<string, AttrValue>,
    domain?: string,
  ): string {
    return this.opN(opType, inputs, 1, attrs, domain)[0];
  }

  /** Declares a graph input. */
  input(name: string, dtype: OnnxDType, dims: readonly (number | string)[]): string {
    this.ins.push({ name, dtype, dims });
    return name;
  }

  /** Declares graph output `name` holding `value`. */
  output(name: string, value: string, dtype: OnnxDType, dims: readonly (number | string)[]): void {
    this.nodes.push({ opType: "Identity", inputs: [value], outputs: [name], name: `out_${name}` });
    this.outs.push({ name, dtype, dims });
  }

  /** Adds an initializer (bytes produced at `build`). */
  initializer(init: LazyInitializer, hint: string): string {
    const name = this.fresh(hint);
    this.inits.push({ name, init });
    return name;
  }

  /** The initializer of a constant, made once per `dtype`, `dims` and values. */
  private constant(
    dtype: "float32" | "int32" | "int64",
    dims: readonly number[],
    values: readonly number[],
  ): string {
    const key = `${dtype}${dims.join("x")}:${values.join(",")}`;
    let name = this.consts.get(key);
    if (!name) {
      const bytes = bytesOf(
        dtype === "float32"
          ? new Float32Array(values)
          : dtype === "int32"
          ? new Int32Array(values)
          : BigInt64Array.from(values.map(BigInt)),
      );
      name = this.initializer({ dtype, dims, bytes: () => bytes }, "c");
      this.consts.set(key, name);
    }
    return name;
  }

  /** A float32 constant (cached by value). */
  constF(values: number | readonly number[], dims: readonly number[] = []): string {
    return this.constant("float32", dims, typeof values === "number" ? [values] : values);
  }

  /** An int64 constant (cached by value); a number is a scalar, a list a vector. */
  constI(values: number | readonly number[], dims?: readonly number[]): string {
    const arr = typeof values === "number" ? [values] : values;
    return this.constant("int64", dims ?? (typeof values === "number" ? [] : [arr.length]), arr);
  }

  /**
   * `1` where boolean `cond` holds and `0` elsewhere (`invert`: the other way round), as
   * `dtype`: what a `Cast` of a 0/1 value computes, with `Where`. The graphs never `Cast` on a
   * run's path: onnxruntime-web's `Cast` is one ~490 KB wasm function (every type pair), and
   * once a decoder's steps make it hot V8 holds ~110 MiB for a while to optimize it (issue 18,
   * goal 4).
   */
  indicator(cond: string, dtype: "float32" | "int32" | "int64", invert = false): string {
    const c = (v: number) => this.constant(dtype, [], [v]);
    return this.op("Where", [cond, c(invert ? 0 : 1), c(invert ? 1 : 0)]);
  }

  /** `1` where int64 `x` is not 0, else `0`, as `dtype` (a 0/1 mask converted without `Cast`). */
  nonzero(x: string, dtype: "float32" | "int32" | "int64"): string {
    return this.indicator(this.op("Equal", [x, this.constI(0)]), dtype, true);
  }

  /** The finished graph: initializers no node reads are left out. */
  build(): GraphSpec {
    const used = new Set(this.nodes.flatMap((n) => n.inputs));
    const initializers: TensorSpec[] = this.inits
      .filter(({ name }) => used.has(name))
      .map(({ name, init }) =>
        deferUpcasts && init.upcast && !init.external && init.dtype === "float32"
          ? deferredSpec(name, init, init.upcast)
          : {
            name,
            dtype: init.dtype,
            dims: init.dims,
            raw: init.external ? new Uint8Array(0) : init.bytes(),
            external: init.external,
          }
      );
    return {
      name: this.name,
      nodes: this.nodes,
      initializers,
      inputs: this.ins,
      outputs: this.outs,
    };
  }
}
