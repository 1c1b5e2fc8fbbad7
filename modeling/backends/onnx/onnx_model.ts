/**
 * `OnnxEncoderDecoder`: an encoder-decoder checkpoint run by onnxruntime. Three graphs are
 * traced from the model code (encoder, cross-K/V, decoder step; `traced_graphs.ts`) and run with
 * onnxruntime-node or onnxruntime-web; the class implements generation's `Seq2SeqModel`
 * (`encode`, `expandEncoderState`, `decodeStep`, `reorderCache`, `dispose`).
 *
 * @module
 */
import type { InferenceSession, Tensor as OrtTensor } from "onnxruntime-node";
import type { EncoderDecoderConfig, GenerationConfig, ResolveOptions } from "@encdec/config";
import { Tensor } from "../../tensor.ts";
import type { CheckpointEntry } from "./checkpoint.ts";
import { OnnxModelError, type OnnxPrecision } from "./graph_builder.ts";
import { OnnxRuntimeError, type OnnxRuntimeName, type Ort } from "./runtime.ts";
import { arange, checkIds, released, releaseData, views } from "./_host.ts";
import type { GraphCacheEntry } from "./graph_cache.ts";
import type { TraceLimit } from "./recorder.ts";
import { checkLimits, type DecoderLayout } from "./traced_graphs.ts";
import { KvHistory } from "./_kv_history.ts";
import type { HeapTrimmer } from "./_heap.ts";
import { buildEngine, type LoadedEngine, loadPretrainedEngine } from "./_engine_loading.ts";

/** Options of `OnnxEncoderDecoder.fromPretrained` / `create`. */
export interface OnnxModelOptions {
  /** `"node"` (onnxruntime-node), `"web"` (wasm) or `"auto"` (node if it loads). Default auto. */
  runtime?: OnnxRuntimeName;
  /** Intra-op threads (web: wasm threads). Default: logical cores. */
  numThreads?: number;
  /** Weight storage: `"fp32"` (default), `"fp16"` (half, cast up), `"int8"` (linear layers). */
  precision?: OnnxPrecision;
  /**
   * With precision int8, store the embedding tables int8 as well (one float32 scale per row;
   * a tied LM head, int8 in any case, then runs `DynamicQuantizeMatMul` on the same int8
   * matrix instead of its own): at bert2bert-base this keeps ~200 MB of float32 tables out of
   * memory (`bench/README.md`, goal 4, gives the accuracy cost). Default: true on
   * onnxruntime-web (the edge path, where memory is the limit), false on onnxruntime-node.
   * Only with precision int8.
   */
  int8Embeddings?: boolean;
  /** Where `fromPretrained` finds Hub files (revision, cache dir, token, offline, ...). */
  resolve?: Omit<ResolveOptions, "optional">;
  /**
   * The generation defaults `generate()` starts from. `fromPretrained` loads
   * `generation_config.json` (else derives them from `config.json`); `create` defaults to
   * `GenerationConfig.fromModelConfig(config)`.
   */
  generationConfig?: GenerationConfig;
  /**
   * After a decode step that grew the cache's K/V history (its buffers double, so a few times
   * per generation), return freed heap pages to the OS (glibc `malloc_trim` through FFI;
   * onnxruntime-node on Linux, when `--allow-ffi` is granted; otherwise ignored): the old
   * buffers' pages go back at once instead of staying in the heap. Default true.
   */
  trimHeap?: boolean;
  /**
   * Where `fromPretrained` caches the traced graphs and converted weights (onnxruntime-node):
   * a folder, or `false` for no cache. Default `$ENCDEC_GRAPH_CACHE` (`0`/`off`: none), else
   * `$HF_HOME/encdec/graphs`. See `graph_cache.ts`.
   */
  graphCache?: string | false;
}

/** A subclass of {@linkcode OnnxEncoderDecoder} that the static factories can construct. */
export type OnnxEncoderDecoderClass<M> = {
  new (...args: ConstructorParameters<typeof OnnxEncoderDecoder>): M;
};

