/**
 * Diverse (group) beam search (HF's `_group_beam_search`): the beams of each input are split
 * into `numBeamGroups` groups decoded one after the other within a step; the diversity penalty
 * lowers the scores of tokens earlier groups chose at this step.
 *
 * @module
 */
import { logSoftmaxRows, topKPlusRowScore } from "./_math.ts";
import { BeamStreamer, finishBeams, newScorer } from "./_beam_common.ts";
import type { Decoder, Run } from "./_decoder.ts";
import type { GenerateOutput } from "./generate.ts";

/** Diverse (group) beam search, HF's `_group_beam_search`. */
export async function groupBeamSearch(
  run: Run,
  dec: Decoder<unknown, unknown>,
  batch: number,
): Promise<GenerateOutput> {
  const { p, eos, pad } = run;
  const v = run.model.vocabSize;
  const nb = p.numBeams;
  const groups = p.numBeamGroups;
  const sub = nb / groups;
  const rows = batch * nb;
  const scorer = newScorer(p, batch);
  const beamScores = new Float32Array(rows).fill(-1e9);
  for (let r = 0; r < rows; r += sub) beamScores[r] = 0;
  let ids: number[][] = Array.from({ length: rows }, (_, r) => [run.start(r)]);
  // HF keeps one history list per group (rows of that group, batch-major).
  const hist: number[][][] = Array.from(
    { length: groups },
    () => Array.from({ length: batch * sub }, () => []),
  );
  const scores: Float32Array[] = [];
  const nCand = Math.max(2, 1 + (eos?.length ?? 0)) * sub;
  const bs = new BeamStreamer(run, batch);
  let next: number[][] = ids.map((r) => [...r]);
  while (true) {
    const logits = await dec.step(next); // [rows, V]
    const current = new Int32Array(rows);
    const reorder = new Array<number>(rows).fill(0);
    const processedAll = p.outputScores ? new Float32Array(rows * v) : null;
    const newIds: number[][] = ids.slice();
    for (let g = 0; g < groups; g++) {
      const gs = g * sub;
      const groupRows: number[] = [];
      for (let b = 0; b < batch; b++) for (let i = 0; i < sub; i++) groupRows.push(b * nb + gs + i);
      const groupIds = groupRows.map((r) => ids[r]);
      const s = new Float32Array(groupRows.length * v);
      groupRows.forEach((r, k) => s.set(logits.subarray(r * v, (r + 1) * v), k * v));
      logSoftmaxRows(s, v);
      const processed = run.processors.process(groupIds, s, {
        currentTokens: current,
        beamGroupIdx: g,
      });
      if (processedAll) {
        groupRows.forEach((r, k) =>
          processedAll.set(processed.subarray(k * v, (k + 1) * v), r * v)
        );
      }
      const groupScores = Float32Array.from(groupRows, (r) => beamScores[r]);
      const cs: number[][] = [], ct: number[][] = [], ci: number[][] = [];
      for (let b = 0; b < batch; b++) {
        const { values, indices } = topKPlusRowScore(
          processed,
          b * sub * v,
          sub,
          v,
          groupScores,
          b * sub,
          nCand,
        );
        cs.push(values);
        ct.push(indices.map((j) => j % v));
        ci.push(indices.map((j) => Math.floor(j / v)));
      }
      const st = scorer.process(groupIds, cs, ct, ci, pad, eos, hist.flat(), g, run.promptLen);
      const sel = st.nextBeamIndices; // within the group's rows
      hist[g] = sel.map((bi) => [...hist[g][bi], bi]);
      groupRows.forEach((r, k) => {
        beamScores[r] = st.nextBeamScores[k];
        newIds[r] = groupIds[sel[k]];
        current[r] = st.nextBeamTokens[k];
        reorder[r] = nb * Math.floor(sel[k] / sub) + gs + (sel[k] % sub);
      });
    }
    if (processedAll) scores.push(processedAll);
    ids = newIds.map((r, i) => [...r, current[i]]);
    bs.step(scorer, ids);
    if (scorer.isDone || run.stopping.isDone(ids).every((d) => d)) break;
    await run.guard.between();
    dec.reorder(reorder);
    next = Array.from(current, (t) => [t]);
  }
  return finishBeams(run, scorer, bs, ids, beamScores, hist.flat(), scores);
}
