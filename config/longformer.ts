/**
 * `LongformerConfig` with HF 4.40.2 defaults: BERT's fields (RoBERTa's ids) plus
 * `attention_window`, the width of the sliding-window local attention (one even value, or one
 * per layer).
 *
 * @module
 */
import { z } from "zod";
import { bertShape } from "./bert.ts";
import { ConfigError } from "./errors.ts";
import { type ConfigOptions, PretrainedConfig } from "./pretrained.ts";
import { checkHeads } from "./_pretrained_fields.ts";
import { joinPath } from "./_util.ts";

const {
  position_embedding_type: _p,
  use_cache: _u,
  classifier_dropout: _c,
  ...longformerBertShape
} = bertShape({ vocab: 30522, pad: 1, bos: 0, eos: 2 });

/**
 * HF `LongformerConfig`: attention_window 512, vocab 30522, hidden 768, 12 layers, 12 heads,
 * intermediate 3072, gelu, max positions 512, type vocab 2, pad 1, bos 0, eos 2, sep 2.
 *
 * @example
 * ```ts
 * import { LongformerConfig } from "@encdec/config";
 * new LongformerConfig({ attentionWindow: [4, 8], numHiddenLayers: 2 }).windowOfLayer(1); // 8
 * ```
 */
export class LongformerConfig extends PretrainedConfig {
  /** HF `model_type`. */
  static override readonly modelType: string = "longformer";
  /** The zod schema of a Longformer `config.json`. */
  static override readonly schema: z.ZodObject = z.looseObject({
    ...longformerBertShape,
    attention_window: z.union([z.int(), z.array(z.int())]).default(512),
    sep_token_id: z.int().nullable().default(2),
    onnx_export: z.boolean().default(false),
  });

  /** Local attention width: one even value for every layer, or one per layer. Default 512. */
  declare attentionWindow: number | number[];
  /** Vocabulary size. Default 30522. */
  declare vocabSize: number;
  /** Hidden size, a multiple of `numAttentionHeads`. Default 768. */
  declare hiddenSize: number;
  /** Number of transformer layers. Default 12. */
  declare numHiddenLayers: number;
  /** Attention heads per layer. Default 12. */
  declare numAttentionHeads: number;
  /** Activation of the feed-forward block. Default `"gelu"`. */
  declare hiddenAct: string;
  /** Feed-forward inner size. Default 3072. */
  declare intermediateSize: number;
  /** Dropout on hidden states. Default 0.1. */
  declare hiddenDropoutProb: number;
  /** Dropout on attention probabilities. Default 0.1. */
  declare attentionProbsDropoutProb: number;
  /** Number of position embeddings. Default 512. */
  declare maxPositionEmbeddings: number;
  /** Number of token types. Default 2. */
  declare typeVocabSize: number;
  /** Std of the weight initializer. Default 0.02. */
  declare initializerRange: number;
  /** LayerNorm epsilon. Default 1e-12. */
  declare layerNormEps: number;
  /** HF's ONNX-export switch (no effect here). Default `false`. */
  declare onnxExport: boolean;

  /** Builds a config from camelCased options over HF's defaults. */
  constructor(options: ConfigOptions<LongformerConfig> = {}) {
    super(options as ConfigOptions<PretrainedConfig>);
  }

  /** The attention window of layer `i` (both sides together, as HF's `attention_window`). */
  windowOfLayer(i: number): number {
    const w = this.attentionWindow;
    return typeof w === "number" ? w : w[i];
  }

  /**
   * Rejects a hidden size that is not a multiple of the head count, and an attention window
   * that is not positive and even or whose list length is not `num_hidden_layers` (ConfigError;
   * HF asserts the same when it builds the model).
   */
  protected override check(file: string, prefix: string): void {
    checkHeads(
      file,
      prefix,
      ["hidden_size", "num_attention_heads"],
      this.hiddenSize,
      this.numAttentionHeads,
    );
    const field = joinPath(prefix, ["attention_window"]);
    const w = this.attentionWindow;
    const list = typeof w === "number" ? [w] : w;
    if (typeof w !== "number" && w.length !== this.numHiddenLayers) {
      throw new ConfigError(
        `${file}: field "${field}" has ${w.length} values; expected one per layer (num_hidden_layers = ${this.numHiddenLayers}) or a single value`,
      );
    }
    for (const v of list) {
      if (v <= 0 || v % 2 !== 0) {
        throw new ConfigError(
          `${file}: field "${field}" holds ${v}; expected a positive even number`,
        );
      }
    }
  }
}