/**
 * The cross-attention K/V of the rows one `encode()` call encoded, projected by the first
 * decode step that needs them (an encoder-only call never pays for it) and then shared by the
 * state and its expansions.
 */
export interface OnnxCrossKV {
  /**
   * `[encoded rows, srcLen, hidden]`: the encoder output the projection reads (an onnxruntime
   * tensor, internal to the engine).
   * @ignore
   */
  readonly hidden: OrtTensor;
  /** `[encoded rows, srcLen]` 0/1: the encoder attention mask of those rows. */
  readonly mask: BigInt64Array;
  /**
   * Per layer key then value, `[encoded rows, heads, srcLen, headDim]`, once projected
   * (onnxruntime tensors, internal to the engine).
   * @ignore
   */
  kv: readonly OrtTensor[] | null;
}

/** The encoder output of a batch: host copies plus the cross-attention K/V, projected once. */
export interface OnnxEncoderState {
  /** Rows. */
  readonly batch: number;
  /** Source length. */
  readonly srcLen: number;
  /** `[batch, srcLen, hidden]` float32. */
  readonly lastHiddenState: Tensor<"float32">;
  /** `[batch, srcLen]` 0/1. */
  readonly attentionMask: BigInt64Array;
  /** The cross K/V of the encoded rows (shared with the states expanded from this one). */
  readonly encoded: OnnxCrossKV;
  /** Encoded row of each row (rows with equal source share cross K/V values). */
  readonly rowSource: Int32Array;
}

/**
 * The decoder cache: where each row's self-attention K/V are in the lineage's history, and the
 * encoder-state row each row attends to. A cache stays valid after the step it is passed to
 * (the history is append-only: two continuations of one cache add their own rows) until
 * `dispose` frees the history of its lineage.
 */
export interface OnnxDecoderCache {
  /** Rows. */
  readonly batch: number;
  /** Decoder positions already in the cache. */
  readonly pastLen: number;
  /**
   * The K/V rows of this cache's lineage (`_kv_history.ts`), internal to the engine.
   * @ignore
   */
  readonly history: KvHistory;
  /** History row of each row's past position, `[batch, pastLen]` (beam reordering included). */
  readonly index: BigInt64Array;
  /** Encoder-state row whose cross K/V each row attends to. */
  readonly crossRows: Int32Array;
}

/**
 * An encoder-decoder model on onnxruntime.
 *
 * @example
 * ```ts ignore
 * import { OnnxEncoderDecoder } from "./onnx_model.ts";
 * const model = await OnnxEncoderDecoder.fromPretrained("tests/testdata/fixtures/bert2bert");
 * const logits = await model.logits([[2, 65, 3]], [[1, 1, 1]], [[2, 88]]);
 * logits.dims; // [1, 2, 99]
 * await model.release();
 * ```
 */
export class OnnxEncoderDecoder {
  /** Size of the logits' last axis. */
  readonly vocabSize: number;
  /** Per state, the cross K/V rows its last ungrouped decode step gathered (key: encoded rows). */
  private readonly arranged = new WeakMap<
    OnnxEncoderState,
    { key: string; kv: readonly OrtTensor[] }
  >();
  /** States (the encoded one and its expansions) not yet disposed, per shared cross K/V. */
  private readonly users = new WeakMap<OnnxCrossKV, number>();
  /** An expansion's own `lastHiddenState` copy, once something read it. */
  private readonly hiddenCopies = new WeakMap<OnnxEncoderState, Tensor<"float32">>();
  /** States already disposed (`dispose` is idempotent). */
  private readonly disposed = new WeakSet<OnnxEncoderState>();

