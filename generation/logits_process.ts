/**
 * Logits processors with the names and behaviour of Hugging Face `transformers` 4.40
 * (`generation/logits_process.py`; the sampling warpers are in `logits_warp.ts`), the
 * `LogitsProcessor` interface and `LogitsProcessorList`. Each one maps the scores of the next token,
 * row-major `[rows, vocab]` in a `Float32Array`, given the decoder ids so far (`[rows, curLen]`);
 * processors work in place and return the array they were given.
 *
 * @module
 */
import { GenerationError } from "./errors.ts";
import { logSoftmaxRow } from "./_math.ts";
import { checkIds, NEG_INF, toList, vocabOf } from "./_logits.ts";

/** Decoder ids so far, one row per hypothesis: `[rows, curLen]`. */
export type InputIds = readonly (readonly number[])[];

/** Extra arguments some processors need (group beam search passes them to every processor). */
export interface ProcessContext {
  /** Tokens chosen this step by earlier beam groups, `[batch * numBeams]` (group beam search). */
  currentTokens?: ArrayLike<number>;
  /** Index of the beam group being scored (group beam search). */
  beamGroupIdx?: number;
}

/** One logits processor or warper: `scores` `[rows, vocab]` → processed scores. */
export interface LogitsProcessor {
  /** Processes `scores` (row-major `[inputIds.length, vocab]`), in place; returns it. */
  process(inputIds: InputIds, scores: Float32Array, ctx?: ProcessContext): Float32Array;
}

/**
 * Applies processors in order, like HF's `LogitsProcessorList`.
 *
 * @example
 * ```ts
 * import { LogitsProcessorList, TemperatureLogitsWarper } from "@encdec/generation";
 * const list = new LogitsProcessorList([new TemperatureLogitsWarper(2)]);
 * console.log(list.process([[0]], new Float32Array([2, 4]))); // Float32Array [1, 2]
 * ```
 */
export class LogitsProcessorList implements LogitsProcessor {
  /** The processors, applied first to last. */
  readonly processors: LogitsProcessor[];
  /** Wraps `processors` (applied in order). */
  constructor(processors: LogitsProcessor[] = []) {
    this.processors = processors;
  }
  /** Appends a processor. */
  push(p: LogitsProcessor): void {
    this.processors.push(p);
  }
  /** Number of processors. */
  get length(): number {
    return this.processors.length;
  }
  /** Runs every processor in order. */
  process(inputIds: InputIds, scores: Float32Array, ctx?: ProcessContext): Float32Array {
    let s = scores;
    for (const p of this.processors) s = p.process(inputIds, s, ctx);
    return s;
  }
}

/**
 * Penalises tokens already in the decoder ids: a score `s` becomes `s * penalty` if negative,
 * else `s / penalty`.
 *
 * @example
 * ```ts
 * import { RepetitionPenaltyLogitsProcessor } from "@encdec/generation";
 * new RepetitionPenaltyLogitsProcessor(2).process([[0, 1]], new Float32Array([2, -2, 2])); // [1, -4, 2]
 * ```
 */
export class RepetitionPenaltyLogitsProcessor implements LogitsProcessor {
  /** The penalty (> 0; 1 means none). */
  readonly penalty: number;
  /** `penalty` strictly positive. */
  constructor(penalty: number) {
    if (!(penalty > 0)) {
      throw new GenerationError(
        `RepetitionPenaltyLogitsProcessor: \`repetitionPenalty\` has to be a strictly positive float, got ${penalty}`,
      );
    }
    this.penalty = penalty;
  }
  /** Penalises each row's previous tokens once. */
  process(inputIds: InputIds, scores: Float32Array): Float32Array {
    const v = vocabOf(inputIds, scores);
    penalise(inputIds, scores, v, this.penalty);
    return scores;
  }
}

