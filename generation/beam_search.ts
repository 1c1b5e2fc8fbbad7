/**
 * Beam hypotheses and the beam scorer, with the semantics of Hugging Face `transformers` 4.40
 * (`generation/beam_search.py`): `BeamHypotheses` keeps the `numBeams` best finished hypotheses of
 * one batch row (or one beam group of it); `BeamSearchScorer.process` turns the `2 * groupSize`
 * top candidates of a step into the next beams, and `finalize` picks the returned sequences.
 *
 * @module
 */
import { GenerationError } from "./errors.ts";
import type { InputIds } from "./logits_process.ts";

/** `earlyStopping`: stop at `numBeams` finished hypotheses, use HF's heuristic, or never early. */
export type EarlyStopping = boolean | "never";

/** One finished hypothesis. */
export interface Hypothesis {
  /** Length-penalised score. */
  score: number;
  /** Decoder ids (prompt included, eos excluded). */
  tokens: number[];
  /** For each generated token, the global beam row it came from (if tracked). */
  beamIndices: number[] | null;
}

/**
 * The n-best list of finished hypotheses of one batch row (or beam group).
 *
 * @example
 * ```ts
 * import { BeamHypotheses } from "@encdec/generation";
 * const h = new BeamHypotheses(1, 1, true, 20);
 * h.add([2, 5], -1, null, 1);
 * h.add([2, 6], -0.5, null, 1);
 * console.log(h.beams[0].tokens); // [2, 6]
 * ```
 */
export class BeamHypotheses {
  /** Hypotheses kept. */
  readonly numBeams: number;
  /** Score = sum of log-probs / generatedLen ** lengthPenalty. */
  readonly lengthPenalty: number;
  /** Early stopping mode. */
  readonly earlyStopping: EarlyStopping;
  /** Max length (needed for `"never"`). */
  readonly maxLength: number | undefined;
  /** The kept hypotheses, in insertion order. */
  readonly beams: Hypothesis[] = [];
  /** Score of the worst kept hypothesis (1e9 while empty). */
  worstScore = 1e9;

  /** See the fields. */
  constructor(
    numBeams: number,
    lengthPenalty: number,
    earlyStopping: EarlyStopping,
    maxLength?: number,
  ) {
    this.numBeams = numBeams;
    this.lengthPenalty = lengthPenalty;
    this.earlyStopping = earlyStopping;
    this.maxLength = maxLength;
    if (typeof earlyStopping !== "boolean" && maxLength === undefined) {
      throw new GenerationError('BeamHypotheses: `earlyStopping: "never"` needs `maxLength`');
    }
  }

  /** Number of kept hypotheses. */
  get length(): number {
    return this.beams.length;
  }

  /** Adds a hypothesis if it is among the `numBeams` best so far. */
  add(
    tokens: number[],
    sumLogprobs: number,
    beamIndices: number[] | null,
    generatedLen: number,
  ): void {
    const score = sumLogprobs / generatedLen ** this.lengthPenalty;
    if (this.beams.length < this.numBeams || score > this.worstScore) {
      this.beams.push({ score, tokens, beamIndices });
      if (this.beams.length > this.numBeams) {
        const sorted = this.beams.map((b, i) => [b.score, i] as const).sort((a, b) =>
          a[0] - b[0] || a[1] - b[1]
        );
        this.beams.splice(sorted[0][1], 1);
        this.worstScore = sorted[1][0];
      } else {
        this.worstScore = Math.min(score, this.worstScore);
      }
    }
  }

  /** Whether no live beam can still beat the worst kept hypothesis (HF 4.40 heuristics). */
  isDone(bestSumLogprobs: number, curLen: number, decoderPromptLen: number): boolean {
    if (this.beams.length < this.numBeams) return false;
    if (this.earlyStopping === true) return true;
    let highest: number;
    if (this.earlyStopping === false) {
      highest = bestSumLogprobs / (curLen - decoderPromptLen) ** this.lengthPenalty;
    } else if (this.lengthPenalty > 0) {
      const max = this.maxLength!;
      if (max <= decoderPromptLen) {
        throw new GenerationError(
          `BeamHypotheses: maxLength ${max} is not above the decoder prompt length ${decoderPromptLen}`,
        );
      }
      highest = bestSumLogprobs / (max - decoderPromptLen) ** this.lengthPenalty;
    } else {
      highest = bestSumLogprobs / (curLen - decoderPromptLen) ** this.lengthPenalty;
    }
    return this.worstScore >= highest;
  }
}

/** What {@link BeamSearchScorer.process} returns, each `[batch * groupSize]`. */
export interface BeamStep {
  /** Running scores of the new beams. */
  nextBeamScores: Float32Array;
  /** Token appended to each new beam. */
  nextBeamTokens: number[];
  /** Row (within the rows given to `process`) each new beam continues. */
  nextBeamIndices: number[];
}

