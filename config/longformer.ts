/**
 * `LongformerConfig` with HF 4.40.2 defaults: BERT's fields (RoBERTa's ids) plus
 * `attention_window`, the width of the sliding-window local attention (one even value, or one
 * per layer).
 *
 * @module
 */
import { z } from "zod";
import { bertShape, BertShapedConfig } from "./bert.ts";
import { ConfigError } from "./errors.ts";
import type { ConfigOptions, PretrainedConfig } from "./pretrained.ts";
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
export class LongformerConfig extends BertShapedConfig {
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
    super.check(file, prefix);
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
