/**
 * `EncoderDecoderModel`: any supported encoder (BERT, RoBERTa, BertGeneration) composed with any
 * supported decoder (the same three as causal LMs with cross-attention, or GPT-2), as HF's
 * `EncoderDecoderModel`: `enc_to_dec_proj` when the widths differ, `tie_encoder_decoder`, tied
 * word embeddings, the labels → shifted decoder inputs + loss path, and the incremental
 * `Seq2SeqModel` interface (`encode` / `decodeStep` / `reorderCache`) generation drives.
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
import { AutogradBackend, GradTensor } from "../autograd/backend.ts";
import { AutogradError, type Var } from "../autograd/var.ts";
import { seededRandom } from "../autograd/random.ts";
import { Tensor } from "../tensor.ts";
import { loadStateDict } from "../weights/mod.ts";
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
  isWeightFile,
  mergePartCheckpoints,
  partLoadingInfo,
  toConfig,
  weightsWriter,
} from "./_composite.ts";
import { sameBatch, shiftTokensRight, toIds, toLabels, toMask } from "./_inputs.ts";
import { type DeviceSpec, deviceSync, resolveDevice } from "./device.ts";
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

// ---- the model ---------------------------------------------------------------------------------

/**
 * HF's `EncoderDecoderModel` over a `Backend`.
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
  /** The device. */
  readonly backend: Backend<unknown>;
  /** The encoder stack. */
  readonly encoder: EncoderStack<unknown>;
  /** The decoder stack with LM head. */
  readonly decoder: DecoderStack<unknown>;
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
  private readonly handles: Map<string, unknown>;
  private readonly proj: { weight: unknown; bias: unknown } | null;

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
    this.backend = deviceSync(options.device);

    // One key table for the whole model: encoder.* + decoder.* (+ enc_to_dec_proj.*).
    const { ea, da, table, needProj } = compositeTable(this.config, enc, dec);
    const built = materialize(this.backend, table, {
      stateDict: options.stateDict,
      seed: options.seed ?? 0,
      dtype: options.dtype,
      ignoreUnexpected: da.ignoreUnexpected.map((re) => new RegExp(`^decoder\\..*${re.source}`)),
      source: options.source,
      strict: options.strict,
    });
    this.handles = built.handles;
    this.loadingInfo = built.info;
    this.keyTable = table;
    if (this.backend instanceof AutogradBackend) {
      for (const s of table) if (!s.tiedTo) (this.handles.get(s.key) as Var).requiresGrad = true;
    }
    this.dropoutRng = seededRandom((options.seed ?? 0) ^ 0x5eed);
    const w = new ParamView(this.handles);
    this.encoder = ea.build(this.backend, w.pp("encoder"));
    this.decoder = da.build(this.backend, w.pp("decoder"));
    this.proj = needProj
      ? { weight: w.get("enc_to_dec_proj.weight"), bias: w.get("enc_to_dec_proj.bias") }
      : null;
    this.vocabSize = this.decoder.vocabSize;
    this.generationConfig = options.generationConfig ??
      GenerationConfig.fromModelConfig(this.config as PretrainedConfig);
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
   * `pytorch_model.bin`, sharded) of a saved `EncoderDecoderModel`.
   */
  static async fromPretrained<M>(
    this: EncoderDecoderModelClass<M>,
    dirOrHubId: string,
    options: FromPretrainedOptions = {},
  ): Promise<M> {
    const resolve = options.revision ? { revision: options.revision } : {};
    const config = toConfig(await AutoConfig.fromPretrained(dirOrHubId, resolve));
    const generationConfig = await GenerationConfig.fromPretrained(dirOrHubId, resolve);
    const sd = await loadStateDict(dirOrHubId, resolve);
    const device = await resolveDevice(options.device);
    return new this(config, {
      stateDict: sd.tensors,
      device,
      dtype: options.dtype,
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

  /** The weights in HF's checkpoint layout (tied weights once), as host float32 tensors. */
  stateDict(): Promise<Map<string, Tensor>> {
    return exportStateDict(this.backend, this.keyTable, this.handles);
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
    // `dir` and swapped in, so a crash leaves the old set or the new one (config/_atomic.ts).
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
   */
  async forward(args: Seq2SeqForwardArgs): Promise<Seq2SeqLMOutput> {
    const b = this.backend;
    const past = args.pastKeyValues ?? null;
    // -- encoder
    const inputIds = args.inputIds !== undefined ? toIds(args.inputIds, "input_ids") : undefined;
    const attentionMask = args.attentionMask !== undefined
      ? toMask(args.attentionMask, "attention_mask")
      : undefined;
    if (inputIds && attentionMask) {
      sameBatch(inputIds.dims[0], attentionMask.dims[0], "input_ids vs attention_mask");
      if (inputIds.dims[1] !== attentionMask.dims[1]) {
        throw new ModelInputError(
          `attention_mask has ${attentionMask.dims[1]} columns, input_ids has ${inputIds.dims[1]}`,
        );
      }
    }
    // The device graph; intermediates are freed when the scope returns.
    const useCache = args.useCache !== false;
    const g = scoped(b, () => {
      // -- encoder
      let enc: { last: unknown; hidden?: unknown[]; attn?: unknown[] } | undefined;
      if (args.encoderOutputs) {
        enc = { last: b.upload(args.encoderOutputs.lastHiddenState) };
      } else if (inputIds || args.inputsEmbeds) {
        const o = this.encoder.forward({
          inputIds,
          inputsEmbeds: args.inputsEmbeds ? b.upload(args.inputsEmbeds) : undefined,
          attentionMask,
          dropout: this.training ? this.dropoutRng : undefined,
          outputHiddenStates: args.outputHiddenStates,
          outputAttentions: args.outputAttentions,
        });
        enc = { last: o.lastHiddenState, hidden: o.hiddenStates, attn: o.attentions };
      } else if (!past || past.cross.length === 0) {
        throw new ModelInputError("forward: give inputIds, inputsEmbeds or encoderOutputs");
      }
      const encBatch = enc ? b.dims(enc.last)[0] : past!.batchSize;
      if (attentionMask) {
        sameBatch(attentionMask.dims[0], encBatch, "attention_mask vs encoder output");
      }
      // -- decoder inputs (labels shifted right when absent)
      const labels = args.labels !== undefined ? toLabels(args.labels, this.vocabSize) : undefined;
      let decIds = args.decoderInputIds !== undefined
        ? toIds(args.decoderInputIds, "decoder_input_ids")
        : undefined;
      let decMask = args.decoderAttentionMask !== undefined
        ? toMask(args.decoderAttentionMask, "decoder_attention_mask")
        : undefined;
      if (labels && !decIds && !args.decoderInputsEmbeds) {
        decIds = shiftTokensRight(labels, this.padTokenId, this.decoderStartTokenId);
        if (!decMask) {
          const pad = this.padTokenId!;
          decMask = new Tensor(
            "float32",
            Float32Array.from(decIds.data, (v) => v === pad ? 0 : 1),
            decIds.dims,
          );
        }
      }
      if (!decIds && !args.decoderInputsEmbeds) {
        throw new ModelInputError("forward: give decoderInputIds, decoderInputsEmbeds or labels");
      }
      const decBatch = decIds ? decIds.dims[0] : args.decoderInputsEmbeds!.dims[0];
      sameBatch(decBatch, encBatch, "decoder inputs vs encoder inputs");
      if (decMask) sameBatch(decMask.dims[0], decBatch, "decoder_attention_mask vs decoder inputs");
      if (labels) {
        sameBatch(labels.dims[0], decBatch, "labels vs decoder inputs");
        const t = decIds ? decIds.dims[1] : args.decoderInputsEmbeds!.dims[1];
        if (labels.dims[1] !== t) {
          throw new ModelInputError(
            `labels have ${labels.dims[1]} columns, decoder inputs have ${t}`,
          );
        }
      }
      // -- decoder
      const d = this.decoder.forward({
        inputIds: decIds,
        inputsEmbeds: args.decoderInputsEmbeds ? b.upload(args.decoderInputsEmbeds) : undefined,
        attentionMask: decMask,
        encoderHiddenStates: enc ? this.project(enc.last) : undefined,
        encoderAttentionMask: attentionMask,
        past,
        useCache,
        dropout: this.training ? this.dropoutRng : undefined,
        outputHiddenStates: args.outputHiddenStates,
        outputAttentions: args.outputAttentions,
      });
      const loss = labels
        ? b.crossEntropy(
          b.reshape(d.logits, [-1, this.vocabSize]), // [b * t, V]
          b.upload(labels.reshape([-1])),
          { ignoreIndex: -100 },
        )
        : undefined;
      // Only what is read back or cached leaves the scope (without `useCache`, no K/V).
      return {
        loss,
        enc,
        d: {
          logits: d.logits,
          hiddenStates: d.hiddenStates,
          attentions: d.attentions,
          crossAttentions: d.crossAttentions,
          self: useCache ? d.self : undefined,
          cross: useCache ? d.cross : undefined,
        },
      };
    });
    const { enc, d } = g;

    const readAll = (xs?: unknown[]) => xs ? Promise.all(xs.map((x) => b.read(x))) : undefined;
    const l = g.loss === undefined ? undefined : await b.read(g.loss);
    const out: Seq2SeqLMOutput = {
      loss: l === undefined || l instanceof GradTensor ? l : new GradTensor(l, null),
      logits: await b.read(d.logits),
      decoderHiddenStates: await readAll(d.hiddenStates),
      decoderAttentions: await readAll(d.attentions),
      crossAttentions: await readAll(d.crossAttentions),
      encoderLastHiddenState: args.encoderOutputs?.lastHiddenState ??
        (enc ? await b.read(enc.last) : undefined),
      encoderHiddenStates: args.encoderOutputs?.hiddenStates ?? await readAll(enc?.hidden),
      encoderAttentions: args.encoderOutputs?.attentions ?? await readAll(enc?.attn),
    };
    // Everything read back is freed; only the cache stays on the device.
    for (
      const x of [
        g.loss,
        d.logits,
        ...d.hiddenStates ?? [],
        ...d.attentions ?? [],
        ...d.crossAttentions ?? [],
        enc?.last,
        ...enc?.hidden ?? [],
        ...enc?.attn ?? [],
      ]
    ) if (x !== undefined) b.dispose(x);
    if (useCache && d.self) out.pastKeyValues = new EncoderDecoderCache(b, d.self, d.cross ?? []);
    return out;
  }

  // ---- the Seq2SeqModel interface generation drives ------------------------------------------------

  /** Runs the encoder once; `inputIds` / `attentionMask` `[batch, srcLen]`. */
  encode(inputIds: number[][], attentionMask: number[][]): Promise<EncoderState> {
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
        this.project(this.encoder.forward({ inputIds: ids, attentionMask: mask }).lastHiddenState),
    );
    return Promise.resolve({ hidden, mask });
  }

  /** Repeats each row `n` times (`repeat_interleave`), for beams / samples. */
  expandEncoderState(state: EncoderState, n: number): EncoderState {
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
    const b = this.backend;
    const step = this.decodeOnDevice(state, newTokens, cache, (last) => last);
    const last = await b.read(step.out); // [b, 1, V]
    b.dispose(step.out);
    const logits = (last.dtype === "float32" ? last : last.toFloat32()).data as Float32Array;
    return { logits, cache: step.cache };
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
    const b = this.backend;
    const step = this.decodeOnDevice(state, newTokens, cache, (last) => {
      const [n, , v] = b.dims(last);
      return b.topk(b.logSoftmax(b.reshape(last, [n, v])), k); // [b, k] each
    });
    const [values, indices] = await Promise.all([
      b.read(step.out.values),
      b.read(step.out.indices),
    ]);
    b.dispose(step.out.values);
    b.dispose(step.out.indices);
    return {
      values: (values.dtype === "float32" ? values : values.toFloat32()).data as Float32Array,
      indices: Int32Array.from(indices.data as ArrayLike<number>),
      cache: step.cache,
    };
  }

  /**
   * Runs the decoder on `newTokens` and `head` on the last position's logits `[b, 1, V]` in a
   * backend scope: only `head`'s result and the new cache stay on the device; the self K/V of
   * `cache` are released (its cross K/V move to the new cache).
   */
  private decodeOnDevice<R>(
    state: EncoderState,
    newTokens: number[][],
    cache: EncoderDecoderCache | null,
    head: (last: unknown) => R,
  ): { out: R; cache: EncoderDecoderCache } {
    const b = this.backend;
    const ids = toIds(newTokens, "decoder_input_ids");
    sameBatch(ids.dims[0], state.mask.dims[0], "decoder tokens vs encoder state");
    if (cache && cache.self.length > 0) {
      sameBatch(ids.dims[0], cache.batchSize, "decoder tokens vs cache");
    }
    const r = scoped(b, () => {
      const d = this.decoder.forward({
        inputIds: ids,
        encoderHiddenStates: cache && cache.cross.length > 0 ? undefined : state.hidden,
        encoderAttentionMask: state.mask,
        past: cache,
        useCache: true,
      });
      const t = ids.dims[1];
      return {
        out: head(b.slice(d.logits, 1, t - 1, t)),
        self: d.self ?? [],
        cross: d.cross ?? [],
      };
    });
    if (cache) {
      for (const kv of cache.self) {
        b.dispose(kv.key);
        b.dispose(kv.value);
      }
    }
    return { out: r.out, cache: new EncoderDecoderCache(b, r.self, r.cross) };
  }

  /** Keeps cache rows `rows` (beam reordering). */
  reorderCache(cache: EncoderDecoderCache, rows: readonly number[]): EncoderDecoderCache {
    return cache.reorder(rows);
  }

  /** Frees the device memory of a cache or encoder state. */
  dispose(value: EncoderDecoderCache | EncoderState): void {
    if (value instanceof EncoderDecoderCache) value.dispose();
    else this.backend.dispose(value.hidden);
  }
}
