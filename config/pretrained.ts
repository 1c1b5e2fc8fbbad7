/**
 * `PretrainedConfig`: the attributes every Hugging Face model config carries, with HF 4.40.2
 * defaults, parsed by a zod schema at the boundary and serialized back to HF's `config.json`
 * layout. Model configs (`BertConfig`, `GPT2Config`, ...) extend it with their own schema.
 *
 * @module
 */
import { z } from "zod";
import { ConfigError } from "./errors.ts";
import {
  camelToSnake,
  isPlainObject,
  joinPath,
  pyEqual,
  snakeToCamel,
  sortKeysDeep,
  TRANSFORMERS_VERSION,
  writeJsonFilesAtomic,
  zodError,
} from "./_util.ts";
import { type FromPretrainedOptions, loadConfigJson, splitLoadOptions } from "./_load.ts";
import { defaultLabels, pretrainedConfigShape } from "./_pretrained_fields.ts";

const RAW: unique symbol = Symbol("encdec.rawConfig");

/** Internal constructor payload used by `fromJSON`. */
interface RawPayload {
  [RAW]: { json: Record<string, unknown>; file: string; prefix: string };
}

/** `A` when `X` and `Y` are identical types (readonly-ness included), else `B`. */
export type IfEquals<X, Y, A, B> = (<G>() => G extends X ? 1 : 2) extends
  (<G>() => G extends Y ? 1 : 2) ? A
  : B;

/** Keys of `T` that are writable data fields (no methods, no getter-only accessors). */
export type WritableDataKeys<T> = {
  [K in keyof T]-?: T[K] extends (...args: never[]) => unknown ? never
    : IfEquals<{ [Q in K]: T[K] }, { -readonly [Q in K]: T[K] }, K, never>;
}[keyof T];

/**
 * Constructor options of a config class `T`: any of its camelCased writable fields, plus `extra`
 * (unknown snake_case fields kept for the round trip).
 */
export type ConfigOptions<T> = Partial<Pick<T, WritableDataKeys<T>>>;

/** Options of `fromJSON`. */
export interface FromJSONOptions {
  /** The file the object came from, named in error messages (default `"config.json"`). */
  file?: string;
  /** Field path prefix for error messages (for nested configs, e.g. `"encoder"`). */
  prefix?: string;
}

/** A config class that `fromJSON` / `fromPretrained` can construct. */
export type ConfigClass<T> = new (options: never) => T;

/**
 * The base of all model configs: HF's `PretrainedConfig` attributes with HF's defaults.
 *
 * Fields are the camelCased JSON names (`is_decoder` → `isDecoder`, `_name_or_path` →
 * `nameOrPath`); unknown JSON fields are kept in `extra` and written back by `toJSON()`.
 *
 * @example
 * ```ts
 * import { BertConfig } from "@encdec/config";
 * const c = new BertConfig({ hiddenSize: 32, numAttentionHeads: 4 });
 * c.toJSON(); // HF config.json layout, snake_case
 * ```
 */
export class PretrainedConfig {
  /** HF `model_type` of this class (`""` for the bare base, as in HF). */
  static readonly modelType: string = "";
  /** True for configs composed of sub-configs (HF `is_composition`): no class-default diff. */
  static readonly isComposition: boolean = false;
  /** The zod schema of this class's `config.json` (snake_case keys with HF defaults). */
  static readonly schema: z.ZodObject = z.looseObject(pretrainedConfigShape);
  /** Alternative JSON names mapped to canonical ones (HF `attribute_map`). */
  static readonly attributeMap: Readonly<Record<string, string>> = {};

  /** Unknown `config.json` fields (snake_case), kept for the round trip. */
  extra: Record<string, unknown> = {};

