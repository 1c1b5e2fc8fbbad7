/**
 * Logits warpers (sampling filters) with the names and behaviour of Hugging Face `transformers`
 * 4.40 (`generation/logits_process.py`): temperature, top-k, top-p, min-p, typical, epsilon and
 * eta. Like the processors they map `[rows, vocab]` scores in place.
 *
 * @module
 */
import { GenerationError } from "./errors.ts";
import { argsort, logSoftmaxRow, softmaxRow, topK } from "./_math.ts";
import { checkFraction, checkMinTokens, NEG_INF, vocabOf } from "./_logits.ts";
import type { InputIds, LogitsProcessor, ProcessContext } from "./logits_process.ts";

/**
 * Divides scores by `temperature` (> 0).
 *
 * @example
 * ```ts
 * import { TemperatureLogitsWarper } from "@encdec/generation";
 * new TemperatureLogitsWarper(0.5).process([[1]], new Float32Array([1, -1])); // [2, -2]
 * ```
 */
export class TemperatureLogitsWarper implements LogitsProcessor {
  /** The temperature. */
  readonly temperature: number;
  /** `temperature` must be a strictly positive number. */
  constructor(temperature: number) {
    if (!(typeof temperature === "number" && temperature > 0 && Number.isFinite(temperature))) {
      throw new GenerationError(
        `TemperatureLogitsWarper: \`temperature\` must be a strictly positive number, got ${temperature}`,
      );
    }
    this.temperature = temperature;
  }
  /** Scales every score by `1 / temperature`. */
  process(_inputIds: InputIds, scores: Float32Array): Float32Array {
    for (let i = 0; i < scores.length; i++) scores[i] = scores[i] / this.temperature;
    return scores;
  }
}

/**
 * Keeps the `topK` highest scores of each row (ties with the k-th kept), sets the rest to
 * `filterValue`.
 *
 * @example
 * ```ts
 * import { TopKLogitsWarper } from "@encdec/generation";
 * new TopKLogitsWarper(1).process([[0]], new Float32Array([1, 3, 2])); // [-Infinity, 3, -Infinity]
 * ```
 */
export class TopKLogitsWarper implements LogitsProcessor {
  /** Tokens kept per row (at least `minTokensToKeep`). */
  readonly topK: number;
  /** Value given to removed tokens. */
  readonly filterValue: number;
  /** `topK` a positive integer. */
  constructor(topK: number, filterValue = NEG_INF, minTokensToKeep = 1) {
    if (!Number.isInteger(topK) || topK <= 0) {
      throw new GenerationError(
        `TopKLogitsWarper: \`topK\` has to be a strictly positive integer, got ${topK}`,
      );
    }
    this.topK = Math.max(topK, minTokensToKeep);
    this.filterValue = filterValue;
  }
  /** Masks all but the top-k scores of each row. */
  process(inputIds: InputIds, scores: Float32Array): Float32Array {
    const v = vocabOf(inputIds, scores);
    const k = Math.min(this.topK, v);
    for (let o = 0; o < scores.length; o += v) {
      const kth = topK(scores, o, v, k).values[k - 1];
      for (let j = 0; j < v; j++) if (scores[o + j] < kth) scores[o + j] = this.filterValue;
    }
    return scores;
  }
}

/**
 * Base of the warpers that filter tokens out: removed tokens get `filterValue` and at least
 * `minTokensToKeep` tokens stay in each row.
 *
 * @example
 * ```ts
 * import { FilterLogitsWarper, TopPLogitsWarper } from "@encdec/generation";
 * console.log(new TopPLogitsWarper(0.9) instanceof FilterLogitsWarper); // true
 * ```
 */
export abstract class FilterLogitsWarper implements LogitsProcessor {
  /** Value given to removed tokens. */
  readonly filterValue: number;
  /** Minimum tokens kept per row. */
  readonly minTokensToKeep: number;
  /** `name` is the warper named in errors; `minTokensToKeep` a positive integer. */
  constructor(name: string, filterValue: number, minTokensToKeep: number) {
    checkMinTokens(name, minTokensToKeep);
    this.filterValue = filterValue;
    this.minTokensToKeep = minTokensToKeep;
  }
  /** Sets filtered tokens to `filterValue`, in place. */
  abstract process(inputIds: InputIds, scores: Float32Array, ctx?: ProcessContext): Float32Array;
}

