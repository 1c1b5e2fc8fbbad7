/**
 * The three graphs of `OnnxEncoderDecoder`, traced from the model code in `modeling/models/`
 * (the same encoder and decoder stacks, built from the same key tables, that the CPU backend
 * runs) on an {@linkcode OnnxRecorder}:
 *
 * | graph | inputs | outputs |
 * | --- | --- | --- |
 * | encoder | `input_ids`, `attention_mask` `[batch, src_len]` int64 | `last_hidden_state` |
 * | cross K/V | `encoder_hidden_states` `[batch, src_len, encoder width]` | `cross_key_i`, `cross_value_i` `[batch, heads, src_len, head_dim]` |
 * | decoder step | `input_ids` `[batch, tgt_len]`, `decoder_attention_mask` `[batch, past_len + tgt_len]`, `cache_index` `[batch, past_len]`, `past_key_i` / `past_value_i` `[history, heads, head_dim]`, `cross_key_i` / `cross_value_i` and `encoder_attention_mask` `[cross_batch, ...]` | `logits` `[batch, tgt_len, vocab]`, `new_key_i` / `new_value_i` `[batch, tgt_len, heads, head_dim]` |
 *
 * The cross-K/V graph is the decoder traced with no cache, keeping only the cross K/V it
 * computes. The decoder step reads its self-attention past from a K/V history (the rows every
 * earlier step added, `_kv_history.ts`): `cache_index` names each row's past positions in it
 * (beam reordering included), gathered inside the graph, and the step returns only its new
 * tokens' K/V, which the host appends. `cross_batch` may divide `batch`: the recorder's grouped
 * attention lets the beams of one source share its cross K/V row.
 *
 * @module
 */
import type { EncoderDecoderConfig } from "@encdec/config";
import { Tensor } from "../../tensor.ts";
import { EncoderDecoderCache, type KeyValue } from "../../models/cache.ts";
import { compositeTable, projectEncoderOutput } from "../../models/_composite.ts";
import { tracePlaceholder } from "../../models/_layers.ts";
import { checkSupported } from "../../models/_registry.ts";
import { ParamView } from "../../models/key_table.ts";
import type { DecoderStack, EncoderStack } from "../../models/stacks.ts";
import { type CheckpointEntry, CheckpointWeights } from "./checkpoint.ts";
import { OnnxModelError, type OnnxPrecision } from "./graph_builder.ts";
import type { GraphSpec } from "./_onnx_proto.ts";
import { OnnxRecorder, type Sym, type TraceLimit } from "./recorder.ts";

/**
 * The sizes that stand for the symbolic axes while tracing: distinct numbers above 1000, about
 * 100 or more apart (in a position limit, `sentinel + c` with `|c| < 100` is read as that axis
 * plus `c`). See {@linkcode sentinelsAvoiding} for the ones a model actually gets.
 */
export const SENTINELS: Readonly<Record<string, number>> = {
  batch: 1201,
  src_len: 1601,
  tgt_len: 1409,
  past_len: 1801,
  cross_batch: 1097,
  history: 1999,
};

/**
 * `SENTINELS` moved up (in steps of 10) until no number of the model (config fields, key-table
 * shapes) lies within 100 of one or is a multiple of one: such a model size would be read as
 * (a product of) a symbolic axis.
 */
export function sentinelsAvoiding(numbers: Iterable<number>): Record<string, number> {
  const taken = [...numbers].filter((n) => Number.isInteger(n) && n > 900);
  const clash = (n: number, v: number) => Math.abs(n - v) < 100 || (n > v && n % v === 0);
  for (let shift = 0;; shift += 10) {
    const s = Object.fromEntries(Object.entries(SENTINELS).map(([k, v]) => [k, v + shift]));
    if (!taken.some((n) => Object.values(s).some((v) => clash(n, v)))) return s;
  }
}