function penalise(ids: InputIds, scores: Float32Array, v: number, penalty: number): void {
  ids.forEach((row, r) => {
    const seen = new Set(row);
    for (const t of seen) {
      const s = scores[r * v + t];
      scores[r * v + t] = s < 0 ? s * penalty : s / penalty;
    }
  });
}

/**
 * Rewards (penalty > 1) or discourages tokens that appear in the encoder input: HF applies the
 * repetition formula with `1 / penalty`. Row `r` uses encoder row `floor(r / (rows / batch))`.
 *
 * @example
 * ```ts
 * import { EncoderRepetitionPenaltyLogitsProcessor } from "@encdec/generation";
 * new EncoderRepetitionPenaltyLogitsProcessor(2, [[0]]).process([[5]], new Float32Array([2, 2])); // [4, 2]
 * ```
 */
export class EncoderRepetitionPenaltyLogitsProcessor implements LogitsProcessor {
  /** `1 / encoderRepetitionPenalty`, the factor applied. */
  readonly penalty: number;
  /** Encoder input ids `[batch, srcLen]`. */
  readonly encoderInputIds: InputIds;
  /** `penalty` strictly positive. */
  constructor(penalty: number, encoderInputIds: InputIds) {
    if (!(penalty > 0)) {
      throw new GenerationError(
        `EncoderRepetitionPenaltyLogitsProcessor: \`encoderRepetitionPenalty\` has to be a strictly positive float, got ${penalty}`,
      );
    }
    this.penalty = 1 / penalty;
    this.encoderInputIds = encoderInputIds;
  }
  /** Applies the factor to tokens of each row's encoder input. */
  process(inputIds: InputIds, scores: Float32Array): Float32Array {
    const v = vocabOf(inputIds, scores);
    const per = Math.max(1, Math.floor(inputIds.length / this.encoderInputIds.length));
    const enc = inputIds.map((_, r) => this.encoderInputIds[Math.floor(r / per)] ?? []);
    penalise(enc, scores, v, this.penalty);
    return scores;
  }
}

/** n-gram tables: for each row, (n-1)-gram key → next tokens seen after it. */
function buildNgrams(n: number, ids: readonly number[]): Map<string, number[]> {
  const m = new Map<string, number[]>();
  for (let i = 0; i + n <= ids.length; i++) {
    const key = ids.slice(i, i + n - 1).join(",");
    const list = m.get(key);
    if (list) list.push(ids[i + n - 1]);
    else m.set(key, [ids[i + n - 1]]);
  }
  return m;
}

function bannedFor(n: number, table: Map<string, number[]>, row: readonly number[]): number[] {
  const cur = row.length;
  if (cur + 1 < n) return [];
  return table.get(row.slice(cur + 1 - n, cur).join(",")) ?? [];
}

/**
 * Forbids any n-gram of size `ngramSize` from occurring twice in the decoder ids.
 *
 * @example
 * ```ts
 * import { NoRepeatNGramLogitsProcessor } from "@encdec/generation";
 * new NoRepeatNGramLogitsProcessor(2).process([[1, 2, 1]], new Float32Array(3)); // [0, 0, -Infinity]
 * ```
 */
export class NoRepeatNGramLogitsProcessor implements LogitsProcessor {
  /** The n-gram size. */
  readonly ngramSize: number;
  /** `ngramSize` a positive integer. */
  constructor(ngramSize: number) {
    if (!Number.isInteger(ngramSize) || ngramSize <= 0) {
      throw new GenerationError(
        `NoRepeatNGramLogitsProcessor: \`noRepeatNgramSize\` has to be a strictly positive integer, got ${ngramSize}`,
      );
    }
    this.ngramSize = ngramSize;
  }
  /** Bans tokens that would repeat an n-gram. */
  process(inputIds: InputIds, scores: Float32Array): Float32Array {
    const v = vocabOf(inputIds, scores);
    const n = this.ngramSize;
    inputIds.forEach((row, r) => {
      if (row.length + 1 < n) return;
      for (const t of bannedFor(n, buildNgrams(n, row), row)) scores[r * v + t] = NEG_INF;
    });
    return scores;
  }
}