  /** Built by `fromPretrained` / `create` (public only so subclasses can be constructed). */
  constructor(
    /** The model's config. */
    readonly config: EncoderDecoderConfig,
    /** Which onnxruntime runs it. */
    readonly runtime: "node" | "web",
    /** Weight storage precision. */
    readonly precision: OnnxPrecision,
    /** Generation defaults (HF `model.generation_config`), used by generation's `generate()`. */
    readonly generationConfig: GenerationConfig,
    private readonly ort: Ort,
    private readonly layout: DecoderLayout,
    private readonly encoder: InferenceSession,
    private readonly crossKV: InferenceSession,
    private readonly decoder: InferenceSession,
    /** Called after each decode step (see `OnnxModelOptions.trimHeap`); null: never. */
    private readonly trimHeap: HeapTrimmer | null = null,
    /** Position limits of the encoder inputs and of the decoder inputs (from the traces). */
    private readonly limits: { encoder: TraceLimit[]; decoder: TraceLimit[] } = {
      encoder: [],
      decoder: [],
    },
  ) {
    this.vocabSize = layout.vocab;
  }

  /**
   * Loads `config.json` and the weights of `dirOrId` (safetensors or `.bin`, via
   * `resolveModelFile`) and builds the onnxruntime sessions (see `_engine_loading.ts`).
   * Safetensors weights are not read up front: onnxruntime-node maps the tensors it uses as
   * stored from the file, and only the tensors the graphs transform (int8 quantization, half
   * casts, fused projections) are read; onnxruntime-web reads, converts and frees them one at a
   * time.
   */
  static async fromPretrained<M>(
    this: OnnxEncoderDecoderClass<M>,
    dirOrId: string,
    options: OnnxModelOptions = {},
  ): Promise<M> {
    return construct(this, await loadPretrainedEngine(dirOrId, options));
  }

  /**
   * Builds the sessions from a config and a state dict with HF checkpoint keys (tensors in
   * memory, or left in their safetensors files as `FileTensor`s).
   */
  static async create<M>(
    this: OnnxEncoderDecoderClass<M>,
    config: EncoderDecoderConfig,
    tensors: ReadonlyMap<string, CheckpointEntry>,
    options: OnnxModelOptions = {},
    source = "<state dict>",
    /** The graph-cache entry to write the traced graphs to (`fromPretrained`). */
    cache: GraphCacheEntry | null = null,
  ): Promise<M> {
    return construct(this, await buildEngine(config, tensors, options, source, cache));
  }

  /** An int64 onnxruntime tensor. */
  private int64(data: ArrayLike<number> | BigInt64Array, dims: number[]): OrtTensor {
    const arr = data instanceof BigInt64Array
      ? data
      : BigInt64Array.from(data as ArrayLike<number>, (v) => BigInt(v));
    return new this.ort.Tensor("int64", arr, dims);
  }

  /** Runs a session, wrapping onnxruntime failures in `OnnxRuntimeError`. */
  private async run(
    s: InferenceSession,
    feeds: Record<string, OrtTensor>,
    what: string,
  ): Promise<InferenceSession.OnnxValueMapType> {
    try {
      return await s.run(feeds);
    } catch (e) {
      throw new OnnxRuntimeError(`onnxruntime failed running the ${what} graph: ${e}`, {
        cause: e,
      });
    }
  }