/** Every number in a JSON-like value (config dicts). */
function numbersIn(v: unknown, out: number[] = []): number[] {
  if (typeof v === "number") out.push(v);
  else if (Array.isArray(v)) v.forEach((x) => numbersIn(x, out));
  else if (v !== null && typeof v === "object") Object.values(v).forEach((x) => numbersIn(x, out));
  return out;
}

/** The shape of a decoder's caches, as the engine needs it. */
export interface DecoderLayout {
  /** Decoder layers (one self and one cross K/V pair each). */
  layers: number;
  /** Attention heads. */
  heads: number;
  /** Hidden size per head. */
  headDim: number;
  /** Vocabulary size (last axis of `logits`). */
  vocab: number;
}

/** A traced graph and the position-table limits its inputs must respect. */
export interface TracedGraph {
  /** The graph. */
  graph: GraphSpec;
  /** `start + length <= max` per position table the model code read. */
  limits: TraceLimit[];
}

/** A float32 placeholder of trace shape `dims`, marked so host checks skip it. */
function placeholder(dtype: "int32" | "float32", dims: number[]): Tensor {
  const n = dims.reduce((a, d) => a * d, 1);
  const data = dtype === "int32" ? new Int32Array(n) : new Float32Array(n).fill(1);
  return tracePlaceholder(new Tensor(dtype, data, dims));
}

/**
 * Traces the graphs of one encoder-decoder checkpoint: its key table (from the config) over
 * `tensors`, weights stored in `precision`.
 *
 * @example
 * ```ts ignore
 * import { GraphTracer } from "./traced_graphs.ts";
 * const tracer = new GraphTracer(config, tensors, "model.safetensors", "fp32", true);
 * const { graph } = tracer.encoder();
 * graph.outputs[0].name; // "last_hidden_state"
 * ```
 */
export class GraphTracer {
  /** The checkpoint tensors behind the key table. */
  readonly weights: CheckpointWeights;
  private readonly parts: ReturnType<typeof compositeTable>;
  /** The sizes standing for the symbolic axes (see `sentinelsAvoiding`). */
  readonly sentinels: Readonly<Record<string, number>>;
  /** Precision int8: embedding tables int8 too (`WeightInitializers.int8Embeddings`). */
  int8Embeddings = false;

  /**
   * A tracer of the graphs of `config` over `tensors`.
   *
   * @param config the composite config
   * @param tensors checkpoint tensors by key (in memory, or left in their safetensors files)
   * @param source names the checkpoint in errors
   * @param precision weight storage
   * @param mapFiles whether onnxruntime may map file tensors (onnxruntime-node)
   */
  constructor(
    readonly config: EncoderDecoderConfig,
    tensors: ReadonlyMap<string, CheckpointEntry>,
    readonly source: string,
    readonly precision: OnnxPrecision,
    mapFiles: boolean,
  ) {
    const enc = checkSupported(config.encoder.toDict(), "encoder");
    const dec = checkSupported(config.decoder.toDict(), "decoder");
    this.parts = compositeTable(config, enc, dec);
    this.weights = new CheckpointWeights(this.parts.table, tensors, source, mapFiles);
    this.sentinels = sentinelsAvoiding([
      ...numbersIn(config.toDict()),
      ...this.parts.table.flatMap((t) => t.shape),
    ]);
  }

  /** A recorder for graph `name` and the weights of the key table as its values. */
  private recorder(name: string): { rec: OnnxRecorder; w: ParamView<Sym> } {
    const rec = new OnnxRecorder(name, this.precision, this.sentinels);
    rec.weights.int8Embeddings = this.int8Embeddings;
    const made = new Map<string, Sym>();
    const keys = new Set(this.weights.keys());
    const store = {
      has: (key: string) => keys.has(key),
      get: (key: string) => {
        if (!keys.has(key)) return undefined;
        let s = made.get(key);
        if (!s) {
          s = rec.weight(this.weights.get(key));
          made.set(key, s);
        }
        return s;
      },
    };
    return { rec, w: new ParamView(store as unknown as ReadonlyMap<string, Sym>) };
  }

