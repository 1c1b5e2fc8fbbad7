/**
 * `LongformerModel` against known answers (the goldens in `encoder_decoder_test.ts` cover the
 * sliding window without global tokens): a window covering every token equals full attention,
 * every token global equals full attention with `query/key/value_global`, one global token reaches
 * beyond its window, `globalAttentionMask` handling, the `inputsEmbeds` path, and gradients of the
 * window and global branches against central finite differences.
 */
import { assert, assertEquals, assertRejects } from "@std/assert";
import { AutoConfig, type EncoderDecoderConfig } from "@encdec/config";
import { EncoderDecoderModel } from "./encoder_decoder.ts";
import { ModelInputError } from "./errors.ts";
import { loadStateDict } from "../weights/mod.ts";
import { Tensor } from "../tensor.ts";
import { FIXTURES, forwardArgs, goldens } from "./_test_util.ts";

function flat(t: Tensor): number[] {
  return Array.from({ length: t.size }, (_, i) => t.get(i));
}

// ---- Longformer global attention ----------------------------------------------------------------

/** longformer2roberta's encoder output for `inputIds` with `extra` forward options. */
async function longformerEncoder(
  model: EncoderDecoderModel,
  g: { inputs: { input_ids: number[][]; attention_mask: number[][] } },
  extra: Record<string, unknown> = {},
): Promise<Tensor> {
  const out = await model.forward({
    inputIds: g.inputs.input_ids,
    attentionMask: g.inputs.attention_mask,
    decoderInputIds: [[0], [0]],
    ...extra,
  });
  return out.encoderLastHiddenState!;
}

/** The non-padded rows `[row][pos][hidden]` of an encoder output. */
function realRows(t: Tensor, mask: number[][]): number[] {
  const [, len, h] = t.dims;
  const out: number[] = [];
  mask.forEach((m, r) =>
    m.forEach((keep, p) => {
      if (keep) { for (let k = 0; k < h; k++) out.push(t.get((r * len + p) * h + k)); }
    })
  );
  return out;
}

function maxAbs(a: number[], b: number[]): number {
  assertEquals(a.length, b.length);
  return a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
}

/** A RoBERTa-encoder copy of longformer2roberta whose self-attention uses `proj` weights. */
async function robertaTwin(proj: "" | "_global"): Promise<EncoderDecoderModel> {
  const json = JSON.parse(await Deno.readTextFile(`${FIXTURES}longformer2roberta/config.json`));
  const enc = { ...json.encoder, model_type: "roberta" };
  delete enc.attention_window;
  const config = AutoConfig.fromJSON({ ...json, encoder: enc }) as EncoderDecoderConfig;
  const sd = (await loadStateDict(`${FIXTURES}longformer2roberta`)).tensors;
  const twin = new Map<string, Tensor>();
  for (const [k, t] of sd) {
    if (/_global\./.test(k)) continue;
    const m = k.match(/^(encoder\.encoder\.layer\.\d+\.attention\.self\.)(query|key|value)\.(.*)$/);
    twin.set(k, m ? sd.get(`${m[1]}${m[2]}${proj}.${m[3]}`)! : t);
  }
  return new EncoderDecoderModel(config, { stateDict: twin });
}

Deno.test("longformer: with a window covering every token and no global tokens, the real rows equal full (RoBERTa) attention", async () => {
  const g = await goldens("longformer2roberta");
  const json = JSON.parse(await Deno.readTextFile(`${FIXTURES}longformer2roberta/config.json`));
  json.encoder.attention_window = 32;
  const sd = (await loadStateDict(`${FIXTURES}longformer2roberta`)).tensors;
  const wide = new EncoderDecoderModel(AutoConfig.fromJSON(json) as EncoderDecoderConfig, {
    stateDict: sd,
  });
  const full = await robertaTwin("");
  const mask = g.inputs.attention_mask;
  const a = realRows(await longformerEncoder(wide, g), mask);
  const b = realRows(await longformerEncoder(full, g), mask);
  assert(maxAbs(a, b) <= 1e-5, `max diff ${maxAbs(a, b)}`);
  // while the fixture's window of 4 differs (HF's sliding_window_check: 0.47)
  const narrow = await EncoderDecoderModel.fromPretrained(`${FIXTURES}longformer2roberta`);
  assert(maxAbs(realRows(await longformerEncoder(narrow, g), mask), b) > 0.1);
});

Deno.test("longformer: with every real token global, the real rows equal full attention with query/key/value_global", async () => {
  const g = await goldens("longformer2roberta");
  const model = await EncoderDecoderModel.fromPretrained(`${FIXTURES}longformer2roberta`);
  const mask = g.inputs.attention_mask;
  const a = realRows(await longformerEncoder(model, g, { globalAttentionMask: mask }), mask);
  const b = realRows(await longformerEncoder(await robertaTwin("_global"), g), mask);
  assert(maxAbs(a, b) <= 1e-5, `max diff ${maxAbs(a, b)}`);
});

