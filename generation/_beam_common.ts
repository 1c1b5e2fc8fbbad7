// Private: what beam search, beam sampling and group beam search share: the scorer they build,
// streaming of the prefix all beams agree on, and finishing (finalize + output).
import type { InputIds } from "./logits_process.ts";
import { BeamSearchScorer } from "./beam_search.ts";
import type { GenerateOutput } from "./generate.ts";
import type { GenerationParams } from "./params.ts";
import type { Run } from "./_decoder.ts";

/** Streams, per batch row, the prefix shared by all live beams and kept hypotheses. */
export class BeamStreamer {
  private readonly sent: number[];
  constructor(private readonly run: Run, batch: number) {
    this.sent = new Array(batch).fill(0);
  }
  step(scorer: BeamSearchScorer, ids: InputIds): void {
    const s = this.run.streamer;
    if (!s) return;
    const nb = scorer.numBeams;
    const groups = scorer.numBeamGroups;
    for (let b = 0; b < this.sent.length; b++) {
      const cands: (readonly number[])[] = [];
      let allDone = true;
      for (let g = 0; g < groups; g++) {
        const bg = b * groups + g;
        cands.push(...scorer.beamHyps[bg].beams.map((h) => h.tokens));
        if (!scorer.done[bg]) {
          allDone = false;
          for (let i = 0; i < scorer.groupSize; i++) {
            cands.push(ids[b * nb + g * scorer.groupSize + i]);
          }
        }
      }
      if (allDone || cands.length === 0) continue;
      let common = Math.min(...cands.map((c) => c.length));
      for (let i = this.run.promptLen + this.sent[b]; i < common; i++) {
        if (cands.some((c) => c[i] !== cands[0][i])) {
          common = i;
          break;
        }
      }
      const from = this.run.promptLen + this.sent[b];
      if (common > from) {
        s.put(b, cands[0].slice(from, common));
        this.sent[b] = common - this.run.promptLen;
      }
    }
  }
  finish(sequences: number[][], perRow: number): void {
    const s = this.run.streamer;
    if (!s) return;
    for (let b = 0; b < this.sent.length; b++) {
      const seq = sequences[b * perRow];
      let end = seq.length;
      const eos = this.run.eos ?? [];
      for (let i = this.run.promptLen; i < seq.length; i++) {
        if (eos.includes(seq[i])) {
          end = i + 1;
          break;
        }
      }
      const from = this.run.promptLen + this.sent[b];
      if (end > from) s.put(b, seq.slice(from, end));
    }
  }
}

/** Ends a beam search: finalizes the hypotheses, streams what is left, builds the output. */
export function finishBeams(
  run: Run,
  scorer: BeamSearchScorer,
  bs: BeamStreamer,
  ids: number[][],
  beamScores: Float32Array,
  hist: number[][],
  scores: Float32Array[],
): GenerateOutput {
  const { p, eos, pad } = run;
  const final = scorer.finalize(
    ids,
    beamScores,
    run.stopping.maxLength,
    pad,
    eos,
    hist,
    run.promptLen,
  );
  bs.finish(final.sequences, p.numReturnSequences);
  const out: GenerateOutput = {
    sequences: final.sequences,
    scores,
    sequencesScores: final.sequenceScores,
  };
  if (final.beamIndices) out.beamIndices = final.beamIndices;
  return out;
}

export function newScorer(p: GenerationParams, batch: number): BeamSearchScorer {
  return new BeamSearchScorer({
    batchSize: batch,
    numBeams: p.numBeams,
    lengthPenalty: p.lengthPenalty,
    doEarlyStopping: p.earlyStopping,
    numBeamHypsToKeep: p.numReturnSequences,
    numBeamGroups: p.numBeamGroups,
    maxLength: p.maxLength,
  });
}
