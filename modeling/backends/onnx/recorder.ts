/**
 * `OnnxRecorder`: a `Backend` whose ops record ONNX nodes instead of computing. The model code
 * in `modeling/models/` runs on it once per graph, and the graph it leaves is what onnxruntime
 * runs: the ONNX graphs are traced from the same code the CPU backend runs, never written by
 * hand.
 *
 * Symbolic axes: the tracer feeds inputs whose sizes are sentinel numbers (distinct primes
 * above 1000, one per axis: batch, source length, ...). The model code computes with them as
 * with any size; wherever a size reaches the graph (a `Reshape` target, a `Slice` bound, a
 * position range), a sentinel becomes the matching `Shape` of the input it came from, so the
 * graph runs on any batch and length. Host inputs are placeholders (`tracePlaceholder`) bound to
 * graph inputs; masks and positions are the backend ops `maskBias` / `positionIds`, recorded as
 * nodes over those inputs.
 *
 * Nodes are emitted lazily, when a graph output needs them, so only what the outputs read is in
 * the graph (the cross-K/V graph is the decoder traced for its cross K/V alone).
 *
 * Patterns every architecture gets:
 * - hidden states stay `[batch, len, width]`; each `linear` is one `Gemm` (bias fused) on 2-D
 *   rows over the checkpoint's stored layout (`transB` for `nn.Linear`, not for `Conv1D`), or
 *   `DynamicQuantizeMatMul` under int8; the rows of a linear's output feed the next linear
 *   without a reshape;
 * - self-attention over a padding mask on heads split from `[batch, len, width]` values is one
 *   fused `com.microsoft` `MultiHeadAttention` (scale, key mask, softmax and both products, no
 *   head transposes); other attention is MatMul / Softmax;
 * - attention whose K/V have fewer rows than the queries (`g` dividing `b`) attends each group of
 *   `b / g` consecutive query rows to one K/V row, the queries laid end to end: beams share their
 *   source's cross K/V without copies.
 *
 * @module
 */
import type { Activation, AttentionOptions, Backend } from "../../backend.ts";
import { FLOAT32_MIN, type Tensor } from "../../tensor.ts";
import type { CheckpointWeight } from "./checkpoint.ts";
import { GraphBuilder, OnnxModelError, type OnnxPrecision } from "./graph_builder.ts";
import type { GraphSpec, OnnxDType } from "./_onnx_proto.ts";
import { WeightInitializers } from "./weight_initializers.ts";

/** Element types of recorded values (ids and positions are int64 in the graph). */
export type SymDType = "float32" | "int64";

/** What the recorder knows about how a value was made (for its fused patterns). */
interface SymTags {
  /** `reshape(x, [n, t, heads, d])` of a `[n, t, heads * d]` value. */
  split?: { x: Sym; heads: number };
  /** `permute(split, [0, 2, 1, 3])`: heads `[n, heads, t, d]` of `x`. */
  heads?: { x: Sym; heads: number };
  /** A fused attention's heads `[n, h, t, d]` whose merged `[n, t, h * d]` value is this. */
  fused?: Sym;
  /** `permute(fused heads, [0, 2, 1, 3])`: reshaping it back gives `fused` itself. */
  merging?: Sym;
  /** A padding-only mask bias over this 0/1 input `[n, s]`. */
  keyMask?: Sym;
  /** The 2-D rows `[n * t, width]` this value is a reshape of. */
  rows?: Sym;
  /** A checkpoint weight (dims as the model uses it: Conv1D transposed). */
  weight?: CheckpointWeight;
}

/** A recorded value: its trace shape (sentinel sizes for symbolic axes) and its node, made lazily. */
export class Sym {
  private value: string | null = null;

  /** A value of shape `dims` whose node `make` emits on first use of `name`. */
  constructor(
    /** Shape at trace time (symbolic axes hold their sentinel). */
    readonly dims: readonly number[],
    /** Element type. */
    readonly dtype: SymDType,
    private readonly make: () => string,
    /** Pattern facts. */
    readonly tags: SymTags = {},
  ) {}