/**
 * Forbids n-grams of the encoder input from appearing in the decoder ids.
 *
 * @example
 * ```ts
 * import { EncoderNoRepeatNGramLogitsProcessor } from "@encdec/generation";
 * new EncoderNoRepeatNGramLogitsProcessor(2, [[1, 2]]).process([[1]], new Float32Array(3)); // [0, 0, -Infinity]
 * ```
 */
export class EncoderNoRepeatNGramLogitsProcessor implements LogitsProcessor {
  /** The n-gram size. */
  readonly ngramSize: number;
  private readonly tables: Map<string, number[]>[];
  /** `ngramSize` a positive integer; `encoderInputIds` `[batch, srcLen]`. */
  constructor(ngramSize: number, encoderInputIds: InputIds) {
    if (!Number.isInteger(ngramSize) || ngramSize <= 0) {
      throw new GenerationError(
        `EncoderNoRepeatNGramLogitsProcessor: \`encoderNoRepeatNgramSize\` has to be a strictly positive integer, got ${ngramSize}`,
      );
    }
    this.ngramSize = ngramSize;
    this.tables = encoderInputIds.map((row) => buildNgrams(ngramSize, row));
  }
  /** Bans tokens that would complete an encoder n-gram. */
  process(inputIds: InputIds, scores: Float32Array): Float32Array {
    const v = vocabOf(inputIds, scores);
    const numBeams = Math.max(1, Math.floor(inputIds.length / this.tables.length));
    inputIds.forEach((row, r) => {
      const table = this.tables[Math.floor(r / numBeams)];
      for (const t of bannedFor(this.ngramSize, table, row)) scores[r * v + t] = NEG_INF;
    });
    return scores;
  }
}

/** Sequence biases: each entry is `[tokenIds, bias]`. */
export type SequenceBias = readonly (readonly [readonly number[], number])[];

/**
 * Adds `bias` to the last token of each listed sequence when the decoder ids end with the rest of
 * it (single-token sequences are always biased).
 *
 * @example
 * ```ts
 * import { SequenceBiasLogitsProcessor } from "@encdec/generation";
 * new SequenceBiasLogitsProcessor([[[1, 2], -5]]).process([[0, 1]], new Float32Array(3)); // [0, 0, -5]
 * ```
 */
export class SequenceBiasLogitsProcessor implements LogitsProcessor {
  /** The biases. */
  readonly sequenceBias: SequenceBias;
  /** `sequenceBias`: non-empty sequences of non-negative ids with a finite or infinite bias. */
  constructor(sequenceBias: SequenceBias) {
    if (!Array.isArray(sequenceBias)) {
      throw new GenerationError(
        "SequenceBiasLogitsProcessor: `sequenceBias` has to be a list of [token ids, bias] pairs",
      );
    }
    for (const [seq, bias] of sequenceBias) {
      if (!Array.isArray(seq) || seq.length === 0) {
        throw new GenerationError(
          `SequenceBiasLogitsProcessor: each sequence has to be a non-empty list of token ids, got ${
            JSON.stringify(seq)
          }`,
        );
      }
      checkIds("SequenceBiasLogitsProcessor", "sequenceBias", seq);
      if (typeof bias !== "number" || Number.isNaN(bias)) {
        throw new GenerationError(
          `SequenceBiasLogitsProcessor: the bias of ${
            JSON.stringify(seq)
          } has to be a number, got ${bias}`,
        );
      }
    }
    this.sequenceBias = sequenceBias;
  }
  /** Adds the biases. */
  process(inputIds: InputIds, scores: Float32Array): Float32Array {
    const v = vocabOf(inputIds, scores);
    const len1 = new Float32Array(v);
    for (const [seq, bias] of this.sequenceBias) {
      for (const t of seq) {
        if (t >= v) {
          throw new GenerationError(
            `SequenceBiasLogitsProcessor: token id ${t} in ${
              JSON.stringify(seq)
            } is outside the vocabulary (size ${v})`,
          );
        }
      }
      if (seq.length === 1) len1[seq[0]] = bias;
    }
    inputIds.forEach((row, r) => {
      const bias = new Float32Array(len1);
      for (const [seq, b] of this.sequenceBias) {
        if (seq.length === 1 || seq.length > row.length) continue;
        const pre = seq.length - 1;
        let match = true;
        for (let i = 0; i < pre; i++) {
          if (row[row.length - pre + i] !== seq[i]) {
            match = false;
            break;
          }
        }
        if (match) bias[seq[pre]] += b;
      }
      for (let j = 0; j < v; j++) scores[r * v + j] = scores[r * v + j] + bias[j];
    });
    return scores;
  }
}