  /**
   * Runs the encoder once. `inputIds`/`attentionMask`: `[batch, srcLen]`;
   * `encoderKwargs.globalAttentionMask` (same shape, 0/1) for an encoder with global attention
   * (all zeros when absent). The cross-attention K/V are projected by the first
   * decode step.
   */
  async encode(
    inputIds: number[][],
    attentionMask: number[][],
    encoderKwargs: { globalAttentionMask?: number[][] } = {},
  ): Promise<OnnxEncoderState> {
    const globalAttentionMask = encoderKwargs.globalAttentionMask;
    const srcLen = checkIds("inputIds", inputIds, this.config.encoder.vocabSize);
    const batch = inputIds.length;
    checkLimits(this.limits.encoder, { batch, src_len: srcLen }, "inputIds");
    if (attentionMask.length !== batch || attentionMask.some((r) => r.length !== srcLen)) {
      throw new OnnxModelError(
        `attentionMask: expected [${batch}, ${srcLen}] like inputIds, found ${attentionMask.length} rows`,
      );
    }
    const mask = BigInt64Array.from(attentionMask.flat(), (v) => {
      if (v !== 0 && v !== 1) {
        throw new OnnxModelError(`attentionMask: value ${v}; expected 0 or 1`);
      }
      return BigInt(v);
    });
    const feeds: Record<string, OrtTensor> = {
      input_ids: this.int64(inputIds.flat(), [batch, srcLen]),
      attention_mask: this.int64(mask, [batch, srcLen]),
    };
    if (this.encoder.inputNames.includes("global_attention_mask")) {
      const global = globalAttentionMask ?? attentionMask.map((r) => r.map(() => 0));
      if (global.length !== batch || global.some((r) => r.length !== srcLen)) {
        throw new OnnxModelError(
          `globalAttentionMask: expected [${batch}, ${srcLen}] like inputIds, found ${global.length} rows`,
        );
      }
      const bad = global.flat().find((v) => v !== 0 && v !== 1);
      if (bad !== undefined) {
        throw new OnnxModelError(`globalAttentionMask: value ${bad}; expected 0 or 1`);
      }
      feeds.global_attention_mask = this.int64(global.flat(), [batch, srcLen]);
    } else if (globalAttentionMask !== undefined) {
      throw new OnnxModelError(
        "globalAttentionMask: this model's encoder has no global attention",
      );
    }
    const out = await this.run(this.encoder, feeds, "encoder");
    const hidden = out.last_hidden_state;
    const encoded: OnnxCrossKV = { hidden, mask, kv: null };
    this.users.set(encoded, 1);
    return {
      batch,
      srcLen,
      lastHiddenState: new Tensor("float32", hidden.data as Float32Array, [
        ...hidden.dims,
      ]) as Tensor<"float32">,
      attentionMask: mask,
      encoded,
      rowSource: arange(batch),
    };
  }

  /**
   * The cross K/V (`[crossRows, heads, srcLen, headDim]` per layer) and their encoder mask
   * (`[crossRows, srcLen]`) for decoder rows attending to state rows `rows`, projected from the
   * encoder output on first use. When the rows are grouped by encoded row as `encode` and
   * `expandEncoderState` lay them out (n consecutive rows per encoded row, in order: one row
   * each, beams, samples; beam reordering keeps it), the encoded rows' K/V go in as they are and
   * the decoder graph attends each group to its one row: no copy per beam. Any other arrangement
   * (a reorder across sources) gets one row per row, gathered on the host and remembered per
   * state.
   */
  private async crossFor(
    state: OnnxEncoderState,
    rows: ArrayLike<number>,
  ): Promise<{ kv: readonly OrtTensor[]; mask: OrtTensor }> {
    const enc = state.encoded;
    if (enc.kv === null) {
      const out = await this.run(this.crossKV, { encoder_hidden_states: enc.hidden }, "cross K/V");
      const kv: OrtTensor[] = [];
      for (let i = 0; i < this.layout.layers; i++) {
        kv.push(out[`cross_key_${i}`], out[`cross_value_${i}`]);
      }
      enc.kv = kv;
    }
    const S = state.srcLen;
    const src = Int32Array.from(rows, (r) => state.rowSource[r]);
    const encRows = enc.hidden.dims[0];
    const n = src.length / encRows; // rows per encoded row when grouped
    if (Number.isInteger(n) && src.every((e, r) => e === Math.floor(r / n))) {
      return { kv: enc.kv, mask: this.int64(enc.mask, [encRows, S]) };
    }
    const mask = new BigInt64Array(src.length * S);
    src.forEach((e, r) => mask.set(enc.mask.subarray(e * S, (e + 1) * S), r * S));
    const key = src.join(",");
    const memo = this.arranged.get(state);
    if (memo?.key === key) return { kv: memo.kv, mask: this.int64(mask, [src.length, S]) };
    const kv = enc.kv.map((t) => this.gatherRows(t, src));
    this.arranged.set(state, { key, kv });
    return { kv, mask: this.int64(mask, [src.length, S]) };
  }

