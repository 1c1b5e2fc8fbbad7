/**
 * `GenerationConfig`: HF 4.40.2's generation settings with their defaults, read from
 * `generation_config.json` or, like HF's `from_model_config`, from the legacy generation fields
 * of a model's `config.json`; merged with call options by `update()` and checked by `validate()`.
 *
 * @module
 */
import { z } from "zod";
import { ConfigError } from "./errors.ts";
import { checkGenerationRules, GenerationConfigError } from "./generation_rules.ts";
import { AutoConfig } from "./auto.ts";
import type { PretrainedConfig, WritableDataKeys } from "./pretrained.ts";
import { type FromPretrainedOptions, loadConfigJson, splitLoadOptions } from "./_load.ts";
import { resolveModelFile, type ResolveOptions } from "./resolve.ts";
import {
  camelToSnake,
  isPlainObject,
  pyEqual,
  readJsonObject,
  snakeToCamel,
  sortKeysDeep,
  TRANSFORMERS_VERSION,
  writeJsonFilesAtomic,
  zodError,
} from "./_util.ts";

export { GenerationConfigError } from "./generation_rules.ts";

const nullableInt = () => z.int().nullable().default(null);
const nullableNumber = () => z.number().nullable().default(null);
const tokenIds = () => z.union([z.int(), z.array(z.int())]).nullable().default(null);

/** HF 4.40.2 `GenerationConfig` fields (snake_case JSON names) with their defaults. */
const generationShape = {
  max_length: z.int().min(0).default(20),
  max_new_tokens: nullableInt(),
  min_length: z.int().min(0).default(0),
  min_new_tokens: z.int().min(0).nullable().default(null),
  early_stopping: z.union([z.boolean(), z.literal("never")], {
    error: 'expected true, false or "never"',
  }).default(false),
  max_time: nullableNumber(),
  stop_strings: z.union([z.string(), z.array(z.string())]).nullable().default(null),
  do_sample: z.boolean().default(false),
  num_beams: z.int().positive().default(1),
  num_beam_groups: z.int().positive().default(1),
  penalty_alpha: nullableNumber(),
  use_cache: z.boolean().default(true),
  temperature: z.number().default(1),
  top_k: z.int().default(50),
  top_p: z.number().default(1),
  min_p: nullableNumber(),
  typical_p: z.number().default(1),
  epsilon_cutoff: z.number().default(0),
  eta_cutoff: z.number().default(0),
  diversity_penalty: z.number().default(0),
  repetition_penalty: z.number().default(1),
  encoder_repetition_penalty: z.number().default(1),
  length_penalty: z.number().default(1),
  no_repeat_ngram_size: z.int().default(0),
  bad_words_ids: z.array(z.array(z.int())).nullable().default(null),
  force_words_ids: z.array(z.union([z.array(z.int()), z.array(z.array(z.int()))])).nullable()
    .default(null),
  renormalize_logits: z.boolean().default(false),
  constraints: z.unknown().default(null),
  forced_bos_token_id: nullableInt(),
  forced_eos_token_id: tokenIds(),
  remove_invalid_values: z.boolean().default(false),
  exponential_decay_length_penalty: z.tuple([z.int(), z.number()]).nullable().default(null),
  suppress_tokens: z.array(z.int()).nullable().default(null),
  begin_suppress_tokens: z.array(z.int()).nullable().default(null),
  forced_decoder_ids: z.array(z.tuple([z.int(), z.int()])).nullable().default(null),
  sequence_bias: z.array(z.tuple([z.array(z.int()), z.number()])).nullable().default(null),
  guidance_scale: nullableNumber(),
  low_memory: z.boolean().nullable().default(null),
  num_return_sequences: z.int().positive().default(1),
  output_attentions: z.boolean().default(false),
  output_hidden_states: z.boolean().default(false),
  output_scores: z.boolean().default(false),
  output_logits: z.boolean().nullable().default(null),
  return_dict_in_generate: z.boolean().default(false),
  pad_token_id: nullableInt(),
  bos_token_id: nullableInt(),
  eos_token_id: tokenIds(),
  encoder_no_repeat_ngram_size: z.int().default(0),
  decoder_start_token_id: tokenIds(),
  num_assistant_tokens: z.int().default(5),
  num_assistant_tokens_schedule: z.string().default("heuristic"),
  cache_implementation: z.string().nullable().default(null),
  prompt_lookup_num_tokens: nullableInt(),
  max_matching_ngram_size: nullableInt(),
  generation_kwargs: z.record(z.string(), z.unknown()).default(() => ({})),
  _from_model_config: z.boolean().default(false),
  transformers_version: z.string().nullable().default(TRANSFORMERS_VERSION),
};

