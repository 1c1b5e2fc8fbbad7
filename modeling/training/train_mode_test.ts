// Training mode of the models on the autograd device: dropout is seeded and reproducible, eval
// mode reproduces the CPU forward exactly, and gradients through dropout (hidden states and
// attention probabilities, BERT and GPT-2 decoders) match central finite differences of the loss
// (h = 1e-2, |tape - fd| <= 2e-3 + 2e-2·|fd|) with the same dropout draws in every evaluation.
import { assert, assertAlmostEquals, assertEquals, assertNotEquals } from "@std/assert";
import { cpu } from "../backends/cpu/cpu.ts";
import { EncoderDecoderModel } from "../models/encoder_decoder.ts";
import { attentionWithDropout } from "../models/_layers.ts";
import { FLOAT32_MIN, Tensor } from "../tensor.ts";
import { randn, seeded } from "../autograd/_test_util.ts";

const FIX = new URL("../../tests/testdata/fixtures/", import.meta.url).pathname;

async function inputsOf(name: string) {
  const raw = JSON.parse(await Deno.readTextFile(`${FIX}${name}/goldens.json`)).inputs;
  return {
    inputIds: raw.input_ids as number[][],
    attentionMask: raw.attention_mask as number[][],
    labels: raw.labels as number[][],
  };
}

Deno.test("attentionWithDropout with every element kept equals attention / (1 - p)", () => {
  const r = seeded(4);
  const q = randn([2, 2, 3, 4], r), k = randn([2, 2, 5, 4], r), v = randn([2, 2, 5, 3], r);
  const md = new Float32Array(10);
  md.fill(FLOAT32_MIN, 8, 10);
  const mask = new Tensor("float32", md, [2, 1, 1, 5]);
  const keepAll = { random: () => 0.99 };
  for (const causal of [false, true]) {
    const want = cpu.attention(q, k, v, { mask, causal, scale: 0.5 }).output;
    const got = attentionWithDropout(cpu, q, k, v, { mask, causal, scale: 0.5 }, 0.5, keepAll)
      .output;
    for (let i = 0; i < want.size; i++) {
      assertAlmostEquals(got.get(i), 2 * want.get(i), 1e-5, `causal ${causal} element ${i}`);
    }
  }
});

for (const name of ["bert2bert", "bert2gpt2"]) {
  Deno.test(`${name}: dropout is seeded; eval mode equals the CPU forward`, async () => {
    const inputs = await inputsOf(name);
    const ref = await EncoderDecoderModel.fromPretrained(`${FIX}${name}`);
    const m = await EncoderDecoderModel.fromPretrained(`${FIX}${name}`, { device: "autograd" });
    const evalLoss = (await m.eval().forward(inputs)).loss!.item();
    assertEquals(evalLoss, (await ref.forward(inputs)).loss!.item());
    m.train();
    m.dropoutRng = seeded(11);
    const a = (await m.forward(inputs)).loss!.item();
    m.dropoutRng = seeded(11);
    const b = (await m.forward(inputs)).loss!.item();
    assertEquals(a, b);
    assertNotEquals(a, evalLoss);
  });

  Deno.test(`${name}: gradients through dropout match finite differences`, async () => {
    const inputs = await inputsOf(name);
    const m = await EncoderDecoderModel.fromPretrained(`${FIX}${name}`, { device: "autograd" });
    m.train();
    const loss = async () => {
      m.dropoutRng = seeded(3);
      return (await m.forward(inputs)).loss!;
    };
    await (await loss()).backward();
    const named = [...m.namedParameters()].filter(([, p]) => p.grad !== null);
    // a spread of parameters: embeddings, attention, cross-attention, FFN, head
    const picks = [0, 5, 17, named.length >> 1, named.length - 3, named.length - 1];
    const h = 1e-2;
    for (const pi of picks) {
      const [key, p] = named[pi];
      const d = p.value.data as Float32Array;
      const g = p.grad!;
      // the element with the largest gradient, and one in the middle
      let j = 0;
      for (let i = 0; i < g.size; i++) if (Math.abs(g.data[i]) > Math.abs(g.data[j])) j = i;
      for (const e of [j, g.size >> 1]) {
        const x0 = d[e];
        d[e] = x0 + h;
        const lp = (await loss()).item();
        d[e] = x0 - h;
        const lm = (await loss()).item();
        d[e] = x0;
        const fd = (lp - lm) / (2 * h);
        assert(
          Math.abs(g.data[e] - fd) <= 2e-3 + 2e-2 * Math.abs(fd),
          `${key}[${e}]: tape ${g.data[e]} vs finite difference ${fd}`,
        );
      }
    }
  });
}
