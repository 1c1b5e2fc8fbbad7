/**
 * `ElectraConfig` with HF 4.40.2 defaults: BERT's fields plus `embedding_size` (the embeddings
 * are projected to `hidden_size` by `embeddings_project` when the two differ) and the
 * sequence-summary fields.
 *
 * @module
 */
import { z } from "zod";
import { BertLikeConfig, bertShape } from "./bert.ts";
import type { ConfigOptions, PretrainedConfig } from "./pretrained.ts";

/**
 * HF `ElectraConfig`: vocab 30522, embedding_size 128, hidden 256, 12 layers, 4 heads,
 * intermediate 1024, gelu, max positions 512, type vocab 2, layer_norm_eps 1e-12, pad 0.
 *
 * @example
 * ```ts
 * import { ElectraConfig } from "@encdec/config";
 * const c = new ElectraConfig();
 * [c.embeddingSize, c.hiddenSize]; // [128, 256]
 * ```
 */
export class ElectraConfig extends BertLikeConfig {
  /** HF `model_type`. */
  static override readonly modelType: string = "electra";
  /** The zod schema of an ELECTRA `config.json`. */
  static override readonly schema: z.ZodObject = z.looseObject({
    ...bertShape({ vocab: 30522, pad: 0, bos: null, eos: null }),
    embedding_size: z.int().positive().default(128),
    hidden_size: z.int().positive().default(256),
    num_attention_heads: z.int().positive().default(4),
    intermediate_size: z.int().positive().default(1024),
    summary_type: z.string().default("first"),
    summary_use_proj: z.boolean().default(true),
    summary_activation: z.string().nullable().default("gelu"),
    summary_last_dropout: z.number().min(0).max(1).default(0.1),
  });

  /** Width of the embeddings (projected to `hiddenSize` when different). Default 128. */
  declare embeddingSize: number;
  /** Sequence-summary head type. Default `"first"`. */
  declare summaryType: string;
  /** Sequence-summary projection. Default `true`. */
  declare summaryUseProj: boolean;
  /** Sequence-summary activation. Default `"gelu"`. */
  declare summaryActivation: string | null;
  /** Sequence-summary dropout. Default 0.1. */
  declare summaryLastDropout: number;

  /** Builds a config from camelCased options over HF's defaults. */
  constructor(options: ConfigOptions<ElectraConfig> = {}) {
    super(options as ConfigOptions<PretrainedConfig>);
  }
}
