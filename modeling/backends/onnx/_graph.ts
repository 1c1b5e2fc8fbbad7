/**
 * A small ONNX graph builder over `_onnx_proto.ts`: fresh value names, cached constants, weights
 * as initializers in the chosen storage precision, and the transformer building blocks every
 * architecture uses (linear, layer norm, activations, multi-head attention).
 *
 * @module
 */
import { EncdecError } from "@encdec/config";
import { bf16ToFloat, FLOAT32_MIN, floatToHalf, halfToFloat, type Tensor } from "../../tensor.ts";
import type { LinearWeights } from "./_checkpoint.ts";
import type {
  AttrValue,
  ExternalDataRef,
  GraphSpec,
  NodeSpec,
  OnnxDType,
  TensorSpec,
  ValueInfoSpec,
} from "./_onnx_proto.ts";

/** Thrown when a checkpoint or config cannot be turned into an ONNX graph. */
export class OnnxModelError extends EncdecError {}

/** Weight storage: fp32; fp16 (half storage, Cast to fp32); int8 (per-channel linear layers). */
export type OnnxPrecision = "fp32" | "fp16" | "int8";

/** A 2-D weight on the host, in its stored dtype (half words for float16/bfloat16). */
export interface HostMatrix {
  /** `[rows, cols]`. */
  dims: [number, number];
  /** Stored dtype. */
  dtype: "float32" | "float16" | "bfloat16";
  /** Row-major data. */
  readonly data: Float32Array | Uint16Array;
  /** Checkpoint key: uses of the same key share one initializer. */
  key?: string;
  /** Where the stored bytes lie in a file onnxruntime can map (left there when possible). */
  external?: ExternalDataRef;
}

function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** float32 values of a tensor/host matrix (half words upcast exactly). */
export function toFloat32(dtype: string, data: ArrayLike<number>): Float32Array {
  if (dtype === "float32") return data as Float32Array;
  const out = new Float32Array(data.length);
  const conv = dtype === "float16" ? halfToFloat : bf16ToFloat;
  for (let i = 0; i < data.length; i++) out[i] = conv(data[i]);
  return out;
}

/** Transposes a row-major `[rows, cols]` matrix. */
export function transpose(m: HostMatrix): HostMatrix {
  const [r, c] = m.dims;
  const src = m.data;
  const out = src instanceof Float32Array ? new Float32Array(r * c) : new Uint16Array(r * c);
  for (let i = 0; i < r; i++) {
    const row = i * c;
    for (let j = 0; j < c; j++) out[j * r + i] = src[row + j];
  }
  return { dims: [c, r], dtype: m.dtype, data: out };
}

/** Concatenates matrices with the same row count along columns (`[in, a] ++ [in, b]`). */
export function concatColumns(ms: readonly HostMatrix[]): HostMatrix {
  const rows = ms[0].dims[0];
  const dtype = ms.every((m) => m.dtype === ms[0].dtype) ? ms[0].dtype : "float32";
  const parts = ms.map((m) =>
    dtype === m.dtype ? m.data : toFloat32(m.dtype, m.data) as Float32Array | Uint16Array
  );
  const cols = ms.reduce((a, m) => a + m.dims[1], 0);
  const out = dtype === "float32" ? new Float32Array(rows * cols) : new Uint16Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    let off = i * cols;
    ms.forEach((m, k) => {
      const c = m.dims[1];
      out.set(parts[k].subarray(i * c, (i + 1) * c), off);
      off += c;
    });
  }
  return { dims: [rows, cols], dtype, data: out };
}

/** Concatenates matrices with the same column count along rows (`[a, in] ++ [b, in]`). */
export function concatRows(ms: readonly HostMatrix[]): HostMatrix {
  const cols = ms[0].dims[1];
  const dtype = ms.every((m) => m.dtype === ms[0].dtype) ? ms[0].dtype : "float32";
  const rows = ms.reduce((a, m) => a + m.dims[0], 0);
  const out = dtype === "float32" ? new Float32Array(rows * cols) : new Uint16Array(rows * cols);
  let off = 0;
  for (const m of ms) {
    out.set(dtype === m.dtype ? m.data : toFloat32(m.dtype, m.data), off);
    off += m.dims[0] * cols;
  }
  return { dims: [rows, cols], dtype, data: out };
}

