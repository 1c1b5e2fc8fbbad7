/**
 * `EncoderDecoderConfig` (HF `model_type` "encoder-decoder"): a top-level config holding whole
 * `encoder` and `decoder` configs, composed as HF's `from_encoder_decoder_configs` and
 * `from_encoder_decoder_pretrained` compose them, and `splitEncoderDecoderKwargs`, HF's routing
 * of `encoder_*` / `decoder_*` keyword overrides.
 *
 * @module
 */
import { z } from "zod";
import {
  BertConfig,
  BertGenerationConfig,
  CamembertConfig,
  RobertaConfig,
  XLMRobertaConfig,
} from "./bert.ts";
import { DistilBertConfig } from "./distilbert.ts";
import { ElectraConfig } from "./electra.ts";
import { ConfigError } from "./errors.ts";
import { GPT2Config } from "./gpt2.ts";
import { LongformerConfig } from "./longformer.ts";
import { type ConfigOptions, PretrainedConfig } from "./pretrained.ts";
import { loadConfigJson } from "./_load.ts";
import { pretrainedConfigShape } from "./_pretrained_fields.ts";
import type { ResolveOptions } from "./resolve.ts";
import { camelToSnake, describeValue, isPlainObject, joinPath } from "./_util.ts";

/** A config that can be the encoder or decoder of an `EncoderDecoderConfig`. */
export type ModelConfig =
  | BertConfig
  | RobertaConfig
  | XLMRobertaConfig
  | CamembertConfig
  | BertGenerationConfig
  | ElectraConfig
  | DistilBertConfig
  | LongformerConfig
  | GPT2Config;

/** A config class usable as encoder or decoder. */
export type ModelConfigClass =
  | typeof BertConfig
  | typeof RobertaConfig
  | typeof XLMRobertaConfig
  | typeof CamembertConfig
  | typeof BertGenerationConfig
  | typeof ElectraConfig
  | typeof DistilBertConfig
  | typeof LongformerConfig
  | typeof GPT2Config;

/** Config classes usable as encoder or decoder, by HF `model_type`. */
export const MODEL_CONFIG_CLASSES: Readonly<Record<string, ModelConfigClass>> = {
  bert: BertConfig,
  roberta: RobertaConfig,
  "xlm-roberta": XLMRobertaConfig,
  camembert: CamembertConfig,
  "bert-generation": BertGenerationConfig,
  electra: ElectraConfig,
  distilbert: DistilBertConfig,
  longformer: LongformerConfig,
  gpt2: GPT2Config,
};

/** Builds the sub-config for `json` by its `model_type`; unknown → ConfigError listing known. */
export function modelConfigFromJSON(json: unknown, file: string, prefix: string): ModelConfig {
  if (!isPlainObject(json)) {
    throw new ConfigError(
      `${file}: field "${prefix}" is ${
        describeValue(json)
      }; expected a config object with a model_type`,
    );
  }
  const type = json.model_type;
  const cls = typeof type === "string" && Object.hasOwn(MODEL_CONFIG_CLASSES, type)
    ? MODEL_CONFIG_CLASSES[type]
    : undefined;
  if (!cls) {
    throw new ConfigError(
      `${file}: field "${joinPath(prefix, ["model_type"])}" is ${
        describeValue(type)
      }; expected one of ${
        Object.keys(MODEL_CONFIG_CLASSES).map((k) => `"${k}"`).join(", ")
      } for an encoder or decoder`,
    );
  }
  return (cls as unknown as typeof PretrainedConfig).fromJSON(json, {
    file,
    prefix,
  }) as ModelConfig;
}

/** Result of `splitEncoderDecoderKwargs`: snake_case keys per destination. */
export interface SplitKwargs {
  /** Keys that started with `encoder_`, prefix removed. */
  encoder: Record<string, unknown>;
  /** Keys that started with `decoder_`, prefix removed. */
  decoder: Record<string, unknown>;
  /** Every other key, for the top-level `EncoderDecoderConfig`. */
  top: Record<string, unknown>;
}