  /** Return output objects (HF `return_dict`). Default `true`. */
  declare returnDict: boolean;
  /** Return all hidden states. Default `false`. */
  declare outputHiddenStates: boolean;
  /** Return attention probabilities. Default `false`. */
  declare outputAttentions: boolean;
  /** HF `torchscript`. Default `false`. */
  declare torchscript: boolean;
  /** Dtype the weights were saved in (`"float32"`, `"float16"`, `"bfloat16"`), or `null`. */
  declare torchDtype: string | null;
  /** HF `use_bfloat16` (legacy). Default `false`. */
  declare useBfloat16: boolean;
  /** HF `tf_legacy_loss`. Default `false`. */
  declare tfLegacyLoss: boolean;
  /** Pruned heads per layer (`{"0": [1, 2]}`). Default `{}`. */
  declare prunedHeads: Record<string, number[]>;
  /** Tie the output embedding to the input embedding. Default `true`. */
  declare tieWordEmbeddings: boolean;
  /** Feed-forward chunk size (0 = no chunking). Default `0`. */
  declare chunkSizeFeedForward: number;
  /** True for an encoder-decoder model config. Default `false`. */
  declare isEncoderDecoder: boolean;
  /** Causal (decoder) self-attention. Default `false`. */
  declare isDecoder: boolean;
  /** Hidden size of the encoder states cross-attention reads, when it differs. Default `null`. */
  declare crossAttentionHiddenSize: number | null;
  /** Add cross-attention layers (decoder of an encoder-decoder). Default `false`. */
  declare addCrossAttention: boolean;
  /** Share encoder and decoder weights. Default `false`. */
  declare tieEncoderDecoder: boolean;
  /** Legacy generation field. Default `20`. */
  declare maxLength: number;
  /** Legacy generation field. Default `0`. */
  declare minLength: number;
  /** Legacy generation field. Default `false`. */
  declare doSample: boolean;
  /** Legacy generation field. Default `false`. */
  declare earlyStopping: boolean | "never";
  /** Legacy generation field. Default `1`. */
  declare numBeams: number;
  /** Legacy generation field. Default `1`. */
  declare numBeamGroups: number;
  /** Legacy generation field. Default `0`. */
  declare diversityPenalty: number;
  /** Legacy generation field. Default `1`. */
  declare temperature: number;
  /** Legacy generation field. Default `50`. */
  declare topK: number;
  /** Legacy generation field. Default `1`. */
  declare topP: number;
  /** Legacy generation field. Default `1`. */
  declare typicalP: number;
  /** Legacy generation field. Default `1`. */
  declare repetitionPenalty: number;
  /** Legacy generation field. Default `1`. */
  declare lengthPenalty: number;
  /** Legacy generation field. Default `0`. */
  declare noRepeatNgramSize: number;
  /** Legacy generation field. Default `0`. */
  declare encoderNoRepeatNgramSize: number;
  /** Legacy generation field. Default `null`. */
  declare badWordsIds: number[][] | null;
  /** Legacy generation field. Default `1`. */
  declare numReturnSequences: number;
  /** Legacy generation field. Default `false`. */
  declare outputScores: boolean;
  /** Legacy generation field. Default `false`. */
  declare returnDictInGenerate: boolean;
  /** Legacy generation field. Default `null`. */
  declare forcedBosTokenId: number | null;
  /** Legacy generation field. Default `null`. */
  declare forcedEosTokenId: number | number[] | null;
  /** Legacy generation field. Default `false`. */
  declare removeInvalidValues: boolean;
  /** Legacy generation field `[start_index, decay_factor]`. Default `null`. */
  declare exponentialDecayLengthPenalty: [number, number] | null;
  /** Legacy generation field. Default `null`. */
  declare suppressTokens: number[] | null;
  /** Legacy generation field. Default `null`. */
  declare beginSuppressTokens: number[] | null;
  /** Model class names this checkpoint was saved from (`["EncoderDecoderModel"]`). */
  declare architectures: string[] | null;
  /** HF `finetuning_task`. Default `null`. */
  declare finetuningTask: string | null;
  /** Label names by id (JSON keys are strings). Default `{0: "LABEL_0", 1: "LABEL_1"}`. */
  declare id2label: Record<string, string> | null;
  /** Label ids by name. Default `{LABEL_0: 0, LABEL_1: 1}`. */
  declare label2id: Record<string, number> | null;
  /** HF `tokenizer_class`. Default `null`. */
  declare tokenizerClass: string | null;
  /** HF `prefix`. Default `null`. */
  declare prefix: string | null;
  /** Beginning-of-sequence token id. */
  declare bosTokenId: number | null;
  /** Padding token id. */
  declare padTokenId: number | null;
  /** End-of-sequence token id(s). */
  declare eosTokenId: number | number[] | null;
  /** Separator token id. */
  declare sepTokenId: number | null;
  /** First decoder input token of an encoder-decoder. */
  declare decoderStartTokenId: number | null;
  /** HF `task_specific_params`. Default `null`. */
  declare taskSpecificParams: Record<string, unknown> | null;
  /** HF `problem_type`. Default `null`. */
  declare problemType:
    | "regression"
    | "single_label_classification"
    | "multi_label_classification"
    | null;
  /** HF `_name_or_path`. Default `""`. */
  declare nameOrPath: string;
  /** `transformers_version` read from the file (written back as `"4.40.2"`). */
  declare transformersVersion: string | null;

