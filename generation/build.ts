/**
 * Builds the processor, warper and stopping-criteria lists from merged {@link GenerationParams}
 * in the order of HF 4.40's `_get_logits_processor`, `_get_logits_warper` and
 * `_get_stopping_criteria`.
 *
 * @module
 */
import { GenerationError } from "./errors.ts";
import {
  EncoderNoRepeatNGramLogitsProcessor,
  EncoderRepetitionPenaltyLogitsProcessor,
  ExponentialDecayLengthPenalty,
  ForcedBOSTokenLogitsProcessor,
  ForcedEOSTokenLogitsProcessor,
  HammingDiversityLogitsProcessor,
  InfNanRemoveLogitsProcessor,
  type InputIds,
  LogitNormalization,
  type LogitsProcessor,
  LogitsProcessorList,
  MinLengthLogitsProcessor,
  MinNewTokensLengthLogitsProcessor,
  NoBadWordsLogitsProcessor,
  NoRepeatNGramLogitsProcessor,
  type PrefixAllowedTokensFn,
  PrefixConstrainedLogitsProcessor,
  RepetitionPenaltyLogitsProcessor,
  SequenceBiasLogitsProcessor,
  SuppressTokensAtBeginLogitsProcessor,
  SuppressTokensLogitsProcessor,
} from "./logits_process.ts";
import {
  EpsilonLogitsWarper,
  EtaLogitsWarper,
  MinPLogitsWarper,
  TemperatureLogitsWarper,
  TopKLogitsWarper,
  TopPLogitsWarper,
  TypicalLogitsWarper,
} from "./logits_warp.ts";
import type { GenerationParams } from "./params.ts";
import {
  EosTokenCriteria,
  MaxLengthCriteria,
  MaxTimeCriteria,
  type StoppingCriteria,
  StoppingCriteriaList,
  StopStringCriteria,
} from "./stopping.ts";

/** Inputs of {@link buildLogitsProcessor} besides the parameters. */
export interface BuildProcessorContext {
  /** Decoder prompt length (1 for encoder-decoders: the start token). */
  inputIdsSeqLength: number;
  /** The encoder input ids `[batch, srcLen]` (encoder penalties). */
  encoderInputIds: InputIds;
  /** Constrained generation callback. */
  prefixAllowedTokensFn?: PrefixAllowedTokensFn;
  /** Extra processors given by the caller; appended after the built ones. */
  extra?: readonly LogitsProcessor[];
}

function eosList(p: GenerationParams): number[] | undefined {
  if (p.eosTokenId === null) return undefined;
  return typeof p.eosTokenId === "number" ? [p.eosTokenId] : p.eosTokenId;
}

/** HF's check: a custom processor may not duplicate the type of a built one. */
function mergeCustom<T extends object>(
  built: T[],
  extra: readonly T[] | undefined,
  what: string,
): T[] {
  for (const e of extra ?? []) {
    for (const b of built) {
      if (b.constructor === e.constructor) {
        throw new GenerationError(
          `A custom ${what} of type ${e.constructor.name} was passed to generate(), but the generation config already creates one; set the matching generation option instead or remove it`,
        );
      }
    }
  }
  return [...built, ...(extra ?? [])];
}

/**
 * The logits processors the parameters ask for, in HF 4.40 order (sequence bias, diversity,
 * encoder repetition, repetition, no-repeat n-gram, encoder no-repeat n-gram, bad words, min
 * length, min new tokens, prefix constraint, forced BOS/EOS, inf/nan removal, exponential decay,
 * suppress tokens, suppress at begin; caller's extras; logit normalization).
 *
 * @example
 * ```ts
 * import { buildLogitsProcessor, mergeGenerationParams } from "@encdec/generation";
 * const list = buildLogitsProcessor(mergeGenerationParams(null, { repetitionPenalty: 1.2 }), {
 *   inputIdsSeqLength: 1,
 *   encoderInputIds: [[5, 6]],
 * });
 * console.log(list.length); // 1
 * ```
 */