const schema = z.looseObject(generationShape);
const SNAKE_KEYS = Object.keys(generationShape);
/** JSON name → field name; `_from_model_config` is `createdFromModelConfig`. */
const CAMEL: Record<string, string> = Object.fromEntries(
  SNAKE_KEYS.map((
    k,
  ) => [k, k === "_from_model_config" ? "createdFromModelConfig" : snakeToCamel(k)]),
);
const SNAKE: Record<string, string> = Object.fromEntries(
  Object.entries(CAMEL).map(([s, c]) => [c, s]),
);
/** Keys HF drops when serializing. */
const DROPPED = new Set(["_commit_hash", "_original_object_hash"]);

/** Camel-cased generation options accepted by the constructor and `update()`. */
export type GenerationOptions = Partial<Pick<GenerationConfig, WritableDataKeys<GenerationConfig>>>;

const RAW: unique symbol = Symbol("encdec.rawGenerationConfig");

/**
 * HF's `GenerationConfig` (4.40.2): every field with HF's default, camelCased
 * (`max_new_tokens` → `maxNewTokens`, `_from_model_config` → `createdFromModelConfig`).
 * Construction validates like HF's `__init__`; unknown JSON fields are kept in `extra`.
 *
 * @example
 * ```ts
 * import { GenerationConfig } from "@encdec/config";
 * const gen = new GenerationConfig({ numBeams: 4, earlyStopping: true, eosTokenId: 3 });
 * const call = gen.update({ maxNewTokens: 20 }); // a new merged config, validated
 * call.toJSON(); // only non-default values + transformers_version
 * ```
 */
export class GenerationConfig {
  /** Unknown fields from `generation_config.json` (snake_case), kept for the round trip. */
  extra: Record<string, unknown> = {};