  /** Builds a config from camelCased options over HF's defaults; invalid values → ConfigError. */
  constructor(options: ConfigOptions<PretrainedConfig> = {}) {
    const ctor = new.target as typeof PretrainedConfig;
    const raw = (options as Partial<RawPayload>)[RAW];
    const json = raw ? raw.json : ctor.optionsToJson(options as Record<string, unknown>);
    const file = raw ? raw.file : `new ${ctor.name}(options)`;
    const prefix = raw ? raw.prefix : "";
    const { fields, extra } = ctor.parseJson(json, file, prefix);
    this.init(fields, extra, file, prefix);
    this.check(file, prefix);
  }

  /** The HF `model_type` of this config (`"bert"`, `"gpt2"`, `"encoder-decoder"`, ...). */
  get modelType(): string {
    return (this.constructor as typeof PretrainedConfig).modelType;
  }

  /** Number of labels (`id2label` size), as HF's `num_labels` property. */
  get numLabels(): number {
    return Object.keys(this.id2label ?? {}).length;
  }
  set numLabels(n: number) {
    if (this.id2label === null || Object.keys(this.id2label).length !== n) {
      [this.id2label, this.label2id] = defaultLabels(n);
    }
  }

  /**
   * Builds a config of this class from a parsed `config.json` object (snake_case). Wrong types or
   * values → ConfigError naming `file`, the field path and the expectation.
   *
   * @example
   * ```ts
   * import { BertConfig } from "@encdec/config";
   * const c = BertConfig.fromJSON({ hidden_size: 32, num_attention_heads: 4 });
   * ```
   */
  static fromJSON<T>(this: ConfigClass<T>, json: unknown, options: FromJSONOptions = {}): T {
    const file = options.file ?? "config.json";
    const prefix = options.prefix ?? "";
    if (!isPlainObject(json)) {
      throw new ConfigError(
        `${file}: ${
          prefix ? `field "${prefix}"` : "top level"
        } is not a JSON object; expected an object of config fields`,
      );
    }
    const payload: RawPayload = { [RAW]: { json, file, prefix } };
    return new this(payload as never);
  }

  /**
   * Loads `config.json` from a local directory or Hub id (through `resolveModelFile`) into this
   * class, then applies field overrides (snake_case or camelCase keys), as HF's
   * `XConfig.from_pretrained(path, **kwargs)`.
   *
   * @example
   * ```ts
   * import { BertConfig } from "@encdec/config";
   * const c = await BertConfig.fromPretrained("./encoder", { hidden_dropout_prob: 0 });
   * ```
   */
  static async fromPretrained<T>(
    this: ConfigClass<T>,
    idOrDir: string,
    options: FromPretrainedOptions = {},
  ): Promise<T> {
    const { resolve, overrides } = splitLoadOptions(options);
    const { path, json } = await loadConfigJson(idOrDir, resolve);
    const cls = this as unknown as typeof PretrainedConfig;
    const config = cls.fromJSON(json, { file: path });
    return config.withOverrides(overrides, path) as T;
  }

