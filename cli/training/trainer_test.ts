// `train` end to end on the bert2bert fixture with a 12-row corpus from its vocabulary: the loss
// falls, checkpoints and the final model load back, a resumed run ends with weights identical
// (bit for bit) to an uninterrupted one, and bad inputs give typed errors naming the problem.
import { assert, assertEquals, assertRejects } from "@std/assert";
import { EncoderDecoderModel, loadStateDict } from "@encdec/modeling";
import { evalLoss, groupedOrder, makeBatch, train, TrainError } from "./trainer.ts";
import { DataError } from "../_jsonl.ts";
import { AutoTokenizer } from "@encdec/tokenization";

const FIX = new URL("../../tests/testdata/fixtures/bert2bert", import.meta.url).pathname;

const ROWS = [
  ["the quick brown fox sat on the old mat.", "fox sat"],
  ["the happy child read a long story at night.", "child read story"],
  ["a big storm was over the city before the day.", "storm over city"],
  ["the woman walk ##ed by the river with her dog.", "woman walk dog"],
  ["hello world, how is the new game?", "new game"],
  ["the man see ##s the green tree under the sun.", "man see tree"],
  ["people play music in the house after work.", "people play music"],
  ["the queen write ##s a report for the people.", "queen write report"],
  ["there is light in the high house at night.", "light in house"],
  ["you run from the big car on the long road.", "run from car"],
  ["the star was bright over the old river.", "star over river"],
  ["he jump ##ed over the paper when the dog ran.", "dog jump"],
].map(([text, summary]) => JSON.stringify({ text, summary })).join("\n") + "\n";

async function setup(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "encdec_train_" });
  await Deno.writeTextFile(`${dir}/train.jsonl`, ROWS);
  await Deno.writeTextFile(`${dir}/eval.jsonl`, ROWS.split("\n").slice(0, 4).join("\n"));
  return dir;
}

const quiet = () => {};

Deno.test("makeBatch: labels drop the leading [CLS] (= decoder start), pad with -100", async () => {
  const tok = await AutoTokenizer.fromPretrained(FIX);
  const b = makeBatch(tok, [{ text: "hello world", summary: "hello world!" }, {
    text: "the fox",
    summary: "fox",
  }], { maxSourceLength: 8, maxTargetLength: 8, decoderStartTokenId: 2 });
  // hello=29? ids from vocab.txt: [CLS]=2, [SEP]=3
  assertEquals(b.inputIds[0][0], 2);
  assertEquals(b.labels.map((r) => r.length), [4, 4]);
  assertEquals(b.labels[0].at(-1), 3); // ends in [SEP]
  assertEquals(b.labels[1].slice(2), [-100, -100]);
  assertEquals(b.labels[1][1], 3);
});

Deno.test("train: loss falls, checkpoints + final model load, eval loss is logged", async () => {
  const dir = await setup();
  const lines: string[] = [];
  const before = await EncoderDecoderModel.fromPretrained(FIX, { device: "autograd" });
  const tok = await AutoTokenizer.fromPretrained(FIX);
  const rows = ROWS.trim().split("\n").map((l) => JSON.parse(l));
  const opts = { batchSize: 4, maxSourceLength: 16, maxTargetLength: 8 };
  const lossBefore = await evalLoss(before, tok, rows, opts);
  const r = await train({
    model: FIX,
    data: `${dir}/train.jsonl`,
    eval: `${dir}/eval.jsonl`,
    output: `${dir}/out`,
    epochs: 8,
    batchSize: 4,
    lr: 3e-3,
    warmup: 2,
    maxSourceLength: 16,
    maxTargetLength: 8,
    logSteps: 3,
    log: (l) => lines.push(l),
  });
  assertEquals(r.steps, 24);
  const after = await EncoderDecoderModel.fromPretrained(`${dir}/out`, { device: "autograd" });
  const lossAfter = await evalLoss(after, tok, rows, opts);
  assert(lossAfter < lossBefore - 1, `training loss ${lossBefore} -> ${lossAfter}`);
  assert(
    lines.some((l) => /^step 3\/24 \| epoch 1\/8 \| loss \d+\.\d{4} .* tok\/s \| ETA /.test(l)),
  );
  assert(lines.some((l) => l.startsWith("eval  step 3/24 | eval loss")));
  for (const s of [3, 12, 24]) {
    const names = [...Deno.readDirSync(`${dir}/out/checkpoint-${s}`)].map((e) => e.name).sort();
    for (const f of ["config.json", "model.safetensors", "optimizer.safetensors", "vocab.txt"]) {
      assert(names.includes(f), `checkpoint-${s} lacks ${f}`);
    }
  }
  await Deno.remove(dir, { recursive: true });
});