  /** Maximum total length (decoder prompt + new tokens). Default 20. */
  declare maxLength: number;
  /** Maximum number of new tokens; overrides `maxLength` when set. */
  declare maxNewTokens: number | null;
  /** Minimum total length. Default 0. */
  declare minLength: number;
  /** Minimum number of new tokens. */
  declare minNewTokens: number | null;
  /** Beam stopping rule: `false` (heuristic), `true` (stop at numBeams finished) or `"never"`. */
  declare earlyStopping: boolean | "never";
  /** Maximum generation time in seconds. */
  declare maxTime: number | null;
  /** Strings that stop generation. */
  declare stopStrings: string | string[] | null;
  /** Sample instead of greedy/beam search. Default `false`. */
  declare doSample: boolean;
  /** Beam count (1 = no beam search). Default 1. */
  declare numBeams: number;
  /** Diverse beam search groups. Default 1. */
  declare numBeamGroups: number;
  /** Contrastive search penalty. */
  declare penaltyAlpha: number | null;
  /** Use the key/value cache. Default `true`. */
  declare useCache: boolean;
  /** Sampling temperature. Default 1. */
  declare temperature: number;
  /** Top-k filtering (0 = off). Default 50. */
  declare topK: number;
  /** Nucleus filtering (1 = off). Default 1. */
  declare topP: number;
  /** Min-p filtering. */
  declare minP: number | null;
  /** Typical-p filtering (1 = off). Default 1. */
  declare typicalP: number;
  /** Epsilon sampling cutoff (0 = off). */
  declare epsilonCutoff: number;
  /** Eta sampling cutoff (0 = off). */
  declare etaCutoff: number;
  /** Diverse beam search penalty. Default 0. */
  declare diversityPenalty: number;
  /** Repetition penalty (1 = off). Default 1. */
  declare repetitionPenalty: number;
  /** Encoder repetition penalty (1 = off). Default 1. */
  declare encoderRepetitionPenalty: number;
  /** Beam score length exponent. Default 1. */
  declare lengthPenalty: number;
  /** Forbid repeated n-grams of this size (0 = off). */
  declare noRepeatNgramSize: number;
  /** Token sequences that may not be generated. */
  declare badWordsIds: number[][] | null;
  /** Token sequences that must be generated (constrained beam search). */
  declare forceWordsIds: (number[] | number[][])[] | null;
  /** Renormalize after all processors. Default `false`. */
  declare renormalizeLogits: boolean;
  /** Constraint objects (HF only; not serializable). */
  declare constraints: unknown;
  /** Token forced as the first generated token. */
  declare forcedBosTokenId: number | null;
  /** Token(s) forced when `maxLength` is reached. */
  declare forcedEosTokenId: number | number[] | null;
  /** Replace NaN/inf logits. Default `false`. */
  declare removeInvalidValues: boolean;
  /** `[startIndex, decayFactor]` of the exponential length penalty. */
  declare exponentialDecayLengthPenalty: [number, number] | null;
  /** Tokens suppressed at every step. */
  declare suppressTokens: number[] | null;
  /** Tokens suppressed at the first step. */
  declare beginSuppressTokens: number[] | null;
  /** `[position, token]` pairs forced at given positions. */
  declare forcedDecoderIds: [number, number][] | null;
  /** `[tokenSequence, bias]` pairs added to logits (HF's dict with tuple keys, as a list). */
  declare sequenceBias: [number[], number][] | null;
  /** Classifier-free guidance scale. */
  declare guidanceScale: number | null;
  /** Sequential beam search to save memory. */
  declare lowMemory: boolean | null;
  /** Number of sequences returned per input. Default 1. */
  declare numReturnSequences: number;
  /** Return attentions. Default `false`. */
  declare outputAttentions: boolean;
  /** Return hidden states. Default `false`. */
  declare outputHiddenStates: boolean;
  /** Return processed scores. Default `false`. */
  declare outputScores: boolean;
  /** Return raw logits. */
  declare outputLogits: boolean | null;
  /** Return a structured result. Default `false`. */
  declare returnDictInGenerate: boolean;
  /** Padding token id. */
  declare padTokenId: number | null;
  /** Beginning-of-sequence token id. */
  declare bosTokenId: number | null;
  /** End-of-sequence token id(s). */
  declare eosTokenId: number | number[] | null;
  /** Forbid encoder n-grams of this size in the output (0 = off). */
  declare encoderNoRepeatNgramSize: number;
  /** First decoder token (one per batch row when a list). */
  declare decoderStartTokenId: number | number[] | null;
  /** Assisted generation: tokens per step. Default 5. */
  declare numAssistantTokens: number;
  /** Assisted generation schedule. Default `"heuristic"`. */
  declare numAssistantTokensSchedule: string;
  /** Cache implementation name. */
  declare cacheImplementation: string | null;
  /** Prompt-lookup decoding tokens. */
  declare promptLookupNumTokens: number | null;
  /** Prompt-lookup n-gram size. */
  declare maxMatchingNgramSize: number | null;
  /** Extra keyword arguments for custom generation. Default `{}`. */
  declare generationKwargs: Record<string, unknown>;
  /** HF `_from_model_config`: built from a model's `config.json` legacy fields. */
  declare createdFromModelConfig: boolean;
  /** `transformers_version` read from the file (written back as `"4.40.2"`). */
  declare transformersVersion: string | null;

