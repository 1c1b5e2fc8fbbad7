/**
 * ELECTRA, top to bottom: config → key tables → `ElectraModel` (BERT's stack over embeddings of
 * width `embedding_size`, projected to `hidden_size` by `embeddings_project` when the two
 * differ) → `ElectraForCausalLM` (the generator head: `generator_predictions` dense → gelu →
 * LayerNorm, then `generator_lm_head` tied to the word embeddings).
 *
 * @module
 */
import type { Backend } from "../backend.ts";
import { bertBaseTable, type BertConfigLike, BertModel } from "./bert.ts";
import { type ParamSpec, type ParamView, row } from "./key_table.ts";
import type { DecoderArgs, DecoderStack, StackOutput } from "./stacks.ts";

// ---- config ------------------------------------------------------------------------------------

/** HF's `ElectraConfig` fields read here (BERT's, plus the embedding width). */
export interface ElectraConfigLike extends BertConfigLike {
  /** Width of the embeddings; projected to `hidden_size` when different. */
  embedding_size: number;
}

// ---- key tables --------------------------------------------------------------------------------

/**
 * Key table of `ElectraModel` (no pooler): embeddings of width `embedding_size`,
 * `embeddings_project` when it differs from `hidden_size`, BERT's layers.
 */
export function electraModelTable(cfg: ElectraConfigLike): ParamSpec[] {
  const E = cfg.embedding_size, H = cfg.hidden_size, std = cfg.initializer_range;
  const embeddings = bertBaseTable({ ...cfg, hidden_size: E, num_hidden_layers: 0 }, {
    tokenTypes: true,
    pooler: false,
  });
  const layers = bertBaseTable(cfg, { tokenTypes: true, pooler: false })
    .filter((s) => s.key.startsWith("encoder."));
  const project = E !== H ? row.linear("embeddings_project", H, E, std) : [];
  return [...embeddings, ...project, ...layers];
}

/**
 * Key table of `ElectraForCausalLM`: `electra.*` + `generator_predictions.{dense, LayerNorm}` +
 * `generator_lm_head` (weight tied to the word embeddings, bias stored).
 */
export function electraForCausalLMTable(cfg: ElectraConfigLike): ParamSpec[] {
  const E = cfg.embedding_size, H = cfg.hidden_size, V = cfg.vocab_size;
  const std = cfg.initializer_range;
  const tie = cfg.tie_word_embeddings ?? true;
  return [
    ...electraModelTable(cfg).map((s) => ({ ...s, key: `electra.${s.key}` })),
    ...row.linear("generator_predictions.dense", E, H, std),
    ...row.layerNorm("generator_predictions.LayerNorm", E),
    {
      key: "generator_lm_head.weight",
      shape: [V, E],
      init: "normal",
      std,
      tiedTo: tie ? "electra.embeddings.word_embeddings.weight" : undefined,
    },
    { key: "generator_lm_head.bias", shape: [V], init: "zeros" },
  ];
}

// ---- the models --------------------------------------------------------------------------------

/**
 * HF's `ElectraModel`: BERT's embeddings at width `embedding_size` (word + position + token
 * type 0, LayerNorm, dropout), `embeddings_project` to `hidden_size` when the widths differ,
 * then BERT's layers (causal self-attention and cross-attention as a decoder).
 */
export class ElectraModel<T> extends BertModel<T> {
  /** Embeddings `[batch, t, hidden]`: BERT's, then `embeddings_project` where present. */
  protected override embed(args: DecoderArgs<T>, past: number): T {
    const h = super.embed(args, past); // [b, t, E]
    if (!this.w.has("embeddings_project.weight")) return h;
    return this.backend.linear(
      h,
      this.w.get("embeddings_project.weight"),
      this.w.get("embeddings_project.bias"),
    ); // [b, t, H]
  }
}

/**
 * HF's `ElectraForCausalLM`: a decoder `ElectraModel` under `electra.` and the generator head
 * (`generator_predictions`: dense H → E, gelu, LayerNorm; `generator_lm_head`: E → vocab).
 */
export class ElectraForCausalLM<T> implements DecoderStack<T> {
  /** The base model (`electra.*`). */
  readonly electra: ElectraModel<T>;
  /** Width. */
  readonly hiddenSize: number;
  /** Logits width. */
  readonly vocabSize: number;

  /** Builds the decoder over handles `w` (keys `electra.*`, `generator_*`). */
  constructor(
    /** The device. */
    readonly backend: Backend<T>,
    /** The config. */
    readonly config: ElectraConfigLike,
    /** Handles under this module's prefix. */
    readonly w: ParamView<T>,
  ) {
    this.electra = new ElectraModel(backend, config, w.pp("electra"), "decoder");
    this.hiddenSize = config.hidden_size;
    this.vocabSize = config.vocab_size;
  }

  /** Decoder stack + generator head: logits `[batch, t, vocab]`. */
  forward(args: DecoderArgs<T>): StackOutput<T> & { logits: T } {
    const b = this.backend, p = this.w.pp("generator_predictions");
    const out = this.electra.forward(args);
    // HF's ElectraGeneratorPredictions: get_activation("gelu"), whatever hidden_act says
    let h = b.linear(out.lastHiddenState, p.get("dense.weight"), p.get("dense.bias"), "gelu");
    h = b.layerNorm(
      h,
      p.get("LayerNorm.weight"),
      p.get("LayerNorm.bias"),
      this.config.layer_norm_eps,
    ); // [b, t, E]
    const head = this.w.pp("generator_lm_head");
    return { ...out, logits: b.linear(h, head.get("weight"), head.get("bias")) }; // [b, t, V]
  }
}