  /** The graph value name (emitting its nodes, and theirs, on first use). */
  get name(): string {
    if (this.value === null) this.value = this.make();
    return this.value;
  }
}

/** A size as the graph computes it: `axis`'s size (absent: 0) plus `offset`. */
export interface SizeTerm {
  /** Symbolic axis name, or null for a constant. */
  axis: string | null;
  /** Added constant. */
  offset: number;
}

/** A position-table limit the model code reported: `start + length <= max`. */
export interface TraceLimit {
  /** First position. */
  start: SizeTerm;
  /** Number of positions. */
  length: SizeTerm;
  /** Rows of the table. */
  max: number;
  /** `"<module>.<config field>"`. */
  what: string;
}

/** A linear layer recorded on an input, a candidate for one fused projection. */
interface LinearCall {
  /** Its weight. */
  w: CheckpointWeight;
  /** Its bias (a checkpoint vector), if any. */
  bias?: CheckpointWeight;
  /** Whether it is quantized (int8). */
  quantize: boolean;
  /** Input width. */
  inF: number;
  /** Output width. */
  outF: number;
  /** Its rows, once the fused projection was emitted. */
  split?: string;
}

const ONNX_FLOAT = 1;
const ONNX_INT32 = 6;
const ONNX_INT64 = 7;

function sameDims(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function broadcast(op: string, a: readonly number[], b: readonly number[]): number[] {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1, y = b[b.length - n + i] ?? 1;
    if (x !== y && x !== 1 && y !== 1) {
      throw new OnnxModelError(`onnx-trace.${op}: shapes [${a}] and [${b}] do not broadcast`);
    }
    out.push(x === 1 ? y : x);
  }
  return out;
}

/**
 * The graph-recording backend. `sentinels` maps each symbolic axis name to the size that
 * stands for it while tracing.
 *
 * @example
 * ```ts
 * import { OnnxRecorder } from "./recorder.ts";
 * import { Tensor } from "../../tensor.ts";
 * const rec = new OnnxRecorder("tiny", "fp32", { batch: 1009 });
 * const x = rec.input("x", "float32", [1009, 4]);
 * rec.output("y", rec.activation(x, "relu"), ["batch", 4]);
 * rec.build().nodes.map((n) => n.opType); // ["Relu", "Identity"]
 * ```
 */
export class OnnxRecorder implements Backend<Sym> {
  /** Always `"onnx-trace"`. */
  readonly name = "onnx-trace";
  /** The graph being recorded. */
  readonly graph: GraphBuilder;
  /** The position-table limits the model code reported. */
  readonly limits: TraceLimit[] = [];
  /** Host checks are skipped; size limits are collected in `limits`. */
  readonly tracing: Backend<Sym>["tracing"] = {
    limit: (start, length, max, what) =>
      this.limits.push({ start: this.term(start), length: this.term(length), max, what }),
  };
  /** The initializers of checkpoint weights. */
  readonly weights: WeightInitializers;
  private readonly axisOf = new Map<number, string>();
  private readonly axisValue = new Map<number, Sym>();
  private readonly placeholders = new Map<Tensor, Sym>();
  private readonly shapes = new Map<string, string>();
  private readonly tables = new Set<string>();
  private readonly casts = new Map<Sym, Sym>();
  private readonly linearsOn = new Map<Sym, LinearCall[]>();

  /** A recorder of graph `name` with weights in `precision` and symbolic axes `sentinels`. */
  constructor(name: string, readonly precision: OnnxPrecision, sentinels: Record<string, number>) {
    this.graph = new GraphBuilder(name);
    this.weights = new WeightInitializers(this.graph, precision);
    for (const [axis, size] of Object.entries(sentinels)) this.axisOf.set(size, axis);
  }

  private node(
    dims: readonly number[],
    make: () => string,
    tags: SymTags = {},
    dtype: SymDType = "float32",
  ): Sym {
    return new Sym(dims, dtype, make, tags);
  }

  private op(
    type: string,
    inputs: readonly string[],
    attrs?: Record<string, unknown>,
    domain?: string,
  ) {
    return this.graph.op(type, inputs, attrs as never, domain);
  }

  // ---- symbolic sizes --------------------------------------------------------------------------

