import { assertAlmostEquals, assertEquals, assertThrows } from "@std/assert";
import {
  EncoderNoRepeatNGramLogitsProcessor,
  EncoderRepetitionPenaltyLogitsProcessor,
  ExponentialDecayLengthPenalty,
  ForcedBOSTokenLogitsProcessor,
  ForcedEOSTokenLogitsProcessor,
  HammingDiversityLogitsProcessor,
  InfNanRemoveLogitsProcessor,
  LogitNormalization,
  type LogitsProcessor,
  MinLengthLogitsProcessor,
  MinNewTokensLengthLogitsProcessor,
  NoBadWordsLogitsProcessor,
  NoRepeatNGramLogitsProcessor,
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
import { GenerationError } from "./errors.ts";

type Num = number | "-inf";
interface Fixture {
  scores: number[][];
  input_ids: number[][];
  cases: { name: string; call: string; input_ids: number[][]; output: Num[][] }[];
}
const fx: Fixture = JSON.parse(
  await Deno.readTextFile(new URL("./testdata/logits_processors.json", import.meta.url)),
);

// The processor for each golden case (the HF call is in `case.call`).
const CASES: Record<string, () => LogitsProcessor> = {
  temperature: () => new TemperatureLogitsWarper(0.7),
  top_k: () => new TopKLogitsWarper(5),
  top_p: () => new TopPLogitsWarper(0.8),
  typical: () => new TypicalLogitsWarper(0.9),
  min_length_active: () => new MinLengthLogitsProcessor(10, 3),
  min_length_inactive: () => new MinLengthLogitsProcessor(8, 3),
  repetition_penalty: () => new RepetitionPenaltyLogitsProcessor(1.3),
  no_repeat_ngram: () => new NoRepeatNGramLogitsProcessor(2),
  no_bad_words: () => new NoBadWordsLogitsProcessor([[5], [7, 8], [9, 10], [9, 11, 12]], 3),
  forced_bos: () => new ForcedBOSTokenLogitsProcessor(2),
  forced_bos_inactive: () => new ForcedBOSTokenLogitsProcessor(2),
  forced_eos: () => new ForcedEOSTokenLogitsProcessor(9, 3),
  forced_eos_inactive: () => new ForcedEOSTokenLogitsProcessor(12, 3),
  epsilon: () => new EpsilonLogitsWarper(3e-4),
  eta: () => new EtaLogitsWarper(2e-3),
};

Deno.test("logits_processors.json: every HF 4.40 case within 1e-6 (-inf exact)", () => {
  assertEquals(fx.cases.map((c) => c.name).sort(), Object.keys(CASES).sort());
  for (const c of fx.cases) {
    const v = fx.scores[0].length;
    // forced_bos is called with input_ids[:, :1] (cur_len = 1); the fixture stores that slice.
    const ids = c.name === "forced_bos" ? c.input_ids.map((r) => r.slice(0, 1)) : c.input_ids;
    const out = CASES[c.name]().process(ids, Float32Array.from(fx.scores.flat()));
    c.output.forEach((row, r) =>
      row.forEach((want, j) => {
        const got = out[r * v + j];
        if (want === "-inf") assertEquals(got, -Infinity, `${c.name}[${r},${j}]`);
        else assertAlmostEquals(got, want, 1e-6 + 1e-6 * Math.abs(want), `${c.name}[${r},${j}]`);
      })
    );
  }
});

const ids = [[0]];
const f = (...x: number[]) => new Float32Array(x);
const NI = -Infinity;

Deno.test("hand-checked: penalties, n-grams, biases, forcing, suppression", () => {
  assertEquals(
    new RepetitionPenaltyLogitsProcessor(2).process([[0, 1, 1]], f(2, -2, 2)),
    f(1, -4, 2),
  );
  // encoder repetition penalty 2 → factor 1/2: positive scores doubled, negative halved
  assertEquals(
    new EncoderRepetitionPenaltyLogitsProcessor(2, [[0, 1]]).process(
      [[5], [5]],
      f(2, -2, 2, 2, -2, 2),
    ),
    f(4, -1, 2, 4, -1, 2),
  );
  assertEquals(new NoRepeatNGramLogitsProcessor(2).process([[1, 2, 1]], f(0, 0, 0)), f(0, 0, NI));
  assertEquals(new NoRepeatNGramLogitsProcessor(3).process([[1, 2]], f(0, 0, 0)), f(0, 0, 0));
  assertEquals(
    new EncoderNoRepeatNGramLogitsProcessor(2, [[1, 2], [0, 1]]).process(
      [[1], [0]],
      f(0, 0, 0, 0, 0, 0),
    ),
    f(0, 0, NI, 0, NI, 0),
  );
  assertEquals(
    new SequenceBiasLogitsProcessor([[[1, 2], -5], [[0], 1.5]]).process(
      [[0, 1], [1, 0]],
      f(0, 0, 0, 0, 0, 0),
    ),
    f(1.5, 0, -5, 1.5, 0, 0),
  );
  // [3] alone is the eos id: HF drops it from bad words.
  assertEquals(
    new NoBadWordsLogitsProcessor([[3], [1]], 3).process(ids, f(0, 0, 0, 0)),
    f(0, NI, 0, 0),
  );
  assertEquals(new MinNewTokensLengthLogitsProcessor(1, 2, 1).process([[0, 5]], f(0, 0)), f(0, NI));
  assertEquals(new MinNewTokensLengthLogitsProcessor(1, 1, 1).process([[0, 5]], f(0, 0)), f(0, 0));
  assertEquals(new SuppressTokensLogitsProcessor([0, 2]).process(ids, f(1, 1, 1)), f(NI, 1, NI));
  assertEquals(new SuppressTokensAtBeginLogitsProcessor([1], 1).process(ids, f(1, 1)), f(1, NI));
  assertEquals(new SuppressTokensAtBeginLogitsProcessor([1], 2).process(ids, f(1, 1)), f(1, 1));
  // start 0 + prompt 1: at cur_len 3, factor 2 → s + |s| * (2^2 - 1)
  assertEquals(
    new ExponentialDecayLengthPenalty([0, 2], 1, 1).process([[0, 0, 0]], f(1, -1)),
    f(1, 2),
  );
  assertEquals(
    new InfNanRemoveLogitsProcessor().process(ids, f(NaN, Infinity, NI)),
    f(0, 3.4028234663852886e38, NI),
  );
  const n = new LogitNormalization().process(ids, f(0, 0));
  assertAlmostEquals(n[0], -Math.LN2, 1e-7);
  assertEquals(
    new PrefixConstrainedLogitsProcessor((b) => [b], 2).process(
      [[0], [0], [0], [0]],
      new Float32Array(8),
    ),
    f(0, NI, 0, NI, NI, 0, NI, 0),
  );
  // group 1 of 2 (2 beams each): earlier group chose tokens 1 and 1 for batch 0 → -2 * 0.5
  const h = new HammingDiversityLogitsProcessor(0.5, 4, 2);
  assertEquals(
    h.process([[0], [0]], f(0, 0, 0, 0), { currentTokens: [1, 1, 0, 0], beamGroupIdx: 1 }),
    f(0, -1, 0, -1),
  );
  assertEquals(
    h.process([[0], [0]], f(0, 0, 0, 0), { currentTokens: [1, 1, 0, 0], beamGroupIdx: 0 }),
    f(0, 0, 0, 0),
  );
});

Deno.test("hand-checked: warpers keep the right tokens", () => {
  // probs of [0, ln2, ln5] ∝ [1, 2, 5]/8: top-p 0.7 keeps {5/8, 2/8}; min-p 0.3 keeps p ≥ 1.5/8
  const logits = () => f(0, Math.LN2, Math.log(5));
  assertEquals(new TopPLogitsWarper(0.7).process(ids, logits()), f(NI, Math.LN2, Math.log(5)));
  assertEquals(new MinPLogitsWarper(0.3).process(ids, logits()), f(NI, Math.LN2, Math.log(5)));
  assertEquals(new TopKLogitsWarper(2).process(ids, logits()), f(NI, Math.LN2, Math.log(5)));
  // ties with the k-th value are kept, as torch's `scores < kth` mask does
  assertEquals(new TopKLogitsWarper(1).process(ids, f(3, 3, 1)), f(3, 3, NI));
  // min tokens to keep wins over epsilon
  assertEquals(
    new EpsilonLogitsWarper(0.9, NI, 2).process(ids, logits()),
    f(NI, Math.LN2, Math.log(5)),
  );
});

Deno.test("invalid processor arguments throw GenerationError naming the field", () => {
  assertThrows(() => new TemperatureLogitsWarper(0), GenerationError, "temperature");
  assertThrows(() => new TopKLogitsWarper(0), GenerationError, "topK");
  assertThrows(() => new TopPLogitsWarper(1.5), GenerationError, "topP");
  assertThrows(() => new TypicalLogitsWarper(1), GenerationError, "typicalP");
  assertThrows(() => new EpsilonLogitsWarper(0), GenerationError, "epsilonCutoff");
  assertThrows(() => new RepetitionPenaltyLogitsProcessor(0), GenerationError, "repetitionPenalty");
  assertThrows(() => new NoRepeatNGramLogitsProcessor(0), GenerationError, "noRepeatNgramSize");
  assertThrows(() => new NoBadWordsLogitsProcessor([]), GenerationError, "badWordsIds");
  assertThrows(() => new NoBadWordsLogitsProcessor([[-1]]), GenerationError, "badWordsIds");
  assertThrows(
    () => new HammingDiversityLogitsProcessor(0, 4, 2),
    GenerationError,
    "diversityPenalty",
  );
  assertThrows(
    () => new SequenceBiasLogitsProcessor([[[7], 1]]).process(ids, f(0, 0)),
    GenerationError,
    "outside the vocabulary",
  );
  assertThrows(
    () => new PrefixConstrainedLogitsProcessor(() => [], 1).process(ids, f(0, 0)),
    GenerationError,
    "empty list",
  );
});