export function buildLogitsProcessor(
  p: GenerationParams,
  ctx: BuildProcessorContext,
): LogitsProcessorList {
  const out: LogitsProcessor[] = [];
  const eos = eosList(p);
  if (p.sequenceBias !== null) out.push(new SequenceBiasLogitsProcessor(p.sequenceBias));
  if (p.diversityPenalty > 0) {
    out.push(new HammingDiversityLogitsProcessor(p.diversityPenalty, p.numBeams, p.numBeamGroups));
  }
  if (p.encoderRepetitionPenalty !== 1.0) {
    out.push(
      new EncoderRepetitionPenaltyLogitsProcessor(p.encoderRepetitionPenalty, ctx.encoderInputIds),
    );
  }
  if (p.repetitionPenalty !== 1.0) {
    out.push(new RepetitionPenaltyLogitsProcessor(p.repetitionPenalty));
  }
  if (p.noRepeatNgramSize > 0) out.push(new NoRepeatNGramLogitsProcessor(p.noRepeatNgramSize));
  if (p.encoderNoRepeatNgramSize > 0) {
    out.push(
      new EncoderNoRepeatNGramLogitsProcessor(p.encoderNoRepeatNgramSize, ctx.encoderInputIds),
    );
  }
  if (p.badWordsIds !== null) out.push(new NoBadWordsLogitsProcessor(p.badWordsIds, eos));
  if (p.minLength > 0 && eos) out.push(new MinLengthLogitsProcessor(p.minLength, eos));
  if (p.minNewTokens !== null && p.minNewTokens > 0 && eos) {
    out.push(new MinNewTokensLengthLogitsProcessor(ctx.inputIdsSeqLength, p.minNewTokens, eos));
  }
  if (ctx.prefixAllowedTokensFn) {
    out.push(
      new PrefixConstrainedLogitsProcessor(ctx.prefixAllowedTokensFn, p.numBeams / p.numBeamGroups),
    );
  }
  if (p.forcedBosTokenId !== null) out.push(new ForcedBOSTokenLogitsProcessor(p.forcedBosTokenId));
  if (p.forcedEosTokenId !== null) {
    out.push(new ForcedEOSTokenLogitsProcessor(p.maxLength, p.forcedEosTokenId));
  }
  if (p.removeInvalidValues) out.push(new InfNanRemoveLogitsProcessor());
  if (p.exponentialDecayLengthPenalty !== null) {
    if (!eos) {
      throw new GenerationError(
        "generation config: `exponentialDecayLengthPenalty` needs `eosTokenId`",
      );
    }
    out.push(
      new ExponentialDecayLengthPenalty(
        p.exponentialDecayLengthPenalty,
        eos,
        ctx.inputIdsSeqLength,
      ),
    );
  }
  if (p.suppressTokens !== null) out.push(new SuppressTokensLogitsProcessor(p.suppressTokens));
  if (p.beginSuppressTokens !== null) {
    const begin = ctx.inputIdsSeqLength > 1 || p.forcedBosTokenId === null
      ? ctx.inputIdsSeqLength
      : ctx.inputIdsSeqLength + 1;
    out.push(new SuppressTokensAtBeginLogitsProcessor(p.beginSuppressTokens, begin));
  }
  const merged = mergeCustom(out, ctx.extra, "logits processor");
  if (p.renormalizeLogits) merged.push(new LogitNormalization());
  return new LogitsProcessorList(merged);
}

/**
 * The sampling warpers, in HF 4.40 order: temperature, top-k, top-p, min-p, typical, epsilon,
 * eta (then logit normalization). Beam sampling keeps at least 2 tokens per row.
 *
 * @example
 * ```ts
 * import { buildLogitsWarper, mergeGenerationParams } from "@encdec/generation";
 * const w = buildLogitsWarper(mergeGenerationParams(null, { doSample: true, topK: 0, topP: 0.9 }));
 * console.log(w.length); // 1
 * ```
 */
export function buildLogitsWarper(p: GenerationParams): LogitsProcessorList {
  const out: LogitsProcessor[] = [];
  const keep = p.numBeams > 1 ? 2 : 1;
  if (p.temperature !== 1.0) out.push(new TemperatureLogitsWarper(p.temperature));
  if (p.topK !== 0) out.push(new TopKLogitsWarper(p.topK, -Infinity, keep));
  if (p.topP < 1.0) out.push(new TopPLogitsWarper(p.topP, -Infinity, keep));
  if (p.minP !== null) out.push(new MinPLogitsWarper(p.minP, -Infinity, keep));
  if (p.typicalP < 1.0) out.push(new TypicalLogitsWarper(p.typicalP, -Infinity, keep));
  if (p.epsilonCutoff > 0 && p.epsilonCutoff < 1) {
    out.push(new EpsilonLogitsWarper(p.epsilonCutoff, -Infinity, keep));
  }
  if (p.etaCutoff > 0 && p.etaCutoff < 1) {
    out.push(new EtaLogitsWarper(p.etaCutoff, -Infinity, keep));
  }
  if (p.renormalizeLogits) out.push(new LogitNormalization());
  return new LogitsProcessorList(out);
}

/** Inputs of {@link buildStoppingCriteria} besides the parameters. */
export interface BuildStoppingContext {
  /** Decoder prompt length. */
  promptLength: number;
  /** Ids → text, needed for `stopStrings`. */
  decode?: (ids: readonly number[]) => string;
  /** Extra criteria given by the caller. */
  extra?: readonly StoppingCriteria[];
}

/**
 * Max length, max time, stop strings and eos criteria (HF 4.40 order), then the caller's extras.
 *
 * @example
 * ```ts
 * import { buildStoppingCriteria, mergeGenerationParams } from "@encdec/generation";
 * const c = buildStoppingCriteria(mergeGenerationParams(null, { eosTokenId: 3 }), { promptLength: 1 });
 * console.log(c.isDone([[2, 3]])); // [true]
 * ```
 */
export function buildStoppingCriteria(
  p: GenerationParams,
  ctx: BuildStoppingContext,
): StoppingCriteriaList {
  const out: StoppingCriteria[] = [new MaxLengthCriteria(p.maxLength)];
  if (p.maxTime !== null) out.push(new MaxTimeCriteria(p.maxTime));
  if (p.stopStrings !== null) {
    if (!ctx.decode) {
      throw new GenerationError(
        "generation config: `stopStrings` needs a `decode(ids)` function in the options",
      );
    }
    out.push(new StopStringCriteria(p.stopStrings, ctx.decode, ctx.promptLength));
  }
  const eos = eosList(p);
  if (eos) out.push(new EosTokenCriteria(eos));
  return new StoppingCriteriaList(mergeCustom(out, ctx.extra, "stopping criterion"));
}