  private term(n: number): SizeTerm {
    if (this.axisOf.has(n)) return { axis: this.axisOf.get(n)!, offset: 0 };
    for (const [size, axis] of this.axisOf) {
      if (Math.abs(n - size) < 100) return { axis, offset: n - size };
    }
    return { axis: null, offset: n };
  }

  /** A graph dim for trace size `d`: an axis name (`"past_len+tgt_len"` for a sum), else `d`. */
  private axisName(d: number): number | string {
    const exact = this.axisOf.get(d);
    if (exact) return exact;
    for (const [a, x] of this.axisOf) {
      for (const [b, y] of this.axisOf) if (a + b === d && a <= b) return `${x}+${y}`;
    }
    return d;
  }

  /** Size `n` as an int64 `[1]` value: a symbolic axis's `Shape`, else a constant. */
  private dimValue(n: number): string {
    const s = this.axisValue.get(n);
    if (s) return s.name;
    if (this.axisOf.has(n)) {
      throw new OnnxModelError(
        `onnx-trace: size ${n} (axis "${this.axisOf.get(n)}") is used before any input has it`,
      );
    }
    return this.graph.constI([n]);
  }

  /** Size `n` as an int64 scalar. */
  private scalar(n: number): string {
    return this.axisOf.has(n)
      ? this.op("Squeeze", [this.dimValue(n), this.graph.constI([0])])
      : this.graph.constI(n);
  }

  /** A shape value for `dims` (symbolic axes from their inputs, `-1` kept). */
  private shapeValue(dims: readonly number[]): string {
    const key = dims.join(",");
    let name = this.shapes.get(key);
    if (!name) {
      name = dims.some((d) => this.axisOf.has(d))
        ? this.op("Concat", dims.map((d) => this.dimValue(d)), { axis: 0 })
        : this.graph.constI(dims);
      this.shapes.set(key, name);
    }
    return name;
  }

  private bindAxes(s: Sym): void {
    s.dims.forEach((d, a) => {
      if (this.axisOf.has(d) && !this.axisValue.has(d)) {
        this.axisValue.set(
          d,
          this.node([1], () => this.op("Shape", [s.name], { start: a, end: a + 1 }), {}, "int64"),
        );
      }
    });
  }

  // ---- graph inputs, outputs, weights (used by the tracer) -------------------------------------

  /** Declares graph input `name` of trace shape `dims` (sentinel sizes become symbolic axes). */
  input(name: string, dtype: OnnxDType & SymDType, dims: readonly number[]): Sym {
    this.graph.input(name, dtype, dims.map((d) => this.axisName(d)));
    const s = this.node(dims, () => name, {}, dtype);
    this.bindAxes(s);
    return s;
  }

  /** Binds host placeholder `t` (see `tracePlaceholder`) to a new graph input `name`. */
  bind(t: Tensor, name: string, dtype: OnnxDType & SymDType): Sym {
    const s = this.input(name, dtype, t.dims);
    this.placeholders.set(t, s);
    return s;
  }

  /** A checkpoint weight as a value (`dims` as the model uses it: Conv1D `[out, in]`). */
  weight(w: CheckpointWeight): Sym {
    const stored = w.entry.dims;
    const dims = w.conv1d ? [stored[1], stored[0]] : stored;
    return this.node(dims, () => {
      if (stored.length !== 2) return this.weights.vector(w);
      const m = this.weights.matrix(w, "generic");
      return w.conv1d ? this.op("Transpose", [m], { perm: [1, 0] }) : m;
    }, { weight: w });
  }

  /** Rows `rows` (int64 `[n]`) of `x` along axis 0, in the graph (cache reordering). */
  gatherRows(x: Sym, rows: Sym): Sym {
    return this.node(
      [rows.dims[0], ...x.dims.slice(1)],
      () => this.op("Gather", [x.name, rows.name], { axis: 0 }),
      {},
      x.dtype,
    );
  }

  /** Declares graph output `name` holding `s` (`dims`: numbers or symbolic axis names). */
  output(name: string, s: Sym, dims: readonly (number | string)[]): void {
    this.graph.output(name, s.name, s.dtype, dims);
  }

