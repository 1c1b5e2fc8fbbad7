/**
 * Beam search and beam sampling (HF's `_beam_search` and `_beam_sample`): `numBeams` rows per
 * input, each step's candidates merged per input (the best `2 × numBeams` by running score, or
 * drawn from the warped distribution when sampling), finished hypotheses kept by the
 * `BeamSearchScorer`, and the cache rows reordered to follow the chosen beams.
 *
 * @module
 */
import { logSoftmaxRows, softmaxRow, topKPlusRowScore } from "./_math.ts";
import { BeamStreamer, finishBeams, newScorer } from "./_beam_common.ts";
import type { Decoder, Run } from "./_decoder.ts";
import type { GenerateOutput } from "./generate.ts";
import { drawOne } from "./sampling.ts";

/** Beam search and beam sampling (`doSample`). */
export async function beamSearch(
  run: Run,
  dec: Decoder<unknown, unknown>,
  batch: number,
): Promise<GenerateOutput> {
  const { p, eos, pad } = run;
  const v = run.model.vocabSize;
  const nb = p.numBeams;
  const rows = batch * nb;
  const scorer = newScorer(p, batch);
  let beamScores: Float32Array = new Float32Array(rows);
  if (!p.doSample) { for (let r = 0; r < rows; r++) if (r % nb !== 0) beamScores[r] = -1e9; }
  let ids: number[][] = Array.from({ length: rows }, (_, r) => [run.start(r)]);
  let hist: number[][] = Array.from({ length: rows }, () => []);
  const scores: Float32Array[] = [];
  const nCand = p.doSample ? 2 * nb : Math.max(2, 1 + (eos?.length ?? 0)) * nb;
  const bs = new BeamStreamer(run, batch);
  let next: number[][] = ids.map((r) => [...r]);
  // Plain beam search reads only each row's best nCand log-probabilities from the model when it
  // can: the merged best nCand of a batch entry are among its rows' best nCand, and no processor
  // or score output needs the rest of the row.
  const topKOnly = !p.doSample && !p.outputScores && run.processors.length === 0 &&
    run.model.decodeStepTopK !== undefined;
  while (true) {
    const processed = topKOnly
      ? await dec.stepTopK(next, nCand) // [rows, V], -inf outside each row's best nCand
      : run.processors.process(ids, logSoftmaxRows(await dec.step(next), v));
    // [rows, V]: processed + running beam score (materialised only for beam sampling)
    let total: Float32Array = processed;
    if (p.doSample) {
      total = new Float32Array(rows * v);
      for (let r = 0; r < rows; r++) {
        const b = beamScores[r];
        for (let j = 0; j < v; j++) total[r * v + j] = processed[r * v + j] + b;
      }
      // HF applies the warpers after adding the running beam scores.
      if (p.outputScores) scores.push(run.warpers.process(ids, new Float32Array(processed)));
      total = run.warpers.process(ids, total);
    } else if (p.outputScores) scores.push(new Float32Array(processed));
    const cs: number[][] = [], ct: number[][] = [], ci: number[][] = [];
    for (let b = 0; b < batch; b++) {
      let vals: number[], idx: number[];
      if (p.doSample) {
        const probs = softmaxRow(total, b * nb * v, nb * v);
        idx = [];
        for (let k = 0; k < nCand; k++) {
          const j = drawOne(probs, run.rng, "beam sampling");
          idx.push(j);
          probs[j] = 0;
        }
        const pairs = idx.map((j) => [total[b * nb * v + j], j] as const).sort((x, y) =>
          y[0] - x[0]
        );
        vals = pairs.map((x) => x[0]);
        idx = pairs.map((x) => x[1]);
      } else {
        ({ values: vals, indices: idx } = topKPlusRowScore(
          processed,
          b * nb * v,
          nb,
          v,
          beamScores,
          b * nb,
          nCand,
        ));
      }
      cs.push(vals);
      ct.push(idx.map((j) => j % v));
      ci.push(idx.map((j) => Math.floor(j / v)));
    }
    const st = scorer.process(ids, cs, ct, ci, pad, eos, hist, 0, run.promptLen);
    beamScores = st.nextBeamScores;
    const sel = st.nextBeamIndices;
    ids = sel.map((r, i) => [...ids[r], st.nextBeamTokens[i]]);
    hist = sel.map((r) => [...hist[r], r]);
    bs.step(scorer, ids);
    if (scorer.isDone || run.stopping.isDone(ids).every((d) => d)) break;
    await run.guard.between();
    dec.reorder(sel);
    next = st.nextBeamTokens.map((t) => [t]);
  }
  return finishBeams(run, scorer, bs, ids, beamScores, hist, scores);
}
