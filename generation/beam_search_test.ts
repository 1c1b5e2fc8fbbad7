import { assertEquals, assertThrows } from "@std/assert";
import { BeamHypotheses, BeamSearchScorer } from "./beam_search.ts";
import { GenerationError } from "./errors.ts";

Deno.test("BeamHypotheses: keeps the n best, worstScore, HF 4.40 isDone heuristics (hand-checked)", () => {
  const h = new BeamHypotheses(2, 1, false, 10);
  h.add([1, 5], -2, null, 2); // score -1
  h.add([1, 6], -3, null, 1); // score -3
  assertEquals(h.worstScore, -3);
  h.add([1, 7, 8], -3, null, 3); // score -1: evicts -3; worst becomes -1
  assertEquals(h.beams.map((b) => b.tokens), [[1, 5], [1, 7, 8]]);
  assertEquals(h.worstScore, -1);
  // false: best possible = bestSum / (curLen - prompt) = -2.5 / 2 = -1.25 < worst -1 → done
  assertEquals(h.isDone(-2.5, 3, 1), true);
  assertEquals(h.isDone(-1.5, 3, 1), false); // -0.75 > -1 → not done
  // "never" with lengthPenalty > 0: bestSum / (maxLength - prompt) = -8 / 9 = -0.89 > -1 → not done
  const never = new BeamHypotheses(2, 1, "never", 10);
  never.add([1, 5], -2, null, 2);
  never.add([1, 7, 8], -3, null, 3);
  assertEquals(never.isDone(-8, 3, 1), false);
  assertEquals(never.isDone(-9.5, 3, 1), true); // -1.056 <= -1
  const early = new BeamHypotheses(1, 1, true, 10);
  assertEquals(early.isDone(0, 2, 1), false);
  early.add([1], -1, null, 1);
  assertEquals(early.isDone(0, 2, 1), true);
});

Deno.test("BeamSearchScorer: eos candidates beyond the beam width are skipped; finalize pads (hand-checked)", () => {
  const s = new BeamSearchScorer({
    batchSize: 1,
    numBeams: 2,
    numBeamHypsToKeep: 2,
    doEarlyStopping: true,
    maxLength: 10,
  });
  // candidates: eos (rank 0) from beam 0, token 5 from beam 0, eos (rank 2, skipped), token 6 from beam 1
  const st = s.process(
    [[1], [1]],
    [[-0.1, -0.5, -0.7, -0.9]],
    [[2, 5, 2, 6]],
    [[0, 0, 1, 1]],
    0,
    [2],
    [[], []],
    0,
    1,
  );
  assertEquals(st.nextBeamTokens, [5, 6]);
  assertEquals(st.nextBeamIndices, [0, 1]);
  assertEquals(Array.from(st.nextBeamScores), [Math.fround(-0.5), Math.fround(-0.9)]);
  assertEquals(s.beamHyps[0].beams.map((b) => [b.tokens, b.score]), [[[1], -0.1 / 1]]);
  const f = s.finalize(
    [[1, 5], [1, 6]],
    Float32Array.from([-0.5, -0.9]),
    10,
    0,
    [2],
    [[0], [1]],
    1,
  );
  // hypotheses: [1] -0.1, [1,5] -0.25, [1,6] -0.45 → best two: [1] then [1,5]
  assertEquals(f.sequences, [[1, 2, 0], [1, 5, 2]]);
  assertEquals(f.beamIndices, [[0, -1, -1], [0, -1, -1]]);
  assertThrows(
    () => new BeamSearchScorer({ batchSize: 1, numBeams: 1 }),
    GenerationError,
    "numBeams",
  );
  assertThrows(
    () => new BeamSearchScorer({ batchSize: 1, numBeams: 4, numBeamGroups: 3 }),
    GenerationError,
    "numBeamGroups",
  );
});