  /** The recorded graph. */
  build(): GraphSpec {
    return this.graph.build();
  }

  // ---- data movement ---------------------------------------------------------------------------

  /**
   * A placeholder's graph input (cast to float32 for a float placeholder bound to an int64
   * input), else the tensor as a constant (ints as int64).
   */
  upload(t: Tensor): Sym {
    const bound = this.placeholders.get(t);
    if (bound && bound.dtype === "int64" && t.dtype === "float32") {
      let cast = this.casts.get(bound);
      if (!cast) {
        cast = this.node(bound.dims, () => this.op("Cast", [bound.name], { to: ONNX_FLOAT }));
        this.casts.set(bound, cast);
      }
      return cast;
    }
    if (bound) return bound;
    const isFloat = t.dtype === "float32" || t.dtype === "float16" || t.dtype === "bfloat16";
    const data = isFloat
      ? t.toFloat32().data
      : BigInt64Array.from(t.data as ArrayLike<number | bigint>, (v) => BigInt(v));
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const dtype = isFloat ? "float32" : "int64";
    const name = this.graph.initializer({ dtype, dims: t.dims, bytes: () => bytes }, "k");
    return this.node(t.dims, () => name, {}, dtype);
  }

  /** Not available while tracing: values exist only when onnxruntime runs the graph. */
  read(_t: Sym): Promise<Tensor> {
    return Promise.reject(
      new OnnxModelError("onnx-trace.read: a traced value has no data until the graph runs"),
    );
  }

  /** Trace shape of a value. */
  dims(t: Sym): readonly number[] {
    return t.dims;
  }

  /** Nothing to free. */
  dispose(_t: Sym): void {}

  // ---- masks and positions ---------------------------------------------------------------------

  /** `Backend.maskBias` as nodes over the mask input (padding-only masks are tagged for MHA). */
  maskBias(mask: Tensor, causalQueries?: number): Sym {
    const m = this.placeholders.get(mask) ?? this.upload(mask);
    const [n, s] = m.dims;
    const t = causalQueries;
    const g = this.graph;
    return this.node(t === undefined ? [n, 1, 1, s] : [n, 1, t, s], () => {
      const mf = this.op("Cast", [m.name], { to: ONNX_FLOAT });
      let keep = this.op("Unsqueeze", [mf, g.constI([1, 2])]); // [n, 1, 1, s]
      if (t !== undefined) {
        const sLen = this.op("Squeeze", [
          this.op("Shape", [m.name], { start: 1, end: 2 }),
          g.constI([0]),
        ]);
        const kPos = this.op("Range", [g.constI(0), sLen, g.constI(1)]); // [s]
        const first = this.op("Sub", [sLen, this.scalar(t)]);
        const qPos = this.op("Unsqueeze", [
          this.op("Range", [first, sLen, g.constI(1)]),
          g.constI([1]),
        ]); // [t, 1]
        const causal = this.op("Cast", [this.op("LessOrEqual", [kPos, qPos])], { to: ONNX_FLOAT });
        keep = this.op("Mul", [keep, causal]); // [n, 1, t, s]
      }
      return this.op("Mul", [this.op("Sub", [g.constF(1), keep]), g.constF(FLOAT32_MIN)]);
    }, t === undefined ? { keyMask: m } : {});
  }

  /** `Backend.positionIds` as `Range`, or (padded) a `CumSum` over the ids input. */
  positionIds(start: number, length: number, padded?: { ids: Tensor; paddingIdx: number }): Sym {
    const g = this.graph;
    if (!padded) {
      return this.node(
        [1, length],
        () => {
          const st = this.scalar(start);
          const end = this.op("Add", [st, this.scalar(length)]);
          return this.op("Unsqueeze", [this.op("Range", [st, end, g.constI(1)]), g.constI([0])]);
        },
        {},
        "int64",
      );
    }
    const ids = this.placeholders.get(padded.ids) ?? this.upload(padded.ids);
    const pad = padded.paddingIdx;
    return this.node(
      ids.dims,
      () => {
        const notPad = this.op("Cast", [
          this.op("Not", [this.op("Equal", [ids.name, g.constI(pad)])]),
        ], { to: ONNX_INT64 });
        let cs = this.op("CumSum", [notPad, g.constI(1)]);
        if (start !== 0) cs = this.op("Add", [cs, this.scalar(start)]);
        return this.op("Add", [this.op("Mul", [cs, notPad]), g.constI(pad)]);
      },
      {},
      "int64",
    );
  }

