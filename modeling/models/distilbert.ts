/**
 * DistilBERT as an encoder, top to bottom: config → key table → `DistilBertModel` (word +
 * position embeddings, no token types; `transformer.layer.N` blocks: `attention.{q,k,v,out}_lin`
 * → `sa_layer_norm`, `ffn.lin1` → activation → `ffn.lin2` → `output_layer_norm`; no pooler).
 *
 * With `sinusoidal_pos_embds` the position table is HF's fixed sinusoidal one (initialised so
 * when the checkpoint lacks it; stored in checkpoints like any weight).
 *
 * @module
 */
import type { Activation, Backend } from "../backend.ts";
import {
  attentionWithDropout,
  checkActivationAndHeads,
  checkIds,
  dropout,
  mergeHeads,
  paddingMask,
  positionIds,
  projectHeads,
} from "./_layers.ts";
import { ModelInputError } from "./errors.ts";
import { type ParamSpec, type ParamView, row } from "./key_table.ts";
import type { EncoderArgs, EncoderStack, StackOutput } from "./stacks.ts";

// ---- config ------------------------------------------------------------------------------------

/** The fields of HF's `DistilBertConfig` read here. */
export interface DistilBertConfigLike {
  /** Rows of the word embedding table. */
  vocab_size: number;
  /** Model width. */
  dim: number;
  /** Number of transformer blocks. */
  n_layers: number;
  /** Attention heads per block. */
  n_heads: number;
  /** Feed-forward width. */
  hidden_dim: number;
  /** Feed-forward activation (`"gelu"`, `"relu"`). */
  activation: string;
  /** Rows of the position embedding table. */
  max_position_embeddings: number;
  /** Fixed sinusoidal position embeddings. */
  sinusoidal_pos_embds?: boolean;
  /** Std of HF's normal initialisation. */
  initializer_range: number;
  /** Padding id (word embedding row zeroed at init). */
  pad_token_id?: number | null;
  /** Dropout on hidden states in training mode (HF default 0.1). */
  dropout?: number;
  /** Dropout on attention probabilities in training mode (HF default 0.1). */
  attention_dropout?: number;
}

const ACTIVATIONS: readonly Activation[] = ["gelu", "relu"];
/** DistilBERT's LayerNorms use a fixed epsilon (HF hard-codes 1e-12). */
const LAYER_NORM_EPS = 1e-12;

// ---- key table ---------------------------------------------------------------------------------

/** Key table of `DistilBertModel` (keys as HF's, relative to the model). */
export function distilBertModelTable(cfg: DistilBertConfigLike): ParamSpec[] {
  const D = cfg.dim, I = cfg.hidden_dim, std = cfg.initializer_range;
  const t: ParamSpec[] = [
    row.embedding(
      "embeddings.word_embeddings.weight",
      cfg.vocab_size,
      D,
      std,
      cfg.pad_token_id ?? undefined,
    ),
    cfg.sinusoidal_pos_embds
      ? {
        key: "embeddings.position_embeddings.weight",
        shape: [cfg.max_position_embeddings, D],
        init: "sinusoidal",
      }
      : row.embedding("embeddings.position_embeddings.weight", cfg.max_position_embeddings, D, std),
    ...row.layerNorm("embeddings.LayerNorm", D),
  ];
  for (let i = 0; i < cfg.n_layers; i++) {
    const p = `transformer.layer.${i}`;
    t.push(
      ...row.linear(`${p}.attention.q_lin`, D, D, std),
      ...row.linear(`${p}.attention.k_lin`, D, D, std),
      ...row.linear(`${p}.attention.v_lin`, D, D, std),
      ...row.linear(`${p}.attention.out_lin`, D, D, std),
      ...row.layerNorm(`${p}.sa_layer_norm`, D),
      ...row.linear(`${p}.ffn.lin1`, I, D, std),
      ...row.linear(`${p}.ffn.lin2`, D, I, std),
      ...row.layerNorm(`${p}.output_layer_norm`, D),
    );
  }
  return t;
}

// ---- the model ---------------------------------------------------------------------------------

/**
 * HF's `DistilBertModel`: embeddings (word + position, LayerNorm, dropout) and `n_layers`
 * post-norm blocks; bidirectional self-attention with the padding mask.
 */