Deno.test("longformer: one global token (first) reaches tokens outside its window; a zero mask changes nothing; encode() takes it too", async () => {
  const g = await goldens("longformer2roberta");
  const model = await EncoderDecoderModel.fromPretrained(`${FIXTURES}longformer2roberta`);
  const mask: number[][] = g.inputs.attention_mask;
  const none = await longformerEncoder(model, g);
  const zeros = await longformerEncoder(model, g, {
    globalAttentionMask: mask.map((r) => r.map(() => 0)),
  });
  assertEquals(flat(zeros), flat(none));
  const first = mask.map((r) => r.map((_, i) => (i === 0 ? 1 : 0)));
  const withGlobal = await longformerEncoder(model, g, { globalAttentionMask: first });
  // token 8 is 8 positions from token 0, beyond the ±2 window of both layers
  const [, len, h] = none.dims;
  const row = (t: Tensor, p: number) => Array.from({ length: h }, (_, k) => t.get(p * h + k));
  assert(maxAbs(row(withGlobal, 8), row(none, 8)) > 1e-3);
  assertEquals(len, 9);
  // encode() and the Seq2SeqModel path take it too: the state equals forward's encoder output
  const state = await model.encode(g.inputs.input_ids, mask, { globalAttentionMask: first });
  const hidden = await model.backend.read(state.hidden);
  assertEquals(flat(hidden), flat(withGlobal));
  model.dispose(state);
});

Deno.test("globalAttentionMask: encoders without global attention reject it; a wrong shape is a ModelInputError", async () => {
  const g = await goldens("bert2bert");
  const bert = await EncoderDecoderModel.fromPretrained(`${FIXTURES}bert2bert`);
  await assertRejects(
    () => bert.forward({ ...forwardArgs(g), globalAttentionMask: g.inputs.attention_mask }),
    ModelInputError,
    "takes no global attention",
  );
  const lf = await EncoderDecoderModel.fromPretrained(`${FIXTURES}longformer2roberta`);
  await assertRejects(
    () => lf.encode(g.inputs.input_ids, g.inputs.attention_mask, { globalAttentionMask: [[1, 0]] }),
    ModelInputError,
    "global_attention_mask",
  );
});

Deno.test("longformer2roberta gradients (window and global branch) equal central finite differences of the cpu loss (2%)", async () => {
  const g = await goldens("longformer2roberta");
  const globalAttentionMask = g.inputs.attention_mask.map((r: number[]) =>
    r.map((_, i) => (i === 0 ? 1 : 0))
  );
  const args = { ...forwardArgs(g), globalAttentionMask };
  const model = await EncoderDecoderModel.fromPretrained(`${FIXTURES}longformer2roberta`, {
    device: "autograd",
  });
  const out = await model.forward(args);
  out.loss!.backward();
  const params = new Map(model.namedParameters());
  const sd = (await loadStateDict(`${FIXTURES}longformer2roberta`)).tensors;
  const config = model.config;
  const eps = 3e-2;
  for (
    const key of [
      "encoder.encoder.layer.0.attention.self.key.weight",
      "encoder.encoder.layer.1.attention.self.query_global.weight",
      "encoder.encoder.layer.0.attention.self.value_global.bias",
    ]
  ) {
    // the element with the largest gradient: its finite difference stands well above rounding
    const grads = params.get(key)!.grad!;
    let i = 0;
    for (let j = 0; j < grads.size; j++) if (Math.abs(grads.get(j)) > Math.abs(grads.get(i))) i = j;
    const loss = async (delta: number) => {
      const t = sd.get(key)!.toFloat32();
      const data = Float32Array.from(t.data);
      data[i] += delta;
      const changed = new Map(sd);
      changed.set(key, new Tensor("float32", data, t.dims));
      const m = new EncoderDecoderModel(config, { stateDict: changed });
      return (await m.forward(args)).loss!.item();
    };
    const fd = ((await loss(eps)) - (await loss(-eps))) / (2 * eps);
    const grad = grads.get(i);
    assert(Math.abs(grad) > 5e-4, `${key}[${i}]: gradient ${grad} reaches the loss`);
    assert(Math.abs(fd - grad) <= 0.02 * Math.abs(grad), `${key}[${i}]: fd ${fd} vs ${grad}`);
  }
});

Deno.test("longformer: inputsEmbeds (padded to the window with the pad id's embedding) give the ids path's encoder output", async () => {
  const g = await goldens("longformer2roberta");
  const model = await EncoderDecoderModel.fromPretrained(`${FIXTURES}longformer2roberta`);
  const ids: number[] = g.inputs.input_ids[0]; // no padding: positions agree with HF's embeds path
  const table = (await model.stateDict()).get("encoder.embeddings.word_embeddings.weight")!;
  const h = table.dims[1];
  const embeds = new Float32Array(ids.length * h);
  ids.forEach((id, p) => {
    for (let k = 0; k < h; k++) embeds[p * h + k] = table.get(id * h + k);
  });
  const viaIds = await model.forward({ inputIds: [ids], decoderInputIds: [[0]] });
  const viaEmbeds = await model.forward({
    inputsEmbeds: new Tensor("float32", embeds, [1, ids.length, h]),
    decoderInputIds: [[0]],
  });
  assertEquals(viaEmbeds.encoderLastHiddenState!.dims, [1, ids.length, h]);
  assert(
    maxAbs(flat(viaEmbeds.encoderLastHiddenState!), flat(viaIds.encoderLastHiddenState!)) <= 1e-5,
  );
});