/**
 * Routes keyword overrides exactly as HF's
 * `EncoderDecoderModel.from_encoder_decoder_pretrained(**kwargs)`: a key starting with `encoder_`
 * goes to the encoder with the prefix removed, one starting with `decoder_` to the decoder, every
 * other key to the top-level config.
 *
 * Keys may be snake_case (HF's) or camelCase; camelCase keys are first converted to snake_case
 * (`encoderHiddenDropoutProb` → `encoder_hidden_dropout_prob` → encoder `hidden_dropout_prob`).
 *
 * HF quirks, kept on purpose: `decoder_start_token_id` (or `decoderStartTokenId`) is routed to
 * the decoder as `start_token_id`, and `encoder_no_repeat_ngram_size` to the encoder as
 * `no_repeat_ngram_size`; neither reaches the top level. (HF then fails in the decoder model
 * constructor; `EncoderDecoderConfig.fromEncoderDecoderPretrained` raises a ConfigError.) Set
 * `decoderStartTokenId` on the composed config instead.
 *
 * @example
 * ```ts
 * import { splitEncoderDecoderKwargs } from "@encdec/config";
 * splitEncoderDecoderKwargs({ encoder_hidden_dropout_prob: 0, decoderNumHiddenLayers: 1, pad_token_id: 0 });
 * // { encoder: { hidden_dropout_prob: 0 }, decoder: { num_hidden_layers: 1 }, top: { pad_token_id: 0 } }
 * ```
 */
export function splitEncoderDecoderKwargs(kwargs: Record<string, unknown>): SplitKwargs {
  const out: SplitKwargs = { encoder: {}, decoder: {}, top: {} };
  for (const [key, value] of Object.entries(kwargs)) {
    const snake = camelToSnake(key);
    if (snake.startsWith("encoder_")) out.encoder[snake.slice("encoder_".length)] = value;
    else if (snake.startsWith("decoder_")) out.decoder[snake.slice("decoder_".length)] = value;
    else out.top[snake] = value;
  }
  return out;
}

/**
 * HF `EncoderDecoderConfig`: the top-level fields of an encoder-decoder model plus whole
 * `encoder` and `decoder` configs. `isEncoderDecoder` is always `true`.
 *
 * `vocabSize` reads the top-level `vocab_size` when the file has one (HF keeps it as an extra
 * attribute), else the decoder's.
 *
 * @example
 * ```ts
 * import { BertConfig, EncoderDecoderConfig } from "@encdec/config";
 * const enc = new BertConfig({ vocabSize: 99, hiddenSize: 32, numAttentionHeads: 4 });
 * const cfg = EncoderDecoderConfig.fromEncoderDecoderConfigs(enc, enc, { decoderStartTokenId: 2 });
 * cfg.decoder.isDecoder; // true
 * cfg.decoder.addCrossAttention; // true
 * ```
 */
export class EncoderDecoderConfig extends PretrainedConfig {
  /** HF `model_type`. */
  static override readonly modelType: string = "encoder-decoder";
  /** HF `is_composition`: the top level is diffed against `PretrainedConfig` defaults only. */
  static override readonly isComposition: boolean = true;
  /** The zod schema of an encoder-decoder `config.json`. */
  static override readonly schema: z.ZodObject = z.looseObject({
    ...pretrainedConfigShape,
    encoder: z.record(z.string(), z.unknown(), {
      error: "expected the encoder's config object (with a model_type)",
    }),
    decoder: z.record(z.string(), z.unknown(), {
      error: "expected the decoder's config object (with a model_type)",
    }),
  });

  /** The encoder's config. */
  declare encoder: ModelConfig;
  /** The decoder's config (`isDecoder` and `addCrossAttention` set when composed). */
  declare decoder: ModelConfig;

  /** Builds a config from camelCased options; `encoder` and `decoder` are required. */
  constructor(
    options: ConfigOptions<EncoderDecoderConfig> & { encoder: ModelConfig; decoder: ModelConfig },
  ) {
    super(options as ConfigOptions<PretrainedConfig>);
  }

  /** Top-level `vocab_size` if set (an extra field in HF), else the decoder's vocabulary size. */
  get vocabSize(): number {
    const v = this.extra.vocab_size;
    return typeof v === "number" ? v : this.decoder.vocabSize;
  }
  set vocabSize(v: number) {
    this.extra.vocab_size = v;
  }