  // ---- shape ops -------------------------------------------------------------------------------

  /** `Reshape` (symbolic axes from their inputs); merging fused attention heads is free. */
  reshape(x: Sym, dims: readonly number[]): Sym {
    const total = x.dims.reduce((a, d) => a * d, 1);
    const known = dims.reduce((a, d) => (d === -1 ? a : a * d), 1);
    const out = dims.map((d) => (d === -1 ? total / known : d));
    const merged = x.tags.merging;
    if (merged && sameDims(out, merged.dims)) return merged;
    if (x.tags.rows && sameDims(out, x.tags.rows.dims)) return x.tags.rows;
    const tags: SymTags = {};
    if (
      out.length === 4 && x.dims.length === 3 && out[0] === x.dims[0] && out[1] === x.dims[1] &&
      out[2] * out[3] === x.dims[2]
    ) {
      tags.split = { x, heads: out[2] };
    }
    return this.node(out, () => this.op("Reshape", [x.name, this.shapeValue(dims)]), tags, x.dtype);
  }

  /** `Transpose`. */
  permute(x: Sym, perm: readonly number[]): Sym {
    const dims = perm.map((p) => x.dims[p]);
    const tags: SymTags = {};
    const swap12 = sameDims(perm, [0, 2, 1, 3]);
    if (swap12 && x.tags.split) tags.heads = x.tags.split;
    if (swap12 && x.tags.fused) tags.merging = x.tags.fused;
    return this.node(
      dims,
      () => this.op("Transpose", [x.name], { perm: [...perm] }),
      tags,
      x.dtype,
    );
  }

  /** `Slice` along one axis. */
  slice(x: Sym, axis: number, start: number, end: number): Sym {
    const a = axis < 0 ? axis + x.dims.length : axis;
    const dims = x.dims.map((d, i) => (i === a ? end - start : d));
    return this.node(
      dims,
      () =>
        this.op("Slice", [
          x.name,
          this.dimValue(start),
          this.dimValue(end),
          this.graph.constI([a]),
        ]),
      {},
      x.dtype,
    );
  }

  /** `Concat`. */
  concat(xs: readonly Sym[], axis: number): Sym {
    const a = axis < 0 ? axis + xs[0].dims.length : axis;
    const dims = xs[0].dims.map((d, i) => (i === a ? xs.reduce((s, x) => s + x.dims[i], 0) : d));
    return this.node(
      dims,
      () => this.op("Concat", xs.map((x) => x.name), { axis: a }),
      {},
      xs[0].dtype,
    );
  }

  /** `Gather` of constant indices. */
  indexSelect(x: Sym, axis: number, indices: readonly number[]): Sym {
    const a = axis < 0 ? axis + x.dims.length : axis;
    const dims = x.dims.map((d, i) => (i === a ? indices.length : d));
    return this.node(
      dims,
      () => this.op("Gather", [x.name, this.graph.constI([...indices])], { axis: a }),
      {},
      x.dtype,
    );
  }

  // ---- arithmetic ------------------------------------------------------------------------------

  /** `MatMul` (b's last two axes transposed first with `transposeB`). */
  matmul(a: Sym, b: Sym, opts: { transposeB?: boolean } = {}): Sym {
    const bd = [...b.dims];
    const r = bd.length;
    if (opts.transposeB) [bd[r - 2], bd[r - 1]] = [bd[r - 1], bd[r - 2]];
    const lead = broadcast("matmul", a.dims.slice(0, -2), bd.slice(0, -2));
    const dims = [...lead, a.dims[a.dims.length - 2], bd[r - 1]];
    return this.node(dims, () => {
      const perm = Array.from({ length: r }, (_, i) => i);
      [perm[r - 2], perm[r - 1]] = [perm[r - 1], perm[r - 2]];
      const bb = opts.transposeB ? this.op("Transpose", [b.name], { perm }) : b.name;
      return this.op("MatMul", [a.name, bb]);
    });
  }

