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
 * - attention with queries split from `[batch, len, width]` values is one fused `com.microsoft`
 *   `MultiHeadAttention` (scale, mask, softmax and both products, no head transposes) where the
 *   K/V are split the same way (encoder self-attention), are a cache with new heads appended (a
 *   decoder step: the cache goes in as the past, the append comes out as the present, no
 *   `Concat`), or are heads computed once (cross-attention K/V); other attention is MatMul /
 *   Softmax (see `fusedAttention`);
 * - attention whose K/V have fewer rows than the queries (`g` dividing `b`) attends each group of
 *   `b / g` consecutive query rows to one K/V row, the queries laid end to end: beams share their
 *   source's cross K/V without copies.
 *
 * @module
 */
import type { Activation, Backend } from "../../backend.ts";
import type { Tensor } from "../../tensor.ts";
import type { CheckpointWeight } from "./checkpoint.ts";
import { OnnxModelError } from "./graph_builder.ts";
import { AttentionRecorder } from "./recorded_attention.ts";
import { type AppendedKV, broadcast, sameDims, type Sym, type SymTags } from "./symbolic_graph.ts";

// The value types recorded graphs are made of, where the recorder's users look for them.
export type { SizeTerm, Sym, SymDType, TraceLimit } from "./symbolic_graph.ts";

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
export class OnnxRecorder extends AttentionRecorder implements Backend<Sym> {
  /** Always `"onnx-trace"`. */
  readonly name = "onnx-trace";
  private readonly floatMasks = new Map<Sym, Sym>();
  private readonly linearsOn = new Map<Sym, LinearCall[]>();

  // ---- data movement ---------------------------------------------------------------------------

  /**
   * A placeholder's graph input (converted to float32 for a float placeholder bound to an int64
   * input: a 0/1 mask), else the tensor as a constant (ints as int64).
   */
  upload(t: Tensor): Sym {
    const bound = this.placeholders.get(t);
    if (bound && bound.dtype === "int64" && t.dtype === "float32") {
      let mask = this.floatMasks.get(bound);
      if (!mask) {
        // Those placeholders are the 0/1 masks (checked at the inputs): no `Cast` (`indicator`).
        mask = this.node(bound.dims, () => this.graph.nonzero(bound.name, "float32"));
        this.floatMasks.set(bound, mask);
      }
      return mask;
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
        const notPad = g.indicator(this.op("Equal", [ids.name, g.constI(pad)]), "int64", true);
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
    // A reshape of a value kept as rows reads the rows (same elements, no extra Reshape).
    const src = x.tags.rows ?? x;
    return this.node(
      out,
      () => this.op("Reshape", [src.name, this.shapeValue(dims)]),
      tags,
      x.dtype,
    );
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
    // A cache append (`[n, h, p, d]` ++ new heads along the sequence) may become the present
    // output of a fused attention (see `AppendedKV`).
    const appended: AppendedKV | undefined =
      xs.length === 2 && dims.length === 4 && a === 2 && xs[1].tags.heads
        ? { past: xs[0], added: xs[1] }
        : undefined;
    return this.node(
      dims,
      () => {
        if (appended?.fused && appended.present === undefined) void appended.fused.name;
        return appended?.present ?? this.op("Concat", xs.map((x) => x.name), { axis: a });
      },
      appended ? { appended } : {},
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
    // int8 quantizes every linear layer, a tied LM head included (as PyTorch's quantize_dynamic
    // does): its own int8 matrix, or the table's when the embedding tables are int8 too.
    const quantize = this.precision === "int8" && w !== undefined;
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
    // Residual adds of two linear outputs stay on their 2-D rows.
    const ra = a.tags.rows, rb = b.tags.rows;
    if (ra && rb && sameDims(a.dims, b.dims)) {
      return this.onRows(a.dims, ra.dims, () => this.op("Add", [ra.name, rb.name]));
    }
    return this.node(broadcast("add", a.dims, b.dims), () => this.op("Add", [a.name, b.name]));
  }

  /**
   * A `[..., width]` value computed on its 2-D rows `rowDims` by `make` (the rows feed the next
   * linear directly; the `dims` view is a free `Reshape`, emitted only if something reads it).
   */
  private onRows(dims: readonly number[], rowDims: readonly number[], make: () => string): Sym {
    const rows = this.node(rowDims, make);
    return this.node(
      dims,
      () => this.op("Reshape", [rows.name, this.shapeValue(dims)]),
      { rows },
    );
  }

  /** `Mul` with broadcasting. */
  mul(a: Sym, b: Sym): Sym {
    return this.node(broadcast("mul", a.dims, b.dims), () => this.op("Mul", [a.name, b.name]));
  }

  /** `x * s`. */
  scale(x: Sym, s: number): Sym {
    return this.node(x.dims, () => this.op("Mul", [x.name, this.graph.constF(s)]));
  }

  /** The node of activation `kind` on value `x` (`x` itself for `"none"`). */
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
    const r = x.tags.rows;
    if (r) return this.onRows(x.dims, r.dims, () => this.activationNode(r.name, kind));
    return this.node(x.dims, () => this.activationNode(x.name, kind));
  }

  /** `LayerNormalization` over the last axis. */
  layerNorm(x: Sym, weight: Sym, bias: Sym, eps: number): Sym {
    const ln = (v: string) =>
      this.op("LayerNormalization", [v, weight.name, bias.name], {
        axis: -1,
        epsilon: { f: eps },
      });
    const r = x.tags.rows;
    if (r) return this.onRows(x.dims, r.dims, () => ln(r.name));
    return this.node(x.dims, () => ln(x.name));
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
    return this.node([...ids.dims, weight.dims[1]], () => {
      if (w && this.weights.quantizesTable(w)) {
        return this.weights.quantizedGather(w, ids.name, ids.dims.length);
      }
      const table = w && !w.conv1d ? this.weights.matrix(w, "gather") : weight.name;
      return this.op("Gather", [table, ids.name]);
    });
  }

  /** Not recorded: training runs on the `autograd` device. */
  crossEntropy(): Sym {
    throw new OnnxModelError("onnx-trace.crossEntropy: losses are not part of the ONNX graphs");
  }

  /** `TopK` along the last axis (indices int64). */
  topk(x: Sym, k: number): { values: Sym; indices: Sym } {
    const dims = [...x.dims.slice(0, -1), k];
    // One TopK node, emitted by whichever output is needed first.
    let outs: string[] | null = null;
    const emit = () =>
      outs ??= this.graph.opN("TopK", [x.name, this.graph.constI([k])], 2, {
        axis: -1,
        largest: 1,
        sorted: 1,
      });
    return {
      values: this.node(dims, () => emit()[0]),
      indices: this.node(dims, () => emit()[1], {}, "int64"),
    };
  }
}
