import {
  assert,
  assertAlmostEquals,
  assertEquals,
  assertNotEquals,
  assertRejects,
} from "@std/assert";
import { camelToSnake, EncdecError, GenerationConfigError } from "@encdec/config";
import { generate } from "./generate.ts";
import { GenerationError } from "./errors.ts";
import { createRng } from "./rng.ts";
import type { Streamer } from "./streamers.ts";
import { StubModel, tableModel } from "./testdata/stub_model.ts";

// Vocabulary of the hand-checked tables: 0 pad, 1 start, 2 eos, 3 "A", 4 "B".
const L = Math.log;
const NI = -Infinity;
const ids5 = (pA: number, pB: number, pEos: number) => [NI, NI, L(pEos), L(pA), L(pB)];
const TABLE = {
  "1": ids5(0.5, 0.4, 0.1),
  "1,3": ids5(0.3, 0.3, 0.4),
  "1,4": ids5(0.9, 0.05, 0.05),
  "1,4,3": ids5(0.1, 0.1, 0.8),
};
const FALLBACK = ids5(0.4, 0.4, 0.2);
const CFG = { decoder_start_token_id: 1, eos_token_id: 2, pad_token_id: 0 };

Deno.test("greedy: hand-checked sequence and per-step raw scores (exact float32)", async () => {
  const m = tableModel(5, TABLE, FALLBACK);
  const out = await generate(m, [[7, 8]], {
    generationConfig: CFG,
    returnDictInGenerate: true,
    outputScores: true,
  });
  // step 1: A (0.5) beats B; step 2 after "A": eos (0.4) wins
  assertEquals(out.sequences, [[1, 3, 2]]);
  assertEquals(out.scores!.length, 2);
  assertEquals(out.scores![0], Float32Array.from(TABLE["1"]));
  assertEquals(out.scores![1], Float32Array.from(TABLE["1,3"]));
  assertEquals(m.encodeCalls, 1);
});

Deno.test("beam search (2 beams, earlyStopping true): hand-checked hypotheses, scores, beam indices", async () => {
  // step 1 beams: [1,A] .5, [1,B] .4; step 2: [1,B,A] .36 beam, [1,A]+eos .2 → hypothesis
  // score log(.2)/2; step 3: [1,B,A]+eos .288 → hypothesis log(.288)/3; 2 hypotheses → done.
  const m = tableModel(5, TABLE, FALLBACK);
  const out = await generate(m, [[7, 8]], {
    generationConfig: CFG,
    numBeams: 2,
    numReturnSequences: 2,
    earlyStopping: true,
    returnDictInGenerate: true,
    outputScores: true,
  });
  assertEquals(out.sequences, [[1, 4, 3, 2], [1, 3, 2, 0]]);
  assertAlmostEquals(out.sequencesScores![0], L(0.288) / 3, 1e-6);
  assertAlmostEquals(out.sequencesScores![1], L(0.2) / 2, 1e-6);
  assertEquals(out.beamIndices, [[0, 1, 0, -1], [0, 0, -1, -1]]);
  // one decoder call per step, one token per row after the first: never re-running the prefix
  assertEquals(m.decodeCalls, 3);
  assertEquals(m.tokensDecoded, 2 * 3);
  // greedy would give [1, A, eos]; beam search finds the better [1, B, A, eos]
  const one = await generate(tableModel(5, TABLE, FALLBACK), [[7, 8]], {
    generationConfig: CFG,
    numBeams: 2,
    earlyStopping: true,
  });
  assertEquals(one.sequences, [[1, 4, 3, 2]]);
});

/** A pseudo-random model whose logits depend on the (unpadded) source and the prefix. */
function hashModel(v: number, eos: number): StubModel {
  return new StubModel(v, (src, prefix) => {
    let h = 2166136261;
    for (const t of [...src, -1, ...prefix]) h = Math.imul(h ^ (t + 7), 16777619) >>> 0;
    const rng = createRng(h);
    const out = Array.from({ length: v }, () => rng.random() * 4);
    out[eos] += prefix.length * 0.35 - 1; // eos grows likelier with length
    out[0] = -5; // pad unlikely
    return out;
  });
}

