/**
 * `GPT2Config` with HF 4.40.2 defaults and field names (`n_embd`, `n_layer`, ...), plus HF's
 * `attribute_map` aliases (`hiddenSize` ↔ `nEmbd`, ...) as accessors.
 *
 * @module
 */
import { z } from "zod";
import { type ConfigOptions, PretrainedConfig } from "./pretrained.ts";
import { checkHeads, pretrainedConfigShape } from "./_pretrained_fields.ts";

const positive = () => z.int().positive();
const prob = () => z.number().min(0).max(1);

/**
 * HF `GPT2Config`: vocab 50257, n_positions 1024, n_embd 768, n_layer 12, n_head 12,
 * n_inner null (= 4 × n_embd), activation "gelu_new", dropouts 0.1, layer_norm_epsilon 1e-5,
 * initializer_range 0.02, bos = eos = 50256.
 *
 * `hiddenSize`, `maxPositionEmbeddings`, `numAttentionHeads` and `numHiddenLayers` are HF's
 * `attribute_map` aliases of `nEmbd`, `nPositions`, `nHead` and `nLayer`; `innerSize` is the
 * effective feed-forward size.
 *
 * @example
 * ```ts
 * import { GPT2Config } from "@encdec/config";
 * const c = new GPT2Config({ nEmbd: 32, nHead: 4, nLayer: 2 });
 * c.hiddenSize; // 32
 * c.innerSize; // 128
 * ```
 */
export class GPT2Config extends PretrainedConfig {
  /** HF `model_type`. */
  static override readonly modelType: string = "gpt2";
  /** HF `attribute_map`: generic names → GPT-2 names. */
  static override readonly attributeMap: Readonly<Record<string, string>> = {
    hidden_size: "n_embd",
    max_position_embeddings: "n_positions",
    num_attention_heads: "n_head",
    num_hidden_layers: "n_layer",
  };
  /** The zod schema of a GPT-2 `config.json`. */
  static override readonly schema: z.ZodObject = z.looseObject({
    ...pretrainedConfigShape,
    bos_token_id: z.int().nullable().default(50256),
    eos_token_id: z.union([z.int(), z.array(z.int())]).nullable().default(50256),
    vocab_size: positive().default(50257),
    n_positions: positive().default(1024),
    n_embd: positive().default(768),
    n_layer: positive().default(12),
    n_head: positive().default(12),
    n_inner: positive().nullable().default(null),
    activation_function: z.string().default("gelu_new"),
    resid_pdrop: prob().default(0.1),
    embd_pdrop: prob().default(0.1),
    attn_pdrop: prob().default(0.1),
    layer_norm_epsilon: z.number().positive().default(1e-5),
    initializer_range: z.number().default(0.02),
    summary_type: z.string().default("cls_index"),
    summary_use_proj: z.boolean().default(true),
    summary_activation: z.string().nullable().default(null),
    summary_proj_to_labels: z.boolean().default(true),
    summary_first_dropout: prob().default(0.1),
    scale_attn_weights: z.boolean().default(true),
    use_cache: z.boolean().default(true),
    scale_attn_by_inverse_layer_idx: z.boolean().default(false),
    reorder_and_upcast_attn: z.boolean().default(false),
  });

  /** Vocabulary size. Default 50257. */
  declare vocabSize: number;
  /** Number of position embeddings. Default 1024. */
  declare nPositions: number;
  /** Hidden size. Default 768. */
  declare nEmbd: number;
  /** Number of layers. Default 12. */
  declare nLayer: number;
  /** Attention heads per layer. Default 12. */
  declare nHead: number;
  /** Feed-forward inner size; `null` means 4 × `nEmbd`. */
  declare nInner: number | null;
  /** Feed-forward activation. Default `"gelu_new"`. */
  declare activationFunction: string;
  /** Residual dropout. Default 0.1. */
  declare residPdrop: number;
  /** Embedding dropout. Default 0.1. */
  declare embdPdrop: number;
  /** Attention dropout. Default 0.1. */
  declare attnPdrop: number;
  /** LayerNorm epsilon. Default 1e-5. */
  declare layerNormEpsilon: number;
  /** Std of the weight initializer. Default 0.02. */
  declare initializerRange: number;
  /** Sequence-summary head type. Default `"cls_index"`. */
  declare summaryType: string;
  /** Sequence-summary projection. Default `true`. */
  declare summaryUseProj: boolean;
  /** Sequence-summary activation. Default `null`. */
  declare summaryActivation: string | null;
  /** Sequence-summary projection to labels. Default `true`. */
  declare summaryProjToLabels: boolean;
  /** Sequence-summary dropout. Default 0.1. */
  declare summaryFirstDropout: number;
  /** Divide attention scores by sqrt(head_dim). Default `true`. */
  declare scaleAttnWeights: boolean;
  /** Return key/value caches. Default `true`. */
  declare useCache: boolean;
  /** Also divide attention scores by (layer index + 1). Default `false`. */
  declare scaleAttnByInverseLayerIdx: boolean;
  /** Upcast and reorder the attention computation (fp16 training). Default `false`. */
  declare reorderAndUpcastAttn: boolean;

  /** Builds a config from camelCased options over HF's defaults. */
  constructor(options: ConfigOptions<GPT2Config> = {}) {
    super(options as ConfigOptions<PretrainedConfig>);
  }

  /** Alias of `nEmbd` (HF `attribute_map`). */
  get hiddenSize(): number {
    return this.nEmbd;
  }
  set hiddenSize(v: number) {
    this.nEmbd = v;
  }
  /** Alias of `nPositions` (HF `attribute_map`). */
  get maxPositionEmbeddings(): number {
    return this.nPositions;
  }
  set maxPositionEmbeddings(v: number) {
    this.nPositions = v;
  }
  /** Alias of `nHead` (HF `attribute_map`). */
  get numAttentionHeads(): number {
    return this.nHead;
  }
  set numAttentionHeads(v: number) {
    this.nHead = v;
  }
  /** Alias of `nLayer` (HF `attribute_map`). */
  get numHiddenLayers(): number {
    return this.nLayer;
  }
  set numHiddenLayers(v: number) {
    this.nLayer = v;
  }
  /** Effective feed-forward size: `nInner ?? 4 * nEmbd` (as HF's `GPT2Block`). */
  get innerSize(): number {
    return this.nInner ?? 4 * this.nEmbd;
  }

  /** Rejects a hidden size that is not a multiple of the head count (ConfigError). */
  protected override check(file: string, prefix: string): void {
    checkHeads(file, prefix, ["n_embd", "n_head"], this.nEmbd, this.nHead);
  }
}