  /**
   * Returns a copy with `overrides` applied. Keys may be HF's snake_case names or the camelCase
   * field names; a key that is neither a field of this class nor an extra field already present is
   * a ConfigError (HF would pass it on to the model constructor, which rejects it).
   *
   * @example
   * ```ts
   * import { BertConfig } from "@encdec/config";
   * const c = new BertConfig().withOverrides({ hidden_dropout_prob: 0, isDecoder: true });
   * ```
   */
  withOverrides(overrides: Record<string, unknown>, file = "overrides"): this {
    const ctor = this.constructor as typeof PretrainedConfig;
    if (Object.keys(overrides).length === 0) return ctor.fromJSON(this.toDict(), { file }) as this;
    const known = new Set(ctor.snakeKeys());
    const json = this.toDict();
    for (const [key, value] of Object.entries(overrides)) {
      if (value === undefined) continue;
      const snake = ctor.canonicalKey(key);
      if (!known.has(snake) && !(snake in this.extra) && !ctor.isSettable(snake)) {
        throw new ConfigError(
          `${file}: override "${key}" is not a field of ${ctor.name} (model_type "${ctor.modelType}"); expected one of its config.json fields`,
        );
      }
      json[snake] = value instanceof PretrainedConfig ? value.toDict() : value;
      if (snake === "num_labels" && this.numLabels !== value) {
        delete json.id2label;
        delete json.label2id;
      }
    }
    return ctor.fromJSON(json, { file: `${file} (with overrides)` }) as this;
  }

  /**
   * The full attribute dictionary, as HF's `to_dict()`: every field (snake_case), extras,
   * `model_type` and `transformers_version` ("4.40.2"). Nested configs become objects without
   * `transformers_version`.
   */
  toDict(): Record<string, unknown> {
    const ctor = this.constructor as typeof PretrainedConfig;
    const out: Record<string, unknown> = {};
    const self = this as unknown as Record<string, unknown>;
    for (const key of ctor.snakeKeys()) {
      const v = self[snakeToCamel(key)];
      if (v instanceof PretrainedConfig) {
        const nested = v.toDict();
        delete nested.transformers_version;
        out[key] = nested;
      } else {
        out[key] = structuredClone(v);
      }
    }
    for (const [k, v] of Object.entries(this.extra)) out[k] = structuredClone(v);
    out.model_type = ctor.modelType;
    out.transformers_version = TRANSFORMERS_VERSION;
    return out;
  }