/** What {@link BeamSearchScorer.finalize} returns. */
export interface BeamFinal {
  /** `[batch * numReturnSequences, len]`, padded with pad, eos appended where it fits. */
  sequences: number[][];
  /** Length-penalised score of each sequence. */
  sequenceScores: Float32Array;
  /** Beam row of each generated token, `-1`-padded; `null` when not tracked. */
  beamIndices: number[][] | null;
}

/** Options of {@link BeamSearchScorer}. */
export interface BeamSearchScorerOptions {
  /** Batch rows. */
  batchSize: number;
  /** Beams per batch row. */
  numBeams: number;
  /** Length penalty exponent (default 1). */
  lengthPenalty?: number;
  /** Early stopping (default false). */
  doEarlyStopping?: EarlyStopping;
  /** Sequences returned per batch row (default 1). */
  numBeamHypsToKeep?: number;
  /** Beam groups (default 1). */
  numBeamGroups?: number;
  /** Max length, for `"never"`. */
  maxLength?: number;
}

/**
 * HF's `BeamSearchScorer`.
 *
 * @example
 * ```ts
 * import { BeamSearchScorer } from "@encdec/generation";
 * const s = new BeamSearchScorer({ batchSize: 1, numBeams: 2, maxLength: 5 });
 * console.log(s.isDone); // false
 * ```
 */
export class BeamSearchScorer {
  /** Beams per batch row. */
  readonly numBeams: number;
  /** Beam groups. */
  readonly numBeamGroups: number;
  /** Beams per group. */
  readonly groupSize: number;
  /** Sequences returned per batch row. */
  readonly numBeamHypsToKeep: number;
  /** `beamHyps[b * numBeamGroups + g]`: finished hypotheses of group g of batch row b. */
  readonly beamHyps: BeamHypotheses[];
  /** Whether each (batch row, group) is done. */
  readonly done: boolean[];

  /** Validates and builds the scorer. */
  constructor(o: BeamSearchScorerOptions) {
    this.numBeams = o.numBeams;
    this.numBeamGroups = o.numBeamGroups ?? 1;
    this.numBeamHypsToKeep = o.numBeamHypsToKeep ?? 1;
    if (!Number.isInteger(this.numBeams) || this.numBeams <= 1) {
      throw new GenerationError(
        `BeamSearchScorer: \`numBeams\` has to be an integer strictly greater than 1, got ${this.numBeams}; use greedy search for 1`,
      );
    }
    if (
      !Number.isInteger(this.numBeamGroups) || this.numBeamGroups > this.numBeams ||
      this.numBeams % this.numBeamGroups !== 0
    ) {
      throw new GenerationError(
        `BeamSearchScorer: \`numBeamGroups\` has to divide \`numBeams\` (${this.numBeams}), got ${this.numBeamGroups}`,
      );
    }
    this.groupSize = this.numBeams / this.numBeamGroups;
    const n = o.batchSize * this.numBeamGroups;
    this.beamHyps = Array.from(
      { length: n },
      () =>
        new BeamHypotheses(
          this.groupSize,
          o.lengthPenalty ?? 1,
          o.doEarlyStopping ?? false,
          o.maxLength,
        ),
    );
    this.done = Array.from({ length: n }, () => false);
  }

  /** True when every batch row and group is done. */
  get isDone(): boolean {
    return this.done.every((d) => d);
  }

