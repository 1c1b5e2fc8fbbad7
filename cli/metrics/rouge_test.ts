import { assertAlmostEquals, assertEquals, assertThrows } from "@std/assert";
import { porterStem, rougeCorpus, rougeScores, rougeTokenize } from "./rouge.ts";

Deno.test("rougeScores: hand-computed ROUGE-1/2/L F-measures (exact to 1e-12)", () => {
  const s = rougeScores("the cat sat on the mat", "the cat was on the mat");
  // unigrams: the×2, cat, on, mat match → 5/6; bigrams: "the cat", "on the", "the mat" → 3/5;
  // LCS "the cat on the mat" = 5 → 5/6.
  assertAlmostEquals(s.rouge1.fmeasure, 5 / 6, 1e-12);
  assertAlmostEquals(s.rouge2.fmeasure, 3 / 5, 1e-12);
  assertAlmostEquals(s.rougeL.fmeasure, 5 / 6, 1e-12);
  // asymmetric lengths: precision and recall differ
  const t = rougeScores("a b c d", "a b");
  assertEquals([t.rouge1.precision, t.rouge1.recall], [1, 0.5]);
  assertAlmostEquals(t.rouge1.fmeasure, 2 / 3, 1e-12);
  assertEquals(rougeScores("x", "").rougeL.fmeasure, 0);
});

Deno.test("rougeTokenize: rouge_score's tokenizer (lower-case, [a-z0-9] only, optional stemming)", () => {
  assertEquals(rougeTokenize("Hello, World! It's 2026."), ["hello", "world", "it", "s", "2026"]);
  assertEquals(rougeTokenize("running dogs quickly", { useStemmer: true }), [
    "run",
    "dog",
    "quickli",
  ]);
  // stemming makes inflections match
  assertEquals(
    rougeScores("libraries for parsing", "library parsed", { useStemmer: true })
      .rouge1.recall,
    2 / 3,
  );
});

Deno.test("porterStem: the Porter (1980) paper's examples", () => {
  const cases: Record<string, string> = {
    caresses: "caress",
    ponies: "poni",
    cats: "cat",
    agreed: "agre",
    feed: "feed",
    plastered: "plaster",
    motoring: "motor",
    sing: "sing",
    hopping: "hop",
    falling: "fall",
    hissing: "hiss",
    sized: "size",
    filing: "file",
    happy: "happi",
    sky: "sky",
    relational: "relat",
    conditional: "condit",
    rational: "ration",
    digitizer: "digit",
    vietnamization: "vietnam",
    operator: "oper",
    hopefulness: "hope",
    goodness: "good",
    allowance: "allow",
    adjustment: "adjust",
    adoption: "adopt",
    effective: "effect",
    controll: "control",
    generalizations: "gener",
    oscillators: "oscil",
  };
  for (const [word, stem] of Object.entries(cases)) assertEquals(porterStem(word), stem, word);
});

Deno.test("rougeCorpus: mean over pairs; length mismatch is an error", () => {
  const r = rougeCorpus(["a b", "c d"], ["a b", "x y"]);
  assertAlmostEquals(r.rougeL.fmeasure, 0.5, 1e-12);
  assertThrows(() => rougeCorpus(["a"], []), RangeError, "1 references but 0 predictions");
});