/** Concatenates float vectors (biases) into one float32 vector. */
export function concatVectors(ts: readonly (Tensor | Float32Array)[]): Float32Array {
  const parts = ts.map((t) =>
    t instanceof Float32Array ? t : toFloat32(t.dtype, t.data as ArrayLike<number>)
  );
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Splits a `[rows, cols]` matrix into column blocks of the given widths. */
export function splitColumns(m: HostMatrix, widths: readonly number[]): HostMatrix[] {
  const [rows, cols] = m.dims;
  let start = 0;
  return widths.map((w) => {
    const out = m.data instanceof Float32Array
      ? new Float32Array(rows * w)
      : new Uint16Array(rows * w);
    for (let i = 0; i < rows; i++) {
      out.set(m.data.subarray(i * cols + start, i * cols + start + w), i * w);
    }
    start += w;
    return { dims: [rows, w], dtype: m.dtype, data: out };
  });
}

function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** Quantizes a `[in, out]` float matrix to int8 per output column (symmetric, zero point 0). */
export function quantizePerColumn(w: Float32Array, rows: number, cols: number): {
  q: Int8Array;
  scale: Float32Array;
} {
  const scale = new Float32Array(cols);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      const a = Math.abs(w[i * cols + j]);
      if (a > scale[j]) scale[j] = a;
    }
  }
  for (let j = 0; j < cols; j++) scale[j] = scale[j] > 0 ? scale[j] / 127 : 1;
  const q = new Int8Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      q[i * cols + j] = Math.max(-127, Math.min(127, roundHalfEven(w[i * cols + j] / scale[j])));
    }
  }
  return { q, scale };
}

/** Builds one ONNX graph. Every method returns the name of the value it produced. */
export class GraphBuilder {
  private readonly nodes: NodeSpec[] = [];
  private readonly inits: TensorSpec[] = [];
  private readonly ins: ValueInfoSpec[] = [];
  private readonly outs: ValueInfoSpec[] = [];
  private readonly consts = new Map<string, string>();
  private readonly shared = new Map<object | string, string>();
  private count = 0;
  private batch: string | null = null;
  private rowsShape: string | null = null;
  private readonly headShapes = new Map<string, string>();

  /** A builder for graph `name` storing weights in `precision`. */
  constructor(readonly name: string, readonly precision: OnnxPrecision) {}

  /**
   * Declares the `[batch, length, ...]` value whose first two dims every flattened hidden state
   * `[batch * length, width]` stands for (layers work on 2-D rows so projections are one Gemm).
   */
  setRows(x: string): void {
    this.batch = this.op("Shape", [x], { start: 0, end: 1 });
    this.rowsShape = this.op("Shape", [x], { start: 0, end: 2 });
  }

  private need(v: string | null): string {
    if (v === null) throw new OnnxModelError(`graph "${this.name}": setRows() was not called`);
    return v;
  }

  /** `[B, T, width]` → `[B * T, width]`. */
  flatten(x: string, width: number): string {
    return this.op("Reshape", [x, this.constI([-1, width])]);
  }

  /** `[B * T, width]` → `[B, T, width]` (B, T from `setRows`). */
  unflatten(x: string, width: number): string {
    const shape = this.op("Concat", [this.need(this.rowsShape), this.constI([width])], { axis: 0 });
    return this.op("Reshape", [x, shape]);
  }

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

  private addInit(
    dtype: OnnxDType,
    dims: readonly number[],
    raw: Uint8Array,
    hint: string,
    external?: ExternalDataRef,
  ): string {
    const name = this.fresh(hint);
    this.inits.push({ name, dtype, dims, raw, external });
    return name;
  }

  /** A float32 constant (cached by value). */
  constF(values: number | readonly number[], dims: readonly number[] = []): string {
    const arr = typeof values === "number" ? [values] : values;
    const key = `f${dims.join("x")}:${arr.join(",")}`;
    let name = this.consts.get(key);
    if (!name) {
      name = this.addInit("float32", dims, bytesOf(new Float32Array(arr)), "c");
      this.consts.set(key, name);
    }
    return name;
  }

  /** An int64 constant (cached by value). */
  constI(values: number | readonly number[], dims?: readonly number[]): string {
    const arr = typeof values === "number" ? [values] : values;
    const d = dims ?? (typeof values === "number" ? [] : [arr.length]);
    const key = `i${d.join("x")}:${arr.join(",")}`;
    let name = this.consts.get(key);
    if (!name) {
      name = this.addInit("int64", d, bytesOf(BigInt64Array.from(arr.map(BigInt))), "c");
      this.consts.set(key, name);
    }
    return name;
  }

  /** A float32 vector weight (bias, LayerNorm); half sources upcast exactly. */
  vector(t: Tensor | Float32Array, hint: string): string {
    const cached = this.shared.get(t);
    if (cached) return cached;
    const data = t instanceof Float32Array ? t : toFloat32(t.dtype, t.data as ArrayLike<number>);
    const name = this.addInit("float32", [data.length], bytesOf(data), hint);
    this.shared.set(t, name);
    return name;
  }