export class DistilBertModel<T> implements EncoderStack<T> {
  /** Width. */
  readonly hiddenSize: number;
  private readonly act: Activation;

  /** Builds the model over handles `w` (keys `embeddings.*`, `transformer.layer.*`). */
  constructor(
    /** The device. */
    readonly backend: Backend<T>,
    /** The config. */
    readonly config: DistilBertConfigLike,
    /** Handles under this model's prefix. */
    readonly w: ParamView<T>,
    /** Name for error messages. */
    readonly name = "distilbert",
  ) {
    checkActivationAndHeads(
      name,
      ACTIVATIONS,
      { field: "activation", value: config.activation },
      { field: "dim", value: config.dim },
      { field: "n_heads", value: config.n_heads },
    );
    this.act = config.activation as Activation;
    this.hiddenSize = config.dim;
  }

  /** Projects `x [b, t, D]` with `prefix.{weight,bias}` and splits heads → `[b, h, t, d]`. */
  private heads(w: ParamView<T>, prefix: string, x: T): T {
    return projectHeads(this.backend, w, prefix, x, this.config.n_heads);
  }

  /** Runs embeddings and blocks. */
  forward(args: EncoderArgs<T>): StackOutput<T> {
    const b = this.backend, cfg = this.config, w = this.w;
    if (args.globalAttentionMask) {
      throw new ModelInputError(`${this.name}: DistilBERT takes no global_attention_mask`);
    }
    // -- embeddings
    let x: T;
    if (args.inputsEmbeds !== undefined) x = args.inputsEmbeds;
    else if (args.inputIds) {
      checkIds(args.inputIds, cfg.vocab_size, `${this.name} input_ids`);
      x = b.embedding(w.get("embeddings.word_embeddings.weight"), b.upload(args.inputIds));
    } else throw new ModelInputError(`${this.name}: neither input ids nor embeddings given`);
    const t = b.dims(x)[1];
    const pos = positionIds(
      b,
      0,
      t,
      cfg.max_position_embeddings,
      this.name,
      "max_position_embeddings",
    );
    x = b.add(x, b.embedding(w.get("embeddings.position_embeddings.weight"), pos));
    x = b.layerNorm(
      x,
      w.get("embeddings.LayerNorm.weight"),
      w.get("embeddings.LayerNorm.bias"),
      LAYER_NORM_EPS,
    );
    x = dropout(b, x, cfg.dropout, args.dropout); // [b, t, D]

    const mask = args.attentionMask ? paddingMask(b, args.attentionMask) : undefined; // [b, 1, 1, t]
    const scale = 1 / Math.sqrt(cfg.dim / cfg.n_heads);
    const hiddenStates = args.outputHiddenStates ? [x] : undefined;
    const attentions: T[] | undefined = args.outputAttentions ? [] : undefined;
    for (let i = 0; i < cfg.n_layers; i++) {
      const l = w.pp("transformer.layer").pp(i);
      const a = l.pp("attention");
      const { output, probs } = attentionWithDropout(
        b,
        this.heads(a, "q_lin", x),
        this.heads(a, "k_lin", x),
        this.heads(a, "v_lin", x),
        { mask, scale, returnProbs: !!attentions },
        cfg.attention_dropout,
        args.dropout,
      ); // [b, h, t, d]
      attentions?.push(probs!);
      const sa = b.linear(mergeHeads(b, output), a.get("out_lin.weight"), a.get("out_lin.bias"));
      x = b.layerNorm(
        b.add(sa, x),
        l.get("sa_layer_norm.weight"),
        l.get("sa_layer_norm.bias"),
        LAYER_NORM_EPS,
      );
      const h = b.linear(x, l.get("ffn.lin1.weight"), l.get("ffn.lin1.bias"), this.act); // [b, t, I]
      const f = dropout(
        b,
        b.linear(h, l.get("ffn.lin2.weight"), l.get("ffn.lin2.bias")),
        cfg.dropout,
        args.dropout,
      );
      x = b.layerNorm(
        b.add(f, x),
        l.get("output_layer_norm.weight"),
        l.get("output_layer_norm.bias"),
        LAYER_NORM_EPS,
      );
      hiddenStates?.push(x);
    }
    return { lastHiddenState: x, hiddenStates, attentions };
  }
}