/**
 * Forbids `badWordsIds` sequences (their last token gets `-Infinity` when the rest matches).
 * Sequences equal to a single eos id are dropped, as in HF.
 *
 * @example
 * ```ts
 * import { NoBadWordsLogitsProcessor } from "@encdec/generation";
 * new NoBadWordsLogitsProcessor([[1]]).process([[0]], new Float32Array(2)); // [0, -Infinity]
 * ```
 */
export class NoBadWordsLogitsProcessor extends SequenceBiasLogitsProcessor {
  /** `badWordsIds`: a non-empty list of non-empty lists of non-negative ids. */
  constructor(
    badWordsIds: readonly (readonly number[])[],
    eosTokenId?: number | readonly number[],
  ) {
    if (!Array.isArray(badWordsIds) || badWordsIds.length === 0) {
      throw new GenerationError(
        `NoBadWordsLogitsProcessor: \`badWordsIds\` has to be a non-empty list of lists of token ids, got ${
          JSON.stringify(badWordsIds)
        }`,
      );
    }
    for (const seq of badWordsIds) {
      if (!Array.isArray(seq) || seq.length === 0) {
        throw new GenerationError(
          `NoBadWordsLogitsProcessor: each entry of \`badWordsIds\` has to be a non-empty list of ids, got ${
            JSON.stringify(seq)
          }`,
        );
      }
      checkIds("NoBadWordsLogitsProcessor", "badWordsIds", seq);
    }
    const eos = eosTokenId === undefined ? [] : toList(eosTokenId);
    const kept = badWordsIds.filter((s) => !(s.length === 1 && eos.includes(s[0])));
    super(kept.map((s) => [s, NEG_INF] as const));
  }
}

/**
 * Sets eos scores to `-Infinity` while the decoder ids are shorter than `minLength`.
 *
 * @example
 * ```ts
 * import { MinLengthLogitsProcessor } from "@encdec/generation";
 * new MinLengthLogitsProcessor(3, 1).process([[0]], new Float32Array(2)); // [0, -Infinity]
 * ```
 */
export class MinLengthLogitsProcessor implements LogitsProcessor {
  /** Minimum length including the decoder prompt. */
  readonly minLength: number;
  /** Eos ids. */
  readonly eosTokenId: number[];
  /** `minLength` a non-negative integer. */
  constructor(minLength: number, eosTokenId: number | readonly number[]) {
    if (!Number.isInteger(minLength) || minLength < 0) {
      throw new GenerationError(
        `MinLengthLogitsProcessor: \`minLength\` has to be a non-negative integer, got ${minLength}`,
      );
    }
    this.minLength = minLength;
    this.eosTokenId = toList(eosTokenId);
    checkIds("MinLengthLogitsProcessor", "eosTokenId", this.eosTokenId);
  }
  /** Masks eos while too short. */
  process(inputIds: InputIds, scores: Float32Array): Float32Array {
    const v = vocabOf(inputIds, scores);
    if (inputIds[0].length < this.minLength) maskColumns(scores, v, this.eosTokenId);
    return scores;
  }
}

