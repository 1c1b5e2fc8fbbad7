/**
 * The ONE set of generation-setting rules. Types and JSON shapes are checked by the zod schema of
 * `GenerationConfig`; everything else is here, in two tiers:
 *
 * - what HF's `GenerationConfig.validate()` rejects, checked whenever a `GenerationConfig` is
 *   built (a `generation_config.json`, `new GenerationConfig(...)`, `update()`);
 * - what HF's `generate()` and its processors reject at call time, plus what this library does
 *   not support and the bounds of {@link GENERATION_LIMITS}, checked by `generate()` (through
 *   `validateGenerationParams` of `@encdec/generation`) — so loading a config HF would load never
 *   fails on a setting only a `generate()` call would refuse.
 *
 * Every failure is a {@link GenerationConfigError} whose message names the field by its HF JSON
 * name (`num_beams`, as in `generation_config.json` and Python), the value, and what was expected.
 *
 * @module
 */
import { ConfigError } from "./errors.ts";
import type { GenerationConfig } from "./generation.ts";

/** A generation setting HF would reject (e.g. `numBeams` not divisible by `numBeamGroups`). */
export class GenerationConfigError extends ConfigError {}

/**
 * Bounds on what one `generate()` call may ask for, so that a request, a CLI flag or a
 * `generation_config.json` cannot make one call allocate without limit (`--num-beams 100000`
 * needs `100000 × vocab` floats per step). Far above what any published model uses.
 */
export const GENERATION_LIMITS: {
  /** `num_beams` and `num_return_sequences`. */
  readonly numBeams: number;
  /** `max_length` / `max_new_tokens` (tokens of one output sequence). */
  readonly maxLength: number;
  /** Decoder rows of one call: batch × `num_beams` (or × `num_return_sequences` when sampling). */
  readonly rows: number;
  /** Scores held per decode step: rows × vocabulary size (float32: 4 bytes each). */
  readonly stepScores: number;
  /** Input tokens of one call: batch × source length. */
  readonly inputTokens: number;
  /** Encoder attention cells of one call per head: batch × source length² (quadratic). */
  readonly attentionCells: number;
} = Object.freeze({
  numBeams: 1_024,
  maxLength: 1_048_576,
  rows: 65_536,
  stepScores: 134_217_728, // 2^27 floats = 512 MiB per buffer
  inputTokens: 262_144,
  attentionCells: 33_554_432, // 2^25: 128 inputs of 512 tokens
});

/** The generation fields the rules read (camelCase), as on a `GenerationConfig`. */
export type GenerationRuleFields =
  & Pick<
    GenerationConfig,
    | "maxLength"
    | "maxNewTokens"
    | "minLength"
    | "minNewTokens"
    | "earlyStopping"
    | "maxTime"
    | "doSample"
    | "numBeams"
    | "numBeamGroups"
    | "penaltyAlpha"
    | "useCache"
    | "temperature"
    | "topK"
    | "topP"
    | "minP"
    | "typicalP"
    | "epsilonCutoff"
    | "etaCutoff"
    | "diversityPenalty"
    | "repetitionPenalty"
    | "encoderRepetitionPenalty"
    | "lengthPenalty"
    | "noRepeatNgramSize"
    | "badWordsIds"
    | "forceWordsIds"
    | "forcedBosTokenId"
    | "forcedEosTokenId"
    | "exponentialDecayLengthPenalty"
    | "suppressTokens"
    | "beginSuppressTokens"
    | "forcedDecoderIds"
    | "numReturnSequences"
    | "padTokenId"
    | "bosTokenId"
    | "eosTokenId"
    | "encoderNoRepeatNgramSize"
    | "decoderStartTokenId"
  >
  & Partial<Pick<GenerationConfig, "constraints">>;

type Fail = (field: string, value: unknown, expected: string) => never;

function failIn(where: string): Fail {
  return (field, value, expected) => {
    const shown = JSON.stringify(value) ?? String(value);
    throw new GenerationConfigError(
      `${where}: ${field} is ${shown.length > 80 ? shown.slice(0, 77) + "..." : shown}; ` +
        `expected ${expected}`,
    );
  };
}

function isInt(x: unknown): x is number {
  return typeof x === "number" && Number.isSafeInteger(x);
}