for (const groupByLength of [false, true]) {
  Deno.test(`train --resume (groupByLength ${groupByLength}): from checkpoint-2, same weights`, async () => {
    const dir = await setup();
    const common = {
      groupByLength,
      model: FIX,
      data: `${dir}/train.jsonl`,
      epochs: 2,
      batchSize: 3,
      gradientAccumulationSteps: 2,
      lr: 2e-3,
      warmup: 1,
      saveSteps: 1,
      maxSourceLength: 16,
      maxTargetLength: 8,
      log: quiet,
    };
    await train({ ...common, output: `${dir}/a` });
    await Deno.mkdir(`${dir}/b/checkpoint-2`, { recursive: true });
    for (const e of Deno.readDirSync(`${dir}/a/checkpoint-2`)) {
      await Deno.copyFile(`${dir}/a/checkpoint-2/${e.name}`, `${dir}/b/checkpoint-2/${e.name}`);
    }
    // What a run killed while saving step 3 leaves: a half-written temporary sibling. Resume must
    // ignore it (and the next save removes it).
    await Deno.mkdir(`${dir}/b/checkpoint-3.tmp-99999`);
    await Deno.writeTextFile(`${dir}/b/checkpoint-3.tmp-99999/config.json`, "{");
    const lines: string[] = [];
    const r = await train({
      ...common,
      output: `${dir}/b`,
      resume: true,
      log: (l) => lines.push(l),
    });
    assertEquals(r.steps, 4);
    assert(lines[0].includes("resumed from") && lines[0].includes("step 2"));
    // Checkpoints are complete directories; no temporary sibling is left behind.
    const names = [...Deno.readDirSync(`${dir}/b`)].map((e) => e.name).filter((n) =>
      n.startsWith("checkpoint-")
    ).sort();
    assertEquals(names, ["checkpoint-2", "checkpoint-3", "checkpoint-4"]);
    const a = (await loadStateDict(`${dir}/a`)).tensors;
    const b = (await loadStateDict(`${dir}/b`)).tensors;
    assertEquals([...b.keys()].sort(), [...a.keys()].sort());
    for (const [k, t] of a) assertEquals(b.get(k)!.data, t.data, k);
    await Deno.remove(dir, { recursive: true });
  });
}

Deno.test("train: typed errors for bad arguments and bad data", async () => {
  const dir = await setup();
  await Deno.writeTextFile(`${dir}/bad.jsonl`, '{"text": "a b", "summary": 3}\n');
  await assertRejects(
    () => train({ model: FIX, data: `${dir}/bad.jsonl`, output: `${dir}/o`, log: quiet }),
    DataError,
    'bad.jsonl:1: field "summary" must be a string, got 3',
  );
  await assertRejects(
    () => train({ model: FIX, config: "x", data: `${dir}/train.jsonl`, output: `${dir}/o` }),
    TrainError,
    "exactly one of model",
  );
  await assertRejects(
    () => train({ model: FIX, data: `${dir}/train.jsonl`, output: `${dir}/o`, batchSize: 0 }),
    TrainError,
    "batchSize = 0",
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("groupedOrder: a permutation; batches sorted by length inside mega-batches", () => {
  const order = [...Array(1000).keys()].reverse();
  const key = (i: number) => i % 7;
  const out = groupedOrder(order, key, 8, 3);
  assertEquals([...out].sort((a, b) => a - b), [...Array(1000).keys()]);
  // 1000 = 2 full mega-batches of 400 + 200 rows; every full batch of 8 holds at most 2 keys.
  for (let b = 0; b < 125; b++) {
    const keys = new Set(out.slice(b * 8, b * 8 + 8).map(key));
    assert(keys.size <= 2, `batch ${b}: keys ${[...keys]}`);
  }
  assertEquals(groupedOrder(order, key, 8, 3), out); // deterministic for a seed
});