  /** Builds a config from camelCased options over HF's defaults, then validates it. */
  constructor(options: GenerationOptions = {}) {
    const raw = (options as { [RAW]?: { json: Record<string, unknown>; file: string } })[RAW];
    const json = raw ? raw.json : optionsToJson(options as Record<string, unknown>);
    const file = raw ? raw.file : "new GenerationConfig(options)";
    const input: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(json)) if (!DROPPED.has(k)) input[k] = v;
    const result = schema.safeParse(input);
    if (!result.success) {
      // One error class for every generation-setting problem, types included.
      const e = zodError(result.error, input, file, "", "GenerationConfig");
      throw new GenerationConfigError(e.message, { cause: e.cause });
    }
    for (const [k, v] of Object.entries(result.data as Record<string, unknown>)) {
      if (k in CAMEL) (this as unknown as Record<string, unknown>)[CAMEL[k]] = v;
      else this.extra[k] = v;
    }
    this.validate(file);
  }

  /**
   * Builds a config from a parsed `generation_config.json` object; `file` is named in errors.
   *
   * @example
   * ```ts
   * import { GenerationConfig } from "@encdec/config";
   * const g = GenerationConfig.fromJSON({ num_beams: 4, eos_token_id: 3 });
   * ```
   */
  static fromJSON(json: unknown, options: { file?: string } = {}): GenerationConfig {
    const file = options.file ?? "generation_config.json";
    if (!isPlainObject(json)) {
      throw new ConfigError(`${file}: top level is not a JSON object; expected an object`);
    }
    return new GenerationConfig({ [RAW]: { json, file } } as GenerationOptions);
  }

  /**
   * Loads `generation_config.json` from a directory or Hub id. When the model has none, falls
   * back to `fromModelConfig` on its `config.json` (what HF's model `from_pretrained` does);
   * when neither exists → ConfigError. Extra option keys override fields (snake or camel).
   *
   * @example
   * ```ts
   * import { GenerationConfig } from "@encdec/config";
   * const gen = await GenerationConfig.fromPretrained("./bert2bert");
   * ```
   */
  static async fromPretrained(
    idOrDir: string,
    options: FromPretrainedOptions = {},
  ): Promise<GenerationConfig> {
    const { resolve, overrides } = splitLoadOptions(options);
    const path = await resolveModelFile(idOrDir, "generation_config.json", {
      ...resolve,
      optional: true,
    } as ResolveOptions);
    let config: GenerationConfig;
    if (path !== null) {
      config = GenerationConfig.fromJSON(await readJsonObject(path), { file: path });
    } else {
      const { path: cfgPath, json } = await loadConfigJson(idOrDir, resolve);
      config = GenerationConfig.fromModelConfig(AutoConfig.fromJSON(json, { file: cfgPath }));
    }
    return Object.keys(overrides).length ? config.update(overrides) : config;
  }

  /**
   * HF `GenerationConfig.from_model_config`: takes the generation fields of a model config
   * (the legacy `max_length`, `num_beams`, ... and the special token ids), marks the result
   * `createdFromModelConfig`, and — for an encoder-decoder — fills every field still at its
   * default from the decoder's config (so a `pad_token_id` set only on the decoder is used).
   *
   * @example
   * ```ts
   * import { AutoConfig, GenerationConfig } from "@encdec/config";
   * const gen = GenerationConfig.fromModelConfig(await AutoConfig.fromPretrained("./model"));
   * ```
   */
  static fromModelConfig(config: PretrainedConfig): GenerationConfig {
    const dict = config.toDict();
    const json: Record<string, unknown> = { _from_model_config: true };
    for (const k of SNAKE_KEYS) if (k in dict && k !== "_from_model_config") json[k] = dict[k];
    const decoder = dict.decoder;
    if (isPlainObject(decoder)) {
      const defaults = new GenerationConfig().toDict();
      const current = schema.parse(json) as Record<string, unknown>;
      for (const k of SNAKE_KEYS) {
        if (k in decoder && pyEqual(current[k], defaults[k])) json[k] = decoder[k];
      }
    }
    return GenerationConfig.fromJSON(json, { file: `${config.modelType} config.json` });
  }

  /**
   * A new config with `options` merged over this one (HF's `generate(**kwargs)` order: this
   * config, then call options), validated. Keys may be camelCase or HF's snake_case; a key that
   * is not a generation field → GenerationConfigError.
   *
   * @example
   * ```ts
   * import { GenerationConfig } from "@encdec/config";
   * const g = new GenerationConfig({ eosTokenId: 3 }).update({ num_beams: 4 });
   * ```
   */
  update(options: GenerationOptions | Record<string, unknown>): GenerationConfig {
    const json = this.toDict();
    for (const [key, value] of Object.entries(options)) {
      if (value === undefined) continue;
      const snake = SNAKE[key] ?? (key in CAMEL ? key : camelToSnake(key));
      if (!(snake in CAMEL) && !(snake in this.extra)) {
        throw new GenerationConfigError(
          `generation options: "${key}" is not a GenerationConfig field; expected one of its fields (e.g. maxNewTokens, numBeams, doSample)`,
        );
      }
      json[snake] = structuredClone(value);
    }
    return GenerationConfig.fromJSON(json, { file: "generation options" });
  }

  /**
   * Throws a GenerationConfigError for what HF's `GenerationConfig.validate()` rejects (bad
   * `earlyStopping`, `maxNewTokens <= 0`, `numReturnSequences` with greedy search or above
   * `numBeams`, inconsistent diverse or constrained beam search, non-positive repetition
   * penalties, and when sampling: `temperature`, `topK`, `topP`, `typicalP`, `minP` out of range).
   * The rules are the ones of `checkGenerationRules` (`config/generation_rules.ts`); `generate()`
   * adds its call-time rules on top.
   */
  validate(file = "generation config"): void {
    checkGenerationRules(this, "config", file);
  }

  /** Every field (snake_case) plus extras and `transformers_version` "4.40.2" (HF `to_dict`). */
  toDict(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    const self = this as unknown as Record<string, unknown>;
    for (const k of SNAKE_KEYS) out[k] = structuredClone(self[CAMEL[k]]);
    for (const [k, v] of Object.entries(this.extra)) out[k] = structuredClone(v);
    out.transformers_version = TRANSFORMERS_VERSION;
    return out;
  }

  /**
   * HF's `generation_config.json` content (`to_diff_dict`, keys sorted): only values that differ
   * from `new GenerationConfig()`, plus `transformers_version`.
   */
  toJSON(): Record<string, unknown> {
    const full = this.toDict();
    const defaults = DEFAULT_DICT ??= new GenerationConfig().toDict();
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(full)) {
      if (!(k in defaults) || k === "transformers_version" || !pyEqual(v, defaults[k])) out[k] = v;
    }
    return sortKeysDeep(out) as Record<string, unknown>;
  }

  /**
   * Writes `generation_config.json` into `dir` atomically (temp sibling + rename); nothing is
   * written on failure.
   *
   * @example
   * ```ts
   * import { GenerationConfig } from "@encdec/config";
   * await new GenerationConfig({ numBeams: 4 }).savePretrained("./out");
   * ```
   */
  async savePretrained(dir: string): Promise<void> {
    await writeJsonFilesAtomic(dir, { "generation_config.json": this.toJSON() });
  }
}

let DEFAULT_DICT: Record<string, unknown> | undefined;

function optionsToJson(options: Record<string, unknown>): Record<string, unknown> {
  const json: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options)) {
    if (value === undefined) continue;
    if (key === "extra" && isPlainObject(value)) {
      Object.assign(json, structuredClone(value));
      continue;
    }
    json[SNAKE[key] ?? (key in CAMEL ? key : camelToSnake(key))] = structuredClone(value);
  }
  return json;
}