/** HF `GenerationConfig.validate()`: checked whenever a config is built. */
function configRules(g: GenerationRuleFields, fail: Fail): void {
  if (g.earlyStopping !== true && g.earlyStopping !== false && g.earlyStopping !== "never") {
    fail("early_stopping", g.earlyStopping, 'true, false or "never"');
  }
  if (g.maxNewTokens !== null && g.maxNewTokens <= 0) {
    fail("max_new_tokens", g.maxNewTokens, "an integer > 0");
  }
  if (g.numReturnSequences !== 1) {
    if (g.numBeams === 1 && !g.doSample) {
      fail(
        "num_return_sequences",
        g.numReturnSequences,
        "1 with greedy search (num_beams 1, do_sample false)",
      );
    } else if (g.numBeams > 1 && g.numReturnSequences > g.numBeams) {
      fail("num_return_sequences", g.numReturnSequences, `at most num_beams (${g.numBeams})`);
    }
  }
  if (g.numBeams > 1) {
    if ((g.constraints ?? null) !== null || g.forceWordsIds !== null) {
      if (g.doSample) fail("do_sample", g.doSample, "false with constrained beam search");
      if (g.numBeamGroups !== 1) {
        fail("num_beam_groups", g.numBeamGroups, "1 with constrained beam search");
      }
    }
    if (g.diversityPenalty !== 0 || g.numBeamGroups !== 1) checkGroups(g, fail);
  }
  if (g.repetitionPenalty <= 0) fail("repetition_penalty", g.repetitionPenalty, "a float > 0");
  if (g.encoderRepetitionPenalty <= 0) {
    fail("encoder_repetition_penalty", g.encoderRepetitionPenalty, "a float > 0");
  }
  if (g.doSample) {
    if (g.temperature <= 0) fail("temperature", g.temperature, "a float > 0 when sampling");
    if (g.topK < 0) fail("top_k", g.topK, "an integer >= 0 (0 = off)");
    if (g.topP < 0 || g.topP > 1) fail("top_p", g.topP, "a float in [0, 1]");
    if (g.typicalP <= 0) fail("typical_p", g.typicalP, "a float in (0, 1]");
    if (g.minP !== null && (g.minP < 0 || g.minP > 1)) fail("min_p", g.minP, "a float in [0, 1]");
  }
}

/** Diverse (group) beam search settings. */
function checkGroups(g: GenerationRuleFields, fail: Fail): void {
  if (g.doSample) fail("do_sample", g.doSample, "false with diverse (group) beam search");
  if (g.numBeams % g.numBeamGroups !== 0) {
    fail("num_beam_groups", g.numBeamGroups, `a divisor of num_beams (${g.numBeams})`);
  }
  if (!(g.diversityPenalty > 0)) {
    fail(
      "diversity_penalty",
      g.diversityPenalty,
      "> 0 with num_beam_groups > 1, otherwise the beam groups are identical",
    );
  }
}

function checkIdList(field: string, v: unknown, fail: Fail): void {
  const list = typeof v === "number" ? [v] : v;
  if (!Array.isArray(list) || list.some((x) => !isInt(x) || x < 0)) {
    fail(field, v, "a non-negative token id or a list of them");
  }
}

/** Sizes and bounds of what one call generates ({@link GENERATION_LIMITS}). */
function sizeRules(g: GenerationRuleFields, fail: Fail): void {
  const L = GENERATION_LIMITS;
  if (!isInt(g.maxLength) || g.maxLength <= 0 || g.maxLength > L.maxLength) {
    fail("max_length", g.maxLength, `a positive integer of at most ${L.maxLength}`);
  }
  if (g.maxNewTokens !== null && (!isInt(g.maxNewTokens) || g.maxNewTokens > L.maxLength)) {
    fail("max_new_tokens", g.maxNewTokens, `a positive integer of at most ${L.maxLength}`);
  }
  if (!isInt(g.minLength) || g.minLength < 0) fail("min_length", g.minLength, "an integer >= 0");
  if (g.minNewTokens !== null && (!isInt(g.minNewTokens) || g.minNewTokens < 0)) {
    fail("min_new_tokens", g.minNewTokens, "an integer >= 0");
  }
  if (!isInt(g.numBeams) || g.numBeams < 1 || g.numBeams > L.numBeams) {
    fail("num_beams", g.numBeams, `a positive integer of at most ${L.numBeams}`);
  }
  if (!isInt(g.numBeamGroups) || g.numBeamGroups < 1) {
    fail("num_beam_groups", g.numBeamGroups, "a positive integer");
  }
  if (
    !isInt(g.numReturnSequences) || g.numReturnSequences < 1 ||
    g.numReturnSequences > L.numBeams
  ) {
    fail(
      "num_return_sequences",
      g.numReturnSequences,
      `a positive integer of at most ${L.numBeams}`,
    );
  }
  if (g.maxTime !== null && !(g.maxTime > 0)) {
    fail("max_time", g.maxTime, "a positive number of seconds");
  }
}

