/**
 * BERT, top to bottom: config → key table → embeddings → layer (self-attention, optional
 * cross-attention, feed-forward) → `BertModel` → `BertLMHeadModel` (`cls.predictions` head).
 *
 * `RobertaModel` and `BertGenerationEncoder` reuse this stack and only change the embeddings.
 * Written once over `Backend<T>`; weights are backend handles looked up by checkpoint key.
 *
 * @module
 */
import type { Activation, Backend } from "../backend.ts";
import type { Tensor } from "../tensor.ts";
import type { KeyValue } from "./cache.ts";
import type { RandomSource } from "../backend.ts";
import {
  attentionWithDropout,
  causalPaddingMask,
  checkActivationAndHeads,
  checkIds,
  dropout,
  mergeHeads,
  paddingMask,
  positionIds,
  projectHeads,
} from "./_layers.ts";
import type { DecoderArgs, DecoderStack, EncoderStack, StackOutput } from "./stacks.ts";
import { ModelInputError, ModelLoadError } from "./errors.ts";
import { type ParamSpec, type ParamView, row } from "./key_table.ts";

// ---- config ------------------------------------------------------------------------------------

/** The fields of HF's `BertConfig` (and RoBERTa / BertGeneration) these models read. */
export interface BertConfigLike {
  /** Rows of the word embedding table. */
  vocab_size: number;
  /** Model width. */
  hidden_size: number;
  /** Number of transformer layers. */
  num_hidden_layers: number;
  /** Attention heads per layer. */
  num_attention_heads: number;
  /** Feed-forward width. */
  intermediate_size: number;
  /** Feed-forward activation (`"gelu"`, `"gelu_new"`, `"relu"`, ...). */
  hidden_act: string;
  /** Rows of the position embedding table. */
  max_position_embeddings: number;
  /** Rows of the token type table (absent for BertGeneration). */
  type_vocab_size?: number;
  /** LayerNorm epsilon. */
  layer_norm_eps: number;
  /** Std of HF's normal initialisation. */
  initializer_range: number;
  /** Padding id (embedding row zeroed at init; RoBERTa's position offset). */
  pad_token_id?: number | null;
  /** Causal self-attention. */
  is_decoder?: boolean;
  /** Cross-attention on the encoder output in each layer. */
  add_cross_attention?: boolean;
  /** LM-head decoder weight tied to the word embeddings (HF default true). */
  tie_word_embeddings?: boolean;
  /** Only `"absolute"` is supported. */
  position_embedding_type?: string;
  /** Dropout on hidden states in training mode (HF default 0.1). */
  hidden_dropout_prob?: number;
  /** Dropout on attention probabilities in training mode (HF default 0.1). */
  attention_probs_dropout_prob?: number;
}

const ACTIVATIONS: readonly Activation[] = [
  "gelu",
  "gelu_new",
  "gelu_pytorch_tanh",
  "relu",
  "tanh",
];

/** Validates `hidden_act` and the head split; returns the backend activation. */
export function bertActivation(cfg: BertConfigLike, name: string): Activation {
  checkActivationAndHeads(
    name,
    ACTIVATIONS,
    { field: "hidden_act", value: cfg.hidden_act },
    { field: "hidden_size", value: cfg.hidden_size },
    { field: "num_attention_heads", value: cfg.num_attention_heads },
  );
  if ((cfg.position_embedding_type ?? "absolute") !== "absolute") {
    throw new ModelLoadError(
      `${name}: position_embedding_type "${cfg.position_embedding_type}" is not supported (expected "absolute")`,
    );
  }
  return cfg.hidden_act as Activation;
}

// ---- key table ---------------------------------------------------------------------------------

/** Key table of the embeddings + layers of a BERT-style base model (keys relative to it). */
export function bertBaseTable(
  cfg: BertConfigLike,
  opts: { tokenTypes: boolean; pooler: boolean; positionPaddingIdx?: number },
): ParamSpec[] {
  const H = cfg.hidden_size, I = cfg.intermediate_size, std = cfg.initializer_range;
  const pad = cfg.pad_token_id ?? undefined;
  const t: ParamSpec[] = [
    row.embedding("embeddings.word_embeddings.weight", cfg.vocab_size, H, std, pad),
    row.embedding(
      "embeddings.position_embeddings.weight",
      cfg.max_position_embeddings,
      H,
      std,
      opts.positionPaddingIdx,
    ),
  ];
  if (opts.tokenTypes) {
    t.push(
      row.embedding("embeddings.token_type_embeddings.weight", cfg.type_vocab_size ?? 2, H, std),
    );
  }
  t.push(...row.layerNorm("embeddings.LayerNorm", H));
  const attention = (p: string) => [
    ...row.linear(`${p}.self.query`, H, H, std),
    ...row.linear(`${p}.self.key`, H, H, std),
    ...row.linear(`${p}.self.value`, H, H, std),
    ...row.linear(`${p}.output.dense`, H, H, std),
    ...row.layerNorm(`${p}.output.LayerNorm`, H),
  ];
  for (let i = 0; i < cfg.num_hidden_layers; i++) {
    const p = `encoder.layer.${i}`;
    t.push(...attention(`${p}.attention`));
    if (cfg.add_cross_attention) t.push(...attention(`${p}.crossattention`));
    t.push(
      ...row.linear(`${p}.intermediate.dense`, I, H, std),
      ...row.linear(`${p}.output.dense`, H, I, std),
      ...row.layerNorm(`${p}.output.LayerNorm`, H),
    );
  }
  if (opts.pooler) t.push(...row.linear("pooler.dense", H, H, std));
  return t;
}