  /**
   * One `Gemm` on 2-D rows (bias fused, the weight as stored), or `DynamicQuantizeMatMul`
   * under int8, then the activation.
   */
  linear(x: Sym, weight: Sym, bias?: Sym, activation: Activation = "none"): Sym {
    const [outF, inF] = weight.dims;
    const w = weight.tags.weight;
    // int8 quantizes linear layers, not tables also read by an embedding (a tied LM head).
    const quantize = this.precision === "int8" && w !== undefined && !this.tables.has(w.key);
    const rowDims = [x.dims.slice(0, -1).reduce((a, d) => a * d, 1), outF];
    const rowsOf = (x: Sym) =>
      x.dims.length === 2
        ? x.name
        : x.tags.rows?.name ?? this.op("Reshape", [x.name, this.graph.constI([-1, inF])]);
    let call: LinearCall | undefined;
    if (w && activation === "none" && (bias === undefined || bias.tags.weight)) {
      call = { w, bias: bias?.tags.weight, quantize, inF, outF };
      const calls = this.linearsOn.get(x) ?? [];
      calls.push(call);
      this.linearsOn.set(x, calls);
    }
    const rows = this.node(rowDims, () => {
      const fused = call && this.fusedRows(x, call, rowsOf);
      if (fused) return fused;
      const xr = rowsOf(x);
      let y: string;
      if (quantize) {
        const { q, scale } = this.weights.quantized(w!);
        const inputs = [xr, q, scale, "", ...(bias ? [bias.name] : [])];
        while (inputs[inputs.length - 1] === "") inputs.pop();
        y = this.op("DynamicQuantizeMatMul", inputs, {}, "com.microsoft");
      } else {
        const wName = w ? this.weights.matrix(w, "gemm") : weight.name;
        const transB = w ? (w.conv1d ? 0 : 1) : 1;
        y = this.op("Gemm", bias ? [xr, wName, bias.name] : [xr, wName], transB ? { transB } : {});
      }
      return activation === "none" ? y : this.activationNode(y, activation);
    });
    if (x.dims.length === 2) return rows;
    const dims = [...x.dims.slice(0, -1), outF];
    return this.node(
      dims,
      () => this.op("Reshape", [rows.name, this.shapeValue(dims)]),
      { rows },
    );
  }

  /**
   * The rows of `call` from one projection shared by the linear layers on the same input `x`
   * (attention Q/K/V): a `Gemm` (or `DynamicQuantizeMatMul`) over their weights fused on the
   * host, and a `Split`. Only where the weights are built on the host anyway (int8, fp16, or in
   * memory): fp32 weights left in a mapped file keep one Gemm each. `null`: not fused.
   */
  private fusedRows(x: Sym, call: LinearCall, rowsOf: (x: Sym) => string): string | null {
    if (call.split !== undefined) return call.split;
    const byKey = new Map<string, LinearCall[]>();
    for (const c of this.linearsOn.get(x) ?? []) {
      const same = c.quantize === call.quantize && c.w.conv1d === call.w.conv1d &&
        !!c.bias === !!call.bias && c.inF === call.inF;
      if (same) byKey.set(c.w.key, [...(byKey.get(c.w.key) ?? []), c]);
    }
    const members = [...byKey.values()];
    const ws = members.map((cs) => cs[0].w);
    const onHost = call.quantize || this.precision === "fp16" ||
      ws.every((w) => w.external === undefined);
    if (members.length < 2 || !onHost) return null;
    const xr = rowsOf(x);
    const biases = call.bias ? members.map((cs) => cs[0].bias!) : [];
    let y: string;
    if (call.quantize) {
      const { q, scale } = this.weights.fusedQuantized(ws);
      const inputs = [
        xr,
        q,
        scale,
        ...(biases.length ? ["", this.weights.fusedVector(biases)] : []),
      ];
      y = this.op("DynamicQuantizeMatMul", inputs, {}, "com.microsoft");
    } else {
      const wName = this.weights.fusedMatrix(ws);
      const inputs = [xr, wName, ...(biases.length ? [this.weights.fusedVector(biases)] : [])];
      y = this.op("Gemm", inputs, call.w.conv1d ? {} : { transB: 1 });
    }
    const outs = this.graph.opN(
      "Split",
      [y, this.graph.constI(members.map((cs) => cs[0].outF))],
      members.length,
      { axis: -1 },
    );
    members.forEach((cs, k) => cs.forEach((c) => (c.split = outs[k])));
    return call.split!;
  }

