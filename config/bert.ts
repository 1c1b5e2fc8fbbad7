/**
 * BERT-family configs with HF 4.40.2 defaults: `BertConfig`, `RobertaConfig` (BERT's layout,
 * with pad 1 / bos 0 / eos 2 and vocab 50265), `XLMRobertaConfig` and `CamembertConfig`
 * (RoBERTa's fields, vocab 30522) and `BertGenerationConfig` (no token types).
 *
 * @module
 */
import { z } from "zod";
import { type ConfigOptions, PretrainedConfig } from "./pretrained.ts";
import { checkHeads, pretrainedConfigShape } from "./_pretrained_fields.ts";

const positive = () => z.int().positive();
const prob = () => z.number().min(0).max(1);
const positionEmbeddingType = () =>
  z.enum(["absolute", "relative_key", "relative_key_query"]).default("absolute");

/**
 * Fields shared by BERT, RoBERTa, XLM-R, CamemBERT, ELECTRA and BertGeneration (BertGeneration
 * drops the token types), with the family's id and vocabulary defaults.
 */
export function bertShape(
  d: { vocab: number; pad: number; bos: number | null; eos: number | null },
) {
  return {
    ...pretrainedConfigShape,
    pad_token_id: z.int().nullable().default(d.pad),
    bos_token_id: z.int().nullable().default(d.bos),
    eos_token_id: z.union([z.int(), z.array(z.int())]).nullable().default(d.eos),
    vocab_size: positive().default(d.vocab),
    hidden_size: positive().default(768),
    num_hidden_layers: positive().default(12),
    num_attention_heads: positive().default(12),
    hidden_act: z.string().default("gelu"),
    intermediate_size: positive().default(3072),
    hidden_dropout_prob: prob().default(0.1),
    attention_probs_dropout_prob: prob().default(0.1),
    max_position_embeddings: positive().default(512),
    type_vocab_size: positive().default(2),
    initializer_range: z.number().default(0.02),
    layer_norm_eps: z.number().positive().default(1e-12),
    position_embedding_type: positionEmbeddingType(),
    use_cache: z.boolean().default(true),
    classifier_dropout: prob().nullable().default(null),
  };
}

/**
 * The transformer-shape fields of every BERT-shaped config (BERT, RoBERTa and their relatives,
 * Longformer), with the head-split check HF asserts when it builds the model.
 */
export abstract class BertShapedConfig extends PretrainedConfig {
  /** Vocabulary size. */
  declare vocabSize: number;
  /** Hidden size (`hidden_size`), a multiple of `numAttentionHeads`. Default 768. */
  declare hiddenSize: number;
  /** Number of transformer layers. Default 12. */
  declare numHiddenLayers: number;
  /** Attention heads per layer. Default 12. */
  declare numAttentionHeads: number;
  /** Activation of the feed-forward block (`"gelu"`, `"relu"`, `"gelu_new"`, ...). */
  declare hiddenAct: string;
  /** Feed-forward inner size. Default 3072. */
  declare intermediateSize: number;
  /** Dropout on hidden states. Default 0.1. */
  declare hiddenDropoutProb: number;
  /** Dropout on attention probabilities. Default 0.1. */
  declare attentionProbsDropoutProb: number;
  /** Number of position embeddings. Default 512. */
  declare maxPositionEmbeddings: number;
  /** Number of token types (segments). Default 2. */
  declare typeVocabSize: number;
  /** Std of the weight initializer. Default 0.02. */
  declare initializerRange: number;
  /** LayerNorm epsilon. Default 1e-12. */
  declare layerNormEps: number;

  /** Rejects a hidden size that is not a multiple of the head count (ConfigError). */
  protected override check(file: string, prefix: string): void {
    checkHeads(
      file,
      prefix,
      ["hidden_size", "num_attention_heads"],
      this.hiddenSize,
      this.numAttentionHeads,
    );
  }
}

/**
 * Fields common to `BertConfig` and `RobertaConfig` (HF's two configs share this layout).
 * Dispatch on `modelType` or `instanceof BertConfig` / `RobertaConfig`, not on this base.
 */
export abstract class BertLikeConfig extends BertShapedConfig {
  /** `"absolute"` (default), `"relative_key"` or `"relative_key_query"`. */
  declare positionEmbeddingType: "absolute" | "relative_key" | "relative_key_query";
  /** Return key/value caches from the decoder. Default `true`. */
  declare useCache: boolean;
  /** Dropout of classification heads (`null` = use `hiddenDropoutProb`). */
  declare classifierDropout: number | null;
}

/**
 * HF `BertConfig`: `new BertConfig()` equals HF's `BertConfig()` (vocab 30522, hidden 768,
 * 12 layers, 12 heads, intermediate 3072, gelu, max positions 512, type vocab 2,
 * layer_norm_eps 1e-12, pad 0).
 *
 * @example
 * ```ts
 * import { BertConfig } from "@encdec/config";
 * const tiny = new BertConfig({ vocabSize: 99, hiddenSize: 32, numAttentionHeads: 4 });
 * tiny.modelType; // "bert"
 * ```
 */
export class BertConfig extends BertLikeConfig {
  /** HF `model_type`. */
  static override readonly modelType: string = "bert";
  /** The zod schema of a BERT `config.json`. */
  static override readonly schema: z.ZodObject = z.looseObject(
    bertShape({ vocab: 30522, pad: 0, bos: null, eos: null }),
  );

  /** Builds a config from camelCased options over HF's defaults. */
  constructor(options: ConfigOptions<BertConfig> = {}) {
    super(options as ConfigOptions<PretrainedConfig>);
  }
}