function maskColumns(scores: Float32Array, v: number, cols: readonly number[]): void {
  for (let o = 0; o < scores.length; o += v) {
    for (const c of cols) if (c < v) scores[o + c] = NEG_INF;
  }
}

/**
 * Sets eos scores to `-Infinity` until `minNewTokens` tokens follow the decoder prompt.
 *
 * @example
 * ```ts
 * import { MinNewTokensLengthLogitsProcessor } from "@encdec/generation";
 * new MinNewTokensLengthLogitsProcessor(1, 2, 1).process([[0, 5]], new Float32Array(2)); // [0, -Infinity]
 * ```
 */
export class MinNewTokensLengthLogitsProcessor implements LogitsProcessor {
  /** Length of the decoder prompt. */
  readonly promptLengthToSkip: number;
  /** Minimum new tokens. */
  readonly minNewTokens: number;
  /** Eos ids. */
  readonly eosTokenId: number[];
  /** Both lengths non-negative integers. */
  constructor(
    promptLengthToSkip: number,
    minNewTokens: number,
    eosTokenId: number | readonly number[],
  ) {
    for (
      const [k, x] of [["promptLengthToSkip", promptLengthToSkip], [
        "minNewTokens",
        minNewTokens,
      ]] as const
    ) {
      if (!Number.isInteger(x) || x < 0) {
        throw new GenerationError(
          `MinNewTokensLengthLogitsProcessor: \`${k}\` has to be a non-negative integer, got ${x}`,
        );
      }
    }
    this.promptLengthToSkip = promptLengthToSkip;
    this.minNewTokens = minNewTokens;
    this.eosTokenId = toList(eosTokenId);
  }
  /** Masks eos while too few new tokens. */
  process(inputIds: InputIds, scores: Float32Array): Float32Array {
    const v = vocabOf(inputIds, scores);
    if (inputIds[0].length - this.promptLengthToSkip < this.minNewTokens) {
      maskColumns(scores, v, this.eosTokenId);
    }
    return scores;
  }
}

/**
 * Forces `bosTokenId` as the first generated token (when the decoder ids hold one token).
 *
 * @example
 * ```ts
 * import { ForcedBOSTokenLogitsProcessor } from "@encdec/generation";
 * new ForcedBOSTokenLogitsProcessor(1).process([[0]], new Float32Array([5, 3])); // [-Infinity, 0]
 * ```
 */
export class ForcedBOSTokenLogitsProcessor implements LogitsProcessor {
  /** The forced id. */
  readonly bosTokenId: number;
  /** `bosTokenId` a non-negative integer. */
  constructor(bosTokenId: number) {
    checkIds("ForcedBOSTokenLogitsProcessor", "forcedBosTokenId", [bosTokenId]);
    this.bosTokenId = bosTokenId;
  }
  /** Forces the token at length 1. */
  process(inputIds: InputIds, scores: Float32Array): Float32Array {
    const v = vocabOf(inputIds, scores);
    if (inputIds[0].length === 1) forceColumns(scores, v, [this.bosTokenId]);
    return scores;
  }
}

function forceColumns(scores: Float32Array, v: number, keep: readonly number[]): void {
  for (let o = 0; o < scores.length; o += v) {
    scores.fill(NEG_INF, o, o + v);
    for (const c of keep) if (c < v) scores[o + c] = 0;
  }
}

/**
 * Forces an eos id as the last token when `maxLength` is reached.
 *
 * @example
 * ```ts
 * import { ForcedEOSTokenLogitsProcessor } from "@encdec/generation";
 * new ForcedEOSTokenLogitsProcessor(2, 1).process([[0]], new Float32Array([5, 3])); // [-Infinity, 0]
 * ```
 */
