/**
 * The names Python users type: `AutoModelForSeq2SeqLM.fromPretrained` loads the one
 * generation-enabled `EncoderDecoderModel` (its greedy output equals the Python golden of
 * tests/testdata/fixtures/bert2bert/goldens.json, transformers 4.40.2); `AutoModelForCausalLM`
 * on an encoder-decoder checkpoint fails with one line naming the two classes that load it.
 */
import { assert, assertEquals, assertRejects } from "@std/assert";
import {
  AutoModelError,
  AutoModelForCausalLM,
  AutoModelForSeq2SeqLM,
  EncoderDecoderModel,
} from "./mod.ts";

const FIXTURES = new URL("../tests/testdata/fixtures/", import.meta.url).pathname;
const B2B = `${FIXTURES}bert2bert`;

Deno.test("AutoModelForSeq2SeqLM.fromPretrained loads EncoderDecoderModel; greedy = the HF golden", async () => {
  const g = JSON.parse(await Deno.readTextFile(`${B2B}/goldens.json`));
  const model = await AutoModelForSeq2SeqLM.fromPretrained(B2B);
  assert(model instanceof EncoderDecoderModel);
  assertEquals(model.device.device, "cpu");
  const out = await model.generate(g.inputs.input_ids, {
    attentionMask: g.inputs.attention_mask,
    maxNewTokens: 20,
  });
  assertEquals(out.sequences, g.generate.greedy.sequences);
});

Deno.test("AutoModelForCausalLM on an encoder-decoder checkpoint: one line naming AutoModelForSeq2SeqLM and EncoderDecoderModel", async () => {
  const e = await assertRejects(() => AutoModelForCausalLM.fromPretrained(B2B), AutoModelError);
  assertEquals(
    e.message,
    `AutoModelForCausalLM: "${B2B}" is an encoder-decoder checkpoint (model_type ` +
      `"encoder-decoder"); load it with AutoModelForSeq2SeqLM.fromPretrained or ` +
      `EncoderDecoderModel.fromPretrained`,
  );
  assert(!e.message.includes("\n"));
});

Deno.test("AutoModel* on a bare encoder checkpoint name fromEncoderDecoderPretrained", async () => {
  const enc = `${FIXTURES}from-pretrained-parts/encoder`;
  await assertRejects(
    () => AutoModelForSeq2SeqLM.fromPretrained(enc),
    AutoModelError,
    'has model_type "bert", not "encoder-decoder"',
  );
  await assertRejects(
    () => AutoModelForCausalLM.fromPretrained(enc),
    AutoModelError,
    "EncoderDecoderModel.fromEncoderDecoderPretrained(encoder, decoder)",
  );
});
