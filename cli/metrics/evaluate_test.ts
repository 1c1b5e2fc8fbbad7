// `evaluate` reads a predictions .jsonl and equals rougeCorpus on the same pairs (exact), formats
// F-measures ×100, and names the file, line and field on bad rows.
import { assertAlmostEquals, assertEquals, assertRejects } from "@std/assert";
import { EncdecError } from "@encdec/config";
import { rougeCorpus } from "./rouge.ts";
import { DataError, evaluate, formatEvaluation } from "./evaluate.ts";

const PAIRS = [
  { prediction: "the cat sat on the mat", reference: "the cat was sitting on the mat" },
  { prediction: "running dogs", summary: "the dogs ran" },
];

Deno.test("evaluate: ROUGE over a jsonl equals rougeCorpus; summary accepted as reference", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/preds.jsonl`;
  await Deno.writeTextFile(path, PAIRS.map((p) => JSON.stringify(p)).join("\n") + "\n\n");
  for (const useStemmer of [false, true]) {
    const r = await evaluate({ predictions: path, metric: "rouge", useStemmer });
    const want = rougeCorpus(
      ["the cat was sitting on the mat", "the dogs ran"],
      ["the cat sat on the mat", "running dogs"],
      { useStemmer },
    );
    assertEquals(r, { count: 2, rouge: want });
  }
  // unigram F of row 1: 5 matches, P 5/6, R 5/7; row 2 "dogs": P 1/2, R 1/3 (no stemming)
  const r = await evaluate({ predictions: path });
  const f1 = 2 * (5 / 6) * (5 / 7) / (5 / 6 + 5 / 7), f2 = 2 * 0.5 * (1 / 3) / (0.5 + 1 / 3);
  assertAlmostEquals(r.rouge.rouge1.fmeasure, (f1 + f2) / 2, 1e-12);
  assertEquals(formatEvaluation(r).endsWith("(n = 2)"), true);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("evaluate: typed errors for a bad metric, bad JSON and a missing field", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/a.jsonl`, '{"prediction": "x", "reference": "y"}\n{oops\n');
  await Deno.writeTextFile(`${dir}/b.jsonl`, '{"prediction": "x"}\n');
  await assertRejects(
    () => evaluate({ predictions: `${dir}/a.jsonl`, metric: "bleu" }),
    EncdecError,
    'metric "bleu"',
  );
  await assertRejects(
    () => evaluate({ predictions: `${dir}/a.jsonl` }),
    DataError,
    "a.jsonl:2: not valid JSON",
  );
  await assertRejects(
    () => evaluate({ predictions: `${dir}/b.jsonl` }),
    DataError,
    'b.jsonl:1: field "reference" or "references" or "summary" or "target" must be a string',
  );
  await assertRejects(
    () => evaluate({ predictions: `${dir}/none.jsonl` }),
    DataError,
    "cannot read",
  );
  await Deno.remove(dir, { recursive: true });
});