  /** `Add` with broadcasting. */
  add(a: Sym, b: Sym): Sym {
    return this.node(broadcast("add", a.dims, b.dims), () => this.op("Add", [a.name, b.name]));
  }

  /** `Mul` with broadcasting. */
  mul(a: Sym, b: Sym): Sym {
    return this.node(broadcast("mul", a.dims, b.dims), () => this.op("Mul", [a.name, b.name]));
  }

  /** `x * s`. */
  scale(x: Sym, s: number): Sym {
    return this.node(x.dims, () => this.op("Mul", [x.name, this.graph.constF(s)]));
  }

  private activationNode(x: string, kind: Activation): string {
    switch (kind) {
      case "gelu":
        return this.op("Gelu", [x], {}, "com.microsoft");
      case "gelu_new":
      case "gelu_pytorch_tanh":
        return this.op("FastGelu", [x], {}, "com.microsoft");
      case "relu":
        return this.op("Relu", [x]);
      case "tanh":
        return this.op("Tanh", [x]);
      case "none":
        return x;
      default:
        throw new OnnxModelError(`onnx-trace.activation: unknown activation "${kind}"`);
    }
  }

  /** `Gelu` / `FastGelu` (com.microsoft), `Relu`, `Tanh`. */
  activation(x: Sym, kind: Activation): Sym {
    if (kind === "none") return x;
    return this.node(x.dims, () => this.activationNode(x.name, kind));
  }

  /** `LayerNormalization` over the last axis. */
  layerNorm(x: Sym, weight: Sym, bias: Sym, eps: number): Sym {
    return this.node(
      x.dims,
      () =>
        this.op("LayerNormalization", [x.name, weight.name, bias.name], {
          axis: -1,
          epsilon: { f: eps },
        }),
    );
  }

  /** `Softmax` over the last axis. */
  softmax(x: Sym): Sym {
    return this.node(x.dims, () => this.op("Softmax", [x.name], { axis: -1 }));
  }

  /** `LogSoftmax` over the last axis. */
  logSoftmax(x: Sym): Sym {
    return this.node(x.dims, () => this.op("LogSoftmax", [x.name], { axis: -1 }));
  }

  /** `Gather` of table rows (a checkpoint table gets its own initializer for this use). */
  embedding(weight: Sym, ids: Sym): Sym {
    const w = weight.tags.weight;
    if (w) this.tables.add(w.key);
    return this.node([...ids.dims, weight.dims[1]], () => {
      const table = w && !w.conv1d ? this.weights.matrix(w, "gather") : weight.name;
      return this.op("Gather", [table, ids.name]);
    });
  }