/**
 * HF `RobertaConfig`: BERT's fields with vocab 50265, pad 1, bos 0, eos 2.
 *
 * @example
 * ```ts
 * import { RobertaConfig } from "@encdec/config";
 * const c = new RobertaConfig();
 * c.padTokenId; // 1
 * ```
 */
export class RobertaConfig extends BertLikeConfig {
  /** HF `model_type`. */
  static override readonly modelType: string = "roberta";
  /** The zod schema of a RoBERTa `config.json`. */
  static override readonly schema: z.ZodObject = z.looseObject(
    bertShape({ vocab: 50265, pad: 1, bos: 0, eos: 2 }),
  );

  /** Builds a config from camelCased options over HF's defaults. */
  constructor(options: ConfigOptions<RobertaConfig> = {}) {
    super(options as ConfigOptions<PretrainedConfig>);
  }
}

/**
 * HF `XLMRobertaConfig`: RoBERTa's fields (pad 1, bos 0, eos 2) with HF's default vocab 30522.
 *
 * @example
 * ```ts
 * import { XLMRobertaConfig } from "@encdec/config";
 * new XLMRobertaConfig().modelType; // "xlm-roberta"
 * ```
 */
export class XLMRobertaConfig extends BertLikeConfig {
  /** HF `model_type`. */
  static override readonly modelType: string = "xlm-roberta";
  /** The zod schema of an XLM-RoBERTa `config.json`. */
  static override readonly schema: z.ZodObject = z.looseObject(
    bertShape({ vocab: 30522, pad: 1, bos: 0, eos: 2 }),
  );

  /** Builds a config from camelCased options over HF's defaults. */
  constructor(options: ConfigOptions<XLMRobertaConfig> = {}) {
    super(options as ConfigOptions<PretrainedConfig>);
  }
}

/**
 * HF `CamembertConfig`: RoBERTa's fields (pad 1, bos 0, eos 2) with HF's default vocab 30522.
 *
 * @example
 * ```ts
 * import { CamembertConfig } from "@encdec/config";
 * new CamembertConfig().padTokenId; // 1
 * ```
 */
export class CamembertConfig extends BertLikeConfig {
  /** HF `model_type`. */
  static override readonly modelType: string = "camembert";
  /** The zod schema of a CamemBERT `config.json`. */
  static override readonly schema: z.ZodObject = z.looseObject(
    bertShape({ vocab: 30522, pad: 1, bos: 0, eos: 2 }),
  );

  /** Builds a config from camelCased options over HF's defaults. */
  constructor(options: ConfigOptions<CamembertConfig> = {}) {
    super(options as ConfigOptions<PretrainedConfig>);
  }
}

const { type_vocab_size: _t, classifier_dropout: _c, ...bertGenerationShape } = bertShape({
  vocab: 50358,
  pad: 0,
  bos: 2,
  eos: 1,
});

/**
 * HF `BertGenerationConfig`: vocab 50358, hidden 1024, 24 layers, 16 heads, intermediate 4096,
 * gelu, max positions 512, pad 0, bos 2, eos 1; no token types.
 *
 * @example
 * ```ts
 * import { BertGenerationConfig } from "@encdec/config";
 * new BertGenerationConfig().numHiddenLayers; // 24
 * ```
 */
export class BertGenerationConfig extends PretrainedConfig {
  /** HF `model_type`. */
  static override readonly modelType: string = "bert-generation";
  /** The zod schema of a BertGeneration `config.json`. */
  static override readonly schema: z.ZodObject = z.looseObject({
    ...bertGenerationShape,
    hidden_size: positive().default(1024),
    num_hidden_layers: positive().default(24),
    num_attention_heads: positive().default(16),
    intermediate_size: positive().default(4096),
  });

  /** Vocabulary size. Default 50358. */
  declare vocabSize: number;
  /** Hidden size, a multiple of `numAttentionHeads`. Default 1024. */
  declare hiddenSize: number;
  /** Number of transformer layers. Default 24. */
  declare numHiddenLayers: number;
  /** Attention heads per layer. Default 16. */
  declare numAttentionHeads: number;
  /** Activation of the feed-forward block. Default `"gelu"`. */
  declare hiddenAct: string;
  /** Feed-forward inner size. Default 4096. */
  declare intermediateSize: number;
  /** Dropout on hidden states. Default 0.1. */
  declare hiddenDropoutProb: number;
  /** Dropout on attention probabilities. Default 0.1. */
  declare attentionProbsDropoutProb: number;
  /** Number of position embeddings. Default 512. */
  declare maxPositionEmbeddings: number;
  /** Std of the weight initializer. Default 0.02. */
  declare initializerRange: number;
  /** LayerNorm epsilon. Default 1e-12. */
  declare layerNormEps: number;
  /** `"absolute"` (default), `"relative_key"` or `"relative_key_query"`. */
  declare positionEmbeddingType: "absolute" | "relative_key" | "relative_key_query";
  /** Return key/value caches from the decoder. Default `true`. */
  declare useCache: boolean;

  /** Builds a config from camelCased options over HF's defaults. */
  constructor(options: ConfigOptions<BertGenerationConfig> = {}) {
    super(options as ConfigOptions<PretrainedConfig>);
  }

  /** Rejects a hidden size that is not a multiple of the head count (ConfigError). */
  protected override check(file: string, prefix: string): void {
    checkHeads(
      file,
      prefix,
      ["hidden_size", "num_attention_heads"],
      this.hiddenSize,
      this.numAttentionHeads,
    );
  }
}