  /** Rows `rows` of `t` (axis 0), copied. */
  private gatherRows(t: OrtTensor, rows: ArrayLike<number>): OrtTensor {
    const src = t.data as Float32Array;
    const [b, ...rest] = t.dims;
    const row = src.length / b;
    const out = new Float32Array(rows.length * row);
    for (let i = 0; i < rows.length; i++) {
      out.set(src.subarray(rows[i] * row, (rows[i] + 1) * row), i * row);
    }
    return new this.ort.Tensor("float32", out, [rows.length, ...rest]);
  }

  /**
   * Repeats each row `n` times in place order (`repeat_interleave`), for beams/samples. Only
   * the row bookkeeping is repeated: the decoder reads the encoder output through the shared
   * cross K/V, so the expansion's `lastHiddenState` (`[batch * n, srcLen, hidden]`) is copied
   * from the encoder output on first read only.
   */
  expandEncoderState(state: OnnxEncoderState, n: number): OnnxEncoderState {
    if (!Number.isInteger(n) || n < 1) {
      throw new OnnxModelError(`expandEncoderState: n = ${n}; expected a positive integer`);
    }
    if (n === 1) return state;
    this.checkState(state);
    const mask = new BigInt64Array(state.attentionMask.length * n);
    const rowSource = new Int32Array(state.batch * n);
    for (let i = 0; i < state.batch; i++) {
      for (let j = 0; j < n; j++) {
        const r = i * n + j;
        mask.set(
          state.attentionMask.subarray(i * state.srcLen, (i + 1) * state.srcLen),
          r * state.srcLen,
        );
        rowSource[r] = state.rowSource[i];
      }
    }
    this.users.set(state.encoded, (this.users.get(state.encoded) ?? 0) + 1);
    const hidden = () => this.expandedHidden(expanded);
    const expanded: OnnxEncoderState = {
      batch: state.batch * n,
      srcLen: state.srcLen,
      get lastHiddenState() {
        return hidden();
      },
      attentionMask: mask,
      encoded: state.encoded,
      rowSource,
    };
    return expanded;
  }

  /** An expansion's `lastHiddenState`: rows `rowSource` of the encoder output, copied once. */
  private expandedHidden(state: OnnxEncoderState): Tensor<"float32"> {
    let t = this.hiddenCopies.get(state);
    if (t) return t;
    this.checkState(state);
    const h = state.encoded.hidden;
    const src = h.data as Float32Array;
    const row = src.length / h.dims[0];
    const data = new Float32Array(state.batch * row);
    state.rowSource.forEach((e, r) => data.set(src.subarray(e * row, (e + 1) * row), r * row));
    t = new Tensor("float32", data, [state.batch, ...h.dims.slice(1)]) as Tensor<"float32">;
    this.hiddenCopies.set(state, t);
    return t;
  }