Deno.test("padded batch gives the same sequences as each row alone (greedy, beam, group beam)", async () => {
  const batch = [[5, 6, 9, 0, 0], [7, 8, 9, 10, 11], [12, 13, 0, 0, 0]];
  const settings = [
    {},
    { numBeams: 3, earlyStopping: true },
    { numBeams: 4, lengthPenalty: 0.5 },
    { numBeams: 3, earlyStopping: "never" as const },
    { numBeams: 4, numBeamGroups: 2, diversityPenalty: 0.7 },
    { numBeams: 2, noRepeatNgramSize: 2, repetitionPenalty: 1.5 },
  ];
  for (const s of settings) {
    const opts = { generationConfig: CFG, maxLength: 12, ...s };
    const all = await generate(hashModel(23, 2), batch, opts);
    for (let i = 0; i < batch.length; i++) {
      const alone = await generate(hashModel(23, 2), [batch[i].filter((t) => t !== 0)], opts);
      const got = all.sequences[i];
      const want = alone.sequences[0];
      // the batch pads shorter rows after eos to the batch's longest row
      assertEquals(got.slice(0, want.length), want, JSON.stringify(s));
      assertEquals(got.slice(want.length).every((t) => t === 0), true, JSON.stringify(s));
    }
  }
});

Deno.test("sampling: a fixed seed reproduces the output; another seed differs", async () => {
  const opts = {
    generationConfig: CFG,
    doSample: true,
    topK: 0,
    maxLength: 15,
    numReturnSequences: 3,
  };
  const a = await generate(hashModel(40, 2), [[5, 6]], { ...opts, rng: createRng(7) });
  const b = await generate(hashModel(40, 2), [[5, 6]], { ...opts, rng: createRng(7) });
  const c = await generate(hashModel(40, 2), [[5, 6]], { ...opts, rng: createRng(8) });
  assertEquals(a.sequences, b.sequences);
  assertNotEquals(a.sequences, c.sequences);
  assertEquals(a.sequences.length, 3);
  const bs1 = await generate(hashModel(40, 2), [[5, 6]], {
    ...opts,
    numBeams: 3,
    numReturnSequences: 2,
    seed: 3,
  });
  const bs2 = await generate(hashModel(40, 2), [[5, 6]], {
    ...opts,
    numBeams: 3,
    numReturnSequences: 2,
    seed: 3,
  });
  assertEquals(bs1.sequences, bs2.sequences);
});

/** Chi-square statistic of `counts` against probabilities `p` (cells with p = 0 must be empty). */
function chiSquare(counts: number[], p: number[], n: number): number {
  let x = 0;
  p.forEach((pi, i) => {
    if (pi === 0) assertEquals(counts[i], 0, `token ${i} has probability 0 but was drawn`);
    else x += (counts[i] - n * pi) ** 2 / (n * pi);
  });
  return x;
}

Deno.test("sampling: temperature/top-k/top-p draw from the right distribution (chi-square, p=0.001)", async () => {
  const logits = [NI, NI, 0.5, 2.0, 1.0, 1.5, -0.5, 0.0];
  const m = new StubModel(8, () => logits);
  const n = 6000;
  const src = Array.from({ length: n }, () => [5]);
  const softmax = (xs: number[]) => {
    const e = xs.map((x) => Math.exp(x));
    const s = e.reduce((a, b) => a + b, 0);
    return e.map((x) => x / s);
  };
  const cases: { opts: Record<string, number>; p: number[] }[] = [
    // temperature 2: softmax(logits / 2)
    { opts: { temperature: 2, topK: 0 }, p: softmax(logits.map((x) => x / 2)) },
    // top-k 3: tokens 3, 5, 4 renormalised
    { opts: { topK: 3 }, p: softmax(logits.map((x, i) => ([3, 4, 5].includes(i) ? x : NI))) },
  ];
  // top-p 0.7: probabilities sorted 3 > 5 > 4 > 2 > 7 > 6; keep the smallest head reaching 0.7
  const full = softmax(logits);
  const order = [3, 5, 4, 2, 7, 6];
  const keep: number[] = [];
  let cum = 0;
  for (const t of order) {
    if (cum >= 0.7) break;
    keep.push(t);
    cum += full[t];
  }
  cases.push({
    opts: { topK: 0, topP: 0.7 },
    p: softmax(logits.map((x, i) => (keep.includes(i) ? x : NI))),
  });
  for (const c of cases) {
    const out = await generate(m, src, {
      generationConfig: { ...CFG, eos_token_id: 99 },
      doSample: true,
      maxNewTokens: 1,
      seed: 11,
      ...c.opts,
    });
    const counts = new Array(8).fill(0);
    for (const s of out.sequences) counts[s[1]]++;
    const x = chiSquare(counts, c.p, n);
    const df = c.p.filter((q) => q > 0).length - 1;
    const crit = [0, 10.83, 13.82, 16.27, 18.47, 20.52][df]; // chi-square 0.999 quantiles
    assertEquals(
      x < crit,
      true,
      `${JSON.stringify(c.opts)}: chi2 ${x.toFixed(2)} >= ${crit} (df ${df})`,
    );
  }
});