  /** The encoder stack of the model code, on `rec`. */
  private encoderStack(rec: OnnxRecorder, w: ParamView<Sym>): EncoderStack<Sym> {
    return this.parts.ea.build(rec, w.pp("encoder")) as EncoderStack<Sym>;
  }

  /** The decoder stack (with LM head) of the model code, on `rec`. */
  private decoderStack(rec: OnnxRecorder, w: ParamView<Sym>): DecoderStack<Sym> {
    return this.parts.da.build(rec, w.pp("decoder")) as DecoderStack<Sym>;
  }

  /** Runs the model code of graph `what`; its errors become `OnnxModelError`s naming it. */
  private trace<R>(what: string, fn: () => R): R {
    try {
      return fn();
    } catch (e) {
      if (e instanceof OnnxModelError) throw e;
      throw new OnnxModelError(
        `${this.source}: tracing the ${what} graph: ${(e as Error).message}`,
        { cause: e },
      );
    }
  }

  /** The encoder graph. */
  encoder(): TracedGraph {
    return this.trace("encoder", () => this.traceEncoder());
  }

  /** The cross-K/V graph, and the decoder's cache layout it reveals. */
  crossKV(): TracedGraph & { layout: DecoderLayout } {
    return this.trace("cross K/V", () => this.traceCrossKV());
  }

  /** The decoder-step graph for a decoder of `layout`. */
  decoderStep(layout: DecoderLayout): TracedGraph {
    return this.trace("decoder step", () => this.traceDecoderStep(layout));
  }

  /** Traces the encoder over `input_ids` / `attention_mask` placeholders. */
  private traceEncoder(): TracedGraph {
    const { rec, w } = this.recorder("encdec_encoder");
    const { batch: B, src_len: S } = this.sentinels;
    const ids = placeholder("int32", [B, S]) as Tensor<"int32">;
    const mask = placeholder("float32", [B, S]) as Tensor<"float32">;
    rec.bind(ids, "input_ids", "int64");
    rec.bind(mask, "attention_mask", "int64");
    const enc = this.encoderStack(rec, w);
    // An encoder with global attention (`EncoderStack.globalAttention`) takes its mask as a third
    // input.
    let global: Tensor<"float32"> | undefined;
    if (enc.globalAttention) {
      global = placeholder("float32", [B, S]) as Tensor<"float32">;
      rec.bind(global, "global_attention_mask", "int64");
    }
    const out = enc.forward({ inputIds: ids, attentionMask: mask, globalAttentionMask: global });
    rec.output("last_hidden_state", out.lastHiddenState, ["batch", "src_len", enc.hiddenSize]);
    return { graph: rec.build(), limits: rec.limits };
  }

  /** Traces the decoder without a cache, keeping the cross K/V it computes. */
  private traceCrossKV(): TracedGraph & { layout: DecoderLayout } {
    const { rec, w } = this.recorder("encdec_cross_kv");
    const { batch: B, src_len: S } = this.sentinels;
    const encoderWidth = this.encoderStack(rec, w).hiddenSize;
    const hidden = rec.input("encoder_hidden_states", "float32", [B, S, encoderWidth]);
    const dec = this.decoderStack(rec, w);
    const out = dec.forward({
      inputIds: placeholder("int32", [B, 1]) as Tensor<"int32">,
      encoderHiddenStates: projectEncoderOutput(rec, w, this.parts.needProj, hidden),
      past: null,
      useCache: true,
    });
    const cross = out.cross ?? [];
    if (cross.length === 0) {
      throw new OnnxModelError(
        `${this.source}: the decoder has no cross-attention (config.decoder.add_cross_attention)`,
      );
    }
    const [, heads, , headDim] = cross[0].key.dims;
    const dims = ["batch", heads, "src_len", headDim];
    cross.forEach((kv, i) => {
      rec.output(`cross_key_${i}`, kv.key, dims);
      rec.output(`cross_value_${i}`, kv.value, dims);
    });
    return {
      graph: rec.build(),
      limits: rec.limits,
      layout: { layers: cross.length, heads, headDim, vocab: dec.vocabSize },
    };
  }

