/**
 * Generation settings as generation sees them: the merge of the model's `GenerationConfig`
 * (from `@encdec/config`) with call options in HF's order, and generation's own checks on top of
 * `GenerationConfig.validate()` (rejected with a {@link GenerationError} naming the field).
 *
 * @module
 */
import { camelToSnake, GenerationConfig } from "@encdec/config";
import { GenerationError } from "./errors.ts";

/** The `GenerationConfig` fields generation reads. */
const KEYS = [
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
export type GenerationParams = { -readonly [K in typeof KEYS[number]]: GenerationConfig[K] };

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
  for (const k of KEYS) out[k] = structuredClone(merged[k]);
  return out as GenerationParams;
}

function fail(field: string, got: unknown, expected: string): never {
  throw new GenerationError(
    `generation config: \`${field}\` ${expected}, got ${JSON.stringify(got) ?? String(got)}`,
  );
}

function isInt(x: unknown): x is number {
  return typeof x === "number" && Number.isInteger(x);
}

function checkIdList(field: string, v: unknown): void {
  const list = typeof v === "number" ? [v] : v;
  if (!Array.isArray(list) || list.some((x) => !isInt(x) || x < 0)) {
    fail(field, v, "has to be a non-negative token id or a list of them");
  }
}

/**
 * Rejects what HF 4.40 rejects (in `GenerationConfig.validate()`, `generate()` and the processor
 * constructors) with a {@link GenerationError} naming the field, the value and what was expected.
 *
 * @example
 * ```ts
 * import { mergeGenerationParams, validateGenerationParams } from "@encdec/generation";
 * try {
 *   validateGenerationParams(mergeGenerationParams(null, { numBeams: 3, numBeamGroups: 2 }));
 * } catch (e) {
 *   console.log((e as Error).message); // ... `numBeams` (3) has to be divisible by `numBeamGroups` (2)
 * }
 * ```
 */
