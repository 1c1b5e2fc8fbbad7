/**
 * `DistilBertConfig` with HF 4.40.2 defaults and field names (`dim`, `n_layers`, `n_heads`,
 * `hidden_dim`), plus HF's `attribute_map` aliases (`hiddenSize` ↔ `dim`, ...) as accessors.
 *
 * @module
 */
import { z } from "zod";
import { type ConfigOptions, PretrainedConfig } from "./pretrained.ts";
import { checkHeads, pretrainedConfigShape } from "./_pretrained_fields.ts";

const positive = () => z.int().positive();
const prob = () => z.number().min(0).max(1);

/**
 * HF `DistilBertConfig`: vocab 30522, max positions 512, sinusoidal_pos_embds false, 6 layers,
 * 12 heads, dim 768, hidden_dim 3072, dropouts 0.1, activation "gelu", pad 0.
 *
 * @example
 * ```ts
 * import { DistilBertConfig } from "@encdec/config";
 * const c = new DistilBertConfig({ dim: 32, nHeads: 4 });
 * c.hiddenSize; // 32
 * ```
 */
export class DistilBertConfig extends PretrainedConfig {
  /** HF `model_type`. */
  static override readonly modelType: string = "distilbert";
  /** HF `attribute_map`: generic names → DistilBERT names. */
  static override readonly attributeMap: Readonly<Record<string, string>> = {
    hidden_size: "dim",
    num_attention_heads: "n_heads",
    num_hidden_layers: "n_layers",
  };
  /** The zod schema of a DistilBERT `config.json`. */
  static override readonly schema: z.ZodObject = z.looseObject({
    ...pretrainedConfigShape,
    pad_token_id: z.int().nullable().default(0),
    vocab_size: positive().default(30522),
    max_position_embeddings: positive().default(512),
    sinusoidal_pos_embds: z.boolean().default(false),
    n_layers: positive().default(6),
    n_heads: positive().default(12),
    dim: positive().default(768),
    hidden_dim: positive().default(3072),
    dropout: prob().default(0.1),
    attention_dropout: prob().default(0.1),
    activation: z.string().default("gelu"),
    initializer_range: z.number().default(0.02),
    qa_dropout: prob().default(0.1),
    seq_classif_dropout: prob().default(0.2),
  });

  /** Vocabulary size. Default 30522. */
  declare vocabSize: number;
  /** Number of position embeddings. Default 512. */
  declare maxPositionEmbeddings: number;
  /** Fixed sinusoidal position embeddings instead of learned ones. Default `false`. */
  declare sinusoidalPosEmbds: boolean;
  /** Number of layers. Default 6. */
  declare nLayers: number;
  /** Attention heads per layer. Default 12. */
  declare nHeads: number;
  /** Hidden size. Default 768. */
  declare dim: number;
  /** Feed-forward inner size. Default 3072. */
  declare hiddenDim: number;
  /** Dropout on hidden states. Default 0.1. */
  declare dropout: number;
  /** Dropout on attention probabilities. Default 0.1. */
  declare attentionDropout: number;
  /** Feed-forward activation. Default `"gelu"`. */
  declare activation: string;
  /** Std of the weight initializer. Default 0.02. */
  declare initializerRange: number;
  /** Question-answering head dropout. Default 0.1. */
  declare qaDropout: number;
  /** Sequence-classification head dropout. Default 0.2. */
  declare seqClassifDropout: number;

  /** Builds a config from camelCased options over HF's defaults. */
  constructor(options: ConfigOptions<DistilBertConfig> = {}) {
    super(options as ConfigOptions<PretrainedConfig>);
  }

  /** Alias of `dim` (HF `attribute_map`). */
  get hiddenSize(): number {
    return this.dim;
  }
  set hiddenSize(v: number) {
    this.dim = v;
  }
  /** Alias of `nHeads` (HF `attribute_map`). */
  get numAttentionHeads(): number {
    return this.nHeads;
  }
  set numAttentionHeads(v: number) {
    this.nHeads = v;
  }
  /** Alias of `nLayers` (HF `attribute_map`). */
  get numHiddenLayers(): number {
    return this.nLayers;
  }
  set numHiddenLayers(v: number) {
    this.nLayers = v;
  }

  /** Rejects a `dim` that is not a multiple of the head count (ConfigError). */
  protected override check(file: string, prefix: string): void {
    checkHeads(file, prefix, ["dim", "n_heads"], this.dim, this.nHeads);
  }
}
