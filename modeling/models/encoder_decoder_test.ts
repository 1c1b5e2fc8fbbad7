/**
 * Golden parity of `EncoderDecoderModel` with Python `transformers` 4.40.2 on every fixture model
 * in `tests/testdata/fixtures/` (made by its `generate.py`): loss, logits, encoder output, hidden
 * states and attentions (bert2bert), and cached step-by-step decoding. Tolerance 1e-4 absolute
 * (the goldens are rounded to 7 significant digits).
 */
import { assert, assertEquals } from "@std/assert";
import { EncoderDecoderModel } from "./encoder_decoder.ts";
import { Tensor } from "../tensor.ts";
import {
  cachedStepLogits,
  FIXTURES,
  forwardArgs,
  GOLDEN_MODELS,
  goldens,
  maxDiff,
  type Nested,
} from "./_test_util.ts";

const TOL = 1e-4;

function assertClose(t: Tensor | Float32Array, golden: Nested, what: string, tol = TOL): void {
  const d = maxDiff(t, golden, what);
  assert(d <= tol, `${what}: max abs diff ${d} > ${tol}`);
}

for (const name of GOLDEN_MODELS) {
  Deno.test(`${name}: forward(labels) loss, logits, encoder_last_hidden_state match HF within 1e-4`, async () => {
    const g = await goldens(name);
    const model = await EncoderDecoderModel.fromPretrained(`${FIXTURES}${name}`);
    assertEquals(model.loadingInfo, {
      missingKeys: [],
      unexpectedKeys: [],
      mismatchedKeys: [],
      newlyInitialized: [],
    });
    const out = await model.forward(forwardArgs(g));
    assert(
      Math.abs(out.loss!.item() - g.forward.loss) <= TOL,
      `loss ${out.loss!.item()} vs ${g.forward.loss}`,
    );
    assertEquals(out.logits.dims, [2, 7, model.vocabSize]);
    assertClose(out.logits, g.forward.logits, "logits");
    assertClose(
      out.encoderLastHiddenState!,
      g.forward.encoder_last_hidden_state,
      "encoder_last_hidden_state",
    );
  });

  Deno.test(`${name}: cached decodeStep logits equal HF's step-by-step and full-forward logits (1e-4)`, async () => {
    const g = await goldens(name);
    const model = await EncoderDecoderModel.fromPretrained(`${FIXTURES}${name}`);
    const dec: number[][] = g.incremental.decoder_input_ids;
    const steps = await cachedStepLogits(model, g); // [2, 5, V]
    assertClose(steps, g.incremental.step_last_logits, "step_last_logits");
    // the full forward without cache (HF: use_cache=False) gives the same numbers
    const full = await model.forward({
      inputIds: g.inputs.input_ids,
      attentionMask: g.inputs.attention_mask,
      decoderInputIds: dec,
      useCache: false,
    });
    assertClose(full.logits, g.incremental.full_forward_logits, "full_forward_logits");
  });
}

Deno.test("bert2bert: hidden states and encoder/decoder/cross attentions match HF within 1e-4", async () => {
  const g = await goldens("bert2bert");
  const model = await EncoderDecoderModel.fromPretrained(`${FIXTURES}bert2bert`);
  const out = await model.forward({
    ...forwardArgs(g),
    outputHiddenStates: true,
    outputAttentions: true,
  });
  const pairs: [Tensor[] | undefined, string][] = [
    [out.encoderHiddenStates, "encoder_hidden_states"],
    [out.decoderHiddenStates, "decoder_hidden_states"],
    [out.encoderAttentions, "encoder_attentions"],
    [out.decoderAttentions, "decoder_attentions"],
    [out.crossAttentions, "cross_attentions"],
  ];
  for (const [got, key] of pairs) {
    const want = g.forward[key] as Nested[];
    assertEquals(got?.length, want.length, `${key}: count`);
    got!.forEach((t, i) => assertClose(t, want[i], `${key}[${i}]`));
  }
});

Deno.test("bert2bert: forward with pastKeyValues one token at a time equals the HF incremental goldens", async () => {
  const g = await goldens("bert2bert");
  const model = await EncoderDecoderModel.fromPretrained(`${FIXTURES}bert2bert`);
  const dec: number[][] = g.incremental.decoder_input_ids;
  const enc = await model.forward({
    inputIds: g.inputs.input_ids,
    attentionMask: g.inputs.attention_mask,
    decoderInputIds: dec.map((r) => [r[0]]),
  });
  let past = enc.pastKeyValues;
  const encoderOutputs = { lastHiddenState: enc.encoderLastHiddenState! };
  const want = g.incremental.step_last_logits as number[][][];
  assertClose(enc.logits, want.map((r) => [r[0]]), "step 0");
  for (let i = 1; i < dec[0].length; i++) {
    const o = await model.forward({
      encoderOutputs,
      attentionMask: g.inputs.attention_mask,
      decoderInputIds: dec.map((r) => [r[i]]),
      pastKeyValues: past,
    });
    past = o.pastKeyValues;
    assertClose(o.logits, want.map((r) => [r[i]]), `step ${i}`);
  }
  assertEquals(past!.length, dec[0].length);
});

Deno.test("expandEncoderState + reorderCache: duplicated / swapped rows decode like the originals (exact)", async () => {
  const g = await goldens("bert2gpt2");
  const model = await EncoderDecoderModel.fromPretrained(`${FIXTURES}bert2gpt2`);
  const V = model.vocabSize;
  const state = await model.encode(g.inputs.input_ids, g.inputs.attention_mask);
  const first = await model.decodeStep(state, [[2], [2]], null);
  const big = model.expandEncoderState(state, 2); // rows 0,0,1,1
  const firstBig = await model.decodeStep(big, [[2], [2], [2], [2]], null);
  for (const [i, src] of [[0, 0], [1, 0], [2, 1], [3, 1]]) {
    assertEquals(
      firstBig.logits.subarray(i * V, (i + 1) * V),
      first.logits.subarray(src * V, (src + 1) * V),
    );
  }
  // reorder the cache rows [1, 0] (with the encoder state swapped the same way) and feed the
  // tokens swapped: the step's logits come out swapped, bit for bit
  const a = await model.decodeStep(state, [[23], [81]], first.cache);
  const again = await model.decodeStep(state, [[2], [2]], null);
  const swapped = model.reorderCache(again.cache, [1, 0]);
  assertEquals(swapped.length, 1);
  const [, srcLen] = state.mask.dims;
  const mask = new Float32Array(2 * srcLen);
  mask.set(state.mask.data.subarray(srcLen), 0);
  mask.set(state.mask.data.subarray(0, srcLen), srcLen);
  const st = {
    hidden: model.backend.indexSelect(state.hidden, 0, [1, 0]),
    mask: new Tensor("float32", mask, [2, srcLen]),
  };
  const b = await model.decodeStep(st, [[81], [23]], swapped);
  assertEquals(b.logits.subarray(0, V), a.logits.subarray(V, 2 * V));
  assertEquals(b.logits.subarray(V, 2 * V), a.logits.subarray(0, V));
});