  /** Traces one decoder step over a gathered past and given cross K/V. */
  private traceDecoderStep(layout: DecoderLayout): TracedGraph {
    const { rec, w } = this.recorder("encdec_decoder_step");
    const { batch: B, tgt_len: T, past_len: P, src_len: S } = this.sentinels;
    const { cross_batch: G, history: R } = this.sentinels;
    const { layers, heads, headDim } = layout;
    const ids = placeholder("int32", [B, T]) as Tensor<"int32">;
    const decMask = placeholder("float32", [B, P + T]) as Tensor<"float32">;
    const encMask = placeholder("float32", [G, S]) as Tensor<"float32">;
    rec.bind(ids, "input_ids", "int64");
    rec.bind(decMask, "decoder_attention_mask", "int64");
    rec.bind(encMask, "encoder_attention_mask", "int64");
    const index = rec.input("cache_index", "int64", [B, P]);
    const self: KeyValue<Sym>[] = [];
    const cross: KeyValue<Sym>[] = [];
    for (let i = 0; i < layers; i++) {
      const pk = rec.input(`past_key_${i}`, "float32", [R, heads, headDim]);
      const pv = rec.input(`past_value_${i}`, "float32", [R, heads, headDim]);
      // Each row's past positions, read from the history (beam reordering included).
      self.push({ key: rec.gatherHistory(pk, index), value: rec.gatherHistory(pv, index) });
      cross.push({
        key: rec.input(`cross_key_${i}`, "float32", [G, heads, S, headDim]),
        value: rec.input(`cross_value_${i}`, "float32", [G, heads, S, headDim]),
      });
    }
    const dec = this.decoderStack(rec, w);
    const out = dec.forward({
      inputIds: ids,
      attentionMask: decMask,
      encoderAttentionMask: encMask,
      past: new EncoderDecoderCache(rec, self, cross),
      useCache: true,
    });
    rec.output("logits", out.logits, ["batch", "tgt_len", layout.vocab]);
    const newDims = ["batch", "tgt_len", heads, headDim];
    (out.self ?? []).forEach((kv, i) => {
      rec.output(`new_key_${i}`, newRows(rec, kv.key, P), newDims);
      rec.output(`new_value_${i}`, newRows(rec, kv.value, P), newDims);
    });
    return { graph: rec.build(), limits: rec.limits };
  }
}

/**
 * The new tokens' part `[n, t, heads, headDim]` of a self-attention K or V `[n, heads, past + t,
 * headDim]`: the heads' values before they were split (no copy) where the recorder saw them
 * appended to the past, else a slice of the whole.
 */
function newRows(rec: OnnxRecorder, kv: Sym, past: number): Sym {
  const [n, h, total, d] = kv.dims;
  const heads = kv.tags.appended?.added.tags.heads;
  if (heads) return rec.reshape(heads.x, [n, total - past, h, d]);
  return rec.permute(rec.slice(kv, 2, past, total), [0, 2, 1, 3]);
}

/**
 * Checks `limits` against the real axis sizes; the error names the input, its length and the
 * positions the model has (`"inputIds: length 65 exceeds the 64 positions of
 * encoder.max_position_embeddings"`).
 */
export function checkLimits(
  limits: readonly TraceLimit[],
  sizes: Readonly<Record<string, number>>,
  what: string,
): void {
  const size = (t: { axis: string | null; offset: number }) =>
    (t.axis === null ? 0 : sizes[t.axis] ?? 0) + t.offset;
  for (const l of limits) {
    const start = size(l.start), len = size(l.length);
    if (start + len > l.max) {
      const past = l.start.axis === null ? 0 : sizes[l.start.axis] ?? 0;
      throw new OnnxModelError(
        `${what}: length ${past + len} exceeds the ${
          l.max - (start - past)
        } positions of ${l.what}`,
      );
    }
  }
}