export function validateGenerationParams(p: GenerationParams): void {
  if (p.earlyStopping !== true && p.earlyStopping !== false && p.earlyStopping !== "never") {
    fail("earlyStopping", p.earlyStopping, 'has to be true, false or "never"');
  }
  if (p.maxNewTokens !== null && (!isInt(p.maxNewTokens) || p.maxNewTokens <= 0)) {
    fail("maxNewTokens", p.maxNewTokens, "has to be a positive integer");
  }
  if (!isInt(p.maxLength) || p.maxLength <= 0) {
    fail("maxLength", p.maxLength, "has to be a positive integer");
  }
  if (!isInt(p.minLength) || p.minLength < 0) {
    fail("minLength", p.minLength, "has to be a non-negative integer");
  }
  if (p.minNewTokens !== null && (!isInt(p.minNewTokens) || p.minNewTokens < 0)) {
    fail("minNewTokens", p.minNewTokens, "has to be a non-negative integer");
  }
  if (!isInt(p.numBeams) || p.numBeams < 1) {
    fail("numBeams", p.numBeams, "has to be a positive integer");
  }
  if (!isInt(p.numBeamGroups) || p.numBeamGroups < 1) {
    fail("numBeamGroups", p.numBeamGroups, "has to be a positive integer");
  }
  if (p.numBeams % p.numBeamGroups !== 0) {
    throw new GenerationError(
      `generation config: \`numBeams\` (${p.numBeams}) has to be divisible by \`numBeamGroups\` (${p.numBeamGroups})`,
    );
  }
  if (p.numBeamGroups > 1) {
    if (p.doSample) {
      fail(
        "doSample",
        p.doSample,
        "has to be false: diverse beam search cannot be used in sampling mode",
      );
    }
    if (!(p.diversityPenalty > 0)) {
      fail(
        "diversityPenalty",
        p.diversityPenalty,
        "has to be > 0 with `numBeamGroups` > 1, otherwise the groups are identical",
      );
    }
  } else if (p.diversityPenalty !== 0) {
    fail(
      "diversityPenalty",
      p.diversityPenalty,
      "needs `numBeamGroups` > 1 (diverse beam search); set it to 0",
    );
  }
  if (!isInt(p.numReturnSequences) || p.numReturnSequences < 1) {
    fail("numReturnSequences", p.numReturnSequences, "has to be a positive integer");
  }
  if (p.numBeams === 1 && !p.doSample && p.numReturnSequences > 1) {
    fail(
      "numReturnSequences",
      p.numReturnSequences,
      "has to be 1 for greedy search (use sampling or beams)",
    );
  }
  if (p.numBeams > 1 && p.numReturnSequences > p.numBeams) {
    fail("numReturnSequences", p.numReturnSequences, `has to be <= numBeams (${p.numBeams})`);
  }
  if (p.penaltyAlpha !== null && p.penaltyAlpha > 0 && p.topK > 1) {
    fail(
      "penaltyAlpha",
      p.penaltyAlpha,
      "set: contrastive search is not supported; leave it unset",
    );
  }
  if (p.forceWordsIds != null) {
    fail("forceWordsIds", p.forceWordsIds, "is not supported (constrained beam search)");
  }
  if (p.forcedDecoderIds != null) {
    fail("forcedDecoderIds", p.forcedDecoderIds, "is not supported; use `forcedBosTokenId`");
  }
  if (p.useCache === false) {
    fail("useCache", p.useCache, "must be true: decoding is always incremental");
  }
  if (p.doSample) {
    if (!(typeof p.temperature === "number" && p.temperature > 0)) {
      fail("temperature", p.temperature, "has to be a strictly positive number when sampling");
    }
    if (!(p.topP > 0 && p.topP <= 1)) fail("topP", p.topP, "has to be in (0, 1]");
    if (!(p.typicalP > 0 && p.typicalP <= 1)) fail("typicalP", p.typicalP, "has to be in (0, 1]");
    if (p.minP !== null && !(p.minP >= 0 && p.minP <= 1)) {
      fail("minP", p.minP, "has to be in [0, 1]");
    }
    if (!(p.epsilonCutoff >= 0 && p.epsilonCutoff < 1)) {
      fail("epsilonCutoff", p.epsilonCutoff, "has to be in [0, 1)");
    }
    if (!(p.etaCutoff >= 0 && p.etaCutoff < 1)) {
      fail("etaCutoff", p.etaCutoff, "has to be in [0, 1)");
    }
  }
  if (!isInt(p.topK) || p.topK < 0) fail("topK", p.topK, "has to be a non-negative integer");
  if (!(p.repetitionPenalty > 0)) {
    fail("repetitionPenalty", p.repetitionPenalty, "has to be a strictly positive number");
  }
  if (!(p.encoderRepetitionPenalty > 0)) {
    fail(
      "encoderRepetitionPenalty",
      p.encoderRepetitionPenalty,
      "has to be a strictly positive number",
    );
  }
  if (typeof p.lengthPenalty !== "number" || !Number.isFinite(p.lengthPenalty)) {
    fail("lengthPenalty", p.lengthPenalty, "has to be a finite number");
  }
  if (!isInt(p.noRepeatNgramSize) || p.noRepeatNgramSize < 0) {
    fail("noRepeatNgramSize", p.noRepeatNgramSize, "has to be a non-negative integer");
  }
  if (!isInt(p.encoderNoRepeatNgramSize) || p.encoderNoRepeatNgramSize < 0) {
    fail(
      "encoderNoRepeatNgramSize",
      p.encoderNoRepeatNgramSize,
      "has to be a non-negative integer",
    );
  }
  if (p.maxTime !== null && !(p.maxTime > 0)) {
    fail("maxTime", p.maxTime, "has to be a positive number of seconds");
  }
  if (Array.isArray(p.decoderStartTokenId)) {
    checkIdList("decoderStartTokenId", p.decoderStartTokenId);
  } else if (p.decoderStartTokenId !== null) {
    checkIdList("decoderStartTokenId", p.decoderStartTokenId);
  }
  for (const k of ["padTokenId", "bosTokenId", "forcedBosTokenId"] as const) {
    const v = p[k];
    if (v !== null && (!isInt(v) || v < 0)) fail(k, v, "has to be a non-negative integer token id");
  }
  if (p.eosTokenId !== null) checkIdList("eosTokenId", p.eosTokenId);
  if (p.forcedEosTokenId !== null) checkIdList("forcedEosTokenId", p.forcedEosTokenId);
  if (p.badWordsIds !== null) {
    if (
      !Array.isArray(p.badWordsIds) || p.badWordsIds.length === 0 ||
      p.badWordsIds.some((s) => !Array.isArray(s) || s.length === 0)
    ) {
      fail(
        "badWordsIds",
        p.badWordsIds,
        "has to be a non-empty list of non-empty lists of token ids",
      );
    }
    p.badWordsIds.forEach((s) => checkIdList("badWordsIds", s));
  }
  if (p.suppressTokens !== null) checkIdList("suppressTokens", p.suppressTokens);
  if (p.beginSuppressTokens !== null) checkIdList("beginSuppressTokens", p.beginSuppressTokens);
  if (p.exponentialDecayLengthPenalty !== null) {
    const e = p.exponentialDecayLengthPenalty;
    if (!Array.isArray(e) || e.length !== 2 || !isInt(e[0]) || typeof e[1] !== "number") {
      fail(
        "exponentialDecayLengthPenalty",
        e,
        "has to be [startIndex (integer), decayFactor (number)]",
      );
    }
  }
}