  /**
   * Runs the decoder on `newTokens` `[batch, T]` after the cache; returns logits of all T new
   * positions `[batch, T, vocab]` and the extended cache. `decoderAttentionMask` `[batch, past+T]`
   * defaults to ones.
   *
   * The step reads the cache's past from its lineage's history and appends only the new
   * tokens' K/V to it (no copy of the past on the host); the cache passed in stays valid.
   */
  async decodeAll(
    state: OnnxEncoderState,
    newTokens: number[][],
    cache: OnnxDecoderCache | null,
    decoderAttentionMask?: number[][],
  ): Promise<{ logits: Tensor<"float32">; cache: OnnxDecoderCache }> {
    const T = checkIds("newTokens", newTokens, this.vocabSize);
    const B = state.batch;
    if (newTokens.length !== B) {
      throw new OnnxModelError(`newTokens: ${newTokens.length} rows; the encoder state has ${B}`);
    }
    if (cache && cache.batch !== B) {
      throw new OnnxModelError(`cache: ${cache.batch} rows; the encoder state has ${B}`);
    }
    this.checkState(state);
    if (cache?.history.released) {
      throw new OnnxModelError(
        "cache: its tensors were released (dispose frees the K/V history of a cache and of " +
          "every cache continuing or reordering it)",
      );
    }
    const P = cache?.pastLen ?? 0;
    checkLimits(this.limits.decoder, { batch: B, tgt_len: T, past_len: P }, "decoder input");
    let decMask: BigInt64Array;
    if (decoderAttentionMask) {
      if (
        decoderAttentionMask.length !== B || decoderAttentionMask.some((r) => r.length !== P + T)
      ) {
        throw new OnnxModelError(`decoderAttentionMask: expected [${B}, ${P + T}]`);
      }
      decMask = BigInt64Array.from(decoderAttentionMask.flat(), (v) => BigInt(v));
    } else {
      decMask = new BigInt64Array(B * (P + T)).fill(1n);
    }
    const crossRows = cache?.crossRows ?? arange(B);
    const { kv: cross, mask: crossMask } = await this.crossFor(state, crossRows);
    const { layers, heads, headDim } = this.layout;
    const history = cache?.history ?? new KvHistory(2 * layers, heads * headDim);
    const feeds: Record<string, OrtTensor> = {
      input_ids: this.int64(newTokens.flat(), [B, T]),
      decoder_attention_mask: this.int64(decMask, [B, P + T]),
      encoder_attention_mask: crossMask,
      cache_index: this.int64(cache?.index ?? new BigInt64Array(0), [B, P]),
    };
    const pastDims = [history.rows, heads, headDim];
    for (let i = 0; i < layers; i++) {
      feeds[`past_key_${i}`] = new this.ort.Tensor("float32", history.stored(2 * i), pastDims);
      feeds[`past_value_${i}`] = new this.ort.Tensor(
        "float32",
        history.stored(2 * i + 1),
        pastDims,
      );
      feeds[`cross_key_${i}`] = cross[2 * i];
      feeds[`cross_value_${i}`] = cross[2 * i + 1];
    }
    const out = await this.run(this.decoder, feeds, "decoder");
    const added: OrtTensor[] = [];
    for (let i = 0; i < layers; i++) added.push(out[`new_key_${i}`], out[`new_value_${i}`]);
    const grows = history.grows;
    const first = history.append(views(added) as Float32Array[], B, T);
    releaseData(views(added)); // appended: the step's own buffers are not needed any more
    if (history.grows !== grows) this.trimHeap?.();
    // Each row's past, then its new positions (rows `first + j * B + b` of the history).
    const index = new BigInt64Array(B * (P + T));
    for (let b = 0; b < B; b++) {
      if (cache) index.set(cache.index.subarray(b * P, (b + 1) * P), b * (P + T));
      for (let j = 0; j < T; j++) index[b * (P + T) + P + j] = BigInt(first + j * B + b);
    }
    const lg = out.logits;
    return {
      logits: new Tensor("float32", lg.data as Float32Array, [...lg.dims]) as Tensor<"float32">,
      cache: { batch: B, pastLen: P + T, history, index, crossRows },
    };
  }

  /**
   * Decodes the new tokens `[batch, newLen]` (all decoder tokens on the first call with
   * `cache = null`, then one per step) and returns the last position's logits `[batch, vocab]`.
   */
  async decodeStep(
    state: OnnxEncoderState,
    newTokens: number[][],
    cache: OnnxDecoderCache | null,
  ): Promise<{ logits: Float32Array; cache: OnnxDecoderCache }> {
    const r = await this.decodeAll(state, newTokens, cache);
    const [B, T, V] = r.logits.dims;
    if (T === 1) return { logits: r.logits.data, cache: r.cache };
    const last = new Float32Array(B * V);
    for (let b = 0; b < B; b++) {
      last.set(r.logits.data.subarray((b * T + T - 1) * V, (b * T + T) * V), b * V);
    }
    releaseData([r.logits.data]); // the `[B, T, vocab]` output, ours alone
    return { logits: last, cache: r.cache };
  }

