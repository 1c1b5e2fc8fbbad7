/**
 * `AutoConfig`: loads a `config.json` and builds the config class its `model_type` names.
 *
 * @module
 */
import { EncoderDecoderConfig, MODEL_CONFIG_CLASSES, type ModelConfig } from "./encoder_decoder.ts";
import { ConfigError } from "./errors.ts";
import type { ConfigOptions, FromJSONOptions, PretrainedConfig } from "./pretrained.ts";
import { type FromPretrainedOptions, loadConfigJson, splitLoadOptions } from "./_load.ts";
import { describeValue, isPlainObject, joinPath } from "./_util.ts";

/** Any config `AutoConfig` can return. */
export type AnyConfig = ModelConfig | EncoderDecoderConfig;

/** Config classes by HF `model_type`. */
export const CONFIG_CLASSES: Readonly<
  Record<string, (typeof MODEL_CONFIG_CLASSES)[string] | typeof EncoderDecoderConfig>
> = { ...MODEL_CONFIG_CLASSES, "encoder-decoder": EncoderDecoderConfig };

function classFor(type: unknown, file: string, prefix: string): typeof PretrainedConfig {
  if (typeof type === "string" && Object.hasOwn(CONFIG_CLASSES, type)) {
    return CONFIG_CLASSES[type] as unknown as typeof PretrainedConfig;
  }
  throw new ConfigError(
    `${file}: field "${joinPath(prefix, ["model_type"])}" is ${
      describeValue(type)
    }; expected one of ${Object.keys(CONFIG_CLASSES).map((k) => `"${k}"`).join(", ")}`,
  );
}

/**
 * HF's `AutoConfig`: dispatches on `model_type` (`"bert"`, `"roberta"`, `"xlm-roberta"`,
 * `"camembert"`, `"bert-generation"`, `"electra"`, `"distilbert"`, `"longformer"`, `"gpt2"`,
 * `"encoder-decoder"`). An unknown or missing `model_type` is a ConfigError naming the
 * value and listing the known ones.
 *
 * @example
 * ```ts
 * import { AutoConfig, EncoderDecoderConfig } from "@encdec/config";
 * const config = await AutoConfig.fromPretrained("./bert2bert");
 * if (config instanceof EncoderDecoderConfig) console.log(config.decoder.modelType);
 * ```
 */
export class AutoConfig {
  private constructor() {}

  /**
   * Reads `config.json` from a directory or Hub id (through `resolveModelFile`), builds the class
   * its `model_type` names, then applies field overrides (snake_case or camelCase keys).
   */
  static async fromPretrained(
    idOrDir: string,
    options: FromPretrainedOptions = {},
  ): Promise<AnyConfig> {
    const { resolve, overrides } = splitLoadOptions(options);
    const { path, json } = await loadConfigJson(idOrDir, resolve);
    return AutoConfig.fromJSON(json, { file: path }).withOverrides(overrides, path) as AnyConfig;
  }

  /** Builds the config class named by `json.model_type` from a parsed `config.json` object. */
  static fromJSON(json: unknown, options: FromJSONOptions = {}): AnyConfig {
    const file = options.file ?? "config.json";
    const prefix = options.prefix ?? "";
    if (!isPlainObject(json)) {
      throw new ConfigError(`${file}: top level is ${describeValue(json)}; expected a JSON object`);
    }
    return classFor(json.model_type, file, prefix).fromJSON(json, options) as AnyConfig;
  }

  /**
   * HF `AutoConfig.for_model(model_type, **kwargs)`: a default config of that type with camelCase
   * or snake_case options.
   *
   * @example
   * ```ts
   * import { AutoConfig } from "@encdec/config";
   * const c = AutoConfig.forModel("gpt2", { n_layer: 2 });
   * ```
   */
  static forModel(
    modelType: string,
    options: ConfigOptions<ModelConfig> | Record<string, unknown> = {},
  ): AnyConfig {
    const cls = classFor(modelType, `AutoConfig.forModel("${modelType}")`, "");
    return cls.fromJSON({ model_type: modelType }, { file: "AutoConfig.forModel" })
      .withOverrides(
        options as Record<string, unknown>,
        `AutoConfig.forModel("${modelType}")`,
      ) as AnyConfig;
  }
}
