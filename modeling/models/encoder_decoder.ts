/**
 * `EncoderDecoderModel`: any supported encoder (BERT, RoBERTa, BertGeneration) composed with any
 * supported decoder (the same three as causal LMs with cross-attention, or GPT-2), as HF's
 * `EncoderDecoderModel`: `enc_to_dec_proj` when the widths differ, `tie_encoder_decoder`, tied
 * word embeddings, the labels → shifted decoder inputs + loss path, and the incremental
 * `Seq2SeqModel` interface (`encode` / `decodeStep` / `reorderCache`) generation drives.
 *
 * One class on every device: `fromPretrained(dir, { device })` runs the model code on a backend
 * (`cpu`, `webgpu`, `autograd`, `autograd-ort`) or hands it whole to the onnxruntime engine
 * (`onnx`, `onnx-node`, `onnx-web`); `auto` picks (see `device.ts`).
 *
 * @module
 */
import {
  AutoConfig,
  EncoderDecoderConfig,
  GenerationConfig,
  type PretrainedConfig,
} from "@encdec/config";
import type { Backend, RandomSource } from "../backend.ts";
import { AutogradBackend } from "../autograd/backend.ts";
import { AutogradError, type Var } from "../autograd/var.ts";
import { seededRandom } from "../random.ts";
import { Tensor } from "../tensor.ts";
import { loadStateDict } from "../weights/mod.ts";
import { OnnxEncoderDecoder, type OnnxPrecision } from "../backends/onnx/mod.ts";
import { EncoderDecoderCache } from "./cache.ts";
import type { DecoderStack, EncoderStack } from "./stacks.ts";
import { scoped } from "./_layers.ts";
import { checkSupported, decoderArch, encoderArch } from "./_registry.ts";
import {
  exportStateDict,
  type LoadingInfo,
  materialize,
  type ParamSpec,
  ParamView,
} from "./key_table.ts";
import { ModelInputError } from "./errors.ts";
import {
  compositeTable,
  ignoredUnexpected,
  isWeightFile,
  mergePartCheckpoints,
  partLoadingInfo,
  toConfig,
  weightsWriter,
} from "./_composite.ts";
import { sameBatch, toGlobalAttentionMask, toIds, toMask } from "./_inputs.ts";
import { forwardOnBackend, type ShiftConfig } from "./_forward.ts";
import { forwardOnOnnx } from "./_onnx_forward.ts";
import { type DecodeParts, decodeStepOnBackend, decodeStepTopKOnBackend } from "./_decode.ts";
import {
  type DeviceChoice,
  DeviceError,
  type DeviceSpec,
  deviceSync,
  type Dtype,
  resolveDevice,
  selectDevice,
} from "./device.ts";
import type {
  EncoderDecoderConfigInput,
  EncoderDecoderModelClass,
  EncoderDecoderModelOptions,
  EncoderState,
  FromPretrainedOptions,
  PartLoadingInfo,
  Seq2SeqForwardArgs,
  Seq2SeqLMOutput,
} from "./outputs.ts";

// ---- helpers -----------------------------------------------------------------------------------

function nullableId(v: unknown): number | null {
  return typeof v === "number" ? v : null;
}

/** onnxruntime weight storage for a dtype (the device registry has checked it). */
function onnxPrecision(dtype: Dtype | undefined): OnnxPrecision {
  return dtype === "float16" ? "fp16" : dtype === "int8" ? "int8" : "fp32";
}

/** The device choice of a model built on `backend` without `selectDevice`. */
function backendChoice(backend: Backend<unknown>): DeviceChoice {
  const n = backend.name;
  return { device: n, name: n, backend, reason: n, requested: n };
}

// ---- the model ---------------------------------------------------------------------------------

/**
 * HF's `EncoderDecoderModel`, one class on every device: on a backend device (`cpu`, `webgpu`,
 * `autograd`, `autograd-ort`) this file's model code runs over the `Backend`; on an onnx device
 * (`onnx`, `onnx-node`, `onnx-web`) the onnxruntime engine runs the whole model and every method
 * delegates to it. `fromPretrained(dir, { device })` picks (see `device.ts`, `auto` included).
 *
 * @example
 * ```ts
 * import { EncoderDecoderModel } from "@encdec/modeling";
 * const model = await EncoderDecoderModel.fromPretrained("tests/testdata/fixtures/bert2bert");
 * const out = await model.forward({
 *   inputIds: [[2, 65, 53, 3]],
 *   labels: [[88, 54, 3]],
 * });
 * out.logits.dims; // [1, 3, 99]
 * out.loss?.item();
 * ```
 */