/** Key table of `BertModel` (with pooler, as HF's `AutoModel` builds the encoder). */
export function bertModelTable(cfg: BertConfigLike): ParamSpec[] {
  return bertBaseTable(cfg, { tokenTypes: true, pooler: true });
}

/** Key table of `BertLMHeadModel`: `bert.*` (no pooler) + `cls.predictions.*` (decoder tied). */
export function bertLMHeadTable(cfg: BertConfigLike): ParamSpec[] {
  const H = cfg.hidden_size, V = cfg.vocab_size, std = cfg.initializer_range;
  const base = bertBaseTable(cfg, { tokenTypes: true, pooler: false })
    .map((s) => ({ ...s, key: `bert.${s.key}` }));
  const tie = cfg.tie_word_embeddings ?? true;
  return [
    ...base,
    ...row.linear("cls.predictions.transform.dense", H, H, std),
    ...row.layerNorm("cls.predictions.transform.LayerNorm", H),
    { key: "cls.predictions.bias", shape: [V], init: "zeros" },
    tie
      ? {
        key: "cls.predictions.decoder.weight",
        shape: [V, H],
        init: "normal",
        std,
        tiedTo: "bert.embeddings.word_embeddings.weight",
      }
      : { key: "cls.predictions.decoder.weight", shape: [V, H], init: "normal", std },
    {
      key: "cls.predictions.decoder.bias",
      shape: [V],
      init: "zeros",
      tiedTo: "cls.predictions.bias",
    },
  ];
}

// ---- the model ---------------------------------------------------------------------------------

/** @deprecated The output of every stack: use {@linkcode StackOutput}. */
export type BertStackOutput<T> = StackOutput<T>;

/**
 * HF's `BertModel`: embeddings (word + position + token type 0, LayerNorm) and
 * `num_hidden_layers` layers; as a decoder, causal self-attention and cross-attention.
 *
 * @example
 * ```ts
 * import { BertModel, EncoderDecoderModel } from "@encdec/modeling";
 * const model = await EncoderDecoderModel.fromPretrained("tests/testdata/fixtures/bert2bert");
 * model.encoder instanceof BertModel; // true: HF's AutoModel for a "bert" encoder
 * ```
 */
export class BertModel<T> implements EncoderStack<T> {
  /** Feed-forward activation. */
  protected readonly act: Activation;
  /** Width. */
  readonly hiddenSize: number;
  /** As a decoder with `useCache`, skip the self-attention mask (HF's BertGeneration does). */
  protected readonly skipsSelfMaskWithCache: boolean = false;

  /** Builds the model over handles `w` (keys `embeddings.*`, `encoder.layer.*`). */
  constructor(
    /** The device. */
    readonly backend: Backend<T>,
    /** The config. */
    readonly config: BertConfigLike,
    /** Handles under this model's prefix. */
    readonly w: ParamView<T>,
    /** Name for error messages (`"encoder"`, `"decoder"`). */
    readonly name = "bert",
  ) {
    this.act = bertActivation(config, name);
    this.hiddenSize = config.hidden_size;
  }

  /** Position ids `[batch or 1, t]` (int32 handle) of new tokens after `past` cached positions. */
  protected positionIds(
    _ids: Tensor<"int32"> | undefined,
    _batch: number,
    t: number,
    past: number,
  ): T {
    return positionIds(
      this.backend,
      past,
      t,
      this.config.max_position_embeddings,
      this.name,
      "max_position_embeddings",
    );
  }

  /** Embeddings `[batch, t, hidden]` of new tokens (or given `inputsEmbeds`). */
  protected embed(args: DecoderArgs<T>, past: number): T {
    const b = this.backend, w = this.w.pp("embeddings");
    const x = this.wordEmbeddings(args);
    const [n, t] = b.dims(x);
    let h = x;
    if (w.has("token_type_embeddings.weight")) {
      // token_type_ids default to zeros: row 0, broadcast over [batch, t]
      h = b.add(h, b.slice(w.get("token_type_embeddings.weight"), 0, 0, 1));
    }
    const pos = this.positionIds(args.inputIds, n, t, past);
    h = b.add(h, b.embedding(w.get("position_embeddings.weight"), pos));
    h = b.layerNorm(
      h,
      w.get("LayerNorm.weight"),
      w.get("LayerNorm.bias"),
      this.config.layer_norm_eps,
    );
    return dropout(b, h, this.config.hidden_dropout_prob, args.dropout);
  }