  /** Keeps cache rows `rows` (new row i = old row rows[i]): a copy of their history indices. */
  reorderCache(cache: OnnxDecoderCache, rows: readonly number[]): OnnxDecoderCache {
    if (rows.length !== cache.batch) {
      throw new OnnxModelError(`reorderCache: ${rows.length} rows; the cache has ${cache.batch}`);
    }
    const P = cache.pastLen;
    const index = new BigInt64Array(rows.length * P);
    const crossRows = new Int32Array(rows.length);
    rows.forEach((r, i) => {
      if (!Number.isInteger(r) || r < 0 || r >= cache.batch) {
        throw new OnnxModelError(`reorderCache: rows[${i}] = ${r}; expected [0, ${cache.batch})`);
      }
      index.set(cache.index.subarray(r * P, (r + 1) * P), i * P);
      crossRows[i] = cache.crossRows[r];
    });
    return { ...cache, index, crossRows };
  }

  /**
   * Encoder + full decoder pass (HF `model(input_ids, attention_mask, decoder_input_ids)`):
   * logits `[batch, tgtLen, vocab]`.
   */
  async logits(
    inputIds: number[][],
    attentionMask: number[][],
    decoderInputIds: number[][],
    decoderAttentionMask?: number[][],
  ): Promise<Tensor<"float32">> {
    const state = await this.encode(inputIds, attentionMask);
    return (await this.decodeAll(state, decoderInputIds, null, decoderAttentionMask)).logits;
  }

  /** Throws if `state` was disposed. */
  private checkState(state: OnnxEncoderState): void {
    if (this.disposed.has(state) || released(state.encoded.hidden)) {
      throw new OnnxModelError("encoder state: it was disposed; encode the input again");
    }
  }

  /**
   * Frees a cache or encoder state now, instead of at V8's next GC (see `releaseData`).
   *
   * A cache: the K/V history of its lineage, which every cache continuing or reordering it
   * shares (dispose when the generation is done). A state: an expansion's own `lastHiddenState`
   * copy (if it was read) at once; the encoder output (the encoded state's `lastHiddenState`) and
   * the cross K/V, which a state shares with its expansions, with the last of them (`generate()`
   * disposes the encoded state right after expanding it). Disposing twice is a no-op; decoding
   * from a disposed state or cache throws `OnnxModelError`.
   */
  dispose(value: OnnxDecoderCache | OnnxEncoderState): void {
    if ("history" in value) {
      value.history.release();
      return;
    }
    if (this.disposed.has(value)) return;
    this.disposed.add(value);
    const memo = this.arranged.get(value);
    if (memo) {
      this.arranged.delete(value);
      releaseData(views(memo.kv));
    }
    const enc = value.encoded;
    const users = (this.users.get(enc) ?? 1) - 1;
    const own = this.hiddenCopies.get(value); // an expansion's own copy, if it was read
    if (own) {
      this.hiddenCopies.delete(value);
      releaseData([own.data]);
    }
    if (users > 0) {
      this.users.set(enc, users);
      return;
    }
    this.users.delete(enc);
    releaseData(views([...(enc.kv ?? []), enc.hidden]));
  }

  /** Releases the three onnxruntime sessions. */
  async release(): Promise<void> {
    await Promise.all([this.encoder.release(), this.crossKV.release(), this.decoder.release()]);
  }
}

/** An instance of `cls` over the loaded sessions. */
function construct<M>(cls: OnnxEncoderDecoderClass<M>, e: LoadedEngine): M {
  return new cls(
    e.config,
    e.runtime,
    e.precision,
    e.generationConfig,
    e.ort,
    e.layout,
    e.encoder,
    e.crossKV,
    e.decoder,
    e.trimHeap,
    e.limits,
  );
}
