/**
 * BertGeneration: the BERT stack without token types or pooler (`BertGenerationEncoder`), and as
 * a decoder with a plain `lm_head` (tied decoder weight + bias, no transform).
 *
 * @module
 */
import type { Backend } from "../backend.ts";
import { bertBaseTable, type BertConfigLike, BertModel } from "./bert.ts";
import type { DecoderArgs, DecoderStack, StackOutput } from "./stacks.ts";
import type { ParamSpec, ParamView } from "./key_table.ts";

/** HF's `BertGenerationConfig` fields read here (BERT's, without `type_vocab_size`). */
export type BertGenerationConfigLike = BertConfigLike;

/** Key table of `BertGenerationEncoder` (word + position embeddings, layers; no pooler). */
export function bertGenerationEncoderTable(cfg: BertGenerationConfigLike): ParamSpec[] {
  return bertBaseTable(cfg, { tokenTypes: false, pooler: false });
}

/** Key table of `BertGenerationDecoder`: `bert.*` + `lm_head.{bias, decoder.weight (tied)}`. */
export function bertGenerationDecoderTable(cfg: BertGenerationConfigLike): ParamSpec[] {
  const V = cfg.vocab_size, H = cfg.hidden_size, std = cfg.initializer_range;
  const tie = cfg.tie_word_embeddings ?? true;
  return [
    ...bertGenerationEncoderTable(cfg).map((s) => ({ ...s, key: `bert.${s.key}` })),
    { key: "lm_head.bias", shape: [V], init: "zeros" },
    {
      key: "lm_head.decoder.weight",
      shape: [V, H],
      init: "normal",
      std,
      tiedTo: tie ? "bert.embeddings.word_embeddings.weight" : undefined,
    },
    { key: "lm_head.decoder.bias", shape: [V], init: "zeros", tiedTo: "lm_head.bias" },
  ];
}

/**
 * HF's `BertGenerationEncoder`: `BertModel` whose embeddings are word + position (LayerNorm), no
 * token types (the key table has none, so the shared embedding code skips them).
 *
 * As a decoder it reproduces HF 4.40.2 exactly: `BertGenerationEncoder.forward` only builds the
 * extended self-attention mask when `use_cache` is off, so a decoder call with `useCache` (HF's
 * default, also inside `EncoderDecoderModel.forward` with labels) attends bidirectionally and
 * ignores the decoder padding mask. One token per cached step is unaffected.
 */
export class BertGenerationEncoder<T> extends BertModel<T> {
  /** HF 4.40.2 builds no self-attention mask for a decoder called with `use_cache`. */
  protected override readonly skipsSelfMaskWithCache = true;
}

/** HF's `BertGenerationDecoder`: a decoder `BertGenerationEncoder` under `bert.` and `lm_head`. */
export class BertGenerationDecoder<T> implements DecoderStack<T> {
  /** The base model (`bert.*`). */
  readonly bert: BertGenerationEncoder<T>;
  /** Width. */
  readonly hiddenSize: number;
  /** Logits width. */
  readonly vocabSize: number;

  /** Builds the decoder over handles `w` (keys `bert.*`, `lm_head.*`). */
  constructor(
    /** The device. */
    readonly backend: Backend<T>,
    /** The config. */
    readonly config: BertGenerationConfigLike,
    /** Handles under this module's prefix. */
    readonly w: ParamView<T>,
  ) {
    this.bert = new BertGenerationEncoder(backend, config, w.pp("bert"), "decoder");
    this.hiddenSize = config.hidden_size;
    this.vocabSize = config.vocab_size;
  }

  /** Decoder stack + LM head: logits `[batch, t, vocab]`. */
  forward(args: DecoderArgs<T>): StackOutput<T> & { logits: T } {
    const w = this.w.pp("lm_head");
    const out = this.bert.forward(args);
    const logits = this.backend.linear(
      out.lastHiddenState,
      w.get("decoder.weight"),
      w.get("decoder.bias"),
    );
    return { ...out, logits }; // [b, t, V]
  }
}
