/**
 * The graph side of the ONNX recorder: symbolic sizes (sentinel numbers standing for symbolic
 * axes, turned back into `Shape` values of the inputs they came from), graph inputs bound to
 * host placeholders, checkpoint weights as values, outputs. `OnnxRecorder` adds the `Backend`
 * ops on top.
 *
 * @module
 */
import type { Backend } from "../../backend.ts";
import type { Tensor } from "../../tensor.ts";
import type { CheckpointWeight } from "./checkpoint.ts";
import { GraphBuilder, OnnxModelError, type OnnxPrecision } from "./graph_builder.ts";
import type { GraphSpec, OnnxDType } from "./_onnx_proto.ts";
import { WeightInitializers } from "./weight_initializers.ts";

/** Element types of recorded values (ids and positions are int64 in the graph). */
export type SymDType = "float32" | "int64";

/** What the recorder knows about how a value was made (for its fused patterns). */
export interface SymTags {
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
  /** `concat([past, added], 2)` of a cache `[n, h, p, d]` and new heads (a self-attention K/V). */
  appended?: AppendedKV;
}

/**
 * A cache `past` with new heads `added` appended along the sequence axis. A fused attention that
 * takes `past` as its past input sets `fused` (itself) and, once emitted, `present` (its present
 * output, the same values): the append then costs no `Concat` of its own.
 */
export interface AppendedKV {
  /** The cached K or V `[n, h, p, d]`. */
  readonly past: Sym;
  /** The new tokens' heads `[n, h, t, d]`. */
  readonly added: Sym;
  /** The fused attention that computes this append as its present output. */
  fused?: Sym;
  /** That present output's value name, once emitted. */
  present?: string;
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

/** Whether two shapes are equal. */
export function sameDims(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** NumPy broadcasting of two shapes (`OnnxModelError` when they do not broadcast). */
export function broadcast(op: string, a: readonly number[], b: readonly number[]): number[] {
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
 * A graph being recorded with symbolic axes: `sentinels` maps each axis name to the size that
 * stands for it while tracing. See {@linkcode OnnxRecorder} for the ops.
 */
export class SymbolicGraph {
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
  /** Host placeholders bound to graph inputs. */
  protected readonly placeholders: Map<Tensor, Sym> = new Map();
  private readonly shapes = new Map<string, string>();

  /** A recorder of graph `name` with weights in `precision` and symbolic axes `sentinels`. */
  constructor(name: string, readonly precision: OnnxPrecision, sentinels: Record<string, number>) {
    this.graph = new GraphBuilder(name);
    this.weights = new WeightInitializers(this.graph, precision);
    for (const [axis, size] of Object.entries(sentinels)) this.axisOf.set(size, axis);
  }

  /** A value of trace shape `dims` whose node `make` emits lazily. */
  protected node(
    dims: readonly number[],
    make: () => string,
    tags: SymTags = {},
    dtype: SymDType = "float32",
  ): Sym {
    return new Sym(dims, dtype, make, tags);
  }

  /** Adds a single-output node now. */
  protected op(
    type: string,
    inputs: readonly string[],
    attrs?: Record<string, unknown>,
    domain?: string,
  ): string {
    return this.graph.op(type, inputs, attrs as never, domain);
  }

  // ---- symbolic sizes --------------------------------------------------------------------------

  /** Size `n` as an axis plus an offset (`past_len + 2`), or a constant. */
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
  protected dimValue(n: number): string {
    const s = this.axisValue.get(n);
    if (s) return s.name;
    if (this.axisOf.has(n)) {
      throw new OnnxModelError(
        `onnx-trace: size ${n} (axis "${this.axisOf.get(n)}") is used before any input has it`,
      );
    }
    // A product (`heads · tgt_len`, `batch · tgt_len`) or a sum (`past_len + tgt_len`) of an axis.
    for (const a of this.axisOf.keys()) {
      if (n > a && n % a === 0) {
        const k = n / a;
        const other = this.axisOf.has(k) ? this.dimValue(k) : this.graph.constI([k]);
        return this.derived(`*${n}`, () => this.op("Mul", [this.dimValue(a), other]));
      }
      if (this.axisOf.has(n - a) && n - a >= a) {
        return this.derived(
          `+${n}`,
          () => this.op("Add", [this.dimValue(a), this.dimValue(n - a)]),
        );
      }
    }
    return this.graph.constI([n]);
  }

  private readonly derivedValues = new Map<string, string>();

  /** A value made once per graph under `key` (a size computed from axes, a converted mask). */
  protected derived(key: string, make: () => string): string {
    let v = this.derivedValues.get(key);
    if (v === undefined) {
      v = make();
      this.derivedValues.set(key, v);
    }
    return v;
  }

  /** Whether size `n` is an axis, or a product or sum made from one (see `dimValue`). */
  protected isSymbolic(n: number): boolean {
    for (const a of this.axisOf.keys()) {
      if (n === a || (n > a && n % a === 0) || (this.axisOf.has(n - a) && n - a >= a)) return true;
    }
    return false;
  }

  /** Size `n` as an int64 scalar. */
  protected scalar(n: number): string {
    return this.isSymbolic(n)
      ? this.op("Squeeze", [this.dimValue(n), this.graph.constI([0])])
      : this.graph.constI(n);
  }

  /** A shape value for `dims` (symbolic axes from their inputs, `-1` kept). */
  protected shapeValue(dims: readonly number[]): string {
    const key = dims.join(",");
    let name = this.shapes.get(key);
    if (!name) {
      name = dims.some((d) => this.isSymbolic(d))
        ? this.op("Concat", dims.map((d) => this.dimValue(d)), { axis: 0 })
        : this.graph.constI(dims);
      this.shapes.set(key, name);
    }
    return name;
  }

  /** Binds each sentinel dim of input `s` not yet seen to `Shape(s)[axis]`. */
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

  /**
   * Rows `index` (int64 `[n, p]`) of a K/V history `[rows, heads, headDim]` as heads
   * `[n, heads, p, headDim]`: a decoder step's self-attention cache, each row reading its own
   * past positions (beam reordering included) from the append-only history of `_kv_history.ts`.
   */
  gatherHistory(history: Sym, index: Sym): Sym {
    const [n, p] = index.dims;
    const [, h, d] = history.dims;
    return this.node(
      [n, h, p, d],
      () => {
        const rows = this.op("Gather", [history.name, index.name], { axis: 0 }); // [n, p, h, d]
        return this.op("Transpose", [rows], { perm: [0, 2, 1, 3] });
      },
      {},
      history.dtype,
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
}