  /** Scaled dot-product attention (fused, grouped or plain; see the module docs). */
  attention(q: Sym, k: Sym, v: Sym, opts: AttentionOptions<Sym>): { output: Sym; probs?: Sym } {
    const [n, h, tq, d] = q.dims;
    const mask = opts.mask;
    const fusable = q.tags.heads && k.tags.heads && v.tags.heads && !opts.causal &&
      !opts.returnProbs && k.dims[0] === n && (mask === undefined || mask.tags.keyMask);
    if (fusable) {
      const x = q.tags.heads!.x;
      const fused = this.node(x.dims, () => {
        const keyMask = mask ? this.op("Cast", [mask.tags.keyMask!.name], { to: ONNX_INT32 }) : "";
        const inputs = [x.name, k.tags.heads!.x.name, v.tags.heads!.x.name, "", keyMask];
        while (inputs[inputs.length - 1] === "") inputs.pop();
        return this.op("MultiHeadAttention", inputs, {
          num_heads: h,
          scale: { f: opts.scale },
          mask_filter_value: { f: FLOAT32_MIN },
        }, "com.microsoft");
      });
      const output = this.node([n, h, tq, d], () => {
        const r = this.op("Reshape", [fused.name, this.shapeValue([n, tq, h, d])]);
        return this.op("Transpose", [r], { perm: [0, 2, 1, 3] });
      }, { fused });
      return { output };
    }
    const g = k.dims[0];
    if (g !== n) {
      if (opts.causal || opts.returnProbs) {
        throw new OnnxModelError(
          "onnx-trace.attention: grouped K/V rows take no causal mask and return no probs",
        );
      }
      // [n, h, tq, d] -> [g, h, (n / g) * tq, d]: each group's queries as one sequence.
      const grouped = this.node([g, h, (n / g) * tq, d], () => {
        const r = this.op("Reshape", [q.name, this.shapeValue([g, -1, h, tq, d])]);
        const t = this.op("Transpose", [r], { perm: [0, 2, 1, 3, 4] });
        return this.op("Reshape", [t, this.shapeValue([g, h, -1, d])]);
      });
      const out = this.attention(grouped, k, v, { ...opts, returnProbs: false }).output;
      const output = this.node([n, h, tq, v.dims[3]], () => {
        const r = this.op("Reshape", [out.name, this.shapeValue([g, h, -1, tq, v.dims[3]])]);
        const t = this.op("Transpose", [r], { perm: [0, 2, 1, 3, 4] });
        return this.op("Reshape", [t, this.shapeValue([-1, h, tq, v.dims[3]])]);
      });
      return { output };
    }
    const tk = k.dims[2];
    const probs = this.node([n, h, tq, tk], () => {
      const kt = this.op("Transpose", [k.name], { perm: [0, 1, 3, 2] });
      let s = this.op("Mul", [this.op("MatMul", [q.name, kt]), this.graph.constF(opts.scale)]);
      if (opts.causal) s = this.op("Add", [s, this.causalBias(q, k)]);
      if (mask) s = this.op("Add", [s, mask.name]);
      return this.op("Softmax", [s], { axis: -1 });
    });
    const output = this.node([n, h, tq, v.dims[3]], () => this.op("MatMul", [probs.name, v.name]));
    return { output, probs: opts.returnProbs ? probs : undefined };
  }

  /** `[tq, tk]`: 0 where key `j <= tk - tq + i`, `FLOAT32_MIN` elsewhere. */
  private causalBias(q: Sym, k: Sym): string {
    const g = this.graph;
    const len = (x: Sym) =>
      this.op("Squeeze", [this.op("Shape", [x.name], { start: 2, end: 3 }), g.constI([0])]);
    const tq = len(q), tk = len(k);
    const kPos = this.op("Range", [g.constI(0), tk, g.constI(1)]);
    const qPos = this.op("Unsqueeze", [
      this.op("Range", [this.op("Sub", [tk, tq]), tk, g.constI(1)]),
      g.constI([1]),
    ]);
    const hidden = this.op("Cast", [this.op("Greater", [kPos, qPos])], { to: ONNX_FLOAT });
    return this.op("Mul", [hidden, g.constF(FLOAT32_MIN)]);
  }

  /** Not recorded: training runs on the `autograd` device. */
  crossEntropy(): Sym {
    throw new OnnxModelError("onnx-trace.crossEntropy: losses are not part of the ONNX graphs");
  }

  /** `TopK` along the last axis (indices int64). */
  topk(x: Sym, k: number): { values: Sym; indices: Sym } {
    const dims = [...x.dims.slice(0, -1), k];
    const both = this.node(dims, () => {
      const [values, indices] = this.graph.opN("TopK", [x.name, this.graph.constI([k])], 2, {
        axis: -1,
        largest: 1,
        sorted: 1,
      });
      idx = indices;
      return values;
    });
    let idx = "";
    const indices = this.node(dims, () => (both.name, idx), {}, "int64");
    return { values: both, indices };
  }
}
