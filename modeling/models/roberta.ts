/**
 * RoBERTa: the BERT stack with RoBERTa's position ids (`cumsum(input != pad) + padding_idx`,
 * offset by the cached length in decode steps) and the `lm_head` (dense → gelu → layer_norm →
 * tied decoder + bias).
 *
 * @module
 */
import type { Backend } from "../backend.ts";
import type { Tensor } from "../tensor.ts";
import { bertBaseTable, type BertConfigLike, BertModel } from "./bert.ts";
import type { DecoderArgs, DecoderStack, StackOutput } from "./stacks.ts";
import { paddedPositionIds, positionIds } from "./_layers.ts";
import { type ParamSpec, type ParamView, row } from "./key_table.ts";

/** HF's `RobertaConfig` fields read here (those of BERT; `pad_token_id` is the position offset). */
export type RobertaConfigLike = BertConfigLike;

function paddingIdx(cfg: RobertaConfigLike): number {
  return cfg.pad_token_id ?? 1;
}

/** Key table of `RobertaModel` (with pooler; position embeddings have a padding row). */
export function robertaModelTable(cfg: RobertaConfigLike): ParamSpec[] {
  return bertBaseTable(cfg, {
    tokenTypes: true,
    pooler: true,
    positionPaddingIdx: paddingIdx(cfg),
  });
}

/** Key table of `RobertaForCausalLM`: `roberta.*` (no pooler) + `lm_head.*` (decoder tied). */
export function robertaForCausalLMTable(cfg: RobertaConfigLike): ParamSpec[] {
  const H = cfg.hidden_size, V = cfg.vocab_size, std = cfg.initializer_range;
  const base = bertBaseTable(cfg, {
    tokenTypes: true,
    pooler: false,
    positionPaddingIdx: paddingIdx(cfg),
  }).map((s) => ({ ...s, key: `roberta.${s.key}` }));
  const tie = cfg.tie_word_embeddings ?? true;
  return [
    ...base,
    ...row.linear("lm_head.dense", H, H, std),
    ...row.layerNorm("lm_head.layer_norm", H),
    { key: "lm_head.bias", shape: [V], init: "zeros" },
    {
      key: "lm_head.decoder.weight",
      shape: [V, H],
      init: "normal",
      std,
      tiedTo: tie ? "roberta.embeddings.word_embeddings.weight" : undefined,
    },
    { key: "lm_head.decoder.bias", shape: [V], init: "zeros", tiedTo: "lm_head.bias" },
  ];
}

/**
 * HF's `RobertaModel`: `BertModel` with position ids counted over non-pad tokens and offset by
 * `padding_idx` (`create_position_ids_from_input_ids`).
 */
export class RobertaModel<T> extends BertModel<T> {
  /** Position ids `[batch, t]`: `(cumsum(ids != pad) + past) * (ids != pad) + pad`. */
  protected override positionIds(
    ids: Tensor<"int32"> | undefined,
    _batch: number,
    t: number,
    past: number,
  ): T {
    const pad = paddingIdx(this.config);
    const max = this.config.max_position_embeddings;
    if (!ids) {
      // create_position_ids_from_inputs_embeds: sequential, no past offset (as HF)
      const field = "max_position_embeddings (incl. padding_idx + 1)";
      return positionIds(this.backend, pad + 1, t, max, this.name, field);
    }
    return paddedPositionIds(this.backend, ids, past, pad, max, this.name);
  }
}

/** HF's `RobertaForCausalLM`: a decoder `RobertaModel` under `roberta.` and `lm_head`. */
export class RobertaForCausalLM<T> implements DecoderStack<T> {
  /** The base model (`roberta.*`). */
  readonly roberta: RobertaModel<T>;
  /** Width. */
  readonly hiddenSize: number;
  /** Logits width. */
  readonly vocabSize: number;

  /** Builds the decoder over handles `w` (keys `roberta.*`, `lm_head.*`). */
  constructor(
    /** The device. */
    readonly backend: Backend<T>,
    /** The config. */
    readonly config: RobertaConfigLike,
    /** Handles under this module's prefix. */
    readonly w: ParamView<T>,
  ) {
    this.roberta = new RobertaModel(backend, config, w.pp("roberta"), "decoder");
    this.hiddenSize = config.hidden_size;
    this.vocabSize = config.vocab_size;
  }

  /** Decoder stack + LM head: logits `[batch, t, vocab]`. */
  forward(args: DecoderArgs<T>): StackOutput<T> & { logits: T } {
    const b = this.backend, w = this.w.pp("lm_head");
    const out = this.roberta.forward(args);
    let h = b.linear(out.lastHiddenState, w.get("dense.weight"), w.get("dense.bias"), "gelu");
    h = b.layerNorm(
      h,
      w.get("layer_norm.weight"),
      w.get("layer_norm.bias"),
      this.config.layer_norm_eps,
    );
    return { ...out, logits: b.linear(h, w.get("decoder.weight"), w.get("decoder.bias")) }; // [b, t, V]
  }
}