Deno.test("validate(): HF-rejected settings throw one GenerationConfigError naming the field's JSON name", async () => {
  const m = tableModel(5, TABLE, FALLBACK);
  const bad: [Record<string, unknown>, string][] = [
    [{ numBeams: 3, numBeamGroups: 2, diversityPenalty: 1 }, "numBeamGroups"],
    [{ doSample: true, topP: 1.5 }, "topP"],
    [{ doSample: true, topP: 0 }, "topP"],
    [{ doSample: true, temperature: 0 }, "temperature"],
    [{ diversityPenalty: 0.5 }, "diversityPenalty"],
    [{ numBeams: 4, numBeamGroups: 2 }, "diversityPenalty"],
    [{ numBeams: 4, numBeamGroups: 2, diversityPenalty: 1, doSample: true }, "doSample"],
    [{ earlyStopping: "sometimes" }, "earlyStopping"],
    [{ numBeams: 2, numReturnSequences: 3 }, "numReturnSequences"],
    [{ numReturnSequences: 2 }, "numReturnSequences"],
    [{ maxNewTokens: 0 }, "maxNewTokens"],
    [{ repetitionPenalty: 0 }, "repetitionPenalty"],
    [{ badWordsIds: [[]] }, "badWordsIds"],
    [{ penaltyAlpha: 0.6, topK: 4 }, "penaltyAlpha"],
  ];
  // One rule set (config/generation_rules.ts), one error class, one spelling: HF's JSON name
  // (`num_beam_groups`), whether the config's own checks or generate()'s caught it.
  for (const [opts, field] of bad) {
    const e = await assertRejects(
      () => generate(m, [[7]], { generationConfig: CFG, ...opts }),
      EncdecError,
    );
    assert(e instanceof GenerationConfigError, `${field}: ${e.name}`);
    assert(e.message.includes(camelToSnake(field)), `${field}: ${e.message}`);
  }
  await assertRejects(
    () => generate(m, [[7]], { generationConfig: CFG, numBeems: 2 } as never),
    EncdecError,
    "numBeems",
  );
  await assertRejects(
    () => generate(m, [[7]], { eosTokenId: 2 }),
    GenerationError,
    "decoderStartTokenId",
  );
  await assertRejects(
    () => generate(m, [[7, 8], [9]], { generationConfig: CFG }),
    GenerationError,
    "row 1",
  );
  await assertRejects(
    () => generate(m, [[7]], { generationConfig: CFG, stopStrings: ["x"] }),
    GenerationError,
    "decode",
  );
});