  /** `word_embeddings[ids]` `[batch, t, hidden]`, or the given `inputsEmbeds`. */
  protected wordEmbeddings(args: DecoderArgs<T>): T {
    if (args.inputsEmbeds !== undefined) return args.inputsEmbeds;
    if (!args.inputIds) {
      throw new ModelInputError(`${this.name}: neither input ids nor embeddings given`);
    }
    checkIds(args.inputIds, this.config.vocab_size, `${this.name} input_ids`);
    const ids = this.backend.upload(args.inputIds);
    return this.backend.embedding(this.w.get("embeddings.word_embeddings.weight"), ids);
  }

  /** Multi-head attention + output dense + residual LayerNorm (`attention` / `crossattention`). */
  private attentionBlock(
    w: ParamView<T>,
    x: T, // [b, t, H]
    kv: KeyValue<T>, // [b, h, s, d] each
    q: T, // [b, h, t, d]
    mask: T | undefined,
    causal: boolean,
    returnProbs: boolean,
    rng: RandomSource | undefined, // training mode: dropout
  ): { out: T; probs?: T } {
    const b = this.backend, cfg = this.config;
    const d = cfg.hidden_size / cfg.num_attention_heads;
    const { output, probs } = attentionWithDropout(
      b,
      q,
      kv.key,
      kv.value,
      { mask, causal, scale: 1 / Math.sqrt(d), returnProbs },
      cfg.attention_probs_dropout_prob,
      rng,
    );
    return { out: this.attentionOutput(w, output, x, rng), probs };
  }

  /**
   * `output.dense` of the merged heads `context` `[b, h, t, d]`, dropout, residual `x`
   * `[b, t, H]` and `output.LayerNorm` (BERT's `BertSelfOutput`; `w` is the attention module).
   */
  protected attentionOutput(
    w: ParamView<T>,
    context: T,
    x: T,
    rng: RandomSource | undefined,
  ): T {
    const b = this.backend;
    const o = dropout(
      b,
      b.linear(mergeHeads(b, context), w.get("output.dense.weight"), w.get("output.dense.bias")),
      this.config.hidden_dropout_prob,
      rng,
    );
    return b.layerNorm(
      b.add(o, x),
      w.get("output.LayerNorm.weight"),
      w.get("output.LayerNorm.bias"),
      this.config.layer_norm_eps,
    );
  }

  /**
   * The feed-forward block of layer `w` on `x` `[b, t, H]`: `intermediate.dense` → activation →
   * `output.dense` → dropout → residual + `output.LayerNorm`.
   */
  protected feedForward(w: ParamView<T>, x: T, rng: RandomSource | undefined): T {
    const b = this.backend, cfg = this.config;
    const h = b.linear(
      x,
      w.get("intermediate.dense.weight"),
      w.get("intermediate.dense.bias"),
      this.act,
    ); // [b, t, I]
    const o = dropout(
      b,
      b.linear(h, w.get("output.dense.weight"), w.get("output.dense.bias")),
      cfg.hidden_dropout_prob,
      rng,
    );
    return b.layerNorm(
      b.add(o, x),
      w.get("output.LayerNorm.weight"),
      w.get("output.LayerNorm.bias"),
      cfg.layer_norm_eps,
    );
  }

  /** Projects `x [b, t, H]` with `prefix.{weight,bias}` and splits heads → `[b, h, t, d]`. */
  protected heads(w: ParamView<T>, prefix: string, x: T): T {
    return projectHeads(this.backend, w, prefix, x, this.config.num_attention_heads);
  }

