/**
 * `@encdec/config`: Hugging Face-compatible configuration objects (BERT, RoBERTa, XLM-RoBERTa,
 * CamemBERT, ELECTRA, DistilBERT, Longformer, BertGeneration, GPT-2, EncoderDecoder, Generation)
 * and the shared error root (`EncdecError`); the one rule set and bounds for generation settings
 * (`GenerationConfigError`, `GENERATION_LIMITS`) and model sizes (`MODEL_LIMITS`); model-file
 * resolution for local directories and Hub ids (`resolveModelFile`), the Hugging Face Hub client
 * and cache (`resolveHubPaths`, downloads, snapshots); the crash-safe writer for files and
 * directories; the camel↔snake key conversion and the zod-error summary.
 *
 * Every config is parsed once by a zod schema with HF 4.40.2's defaults and JSON field names;
 * TypeScript fields are camelCased (`hidden_size` → `hiddenSize`). `toJSON()` writes HF's
 * `config.json` layout back, unknown fields included.
 *
 * @example
 * ```ts
 * import { AutoConfig, BertConfig, EncoderDecoderConfig } from "@encdec/config";
 * const cfg = EncoderDecoderConfig.fromEncoderDecoderConfigs(new BertConfig(), new BertConfig(), {
 *   decoderStartTokenId: 101,
 *   padTokenId: 0,
 * });
 * await cfg.savePretrained("./out");
 * const again = await AutoConfig.fromPretrained("./out");
 * ```
 *
 * @module
 */
export * from "./errors.ts";
export * from "./resolve.ts";
export { camelToSnake, snakeToCamel } from "./key_case.ts";
export { summarizeZodError, type ZodErrorLike, type ZodIssueSummary } from "./zod_issue.ts";
export { checkModelSize, MODEL_LIMITS } from "./limits.ts";
export {
  type DirectoryContents,
  recoverDirectorySwap,
  SAVE_MARKER,
  sweepStaleTemps,
  tempPathFor,
  writeDirectoryAtomic,
  writeFileAtomic,
} from "./atomic_write.ts";
export {
  type ConfigClass,
  type ConfigOptions,
  type FromJSONOptions,
  type IfEquals,
  PretrainedConfig,
  type WritableDataKeys,
} from "./pretrained.ts";
export type { FromPretrainedOptions } from "./_load.ts";
export {
  BertConfig,
  BertGenerationConfig,
  BertLikeConfig,
  BertShapedConfig,
  CamembertConfig,
  RobertaConfig,
  XLMRobertaConfig,
} from "./bert.ts";
export { DistilBertConfig } from "./distilbert.ts";
export { ElectraConfig } from "./electra.ts";
export { GPT2Config } from "./gpt2.ts";
export { LongformerConfig } from "./longformer.ts";
export {
  EncoderDecoderConfig,
  MODEL_CONFIG_CLASSES,
  type ModelConfig,
  type ModelConfigClass,
  splitEncoderDecoderKwargs,
  type SplitKwargs,
} from "./encoder_decoder.ts";
export { type AnyConfig, AutoConfig, CONFIG_CLASSES } from "./auto.ts";
export { GenerationConfig, GenerationConfigError, type GenerationOptions } from "./generation.ts";
export {
  checkGenerationRules,
  checkGenerationSize,
  GENERATION_LIMITS,
  type GenerationRuleFields,
} from "./generation_rules.ts";
export * from "./hub/hub.ts";