Deno.test("stopping: maxNewTokens, extra criteria, stop strings and several eos ids", async () => {
  const m = () => hashModel(23, 2);
  const a = await generate(m(), [[5]], {
    generationConfig: { ...CFG, eos_token_id: null },
    maxNewTokens: 4,
  });
  assertEquals(a.sequences[0].length, 5);
  // every token id as a letter; stop when the text ends with the 3rd generated letter
  const ref = await generate(m(), [[5]], {
    generationConfig: { ...CFG, eos_token_id: null },
    maxNewTokens: 6,
  });
  const decode = (ids: readonly number[]) => ids.map((t) => String.fromCharCode(97 + t)).join("");
  const stop = decode([ref.sequences[0][3]]);
  const firstAt = ref.sequences[0].slice(1).findIndex((t) => t === ref.sequences[0][3]);
  const s = await generate(m(), [[5]], {
    generationConfig: { ...CFG, eos_token_id: null },
    maxNewTokens: 6,
    stopStrings: [stop],
    decode,
  });
  assertEquals(s.sequences[0], ref.sequences[0].slice(0, firstAt + 2));
  // two eos ids: generation stops at whichever comes first
  const two = await generate(m(), [[5]], {
    generationConfig: { ...CFG, eos_token_id: [2, ref.sequences[0][2]] },
    maxNewTokens: 6,
  });
  assertEquals(two.sequences[0], ref.sequences[0].slice(0, 3));
});

Deno.test("streamer: greedy streams every token; beam search streams the agreed prefix during the search", async () => {
  const log: { row: number; ids: number[]; call: number }[] = [];
  let ended = 0;
  const m = hashModel(23, 2);
  const streamer: Streamer = {
    put: (row, ids) => log.push({ row, ids: [...ids], call: m.decodeCalls }),
    end: () => ended++,
  };
  const g = await generate(m, [[5, 6], [7, 0]], { generationConfig: CFG, maxLength: 12, streamer });
  assertEquals(ended, 1);
  for (const row of [0, 1]) {
    const streamed = log.filter((e) => e.row === row).flatMap((e) => e.ids);
    const seq = g.sequences[row].slice(1);
    const eosAt = seq.indexOf(2);
    assertEquals(streamed, eosAt >= 0 ? seq.slice(0, eosAt + 1) : seq);
  }
  log.length = 0;
  const mb = hashModel(23, 2);
  const streamerB: Streamer = {
    put: (row, ids) => log.push({ row, ids: [...ids], call: mb.decodeCalls }),
    end: () => {},
  };
  const b = await generate(mb, [[5, 6], [7, 8]], {
    generationConfig: CFG,
    numBeams: 3,
    maxLength: 14,
    streamer: streamerB,
  });
  for (const row of [0, 1]) {
    const streamed = log.filter((e) => e.row === row).flatMap((e) => e.ids);
    const seq = b.sequences[row].slice(1);
    const eosAt = seq.indexOf(2);
    assertEquals(streamed, eosAt >= 0 ? seq.slice(0, eosAt + 1) : seq);
  }
  // some tokens arrived before the last decoder step
  assertEquals(log.some((e) => e.call < mb.decodeCalls), true);
});

Deno.test("prefixAllowedTokensFn, per-row decoder start ids, suppress tokens: outputs obey them", async () => {
  const allowed = [[4, 2], [3, 2]]; // batch row 0 may only say B, row 1 only A (or eos)
  const out = await generate(tableModel(5, TABLE, FALLBACK), [[7], [8]], {
    generationConfig: CFG,
    numBeams: 2,
    maxLength: 6,
    prefixAllowedTokensFn: (batchId) => allowed[batchId],
  });
  out.sequences[0].slice(1).forEach((t) => assert([4, 2, 0].includes(t), `row 0 token ${t}`));
  out.sequences[1].slice(1).forEach((t) => assert([3, 2, 0].includes(t), `row 1 token ${t}`));
  const starts = await generate(tableModel(5, TABLE, FALLBACK), [[7], [8]], {
    generationConfig: { ...CFG, decoder_start_token_id: [1, 4] },
    maxNewTokens: 1,
  });
  assertEquals(starts.sequences.map((r) => r[0]), [1, 4]);
  // suppressing A at every step: greedy picks B (0.4); after B, eos and B tie at 0.05 and argmax
  // takes the first index (as torch.argmax does): eos
  const sup = await generate(tableModel(5, TABLE, FALLBACK), [[7]], {
    generationConfig: CFG,
    suppressTokens: [3],
    maxNewTokens: 2,
  });
  assertEquals(sup.sequences, [[1, 4, 2]]);
});