export class ForcedEOSTokenLogitsProcessor implements LogitsProcessor {
  /** The maximum length. */
  readonly maxLength: number;
  /** Eos ids. */
  readonly eosTokenId: number[];
  /** `maxLength` a positive integer. */
  constructor(maxLength: number, eosTokenId: number | readonly number[]) {
    this.maxLength = maxLength;
    this.eosTokenId = toList(eosTokenId);
    checkIds("ForcedEOSTokenLogitsProcessor", "forcedEosTokenId", this.eosTokenId);
  }
  /** Forces eos at length `maxLength - 1`. */
  process(inputIds: InputIds, scores: Float32Array): Float32Array {
    const v = vocabOf(inputIds, scores);
    if (inputIds[0].length === this.maxLength - 1) forceColumns(scores, v, this.eosTokenId);
    return scores;
  }
}

/**
 * Sets the listed tokens to `-Infinity` at every step.
 *
 * @example
 * ```ts
 * import { SuppressTokensLogitsProcessor } from "@encdec/generation";
 * new SuppressTokensLogitsProcessor([0]).process([[0]], new Float32Array(2)); // [-Infinity, 0]
 * ```
 */
export class SuppressTokensLogitsProcessor implements LogitsProcessor {
  /** Suppressed ids. */
  readonly suppressTokens: number[];
  /** `suppressTokens` non-negative ids. */
  constructor(suppressTokens: readonly number[]) {
    checkIds("SuppressTokensLogitsProcessor", "suppressTokens", suppressTokens);
    this.suppressTokens = [...suppressTokens];
  }
  /** Masks the tokens. */
  process(inputIds: InputIds, scores: Float32Array): Float32Array {
    maskColumns(scores, vocabOf(inputIds, scores), this.suppressTokens);
    return scores;
  }
}

/**
 * Sets the listed tokens to `-Infinity` at the step where the decoder ids have `beginIndex`
 * tokens.
 *
 * @example
 * ```ts
 * import { SuppressTokensAtBeginLogitsProcessor } from "@encdec/generation";
 * new SuppressTokensAtBeginLogitsProcessor([1], 1).process([[0]], new Float32Array(2)); // [0, -Infinity]
 * ```
 */
export class SuppressTokensAtBeginLogitsProcessor implements LogitsProcessor {
  /** Suppressed ids. */
  readonly beginSuppressTokens: number[];
  /** Decoder length at which they are suppressed. */
  readonly beginIndex: number;
  /** `beginSuppressTokens` non-negative ids. */
  constructor(beginSuppressTokens: readonly number[], beginIndex: number) {
    checkIds("SuppressTokensAtBeginLogitsProcessor", "beginSuppressTokens", beginSuppressTokens);
    this.beginSuppressTokens = [...beginSuppressTokens];
    this.beginIndex = beginIndex;
  }
  /** Masks the tokens at `beginIndex`. */
  process(inputIds: InputIds, scores: Float32Array): Float32Array {
    const v = vocabOf(inputIds, scores);
    if (inputIds[0].length === this.beginIndex) maskColumns(scores, v, this.beginSuppressTokens);
    return scores;
  }
}

/**
 * Raises eos scores exponentially after `startIndex` new tokens:
 * `s += |s| * (decayFactor ** (curLen - start) - 1)`.
 *
 * @example
 * ```ts
 * import { ExponentialDecayLengthPenalty } from "@encdec/generation";
 * new ExponentialDecayLengthPenalty([0, 2], 1, 1).process([[0, 0]], new Float32Array([1, 1])); // [1, 2]
 * ```
 */
