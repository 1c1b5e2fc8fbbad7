/**
 * Generation settings as generation sees them: the merge of the model's `GenerationConfig`
 * (from `@encdec/config`) with call options in HF's order, and generation's own checks on top of
 * `GenerationConfig.validate()` (the one rule set of `@encdec/config`'s `checkGenerationRules`).
 *
 * @module
 */
import { camelToSnake, checkGenerationRules, GenerationConfig } from "@encdec/config";

/** The `GenerationConfig` fields generation reads (the keys of {@link GenerationParams}). */
export const GENERATION_PARAM_KEYS = [
  "maxLength",
  "maxNewTokens",
  "minLength",
  "minNewTokens",
  "earlyStopping",
  "maxTime",
  "stopStrings",
  "doSample",
  "numBeams",
  "numBeamGroups",
  "penaltyAlpha",
  "useCache",
  "temperature",
  "topK",
  "topP",
  "minP",
  "typicalP",
  "epsilonCutoff",
  "etaCutoff",
  "diversityPenalty",
  "repetitionPenalty",
  "encoderRepetitionPenalty",
  "lengthPenalty",
  "noRepeatNgramSize",
  "badWordsIds",
  "forceWordsIds",
  "renormalizeLogits",
  "forcedBosTokenId",
  "forcedEosTokenId",
  "removeInvalidValues",
  "exponentialDecayLengthPenalty",
  "suppressTokens",
  "beginSuppressTokens",
  "forcedDecoderIds",
  "sequenceBias",
  "numReturnSequences",
  "outputScores",
  "returnDictInGenerate",
  "padTokenId",
  "bosTokenId",
  "eosTokenId",
  "encoderNoRepeatNgramSize",
  "decoderStartTokenId",
] as const;

/**
 * The `GenerationConfig` fields generation reads (HF names camelCased, HF 4.40 defaults), as a
 * plain object after merging.
 */
export type GenerationParams = {
  -readonly [K in typeof GENERATION_PARAM_KEYS[number]]: GenerationConfig[K];
};

/** A `GenerationConfig` from one, or from a plain object of its fields (camelCase or snake_case). */
function toGenerationConfig(c: GenerationConfig | object | null | undefined): GenerationConfig {
  if (c instanceof GenerationConfig) return c;
  if (!c) return new GenerationConfig();
  const json = Object.fromEntries(Object.entries(c).map(([k, v]) => [camelToSnake(k), v]));
  return GenerationConfig.fromJSON(json, { file: "generationConfig option" });
}

/**
 * Merges as HF's `generate` does: the model's generation config (a `GenerationConfig`, or a
 * plain object of its fields in camelCase or `generation_config.json` snake_case), then the
 * call's options (`undefined` fields do not override), through `GenerationConfig.update()`
 * (which rejects unknown fields and what HF's `GenerationConfig.validate()` rejects).
 *
 * @example
 * ```ts
 * import { mergeGenerationParams } from "@encdec/generation";
 * const p = mergeGenerationParams({ eos_token_id: 3, num_beams: 2 }, { numBeams: 4 });
 * console.log(p.eosTokenId, p.numBeams, p.maxLength); // 3 4 20
 * ```
 */
export function mergeGenerationParams(
  modelConfig?: GenerationConfig | object | null,
  options?: object | null,
): GenerationParams {
  const defined = Object.fromEntries(
    Object.entries(options ?? {}).filter(([, v]) => v !== undefined),
  );
  const merged = toGenerationConfig(modelConfig).update(defined);
  const out: Record<string, unknown> = {};
  for (const k of GENERATION_PARAM_KEYS) out[k] = structuredClone(merged[k]);
  return out as GenerationParams;
}

/**
 * Rejects what HF 4.40 rejects (in `GenerationConfig.validate()`, `generate()` and the processor
 * constructors), what this library does not support, and what one call may not ask for
 * (`GENERATION_LIMITS`): the one rule set of `@encdec/config`'s `checkGenerationRules` at its
 * `"generate"` stage. Throws a `GenerationConfigError` naming the field (HF's JSON name), the
 * value and what was expected.
 *
 * @example
 * ```ts
 * import { mergeGenerationParams, validateGenerationParams } from "@encdec/generation";
 * try {
 *   validateGenerationParams(mergeGenerationParams(null, { numBeams: 3, numBeamGroups: 2, diversityPenalty: 1 }));
 * } catch (e) {
 *   console.log((e as Error).message); // generation config: num_beam_groups is 2; expected a divisor of num_beams (3)
 * }
 * ```
 */
export function validateGenerationParams(p: GenerationParams): void {
  checkGenerationRules(p, "generate", "generation config");
}