export class EncoderDecoderModel {
  /** The composite config (`config.encoder`, `config.decoder`, camelCased HF fields). */
  readonly config: EncoderDecoderConfig;
  /** Generation defaults (`generation_config.json`, else derived from the config). */
  generationConfig: GenerationConfig;
  /** Where the model runs: the registered device, its backend or onnxruntime, and why. */
  readonly device: DeviceChoice;
  /** The weights' dtype on the device (`int8`: onnxruntime's per-channel int8 linear layers). */
  readonly dtype: Dtype;
  /** Missing (initialised) and unexpected checkpoint keys. */
  readonly loadingInfo: LoadingInfo;
  /** Per-part report, set by `fromEncoderDecoderPretrained`. */
  partLoadingInfo: PartLoadingInfo | null = null;
  /** The key table of the whole model (checkpoint layout). */
  readonly keyTable: readonly ParamSpec[];
  /** Size of the logits' last axis. */
  readonly vocabSize: number;
  /** Training mode (dropout on), as torch's `module.training`; set by `train()` / `eval()`. */
  training = false;
  /** The seeded generator dropout draws from in training mode. */
  dropoutRng: RandomSource;
  private handles = new Map<string, unknown>();
  private proj: { weight: unknown; bias: unknown } | null = null;
  #backend: Backend<unknown> | null = null;
  #encoder: EncoderStack<unknown> | null = null;
  #decoder: DecoderStack<unknown> | null = null;
  /** The onnxruntime engine of an onnx device (it runs the whole model), else null. */
  #onnx: OnnxEncoderDecoder | null = null;
  #reloadWeights: (() => Promise<ReadonlyMap<string, Tensor>>) | null = null;
  #disposed = false;

  /**
   * Builds the model from `config`: weights from `options.stateDict` where present, the rest
   * initialised like HF (`normal(0, initializer_range)`, LayerNorm 1/0, zero biases, padding rows
   * zeroed) from `options.seed`. Fails on a shape mismatch, naming the key.
   */
  constructor(config: EncoderDecoderConfigInput, options: EncoderDecoderModelOptions = {}) {
    this.config = toConfig(config);
    // The models read HF's snake_case fields (defaults filled by the config classes).
    const enc = checkSupported(this.config.encoder.toDict(), "encoder");
    const dec = checkSupported(this.config.decoder.toDict(), "decoder");
    // One key table for the whole model: encoder.* + decoder.* (+ enc_to_dec_proj.*).
    const { ea, da, table, needProj } = compositeTable(this.config, enc, dec);
    this.keyTable = table;
    this.dropoutRng = seededRandom((options.seed ?? 0) ^ 0x5eed);
    this.generationConfig = options.generationConfig ??
      GenerationConfig.fromModelConfig(this.config as PretrainedConfig);
    if (options.engine) {
      // onnxruntime runs the whole model: no weights on a backend.
      const engine = this.#onnx = options.engine;
      this.#reloadWeights = options.reloadWeights ?? null;
      const dev = `onnx-${engine.runtime}`;
      const precisions = { fp32: "float32", fp16: "float16", int8: "int8" } as const;
      this.dtype = precisions[engine.precision];
      this.device = options.deviceChoice ??
        { device: dev, name: "onnx", runtime: engine.runtime, reason: dev, requested: dev };
      this.vocabSize = engine.vocabSize;
      this.loadingInfo = { missingKeys: [], unexpectedKeys: [], newlyInitialized: [] };
      // Generation's top-k fast path only where the engine computes it.
      if (!("decodeStepTopK" in engine)) {
        Object.defineProperty(this, "decodeStepTopK", { value: undefined });
      }
      return;
    }
    const backend = this.#backend = deviceSync(options.device);
    this.dtype = options.dtype ?? "float32";
    this.device = options.deviceChoice ?? backendChoice(backend);
    const built = materialize(backend, table, {
      stateDict: options.stateDict,
      seed: options.seed ?? 0,
      dtype: options.dtype,
      ignoreUnexpected: ignoredUnexpected(ea, da),
      source: options.source,
      strict: options.strict,
    });
    this.handles = built.handles;
    this.loadingInfo = built.info;
    if (backend instanceof AutogradBackend) {
      for (const s of table) if (!s.tiedTo) (this.handles.get(s.key) as Var).requiresGrad = true;
    }
    const w = new ParamView(this.handles);
    this.#encoder = ea.build(backend, w.pp("encoder"));
    const decoder = this.#decoder = da.build(backend, w.pp("decoder"));
    this.proj = needProj
      ? { weight: w.get("enc_to_dec_proj.weight"), bias: w.get("enc_to_dec_proj.bias") }
      : null;
    this.vocabSize = decoder.vocabSize;
  }