/**
 * Nucleus filtering: keeps the smallest set of most likely tokens whose probabilities add up to
 * `topP` (HF: sorts ascending and removes while the cumulative probability is `<= 1 - topP`).
 *
 * @example
 * ```ts
 * import { TopPLogitsWarper } from "@encdec/generation";
 * new TopPLogitsWarper(0.5).process([[0]], new Float32Array([0, 5])); // [-Infinity, 5]
 * ```
 */
export class TopPLogitsWarper extends FilterLogitsWarper {
  /** The probability mass kept. */
  readonly topP: number;
  /** `topP` in `[0, 1]`; `minTokensToKeep` a positive integer. */
  constructor(topP: number, filterValue = NEG_INF, minTokensToKeep = 1) {
    checkFraction("TopPLogitsWarper", "topP", topP, false);
    super("TopPLogitsWarper", filterValue, minTokensToKeep);
    this.topP = topP;
  }
  /** Masks the low-probability tail of each row. */
  process(inputIds: InputIds, scores: Float32Array): Float32Array {
    const v = vocabOf(inputIds, scores);
    const threshold = Math.fround(1 - this.topP);
    for (let o = 0; o < scores.length; o += v) {
      // HF sorts the whole row ascending; -inf entries sort first with probability 0 and are
      // already filtered, so only the finite entries need sorting (after top-k: a handful).
      const finite: number[] = [];
      for (let j = 0; j < v; j++) if (scores[o + j] !== NEG_INF) finite.push(j);
      const n = finite.length;
      const sub = Float32Array.from(finite, (j) => scores[o + j]);
      const order = argsort(sub, 0, n); // ascending
      const sorted = Float32Array.from(order, (i) => sub[i]);
      const p = softmaxRow(sorted, 0, n);
      let cum = 0;
      const remove: number[] = [];
      for (let i = 0; i < n; i++) {
        cum = Math.fround(cum + Math.fround(p[i]));
        if (cum <= threshold && i < n - this.minTokensToKeep) remove.push(finite[order[i]]);
      }
      for (const t of remove) scores[o + t] = this.filterValue;
    }
    return scores;
  }
}

/**
 * Min-p filtering: removes tokens whose probability is below `minP` times the top probability.
 *
 * @example
 * ```ts
 * import { MinPLogitsWarper } from "@encdec/generation";
 * new MinPLogitsWarper(0.5).process([[0]], new Float32Array([0, 5])); // [-Infinity, 5]
 * ```
 */
export class MinPLogitsWarper extends FilterLogitsWarper {
  /** Fraction of the top probability a token needs. */
  readonly minP: number;
  /** `minP` in `[0, 1]`. */
  constructor(minP: number, filterValue = NEG_INF, minTokensToKeep = 1) {
    checkFraction("MinPLogitsWarper", "minP", minP, false);
    super("MinPLogitsWarper", filterValue, minTokensToKeep);
    this.minP = minP;
  }
  /** Masks tokens below `minP * maxProb`. */
  process(inputIds: InputIds, scores: Float32Array): Float32Array {
    const v = vocabOf(inputIds, scores);
    for (let o = 0; o < scores.length; o += v) {
      const p = softmaxRow(scores, o, v);
      let top = 0;
      for (let j = 0; j < v; j++) if (p[j] > top) top = p[j];
      const cut = Math.fround(this.minP * top);
      const order = argsort(scores, o, v, true);
      const remove: number[] = [];
      for (let r = this.minTokensToKeep; r < v; r++) {
        if (Math.fround(p[order[r]]) < cut) remove.push(order[r]);
      }
      for (const t of remove) scores[o + t] = this.filterValue;
    }
    return scores;
  }
}

/**
 * Locally typical sampling: keeps tokens whose surprisal is closest to the row's entropy until
 * their probability mass reaches `mass`.
 *
 * @example
 * ```ts
 * import { TypicalLogitsWarper } from "@encdec/generation";
 * new TypicalLogitsWarper(0.9).process([[0]], new Float32Array([0, 0, 9])); // [-Infinity, -Infinity, 9]
 * ```
 */