/** What HF's `generate()` and its processors reject, and what this library does not support. */
function generateRules(g: GenerationRuleFields, fail: Fail): void {
  sizeRules(g, fail);
  if (g.numBeamGroups > 1 || g.numBeams % g.numBeamGroups !== 0) checkGroups(g, fail);
  else if (g.diversityPenalty !== 0) {
    fail(
      "diversity_penalty",
      g.diversityPenalty,
      "0 unless num_beam_groups > 1 (diverse beam search)",
    );
  }
  if (g.penaltyAlpha !== null && g.penaltyAlpha > 0 && g.topK > 1) {
    fail("penalty_alpha", g.penaltyAlpha, "unset: contrastive search is not supported");
  }
  if (g.forceWordsIds != null) {
    fail("force_words_ids", g.forceWordsIds, "null: constrained beam search is not supported");
  }
  if (g.forcedDecoderIds != null) {
    fail("forced_decoder_ids", g.forcedDecoderIds, "null (not supported; use forced_bos_token_id)");
  }
  if (g.useCache === false) fail("use_cache", g.useCache, "true: decoding is always incremental");
  if (g.doSample) {
    if (!(g.topP > 0 && g.topP <= 1)) fail("top_p", g.topP, "a float in (0, 1] when sampling");
    if (!(g.typicalP > 0 && g.typicalP <= 1)) fail("typical_p", g.typicalP, "a float in (0, 1]");
    if (!(g.epsilonCutoff >= 0 && g.epsilonCutoff < 1)) {
      fail("epsilon_cutoff", g.epsilonCutoff, "a float in [0, 1)");
    }
    if (!(g.etaCutoff >= 0 && g.etaCutoff < 1)) {
      fail("eta_cutoff", g.etaCutoff, "a float in [0, 1)");
    }
  }
  if (!isInt(g.topK) || g.topK < 0) fail("top_k", g.topK, "an integer >= 0 (0 = off)");
  if (!Number.isFinite(g.lengthPenalty)) fail("length_penalty", g.lengthPenalty, "a finite number");
  if (!isInt(g.noRepeatNgramSize) || g.noRepeatNgramSize < 0) {
    fail("no_repeat_ngram_size", g.noRepeatNgramSize, "an integer >= 0");
  }
  if (!isInt(g.encoderNoRepeatNgramSize) || g.encoderNoRepeatNgramSize < 0) {
    fail("encoder_no_repeat_ngram_size", g.encoderNoRepeatNgramSize, "an integer >= 0");
  }
  tokenRules(g, fail);
}