  /**
   * HF `EncoderDecoderConfig.from_encoder_decoder_configs`: copies both configs whole, sets
   * `decoder.isDecoder = true` and `decoder.addCrossAttention = true`, and takes top-level fields
   * from `overrides` (snake_case or camelCase: `decoderStartTokenId`, `padTokenId`, `eosTokenId`,
   * `vocabSize`, `tieEncoderDecoder`, ...). Unlike HF, the passed configs are not mutated.
   *
   * @example
   * ```ts
   * import { BertConfig, EncoderDecoderConfig } from "@encdec/config";
   * const cfg = EncoderDecoderConfig.fromEncoderDecoderConfigs(
   *   new BertConfig(),
   *   new BertConfig(),
   *   { tie_encoder_decoder: true, padTokenId: 0 },
   * );
   * ```
   */
  static fromEncoderDecoderConfigs(
    encoder: ModelConfig,
    decoder: ModelConfig,
    overrides: ConfigOptions<EncoderDecoderConfig> | Record<string, unknown> = {},
  ): EncoderDecoderConfig {
    const top = EncoderDecoderConfig.optionsToJson(overrides as Record<string, unknown>);
    const json = {
      ...top,
      encoder: encoder.toDict(),
      decoder: { ...decoder.toDict(), is_decoder: true, add_cross_attention: true },
    };
    return EncoderDecoderConfig.fromJSON(json, { file: "fromEncoderDecoderConfigs" });
  }

  /**
   * The config half of HF's `EncoderDecoderModel.from_encoder_decoder_pretrained(enc, dec,
   * **kwargs)`: routes `kwargs` with `splitEncoderDecoderKwargs`, loads each side's `config.json`
   * with its overrides (an `encoder_config` / `decoder_config` key supplies a ready config instead,
   * its other keys still applied), sets the decoder's `is_decoder` / `add_cross_attention` when
   * loaded from a path, and composes with the remaining top-level keys. An override that is not a
   * field of its config (e.g. `start_token_id` from `decoder_start_token_id`) → ConfigError.
   *
   * @example
   * ```ts
   * import { EncoderDecoderConfig } from "@encdec/config";
   * const cfg = await EncoderDecoderConfig.fromEncoderDecoderPretrained("./enc", "./dec", {
   *   encoder_hidden_dropout_prob: 0,
   * });
   * ```
   */
  static async fromEncoderDecoderPretrained(
    encoderIdOrDir: string,
    decoderIdOrDir: string,
    kwargs: Record<string, unknown> = {},
    options: ResolveOptions = {},
  ): Promise<EncoderDecoderConfig> {
    const split = splitEncoderDecoderKwargs(kwargs);
    const load = async (side: "encoder" | "decoder", idOrDir: string) => {
      const { config: given, ...rest } = split[side];
      if (given !== undefined) {
        if (!(given instanceof PretrainedConfig)) {
          throw new ConfigError(
            `${side}_config: is ${describeValue(given)}; expected a config instance`,
          );
        }
        return (given as ModelConfig).withOverrides(rest, `${side}_config`);
      }
      const { path, json } = await loadConfigJson(idOrDir, options);
      let config = modelConfigFromJSON(json, path, "").withOverrides(rest, path);
      if (side === "decoder" && (!config.isDecoder || !config.addCrossAttention)) {
        config = config.withOverrides({ is_decoder: true, add_cross_attention: true }, path);
      }
      return config;
    };
    const encoder = await load("encoder", encoderIdOrDir);
    const decoder = await load("decoder", decoderIdOrDir);
    return EncoderDecoderConfig.fromEncoderDecoderConfigs(encoder, decoder, split.top);
  }

  /** Builds the nested encoder/decoder configs by `model_type`; forces `isEncoderDecoder`. */
  protected override init(
    fields: Record<string, unknown>,
    extra: Record<string, unknown>,
    file: string,
    prefix: string,
  ): void {
    fields.encoder = modelConfigFromJSON(fields.encoder, file, joinPath(prefix, ["encoder"]));
    fields.decoder = modelConfigFromJSON(fields.decoder, file, joinPath(prefix, ["decoder"]));
    fields.isEncoderDecoder = true;
    super.init(fields, extra, file, prefix);
  }
}