export class TypicalLogitsWarper extends FilterLogitsWarper {
  /** Probability mass kept. */
  readonly mass: number;
  /** `mass` in `(0, 1)`. */
  constructor(mass = 0.9, filterValue = NEG_INF, minTokensToKeep = 1) {
    checkFraction("TypicalLogitsWarper", "typicalP", mass, true);
    super("TypicalLogitsWarper", filterValue, minTokensToKeep);
    this.mass = mass;
  }
  /** Masks atypical tokens. */
  process(inputIds: InputIds, scores: Float32Array): Float32Array {
    const v = vocabOf(inputIds, scores);
    for (let o = 0; o < scores.length; o += v) {
      const logp = logSoftmaxRow(scores, o, v);
      let ent = 0;
      for (let j = 0; j < v; j++) {
        const t = logp[j] * Math.exp(logp[j]);
        if (!Number.isNaN(t)) ent -= t;
      }
      const shifted = new Float32Array(v);
      for (let j = 0; j < v; j++) shifted[j] = Math.abs(-logp[j] - ent);
      const order = argsort(shifted, 0, v);
      const sortedLogits = new Float32Array(v);
      for (let j = 0; j < v; j++) sortedLogits[j] = scores[o + order[j]];
      const p = softmaxRow(sortedLogits, 0, v);
      let cum = 0;
      let lastInd = 0;
      for (let j = 0; j < v; j++) {
        cum = Math.fround(cum + Math.fround(p[j]));
        if (cum < this.mass) lastInd++;
      }
      lastInd = Math.min(lastInd, v - 1);
      const limit = shifted[order[lastInd]];
      const remove: number[] = [];
      for (let j = this.minTokensToKeep; j < v; j++) {
        if (shifted[order[j]] > limit) remove.push(order[j]);
      }
      for (const t of remove) scores[o + t] = this.filterValue;
    }
    return scores;
  }
}

/**
 * Epsilon sampling: removes tokens with probability below `epsilon`.
 *
 * @example
 * ```ts
 * import { EpsilonLogitsWarper } from "@encdec/generation";
 * new EpsilonLogitsWarper(0.01).process([[0]], new Float32Array([0, 9])); // [-Infinity, 9]
 * ```
 */
export class EpsilonLogitsWarper extends FilterLogitsWarper {
  /** Probability cut-off. */
  readonly epsilon: number;
  /** `epsilon` in `(0, 1)`. */
  constructor(epsilon: number, filterValue = NEG_INF, minTokensToKeep = 1) {
    checkFraction("EpsilonLogitsWarper", "epsilonCutoff", epsilon, true);
    super("EpsilonLogitsWarper", filterValue, minTokensToKeep);
    this.epsilon = Math.fround(epsilon);
  }
  /** Masks tokens below the cut-off. */
  process(inputIds: InputIds, scores: Float32Array): Float32Array {
    const v = vocabOf(inputIds, scores);
    for (let o = 0; o < scores.length; o += v) {
      cutBelow(scores, o, v, this.epsilon, this.minTokensToKeep, this.filterValue);
    }
    return scores;
  }
}

function cutBelow(
  scores: Float32Array,
  o: number,
  v: number,
  cut: number,
  minKeep: number,
  filter: number,
): void {
  const p = softmaxRow(scores, o, v);
  const k = Math.min(minKeep, v);
  const kth = topK(scores, o, v, k).values[k - 1];
  for (let j = 0; j < v; j++) {
    if (Math.fround(p[j]) < cut && scores[o + j] < kth) scores[o + j] = filter;
  }
}

/**
 * Eta sampling: removes tokens with probability below
 * `min(epsilon, sqrt(epsilon) * exp(-entropy))`.
 *
 * @example
 * ```ts
 * import { EtaLogitsWarper } from "@encdec/generation";
 * new EtaLogitsWarper(0.01).process([[0]], new Float32Array([0, 9])); // [-Infinity, 9]
 * ```
 */
export class EtaLogitsWarper extends FilterLogitsWarper {
  /** The `epsilon` of the cut-off. */
  readonly epsilon: number;
  /** `epsilon` in `(0, 1)`. */
  constructor(epsilon: number, filterValue = NEG_INF, minTokensToKeep = 1) {
    checkFraction("EtaLogitsWarper", "etaCutoff", epsilon, true);
    super("EtaLogitsWarper", filterValue, minTokensToKeep);
    this.epsilon = Math.fround(epsilon);
  }
  /** Masks tokens below the entropy-dependent cut-off. */
  process(inputIds: InputIds, scores: Float32Array): Float32Array {
    const v = vocabOf(inputIds, scores);
    for (let o = 0; o < scores.length; o += v) {
      const logp = logSoftmaxRow(scores, o, v);
      let ent = 0;
      for (let j = 0; j < v; j++) if (logp[j] !== NEG_INF) ent -= Math.exp(logp[j]) * logp[j];
      const eta = Math.min(
        this.epsilon,
        Math.fround(Math.fround(Math.sqrt(this.epsilon)) * Math.fround(Math.exp(-ent))),
      );
      cutBelow(scores, o, v, eta, this.minTokensToKeep, this.filterValue);
    }
    return scores;
  }
}