/** Token ids and id lists. */
function tokenRules(g: GenerationRuleFields, fail: Fail): void {
  if (g.decoderStartTokenId !== null) {
    checkIdList("decoder_start_token_id", g.decoderStartTokenId, fail);
  }
  const single = [
    ["pad_token_id", g.padTokenId],
    ["bos_token_id", g.bosTokenId],
    ["forced_bos_token_id", g.forcedBosTokenId],
  ] as const;
  for (const [k, v] of single) {
    if (v !== null && (!isInt(v) || v < 0)) fail(k, v, "a non-negative integer token id");
  }
  if (g.eosTokenId !== null) checkIdList("eos_token_id", g.eosTokenId, fail);
  if (g.forcedEosTokenId !== null) checkIdList("forced_eos_token_id", g.forcedEosTokenId, fail);
  if (g.badWordsIds !== null) {
    if (
      !Array.isArray(g.badWordsIds) || g.badWordsIds.length === 0 ||
      g.badWordsIds.some((s) => !Array.isArray(s) || s.length === 0)
    ) {
      fail("bad_words_ids", g.badWordsIds, "a non-empty list of non-empty lists of token ids");
    }
    g.badWordsIds.forEach((s) => checkIdList("bad_words_ids", s, fail));
  }
  if (g.suppressTokens !== null) checkIdList("suppress_tokens", g.suppressTokens, fail);
  if (g.beginSuppressTokens !== null) {
    checkIdList("begin_suppress_tokens", g.beginSuppressTokens, fail);
  }
  const e = g.exponentialDecayLengthPenalty;
  if (
    e !== null && (!Array.isArray(e) || e.length !== 2 || !isInt(e[0]) || typeof e[1] !== "number")
  ) {
    fail("exponential_decay_length_penalty", e, "[start_index (integer), decay_factor (number)]");
  }
}

/**
 * Checks generation settings against the one rule set. `stage: "config"` applies what HF's
 * `GenerationConfig.validate()` rejects (every config built); `stage: "generate"` adds what a
 * `generate()` call rejects and {@link GENERATION_LIMITS}. Throws a {@link GenerationConfigError}
 * `"<where>: <json_name> is <value>; expected <what>"`.
 *
 * @example
 * ```ts
 * import { checkGenerationRules, GenerationConfig } from "@encdec/config";
 * try {
 *   checkGenerationRules(new GenerationConfig({ numBeams: 100_000 }), "generate", "options");
 * } catch (e) {
 *   console.log((e as Error).message); // options: num_beams is 100000; expected a positive integer of at most 1024
 * }
 * ```
 */
export function checkGenerationRules(
  fields: GenerationRuleFields,
  stage: "config" | "generate",
  where: string,
): void {
  const fail = failIn(where);
  configRules(fields, fail);
  if (stage === "generate") generateRules(fields, fail);
}

/**
 * Checks the size of one `generate()` call against {@link GENERATION_LIMITS}: `batch` input rows
 * of `srcLen` tokens, each expanded to `expand` decoder rows over a vocabulary of `vocabSize`.
 *
 * @example
 * ```ts
 * import { checkGenerationSize } from "@encdec/config";
 * checkGenerationSize({ batch: 8, srcLen: 512, expand: 4, vocabSize: 30522 }, "generate"); // fine
 * ```
 */
export function checkGenerationSize(
  size: { batch: number; srcLen: number; expand: number; vocabSize: number },
  where: string,
): void {
  const L = GENERATION_LIMITS;
  const rows = size.batch * size.expand;
  const what = `batch ${size.batch} × ${size.expand} beam(s)/sequence(s)`;
  if (size.batch * size.srcLen > L.inputTokens) {
    throw new GenerationConfigError(
      `${where}: the input holds ${size.batch} × ${size.srcLen} = ${size.batch * size.srcLen} ` +
        `tokens; at most ${L.inputTokens} per call (GENERATION_LIMITS.inputTokens): use a smaller batch`,
    );
  }
  const cells = size.batch * size.srcLen * size.srcLen;
  if (cells > L.attentionCells) {
    throw new GenerationConfigError(
      `${where}: ${size.batch} inputs of ${size.srcLen} tokens need ${cells} attention cells ` +
        `per head (batch × length²); at most ${L.attentionCells} per call ` +
        `(GENERATION_LIMITS.attentionCells): use a smaller batch`,
    );
  }
  if (rows > L.rows) {
    throw new GenerationConfigError(
      `${where}: ${what} = ${rows} decoder rows; at most ${L.rows} per call ` +
        `(GENERATION_LIMITS.rows): use a smaller batch or fewer beams`,
    );
  }
  if (rows * size.vocabSize > L.stepScores) {
    throw new GenerationConfigError(
      `${where}: ${what} × vocabulary ${size.vocabSize} = ${rows * size.vocabSize} scores per ` +
        `step; at most ${L.stepScores} (GENERATION_LIMITS.stepScores): use a smaller batch or fewer beams`,
    );
  }
}