  /** The backend (cpu, webgpu, autograd, ...); onnx devices have none (`DeviceError`). */
  get backend(): Backend<unknown> {
    return this.#backend ?? this.#noBackend("backend");
  }

  /** The encoder stack (backend devices). */
  get encoder(): EncoderStack<unknown> {
    return this.#encoder ?? this.#noBackend("encoder");
  }

  /** The decoder stack with LM head (backend devices). */
  get decoder(): DecoderStack<unknown> {
    return this.#decoder ?? this.#noBackend("decoder");
  }

  #noBackend(what: string): never {
    throw new DeviceError(
      `model.${what}: the model runs on device ${this.device.device}, where onnxruntime runs ` +
        `the whole graph; load it with { device: "cpu" } (or "webgpu") to reach its ${what}`,
    );
  }

  /** `config.decoderStartTokenId` (or `null`), used to shift labels right. */
  get decoderStartTokenId(): number | null {
    return nullableId(this.config.decoderStartTokenId);
  }

  /** `config.padTokenId` (or `null`), used to shift labels right. */
  get padTokenId(): number | null {
    return nullableId(this.config.padTokenId);
  }

  // ---- loading and saving ----------------------------------------------------------------------

  /**
   * Loads `config.json`, `generation_config.json` (optional) and the weights (safetensors,
   * `pytorch_model.bin`, sharded) of a saved `EncoderDecoderModel` onto `options.device`
   * (default `"cpu"`; see `FromPretrainedOptions.device`): a backend device runs this file's
   * model code; an onnx device hands the checkpoint to the onnxruntime engine, which runs it
   * whole. `model.device` says where it runs and why.
   *
   * @example
   * ```ts
   * import { EncoderDecoderModel } from "@encdec/modeling";
   * const model = await EncoderDecoderModel.fromPretrained("tests/testdata/fixtures/bert2bert", {
   *   device: "auto", // a hardware GPU > onnxruntime-node > onnxruntime-web > cpu
   * });
   * console.log(model.device.reason);
   * await model.dispose();
   * ```
   */
  static async fromPretrained<M>(
    this: EncoderDecoderModelClass<M>,
    dirOrHubId: string,
    options: FromPretrainedOptions = {},
  ): Promise<M> {
    const resolve = options.revision ? { revision: options.revision } : {};
    const config = toConfig(await AutoConfig.fromPretrained(dirOrHubId, resolve));
    const generationConfig = await GenerationConfig.fromPretrained(dirOrHubId, resolve);
    const choice = await selectDevice(options.device ?? "cpu", { dtype: options.dtype });
    if (choice.runtime) {
      const engine = await OnnxEncoderDecoder.fromPretrained(dirOrHubId, {
        runtime: choice.runtime,
        precision: onnxPrecision(options.dtype),
        int8Embeddings: options.int8Embeddings,
        numThreads: options.numThreads,
        resolve,
        generationConfig,
      });
      return new this(config, {
        engine,
        deviceChoice: choice,
        generationConfig,
        reloadWeights: async () => (await loadStateDict(dirOrHubId, resolve)).tensors,
      });
    }
    const sd = await loadStateDict(dirOrHubId, resolve);
    return new this(config, {
      stateDict: sd.tensors,
      device: choice.backend,
      deviceChoice: choice,
      dtype: options.dtype as Exclude<Dtype, "int8"> | undefined,
      generationConfig,
      source: sd.files[0],
      strict: options.strict,
    });
  }

  /**
   * HF's `from_encoder_decoder_pretrained`: an encoder checkpoint and a decoder checkpoint
   * (usually bare base models) become one model; the decoder gets `is_decoder` and
   * `add_cross_attention`, and its cross-attention and LM head are newly initialised (listed in
   * `loadingInfo.missingKeys` and per part in `partLoadingInfo`).
   *
   * `kwargs` are HF's: `encoder_*` / `decoder_*` keys override that side's config fields, the
   * rest are top-level fields (`decoder_start_token_id`, `pad_token_id`, `tie_encoder_decoder`).
   * `options.seed` seeds the new weights; `options.device` picks the backend.
   */
  static async fromEncoderDecoderPretrained<M extends EncoderDecoderModel>(
    this: EncoderDecoderModelClass<M>,
    encoderIdOrDir: string,
    decoderIdOrDir: string,
    kwargs: Record<string, unknown> = {},
    options: { seed?: number; device?: DeviceSpec } = {},
  ): Promise<M> {
    const config = await EncoderDecoderConfig.fromEncoderDecoderPretrained(
      encoderIdOrDir,
      decoderIdOrDir,
      kwargs,
    );
    const ea = encoderArch(checkSupported(config.encoder.toDict(), "encoder"));
    const da = decoderArch(checkSupported(config.decoder.toDict(), "decoder"));
    const encSd = (await loadStateDict(encoderIdOrDir)).tensors;
    const decSd = (await loadStateDict(decoderIdOrDir)).tensors;

    // HF's prefix handling: a head checkpoint loses its base prefix in a base model; a base
    // checkpoint gains it in a head model.
    const merged = mergePartCheckpoints(encSd, ea, decSd, da);
    const backend = await resolveDevice(options.device);
    const model = new this(config, {
      stateDict: merged.stateDict,
      seed: options.seed,
      device: backend,
      source: decoderIdOrDir,
    });
    model.partLoadingInfo = partLoadingInfo(model.loadingInfo, merged);
    return model;
  }

  /**
   * The weights in HF's checkpoint layout (tied weights once), as host float32 tensors. On an
   * onnx device they are read again from the checkpoint the model was loaded from.
   */
  async stateDict(): Promise<Map<string, Tensor>> {
    if (this.#onnx) {
      if (!this.#reloadWeights) {
        throw new DeviceError(
          `stateDict: this model runs on ${this.device.device} and was not loaded by ` +
            `fromPretrained, so its weights cannot be read back`,
        );
      }
      const host = new EncoderDecoderModel(this.config, { stateDict: await this.#reloadWeights() });
      return await host.stateDict();
    }
    return await exportStateDict(this.backend, this.keyTable, this.handles);
  }

  /**
   * Writes `config.json`, `generation_config.json` and the weights into `dir` as HF's
   * `save_pretrained` does: `model.safetensors` (tied weights stored once), or with
   * `safeSerialization: false` a `pytorch_model.bin` in `torch.save`'s layout holding every key
   * (tied ones, e.g. the LM-head decoder weight, share their target's storage). Past
   * `maxShardSize` (HF's default `"5GB"`) the weights are sharded with an `*.index.json`. The
   * files are written as one set: after a crash at any point `dir` holds the complete old set or
   * the complete new set. Other files in `dir` (tokenizer, README) are kept; weight files of an
   * earlier save, in either format, are replaced. Needs write access to the parent of `dir` (for
   * the staging sibling); without it the files are replaced one by one, each atomically.
   */
  async savePretrained(
    dir: string,
    options: { safeSerialization?: boolean; maxShardSize?: number | string } = {},
  ): Promise<void> {
    const sd = await this.stateDict();
    const write = weightsWriter(this.keyTable, sd, options);
    // Weights, config.json and generation_config.json as ONE set: built in a staging sibling of
    // `dir` and swapped in, so a crash leaves the old set or the new one (config/atomic_write.ts).
    await this.config.savePretrained(dir, {
      generationConfig: this.generationConfig,
      alongside: {
        write,
        // Weights of an earlier save (single file, shards, index; either format) are not kept.
        replaces: isWeightFile,
      },
    });
  }

  // ---- training ----------------------------------------------------------------------------------

  /** Training mode (`mode = true`: dropout on) or eval mode; returns the model, as torch. */
  train(mode = true): this {
    this.training = mode;
    return this;
  }

  /** Eval mode (dropout off); gradients are still recorded on the autograd device, as torch. */
  eval(): this {
    return this.train(false);
  }

  /**
   * `[checkpoint name, parameter]` pairs, as torch's `named_parameters()`: tied weights once,
   * under the name they are stored under (e.g. the LM-head decoder weight appears as the word
   * embeddings). Needs the autograd device (`device: "autograd"`); `param.grad` is a Tensor
   * after `loss.backward()`.
   */
  *namedParameters(): Generator<[string, Var]> {
    if (!(this.backend instanceof AutogradBackend)) {
      throw new AutogradError(
        `namedParameters: the model runs on device "${this.backend.name}", which records no ` +
          `gradients; load it with { device: "autograd" } to train`,
      );
    }
    for (const s of this.keyTable) {
      if (!s.tiedTo) yield [s.key, this.handles.get(s.key) as Var];
    }
  }

  /** The parameters of `namedParameters()`. */
  parameters(): Var[] {
    return [...this.namedParameters()].map(([, p]) => p);
  }

  /** Clears every parameter's gradient (`set_to_none`, torch's default). */
  zeroGrad(): void {
    for (const p of this.parameters()) p.grad = null;
  }

  // ---- forward -----------------------------------------------------------------------------------

  /** Projects encoder output `[b, s, encH]` to the decoder width (identity when not needed). */
  private project(h: unknown): unknown {
    return this.proj ? this.backend.linear(h, this.proj.weight, this.proj.bias) : h;
  }

  /**
   * HF's `EncoderDecoderModel.forward`. With `labels` and no decoder inputs, the decoder inputs
   * are the labels shifted right (`decoder_start_token_id` first, -100 → pad) and the decoder
   * mask is `decoder_input_ids != pad`; `loss` is the mean cross-entropy over labels != -100.
   *
   * Every device returns `logits`, `loss` and `encoderLastHiddenState`. Hidden states,
   * attentions, `pastKeyValues`, `encoderOutputs` and embedding inputs need a backend device
   * (cpu, webgpu, autograd): on an onnx device asking for them throws `ModelInputError`.
   */
  async forward(args: Seq2SeqForwardArgs): Promise<Seq2SeqLMOutput> {
    const shift: ShiftConfig = {
      vocabSize: this.vocabSize,
      padTokenId: this.padTokenId,
      decoderStartTokenId: this.decoderStartTokenId,
    };
    if (this.#onnx) return await forwardOnOnnx(this.#onnx, this.device.device, args, shift);
    const parts = {
      backend: this.backend,
      encoder: this.encoder,
      decoder: this.decoder,
      project: (h: unknown) => this.project(h),
      dropout: this.training ? this.dropoutRng : undefined,
      vocabSize: this.vocabSize,
    };
    return await forwardOnBackend(parts, args, shift);
  }

  // ---- the Seq2SeqModel interface generation drives ------------------------------------------------
  // On an onnx device each method hands its arguments to the onnxruntime engine; its encoder
  // states and caches are the engine's own values, typed here as the backend's (opaque handles).

  /**
   * Runs the encoder once; `inputIds` / `attentionMask` `[batch, srcLen]`; `encoderKwargs`:
   * what the encoder takes besides them (a Longformer's `globalAttentionMask`).
   */
  encode(
    inputIds: number[][],
    attentionMask: number[][],
    encoderKwargs: { globalAttentionMask?: number[][] } = {},
  ): Promise<EncoderState> {
    if (this.#onnx) {
      // the traced encoder graph of a Longformer takes global_attention_mask as an input
      return this.#onnx.encode(inputIds, attentionMask, encoderKwargs) as Promise<never>;
    }
    const global = encoderKwargs.globalAttentionMask === undefined
      ? undefined
      : toGlobalAttentionMask(encoderKwargs.globalAttentionMask, this.encoder, [
        inputIds.length,
        inputIds[0]?.length ?? 0,
      ]);
    const ids = toIds(inputIds, "input_ids");
    const mask = toMask(attentionMask, "attention_mask");
    sameBatch(ids.dims[0], mask.dims[0], "input_ids vs attention_mask");
    if (ids.dims[1] !== mask.dims[1]) {
      throw new ModelInputError(
        `attention_mask has ${mask.dims[1]} columns, input_ids has ${ids.dims[1]}`,
      );
    }
    const hidden = scoped(
      this.backend,
      () =>
        this.project(
          this.encoder.forward({ inputIds: ids, attentionMask: mask, globalAttentionMask: global })
            .lastHiddenState,
        ),
    );
    return Promise.resolve({ hidden, mask });
  }

  /** Repeats each row `n` times (`repeat_interleave`), for beams / samples. */
  expandEncoderState(state: EncoderState, n: number): EncoderState {
    if (this.#onnx) return this.#onnx.expandEncoderState(state as never, n) as never;
    if (!Number.isInteger(n) || n < 1) {
      throw new ModelInputError(`expandEncoderState: n = ${n}, expected an integer >= 1`);
    }
    const [rows, s] = state.mask.dims;
    const idx = Array.from({ length: rows * n }, (_, i) => Math.floor(i / n));
    const mask = new Float32Array(rows * n * s);
    idx.forEach((r, i) => mask.set(state.mask.data.subarray(r * s, (r + 1) * s), i * s));
    return {
      hidden: this.backend.indexSelect(state.hidden, 0, idx),
      mask: new Tensor("float32", mask, [rows * n, s]),
    };
  }

  /**
   * Decodes `newTokens` `[batch, newLen]` against `cache` (all decoder tokens with `cache = null`,
   * then one per step) and returns the last position's logits `[batch, vocab]` row-major with the
   * extended cache. The self-attention K/V of the cache passed in are released.
   */
  async decodeStep(
    state: EncoderState,
    newTokens: number[][],
    cache: EncoderDecoderCache | null,
  ): Promise<{ logits: Float32Array; cache: EncoderDecoderCache }> {
    if (this.#onnx) {
      return await this.#onnx.decodeStep(state as never, newTokens, cache as never) as never;
    }
    return await decodeStepOnBackend(this.#decodeParts(), state, newTokens, cache);
  }

  /**
   * `decodeStep`, but only the `k` largest log-probabilities (log-softmax of the last position's
   * logits) of each row come back, sorted descending with their token ids (ties: lower id
   * first), computed on the device: beam search reads `[batch, k]` instead of `[batch, vocab]`.
   */
  async decodeStepTopK(
    state: EncoderState,
    newTokens: number[][],
    cache: EncoderDecoderCache | null,
    k: number,
  ): Promise<{ values: Float32Array; indices: Int32Array; cache: EncoderDecoderCache }> {
    const engine = this.#onnx as unknown as Pick<this, "decodeStepTopK"> | null;
    if (engine) return await engine.decodeStepTopK(state, newTokens, cache, k);
    return await decodeStepTopKOnBackend(this.#decodeParts(), state, newTokens, cache, k);
  }

  #decodeParts(): DecodeParts<unknown> {
    return { backend: this.backend, decoder: this.decoder };
  }

  /** Keeps cache rows `rows` (beam reordering). */
  reorderCache(cache: EncoderDecoderCache, rows: readonly number[]): EncoderDecoderCache {
    if (this.#onnx) return this.#onnx.reorderCache(cache as never, rows) as never;
    return cache.reorder(rows);
  }

  /**
   * Frees memory. With a cache or encoder state: its device buffers (generation calls this).
   * Without an argument: the model itself (its weights on the device; on an onnx device the
   * onnxruntime sessions); the model cannot run afterwards. Disposing twice is a no-op.
   */
  dispose(): Promise<void>;
  /** Frees the device memory of a cache or encoder state. */
  dispose(value: EncoderDecoderCache | EncoderState): void;
  dispose(value?: EncoderDecoderCache | EncoderState): Promise<void> | void {
    if (value === undefined) return this.#disposeModel();
    if (this.#onnx) return this.#onnx.dispose(value as never);
    if (value instanceof EncoderDecoderCache) value.dispose();
    else this.backend.dispose(value.hidden);
  }

  /** @deprecated Use `dispose()` (the one release method of every model). */
  release(): Promise<void> {
    return this.dispose();
  }

  async #disposeModel(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    if (this.#onnx) return await this.#onnx.release();
    const b = this.backend;
    for (const h of new Set(this.handles.values())) b.dispose(h);
    this.handles.clear();
  }
}