  /**
   * A float matrix weight as an fp32 value: stored fp32, or half (fp16 precision, or a half
   * checkpoint under fp16/int8) followed by a Cast. Bytes stored in the needed dtype stay in
   * their file (`m.external`), and each use gets its own initializer over them: a tied word
   * embedding is then packed once for the LM head's Gemm (and its mapping dropped) while the
   * embedding Gather only maps the rows it reads. In-memory uses of one checkpoint key
   * (`m.key`) share one initializer.
   */
  matrix(m: HostMatrix, hint: string): string {
    const cached = m.key && this.shared.get(m.key);
    if (cached) return cached;
    let name: string;
    if (this.precision === "fp16") {
      let dtype = m.dtype;
      if (m.external && dtype !== "float32") {
        name = this.op("Cast", [this.addInit(dtype, m.dims, new Uint8Array(0), hint, m.external)], {
          to: 1,
        });
        if (m.key) this.shared.set(m.key, name);
        return name;
      }
      let data = m.data;
      if (dtype === "float32") {
        const h = new Uint16Array(data.length);
        for (let i = 0; i < data.length; i++) h[i] = floatToHalf(data[i]);
        dtype = "float16";
        data = h;
      }
      const stored = this.addInit(dtype, m.dims, bytesOf(data), hint);
      name = this.op("Cast", [stored], { to: 1 });
    } else if (m.external && m.dtype === "float32") {
      return this.addInit("float32", m.dims, new Uint8Array(0), hint, m.external);
    } else {
      const data = toFloat32(m.dtype, m.data);
      name = this.addInit("float32", m.dims, bytesOf(data), hint);
    }
    if (m.key) this.shared.set(m.key, name);
    return name;
  }

  // ---- layers ----------------------------------------------------------------------------------

  /**
   * `x @ w + b` (`x @ wᵀ + b` when `transB`) for rows `x` `[N, in]`: one Gemm (bias fused);
   * int8 precision uses DynamicQuantizeMatMul (per-column weight scales, bias fused).
   */
  linear(x: string, { w, transB, b }: LinearWeights, hint: string): string {
    if (this.precision === "int8") {
      const m = transB ? transpose(w) : w; // [in, out]
      const [rows, cols] = m.dims;
      const { q, scale } = quantizePerColumn(toFloat32(m.dtype, m.data), rows, cols);
      const qName = this.addInit("int8", m.dims, bytesOf(q), `${hint}_q`);
      const sName = this.addInit("float32", [cols], bytesOf(scale), `${hint}_scale`);
      const inputs = [x, qName, sName, "", b ? this.vector(b, `${hint}_b`) : ""];
      while (inputs[inputs.length - 1] === "") inputs.pop();
      return this.op("DynamicQuantizeMatMul", inputs, {}, "com.microsoft");
    }
    const wName = this.matrix(w, hint);
    const inputs = b ? [x, wName, this.vector(b, `${hint}_b`)] : [x, wName];
    return this.op("Gemm", inputs, transB ? { transB: 1 } : {});
  }

  /**
   * Several linear layers on the same rows `x` (attention Q/K/V): fused into one projection
   * and a Split when the fused weight must be built on the host anyway (int8, half or
   * in-memory weights); separate Gemms over the weights left in their file otherwise.
   */
  linears(x: string, ls: readonly LinearWeights[], hint: string): string[] {
    const mapped = this.precision === "fp32" &&
      ls.every((l) => l.w.external && l.w.dtype === "float32");
    if (mapped || ls.some((l) => l.transB !== ls[0].transB || !l.b)) {
      return ls.map((l, i) => this.linear(x, l, `${hint}${i}`));
    }
    const transB = ls[0].transB;
    const w = transB ? concatRows(ls.map((l) => l.w)) : concatColumns(ls.map((l) => l.w));
    const y = this.linear(x, { w, transB, b: concatVectors(ls.map((l) => l.b!)) }, hint);
    const widths = ls.map((l) => l.w.dims[transB ? 0 : 1]);
    return this.opN("Split", [y, this.constI(widths)], ls.length, { axis: -1 });
  }

  /** `LayerNormalization` over the last axis. */
  layerNorm(x: string, weight: Tensor, bias: Tensor, eps: number, hint: string): string {
    return this.op("LayerNormalization", [
      x,
      this.vector(weight, `${hint}_w`),
      this.vector(bias, `${hint}_b`),
    ], { axis: -1, epsilon: { f: eps } });
  }

  /**
   * `LayerNorm(x + residual)`. (Add + LayerNormalization: onnxruntime 1.30's CPU
   * SkipLayerNormalization measured ~20× slower than the pair on 512 × 768 rows.)
   */
  addLayerNorm(
    x: string,
    residual: string,
    weight: Tensor,
    bias: Tensor,
    eps: number,
    hint: string,
  ): string {
    return this.layerNorm(this.op("Add", [x, residual]), weight, bias, eps, hint);
  }