  /**
   * HF's `config.json` content (`to_diff_dict()` with sorted keys): fields that differ from the
   * `PretrainedConfig` defaults, every model-specific field, `model_type` and
   * `transformers_version`. Nested encoder/decoder configs are written whole.
   *
   * @example
   * ```ts
   * import { BertConfig } from "@encdec/config";
   * const json = new BertConfig({ padTokenId: 0 }).toJSON();
   * // json.model_type === "bert", json.hidden_size === 768
   * ```
   */
  toJSON(): Record<string, unknown> {
    const ctor = this.constructor as typeof PretrainedConfig;
    const full = this.toDict();
    const base = new PretrainedConfig().toDict();
    const cls: Record<string, unknown> = ctor.isComposition
      ? {}
      : (new (ctor as unknown as new () => PretrainedConfig)()).toDict();
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(full)) {
      if (
        !(key in base) || key === "transformers_version" || !pyEqual(value, base[key]) ||
        (key in cls && !pyEqual(value, cls[key]))
      ) {
        out[key] = value;
      }
    }
    return sortKeysDeep(out) as Record<string, unknown>;
  }

  /**
   * Writes `config.json` into `dir` (created if needed) crash-safely: a synced temp sibling, then
   * a rename; nothing is written when serialization or writing fails. With `generationConfig`,
   * its `generation_config.json` is written too, and with `alongside` (a model's weights) those
   * files as well, all as ONE set: the new directory is built in a staging sibling and swapped
   * in, so after a crash `dir` holds the old set or the new set, never a mix. Other files in
   * `dir` (tokenizer files, README) are kept.
   *
   * @example
   * ```ts
   * import { BertConfig } from "@encdec/config";
   * await new BertConfig().savePretrained("./out");
   * ```
   */
  async savePretrained(
    dir: string,
    options: {
      generationConfig?: { toJSON(): Record<string, unknown> };
      /** More files of the same set: `write` puts them into the directory it is given, `replaces` names old files they supersede (weight shards). */
      alongside?: {
        write?: (dir: string) => Promise<unknown>;
        replaces?: (name: string) => boolean;
      };
    } = {},
  ): Promise<void> {
    const files: Record<string, unknown> = { "config.json": this.toJSON() };
    if (options.generationConfig) {
      files["generation_config.json"] = options.generationConfig.toJSON();
    }
    await writeJsonFilesAtomic(dir, files, options.alongside);
  }

  /** Assigns parsed fields; subclasses override to build nested configs. */
  protected init(
    fields: Record<string, unknown>,
    extra: Record<string, unknown>,
    _file: string,
    _prefix: string,
  ): void {
    Object.assign(this, fields);
    this.extra = extra;
    if (this.id2label === null) {
      [this.id2label, this.label2id] = defaultLabels(2);
    }
  }

  /** Cross-field checks (e.g. hidden size divisible by heads); throw ConfigError. */
  protected check(_file: string, _prefix: string): void {}

  /** Snake_case keys of this class's schema, in order. */
  protected static snakeKeys(): string[] {
    return Object.keys(this.schema.shape);
  }

  /** True for snake_case keys that map onto a field through a setter (e.g. `num_labels`). */
  protected static isSettable(snake: string): boolean {
    return snake === "num_labels" || snake in this.attributeMap;
  }

  /** Maps a snake_case or camelCase key to the canonical snake_case JSON name. */
  protected static canonicalKey(key: string): string {
    const known = this.snakeKeys();
    const byCamel = known.find((k) => snakeToCamel(k) === key);
    const snake = known.includes(key) ? key : byCamel ?? camelToSnake(key);
    return this.attributeMap[snake] ?? snake;
  }

  /** Converts camelCased constructor options to a snake_case JSON object. */
  protected static optionsToJson(options: Record<string, unknown>): Record<string, unknown> {
    const json: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(options)) {
      if (value === undefined) continue;
      if (key === "extra" && isPlainObject(value)) {
        Object.assign(json, structuredClone(value));
        continue;
      }
      json[this.canonicalKey(key)] = value instanceof PretrainedConfig
        ? value.toDict()
        : structuredClone(value);
    }
    return json;
  }

  /** Validates a snake_case JSON object with this class's schema; splits fields and extras. */
  protected static parseJson(
    input: Record<string, unknown>,
    file: string,
    prefix: string,
  ): { fields: Record<string, unknown>; extra: Record<string, unknown> } {
    const json: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(input)) json[this.attributeMap[k] ?? k] = v;
    if ("model_type" in json) {
      if (json.model_type !== this.modelType && this.modelType !== "") {
        throw new ConfigError(
          `${file}: field "${joinPath(prefix, ["model_type"])}" is ${
            JSON.stringify(json.model_type)
          }; expected "${this.modelType}" for ${this.name}`,
        );
      }
      delete json.model_type;
    }
    delete json.xla_device;
    const numLabels = json.num_labels;
    delete json.num_labels;
    if (numLabels !== undefined) {
      if (typeof numLabels !== "number" || !Number.isInteger(numLabels) || numLabels < 0) {
        throw new ConfigError(
          `${file}: field "${joinPath(prefix, ["num_labels"])}" is ${
            JSON.stringify(numLabels)
          }; expected a non-negative integer`,
        );
      }
      if (json.id2label === undefined || json.id2label === null) {
        [json.id2label, json.label2id] = defaultLabels(numLabels);
      }
    }
    const result = this.schema.safeParse(json);
    if (!result.success) throw zodError(result.error, json, file, prefix, this.name);
    const known = new Set(this.snakeKeys());
    const fields: Record<string, unknown> = {};
    const extra: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(result.data as Record<string, unknown>)) {
      if (known.has(k)) fields[snakeToCamel(k)] = v;
      else extra[k] = v;
    }
    return { fields, extra };
  }
}