  /** Runs embeddings and layers. As a decoder, `args.past` supplies cached K/V. */
  forward(args: DecoderArgs<T>): StackOutput<T> {
    const b = this.backend, cfg = this.config;
    const isDecoder = cfg.is_decoder ?? false;
    const past = args.past?.length ?? 0;
    let x = this.embed(args, past); // [b, t, H]
    const t = b.dims(x)[1];
    if (args.attentionMask && args.attentionMask.dims[1] !== past + t) {
      throw new ModelInputError(
        `${this.name}: attention_mask has ${args.attentionMask.dims[1]} columns, expected ${
          past + t
        } (past ${past} + new ${t})`,
      );
    }
    // Additive masks: [b, 1, t, past + t] (decoder) or [b, 1, 1, src].
    // HF's BertGeneration quirk: a decoder called with use_cache builds no self-attention mask at
    // all (neither causal nor padding), so the goldens see bidirectional attention there.
    const noSelfMask = isDecoder && this.skipsSelfMaskWithCache && !!args.useCache;
    const selfMask = args.attentionMask && !noSelfMask
      ? (isDecoder
        ? causalPaddingMask(b, args.attentionMask, t)
        : paddingMask(b, args.attentionMask))
      : undefined;
    const selfCausal = isDecoder && !selfMask && !noSelfMask;
    const crossMask = args.encoderAttentionMask
      ? paddingMask(b, args.encoderAttentionMask)
      : undefined;

    const hiddenStates = args.outputHiddenStates ? [x] : undefined;
    const attentions: T[] | undefined = args.outputAttentions ? [] : undefined;
    const crossAttentions: T[] | undefined = args.outputAttentions && cfg.add_cross_attention
      ? []
      : undefined;
    const selfKV: KeyValue<T>[] = [];
    const crossKV: KeyValue<T>[] = [];

    for (let i = 0; i < cfg.num_hidden_layers; i++) {
      const w = this.w.pp("encoder.layer").pp(i);
      // self-attention: K/V of the new tokens appended to the cached ones
      const sa = w.pp("attention");
      let kv: KeyValue<T> = {
        key: this.heads(sa, "self.key", x),
        value: this.heads(sa, "self.value", x),
      };
      const cached = args.past?.self[i];
      if (cached) {
        kv = {
          key: b.concat([cached.key, kv.key], 2),
          value: b.concat([cached.value, kv.value], 2),
        };
      }
      if (isDecoder) selfKV.push(kv);
      const s = this.attentionBlock(
        sa,
        x,
        kv,
        this.heads(sa, "self.query", x),
        selfMask,
        selfCausal,
        !!attentions,
        args.dropout,
      );
      x = s.out;
      attentions?.push(s.probs!);

      // cross-attention on the encoder output: K/V computed once, then taken from the cache
      if (cfg.add_cross_attention) {
        const ca = w.pp("crossattention");
        let ckv = args.past?.cross[i];
        if (!ckv) {
          if (args.encoderHiddenStates === undefined) {
            throw new ModelInputError(
              `${this.name}: cross-attention needs encoder_hidden_states or a cache holding them`,
            );
          }
          ckv = {
            key: this.heads(ca, "self.key", args.encoderHiddenStates),
            value: this.heads(ca, "self.value", args.encoderHiddenStates),
          };
        }
        crossKV.push(ckv);
        const c = this.attentionBlock(
          ca,
          x,
          ckv,
          this.heads(ca, "self.query", x),
          crossMask,
          false,
          !!crossAttentions,
          args.dropout,
        );
        x = c.out;
        crossAttentions?.push(c.probs!);
      }

      x = this.feedForward(w, x, args.dropout);
      hiddenStates?.push(x);
    }
    return {
      lastHiddenState: x,
      hiddenStates,
      attentions,
      crossAttentions,
      self: isDecoder ? selfKV : undefined,
      cross: cfg.add_cross_attention ? crossKV : undefined,
    };
  }
}

/**
 * HF's `BertLMHeadModel`: a decoder `BertModel` under `bert.` and the `cls.predictions` head
 * (dense → activation → LayerNorm → tied decoder + bias).
 */
export class BertLMHeadModel<T> implements DecoderStack<T> {
  /** The base model (`bert.*`). */
  readonly bert: BertModel<T>;
  /** Width. */
  readonly hiddenSize: number;
  /** Logits width. */
  readonly vocabSize: number;

  /** Builds the decoder over handles `w` (keys `bert.*`, `cls.*`). */
  constructor(
    readonly backend: Backend<T>,
    readonly config: BertConfigLike,
    readonly w: ParamView<T>,
  ) {
    this.bert = new BertModel(backend, config, w.pp("bert"), "decoder");
    this.hiddenSize = config.hidden_size;
    this.vocabSize = config.vocab_size;
  }

  /** Decoder stack + LM head: logits `[batch, t, vocab]`. */
  forward(args: DecoderArgs<T>): StackOutput<T> & { logits: T } {
    const b = this.backend, w = this.w.pp("cls.predictions");
    const out = this.bert.forward(args);
    let h = b.linear(
      out.lastHiddenState,
      w.get("transform.dense.weight"),
      w.get("transform.dense.bias"),
      bertActivation(this.config, "decoder"),
    );
    h = b.layerNorm(
      h,
      w.get("transform.LayerNorm.weight"),
      w.get("transform.LayerNorm.bias"),
      this.config.layer_norm_eps,
    );
    const logits = b.linear(h, w.get("decoder.weight"), w.get("decoder.bias")); // [b, t, V]
    return { ...out, logits };
  }
}