export class ExponentialDecayLengthPenalty implements LogitsProcessor {
  /** Decoder length after which the penalty starts. */
  readonly regulationStart: number;
  /** The decay factor. */
  readonly regulationFactor: number;
  /** Eos ids. */
  readonly eosTokenId: number[];
  /** `exponentialDecayLengthPenalty` is `[startIndex, decayFactor]`. */
  constructor(
    exponentialDecayLengthPenalty: readonly [number, number],
    eosTokenId: number | readonly number[],
    inputIdsSeqLength: number,
  ) {
    const [start, factor] = exponentialDecayLengthPenalty;
    if (!Number.isInteger(start) || typeof factor !== "number") {
      throw new GenerationError(
        `ExponentialDecayLengthPenalty: \`exponentialDecayLengthPenalty\` has to be [startIndex, decayFactor], got ${
          JSON.stringify(exponentialDecayLengthPenalty)
        }`,
      );
    }
    this.regulationStart = start + inputIdsSeqLength;
    this.regulationFactor = factor;
    this.eosTokenId = toList(eosTokenId);
  }
  /** Raises eos scores once past the start. */
  process(inputIds: InputIds, scores: Float32Array): Float32Array {
    const v = vocabOf(inputIds, scores);
    const cur = inputIds[0].length;
    if (cur > this.regulationStart) {
      const f = Math.fround(this.regulationFactor ** (cur - this.regulationStart) - 1);
      for (let o = 0; o < scores.length; o += v) {
        for (const e of this.eosTokenId) {
          scores[o + e] = scores[o + e] + Math.abs(scores[o + e]) * f;
        }
      }
    }
    return scores;
  }
}

/**
 * Diverse beam search: subtracts `diversityPenalty` times the number of times a token was chosen
 * by earlier groups at this step (needs `ctx.currentTokens` and `ctx.beamGroupIdx`).
 *
 * @example
 * ```ts
 * import { HammingDiversityLogitsProcessor } from "@encdec/generation";
 * const p = new HammingDiversityLogitsProcessor(1, 2, 2);
 * p.process([[0]], new Float32Array([0, 0]), { currentTokens: [1, 0], beamGroupIdx: 1 }); // [0, -1]
 * ```
 */
export class HammingDiversityLogitsProcessor implements LogitsProcessor {
  /** The penalty per earlier choice. */
  readonly diversityPenalty: number;
  /** Beams per batch row. */
  readonly numBeams: number;
  /** Beams per group. */
  readonly numSubBeams: number;
  /** `diversityPenalty` > 0; `numBeams` divisible by `numBeamGroups` (> 1). */
  constructor(diversityPenalty: number, numBeams: number, numBeamGroups: number) {
    if (!(typeof diversityPenalty === "number" && diversityPenalty > 0)) {
      throw new GenerationError(
        `HammingDiversityLogitsProcessor: \`diversityPenalty\` should be a float strictly larger than 0, got ${diversityPenalty}`,
      );
    }
    if (!Number.isInteger(numBeams) || numBeams < 2) {
      throw new GenerationError(
        `HammingDiversityLogitsProcessor: \`numBeams\` should be an integer strictly larger than 1, got ${numBeams}`,
      );
    }
    if (!Number.isInteger(numBeamGroups) || numBeamGroups < 2 || numBeamGroups > numBeams) {
      throw new GenerationError(
        `HammingDiversityLogitsProcessor: \`numBeamGroups\` should be an integer in [2, numBeams=${numBeams}], got ${numBeamGroups}`,
      );
    }
    this.diversityPenalty = diversityPenalty;
    this.numBeams = numBeams;
    this.numSubBeams = Math.floor(numBeams / numBeamGroups);
  }
  /** Penalises tokens picked by earlier groups of the same batch row. */
  process(inputIds: InputIds, scores: Float32Array, ctx?: ProcessContext): Float32Array {
    if (!ctx?.currentTokens || ctx.beamGroupIdx === undefined) {
      throw new GenerationError(
        "HammingDiversityLogitsProcessor needs `currentTokens` and `beamGroupIdx` (group beam search only)",
      );
    }
    const v = vocabOf(inputIds, scores);
    const cur = ctx.currentTokens;
    const batch = Math.floor(cur.length / this.numBeams);
    const start = ctx.beamGroupIdx * this.numSubBeams;
    const groupSize = Math.min(start + this.numSubBeams, this.numBeams) - start;
    if (start === 0) return scores;
    for (let b = 0; b < batch; b++) {
      const freq = new Map<number, number>();
      for (let i = 0; i < start; i++) {
        const t = cur[b * this.numBeams + i];
        freq.set(t, (freq.get(t) ?? 0) + 1);
      }
      for (let r = b * groupSize; r < (b + 1) * groupSize; r++) {
        for (const [t, c] of freq) {
          scores[r * v + t] = scores[r * v + t] - Math.fround(this.diversityPenalty * c);
        }
      }
    }
    return scores;
  }
}