  /** An activation by HF name (`gelu`, `gelu_new`, `relu`, ...). */
  activation(x: string, act: string): string {
    switch (act) {
      case "gelu":
        return this.op("Gelu", [x], {}, "com.microsoft");
      case "gelu_new":
      case "gelu_pytorch_tanh":
        return this.op("FastGelu", [x], {}, "com.microsoft");
      case "relu":
        return this.op("Relu", [x]);
      case "silu":
      case "swish":
        return this.op("Mul", [x, this.op("Sigmoid", [x])]);
      case "tanh":
        return this.op("Tanh", [x]);
      default:
        throw new OnnxModelError(
          `activation "${act}" is not supported by the onnx backend; expected one of gelu, ` +
            `gelu_new, gelu_pytorch_tanh, relu, silu, swish, tanh`,
        );
    }
  }

  /**
   * Rows `[B * T, H*D]` → `[B, H, T, D]`. With `groups` (an int64 `[1]` value G dividing B) the
   * rows are split into G groups of consecutive rows instead: `[G, H, (B / G) * T, D]`, the
   * `B / G` sequences of a group laid end to end as extra positions (grouped cross-attention).
   */
  splitHeads(x: string, heads: number, headDim: number, groups?: string): string {
    const batch = groups ?? this.need(this.batch);
    const key = `${batch}:${heads}x${headDim}`;
    let shape = this.headShapes.get(key);
    if (!shape) {
      shape = this.op("Concat", [batch, this.constI([-1, heads, headDim])], { axis: 0 });
      this.headShapes.set(key, shape);
    }
    const r = this.op("Reshape", [x, shape]); // [B, T, H, D]
    return this.op("Transpose", [r], { perm: [0, 2, 1, 3] });
  }

  /**
   * Scaled dot-product attention: `softmax(q kᵀ / √D + bias) v`, merged back to rows `[B * T, H*D]`.
   * q `[B, H, T, D]`, k/v `[B, H, S, D]`, bias (or `null`: none) broadcastable to `[B, H, T, S]`; the scores are
   * divided by each of `divisors` in turn (HF: √D, then GPT-2's optional layer index + 1).
   */
  attention(
    q: string,
    k: string,
    v: string,
    bias: string | null,
    heads: number,
    headDim: number,
    divisors: readonly number[] = [Math.sqrt(headDim)],
  ): string {
    const kt = this.op("Transpose", [k], { perm: [0, 1, 3, 2] }); // [B, H, D, S]
    let s = this.op("MatMul", [q, kt]); // [B, H, T, S]
    for (const d of divisors) s = this.op("Div", [s, this.constF(d)]);
    if (bias) s = this.op("Add", [s, bias]);
    const p = this.op("Softmax", [s], { axis: -1 });
    const ctx = this.op("MatMul", [p, v]); // [B, H, T, D]
    const t = this.op("Transpose", [ctx], { perm: [0, 2, 1, 3] }); // [B, T, H, D]
    return this.op("Reshape", [t, this.constI([-1, heads * headDim])]); // [B * T, H*D]
  }

  /**
   * Self-attention of rows `[B * T, H*D]` through onnxruntime's fused `MultiHeadAttention`
   * (`com.microsoft`): `softmax(q kᵀ / √D)` over the keys `keyMask` (int32 `[B, T]`, 1 = attend)
   * keeps, times v; masked scores get HF's `FLOAT32_MIN`. Returns rows `[B * T, H*D]`.
   */
  fusedSelfAttention(
    q: string,
    k: string,
    v: string,
    keyMask: string,
    heads: number,
    headDim: number,
  ): string {
    const width = heads * headDim;
    const ctx = this.op(
      "MultiHeadAttention",
      [this.unflatten(q, width), this.unflatten(k, width), this.unflatten(v, width), "", keyMask],
      { num_heads: heads, mask_filter_value: { f: FLOAT32_MIN } },
      "com.microsoft",
    ); // [B, T, H*D]
    return this.flatten(ctx, width);
  }

  /** Additive mask bias `(1 - m) * FLOAT32_MIN` from a float 0/1 mask (HF's inverted mask). */
  maskBias(maskF: string): string {
    const inv = this.op("Sub", [this.constF(1), maskF]);
    return this.op("Mul", [inv, this.constF(FLOAT32_MIN)]);
  }

  /** Rows `[B * T, E]` @ `w[V, E]`ᵀ + b → `[B, T, V]` via Gemm(transB) so a tied `w` is shared. */
  projectTransposed(x: string, w: string, b: string | null, outDim: number): string {
    const y = this.op("Gemm", b ? [x, w, b] : [x, w], { transB: 1 }); // [B * T, V]
    return this.unflatten(y, outDim);
  }

  /** The finished graph. */
  build(): GraphSpec {
    return {
      name: this.name,
      nodes: this.nodes,
      initializers: this.inits,
      inputs: this.ins,
      outputs: this.outs,
    };
  }
}