  /**
   * One step. `inputIds` `[batch * groupSize, curLen]` are the group's rows; `nextScores`,
   * `nextTokens`, `nextIndices` are `[batch][2 * groupSize]` candidates sorted by score.
   * `beamIndices[r]` is the beam history of row `r` (or null).
   */
  process(
    inputIds: InputIds,
    nextScores: readonly (readonly number[])[],
    nextTokens: readonly (readonly number[])[],
    nextIndices: readonly (readonly number[])[],
    padTokenId: number | undefined,
    eosTokenId: readonly number[] | undefined,
    beamIndices: readonly (readonly number[])[] | null,
    groupIndex = 0,
    decoderPromptLen = 0,
  ): BeamStep {
    const curLen = inputIds[0].length + 1;
    const batch = this.beamHyps.length / this.numBeamGroups;
    const g = this.groupSize;
    const nextBeamScores = new Float32Array(batch * g);
    const nextBeamTokens = new Array<number>(batch * g).fill(0);
    const nextBeamIndices = new Array<number>(batch * g).fill(0);
    for (let b = 0; b < batch; b++) {
      const bg = b * this.numBeamGroups + groupIndex;
      const hyps = this.beamHyps[bg];
      if (this.done[bg]) {
        if (this.numBeams < hyps.length) {
          throw new GenerationError(
            `BeamSearchScorer: batch row ${b} can only have ${this.numBeams} beams`,
          );
        }
        if (eosTokenId === undefined || padTokenId === undefined) {
          throw new GenerationError(
            "BeamSearchScorer: generated beams past a finished row need `eosTokenId` and `padTokenId`",
          );
        }
        for (let i = 0; i < g; i++) {
          nextBeamScores[b * g + i] = 0;
          nextBeamTokens[b * g + i] = padTokenId;
          nextBeamIndices[b * g + i] = 0;
        }
        continue;
      }
      let beamIdx = 0;
      const toks = nextTokens[b];
      for (let rank = 0; rank < toks.length; rank++) {
        const tok = toks[rank];
        const score = nextScores[b][rank];
        const batchBeamIdx = b * g + nextIndices[b][rank];
        if (eosTokenId !== undefined && eosTokenId.includes(tok)) {
          if (rank >= g) continue;
          const bi = beamIndices ? [...(beamIndices[batchBeamIdx] ?? []), batchBeamIdx] : null;
          hyps.add([...inputIds[batchBeamIdx]], score, bi, curLen - decoderPromptLen);
        } else {
          nextBeamScores[b * g + beamIdx] = score;
          nextBeamTokens[b * g + beamIdx] = tok;
          nextBeamIndices[b * g + beamIdx] = batchBeamIdx;
          beamIdx++;
        }
        if (beamIdx === g) break;
      }
      if (beamIdx < g) {
        throw new GenerationError(
          `BeamSearchScorer: at most ${toks.length} candidates were given for ${g} beams of batch row ${b}, and too many ended with eos ${
            JSON.stringify(eosTokenId)
          }`,
        );
      }
      let best = -Infinity;
      for (const s of nextScores[b]) if (s > best) best = s;
      this.done[bg] = this.done[bg] || hyps.isDone(best, curLen, decoderPromptLen);
    }
    return { nextBeamScores, nextBeamTokens, nextBeamIndices };
  }

  /**
   * Adds the open beams of unfinished rows and picks the `numBeamHypsToKeep` best per batch row.
   * `finalBeamScores` `[batch * numBeams]`; `beamIndices[r]` the history of row `r` (or null).
   */
  finalize(
    inputIds: InputIds,
    finalBeamScores: Float32Array,
    maxLength: number | undefined,
    padTokenId: number | undefined,
    eosTokenId: readonly number[] | undefined,
    beamIndices: readonly (readonly number[])[] | null,
    decoderPromptLen = 0,
  ): BeamFinal {
    const batch = this.beamHyps.length / this.numBeamGroups;
    this.beamHyps.forEach((hyps, bg) => {
      if (this.done[bg]) return;
      for (let i = 0; i < this.groupSize; i++) {
        const r = bg * this.groupSize + i;
        const tokens = [...inputIds[r]];
        const bi = beamIndices ? [...(beamIndices[r] ?? [])] : null;
        hyps.add(tokens, finalBeamScores[r], bi, tokens.length - decoderPromptLen);
      }
    });
    const keep = this.numBeamHypsToKeep;
    const best: Hypothesis[] = [];
    for (let b = 0; b < batch; b++) {
      const cands: Hypothesis[] = [];
      for (let gi = 0; gi < this.numBeamGroups; gi++) {
        cands.push(...this.beamHyps[b * this.numBeamGroups + gi].beams);
      }
      // Python's stable sort by score, then pop() from the end.
      const sorted = cands.map((h, i) => [h, i] as const).sort((x, y) =>
        x[0].score - y[0].score || x[1] - y[1]
      );
      for (let j = 0; j < keep; j++) {
        const h = sorted.pop();
        if (!h) {
          throw new GenerationError(
            `BeamSearchScorer: batch row ${b} has fewer than numReturnSequences=${keep} hypotheses`,
          );
        }
        best.push(h[0]);
      }
    }
    const lens = best.map((h) => h.tokens.length);
    const maxLen = Math.max(...lens) + 1;
    const sentMax = maxLength !== undefined ? Math.min(maxLen, maxLength) : maxLen;
    if (Math.min(...lens) !== Math.max(...lens) && padTokenId === undefined) {
      throw new GenerationError(
        "BeamSearchScorer: `padTokenId` has to be defined to pad sequences of different lengths",
      );
    }
    const tracked = best.length > 0 && best[0].beamIndices !== null;
    const sequences: number[][] = [];
    const outIndices: number[][] = [];
    best.forEach((h) => {
      const row = new Array<number>(sentMax).fill(padTokenId ?? 0);
      for (let i = 0; i < h.tokens.length && i < sentMax; i++) row[i] = h.tokens[i];
      if (h.tokens.length < sentMax && eosTokenId !== undefined) {
        row[h.tokens.length] = eosTokenId[0];
      }
      sequences.push(row);
      if (tracked) {
        const ind = new Array<number>(sentMax).fill(-1);
        (h.beamIndices ?? []).forEach((x, i) => {
          if (i < sentMax) ind[i] = x;
        });
        outIndices.push(ind);
      }
    });
    return {
      sequences,
      sequenceScores: Float32Array.from(best.map((h) => h.score)),
      beamIndices: tracked ? outIndices : null,
    };
  }
}