/**
 * Replaces NaN by 0 and `+Infinity` by the largest float32, so sampling cannot fail on them.
 *
 * @example
 * ```ts
 * import { InfNanRemoveLogitsProcessor } from "@encdec/generation";
 * new InfNanRemoveLogitsProcessor().process([[0]], new Float32Array([NaN, 1])); // [0, 1]
 * ```
 */
export class InfNanRemoveLogitsProcessor implements LogitsProcessor {
  /** Replaces NaN and +Infinity. */
  process(_inputIds: InputIds, scores: Float32Array): Float32Array {
    for (let i = 0; i < scores.length; i++) {
      if (Number.isNaN(scores[i])) scores[i] = 0;
      else if (scores[i] === Infinity) scores[i] = 3.4028234663852886e38;
    }
    return scores;
  }
}

/**
 * Log-softmax of each row (`renormalizeLogits`).
 *
 * @example
 * ```ts
 * import { LogitNormalization } from "@encdec/generation";
 * new LogitNormalization().process([[0]], new Float32Array([0, 0])); // [-0.693.., -0.693..]
 * ```
 */
export class LogitNormalization implements LogitsProcessor {
  /** Normalises each row to log-probabilities. */
  process(inputIds: InputIds, scores: Float32Array): Float32Array {
    const v = vocabOf(inputIds, scores);
    for (let o = 0; o < scores.length; o += v) {
      const l = logSoftmaxRow(scores, o, v);
      for (let j = 0; j < v; j++) scores[o + j] = l[j];
    }
    return scores;
  }
}

/** `(batchId, decoderIds) => allowed next token ids` for constrained generation. */
export type PrefixAllowedTokensFn = (
  batchId: number,
  inputIds: readonly number[],
) => readonly number[];

/**
 * Keeps only the tokens `fn(batchId, ids)` allows (adds `-Infinity` to the others).
 *
 * @example
 * ```ts
 * import { PrefixConstrainedLogitsProcessor } from "@encdec/generation";
 * new PrefixConstrainedLogitsProcessor(() => [1], 1).process([[0]], new Float32Array(2)); // [-Infinity, 0]
 * ```
 */
export class PrefixConstrainedLogitsProcessor implements LogitsProcessor {
  /** The callback. */
  readonly fn: PrefixAllowedTokensFn;
  /** Rows per batch entry. */
  readonly numBeams: number;
  /** `numBeams` = beams per group. */
  constructor(fn: PrefixAllowedTokensFn, numBeams: number) {
    this.fn = fn;
    this.numBeams = numBeams;
  }
  /** Masks tokens the callback does not allow. */
  process(inputIds: InputIds, scores: Float32Array): Float32Array {
    const v = vocabOf(inputIds, scores);
    inputIds.forEach((row, r) => {
      const batchId = Math.floor(r / this.numBeams);
      const allowed = this.fn(batchId, row);
      if (allowed.length === 0) {
        throw new GenerationError(
          `PrefixConstrainedLogitsProcessor: \`prefixAllowedTokensFn\` returned an empty list for batch ${batchId}, ids ${
            JSON.stringify(row)
          }; at least one token must be allowed`,
        );
      }
      const keep = new Uint8Array(v);
      for (const t of allowed) {
        if (!Number.isInteger(t) || t < 0 || t >= v) {
          throw new GenerationError(
            `PrefixConstrainedLogitsProcessor: allowed token ${t} is outside the vocabulary (size ${v})`,
          );
        }
        keep[t] = 1;
      }
      for (let j = 0; j < v; j++) if (!keep[j]) scores[r * v + j] = NEG_INF;
    });
    return scores;
  }
}
