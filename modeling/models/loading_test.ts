/**
 * Loading, saving and initialising `EncoderDecoderModel`, and its typed errors on bad input:
 * `from-pretrained-parts` loading report vs HF's, save → load round trips (identical logits and
 * HF's key layout), seeded HF-style init, and bad ids / lengths / batch sizes / weight files.
 */
import { assert, assertEquals, assertRejects, assertThrows } from "@std/assert";
import { ConfigError } from "@encdec/config";
import { EncoderDecoderModel } from "./encoder_decoder.ts";
import { ModelInputError, ModelLoadError } from "./errors.ts";
import { loadStateDict, WeightsError } from "../weights/mod.ts";
import { Tensor } from "../tensor.ts";
import { FIXTURES, forwardArgs, goldens } from "./_test_util.ts";

Deno.test("fromEncoderDecoderPretrained: loading report, classes and copied weights equal HF's from-pretrained-parts goldens", async () => {
  const g = await goldens("from-pretrained-parts");
  const base = `${FIXTURES}from-pretrained-parts/`;
  const model = await EncoderDecoderModel.fromEncoderDecoderPretrained(
    `${base}encoder`,
    `${base}decoder`,
    {
      seed: 1,
    },
  );
  const info = model.partLoadingInfo!;
  assertEquals(info.decoder.missingKeys, g.decoder_loading_info.missing_keys);
  assertEquals(info.decoder.unexpectedKeys, g.decoder_loading_info.unexpected_keys);
  assertEquals(info.encoder, {
    missingKeys: g.encoder_loading_info.missing_keys,
    unexpectedKeys: g.encoder_loading_info.unexpected_keys,
    mismatchedKeys: [],
    newlyInitialized: g.encoder_loading_info.missing_keys,
  });
  // every key of HF's state_dict(), tied aliases included
  assertEquals(model.keyTable.map((s) => s.key).sort(), g.model_state_dict_keys);
  // newly initialised decoder keys (HF compares state-dict names, tied LM-head weight included)
  const notFromCkpt = model.keyTable.map((s) => s.key)
    .filter((k) => k.startsWith("decoder."))
    .filter((k) =>
      model.loadingInfo.missingKeys.includes(k) || k === "decoder.cls.predictions.decoder.weight"
    )
    .map((k) => k.slice("decoder.".length)).sort();
  assertEquals(notFromCkpt, g.decoder_keys_not_from_checkpoint);
  assertEquals(model.config.decoder.isDecoder, g.config["decoder.is_decoder"]);
  assertEquals(model.config.decoder.addCrossAttention, g.config["decoder.add_cross_attention"]);
  assertEquals(model.config.encoder.isDecoder, g.config["encoder.is_decoder"]);
  assertEquals(model.config.decoderStartTokenId, g.config.decoder_start_token_id);
  assertEquals(
    model.generationConfig.padTokenId,
    g.config["model.generation_config"].pad_token_id,
  );
  // copied weights are bit-identical to the part checkpoints
  const sd = await model.stateDict();
  const enc = (await loadStateDict(`${base}encoder`)).tensors;
  const dec = (await loadStateDict(`${base}decoder`)).tensors;
  for (const [k, t] of enc) assertEquals(sd.get(`encoder.${k}`)!.data, t.data, `encoder.${k}`);
  for (const [k, t] of dec) {
    if (k.startsWith("pooler.")) continue; // dropped, as HF
    assertEquals(sd.get(`decoder.bert.${k}`)!.data, t.data, `decoder.bert.${k}`);
  }
});

for (const name of ["bert2bert", "bert2gpt2", "roberta2roberta", "bertgeneration"]) {
  Deno.test(`${name}: savePretrained → fromPretrained gives identical logits and HF's stored key set`, async () => {
    const g = await goldens(name);
    const model = await EncoderDecoderModel.fromPretrained(`${FIXTURES}${name}`);
    const dir = await Deno.makeTempDir();
    try {
      await model.savePretrained(dir);
      const files = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
      assertEquals(files, ["config.json", "generation_config.json", "model.safetensors"]);
      const saved = await loadStateDict(dir);
      const original = await loadStateDict(`${FIXTURES}${name}`);
      assertEquals([...saved.tensors.keys()].sort(), [...original.tensors.keys()].sort());
      const again = await EncoderDecoderModel.fromPretrained(dir);
      assertEquals(
        again.generationConfig.decoderStartTokenId,
        model.generationConfig.decoderStartTokenId,
      );
      const args = forwardArgs(g);
      const a = await model.forward(args), b = await again.forward(args);
      assertEquals(b.logits.data, a.logits.data);
      assertEquals(b.loss!.item(), a.loss!.item());
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

async function fixtureConfig(name: string): Promise<Record<string, unknown>> {
  return JSON.parse(await Deno.readTextFile(`${FIXTURES}${name}/config.json`));
}

Deno.test("new EncoderDecoderModel(config, { seed }): HF init (LayerNorm 1/0, zero biases, pad rows 0, std ≈ initializer_range), seeded", async () => {
  const config = await fixtureConfig("roberta2roberta");
  const a = new EncoderDecoderModel(config, { seed: 7 });
  const b = new EncoderDecoderModel(config, { seed: 7 });
  const c = new EncoderDecoderModel(config, { seed: 8 });
  assertEquals(a.loadingInfo.unexpectedKeys, []);
  assert(a.loadingInfo.missingKeys.includes("encoder.embeddings.word_embeddings.weight"));
  const sa = await a.stateDict(), sb = await b.stateDict(), sc = await c.stateDict();
  const w = sa.get("encoder.embeddings.word_embeddings.weight")!;
  assertEquals(w.data, sb.get("encoder.embeddings.word_embeddings.weight")!.data);
  assert(w.data.some((v, i) => v !== sc.get("encoder.embeddings.word_embeddings.weight")!.data[i]));
  // padding_idx = 1: word and position embedding rows zeroed (RoBERTa)
  const H = 32;
  assert(w.data.subarray(H, 2 * H).every((v) => v === 0));
  const pos = sa.get("encoder.embeddings.position_embeddings.weight")!;
  assert(pos.data.subarray(H, 2 * H).every((v) => v === 0));
  // std of a big matrix ≈ initializer_range (0.1) within 10 %
  const q = sa.get("decoder.roberta.encoder.layer.0.intermediate.dense.weight")!
    .data as Float32Array;
  const mean = q.reduce((s, v) => s + v, 0) / q.length;
  const std = Math.sqrt(q.reduce((s, v) => s + (v - mean) ** 2, 0) / q.length);
  assert(Math.abs(std - 0.1) < 0.01, `std ${std}`);
  for (const [k, t] of sa) {
    if (k.endsWith("LayerNorm.weight") || k.endsWith("layer_norm.weight")) {
      assert((t.data as Float32Array).every((v) => v === 1), k);
    } else if (k.endsWith(".bias")) assert((t.data as Float32Array).every((v) => v === 0), k);
  }
  // it runs: logits [1, 2, 99], finite
  const out = await a.forward({ inputIds: [[0, 5, 2]], decoderInputIds: [[0, 7]] });
  assertEquals(out.logits.dims, [1, 2, 99]);
  assert((out.logits.data as Float32Array).every(Number.isFinite));
});

Deno.test("enc_to_dec_proj is created when encoder and decoder widths differ (keys and shape)", async () => {
  const config = await fixtureConfig("bert2gpt2");
  const dec = { ...(config.decoder as Record<string, unknown>), n_embd: 16, n_head: 2 };
  const model = new EncoderDecoderModel({ ...config, decoder: dec }, { seed: 3 });
  const spec = model.keyTable.find((s) => s.key === "enc_to_dec_proj.weight");
  assertEquals(spec?.shape, [16, 32]);
  const out = await model.forward({ inputIds: [[2, 5, 3]], decoderInputIds: [[2, 9]] });
  assertEquals(out.logits.dims, [1, 2, 99]);
  assertEquals(out.encoderLastHiddenState!.dims, [1, 3, 32]);
});

Deno.test("bad input: typed errors naming the value and what was expected", async () => {
  const model = await EncoderDecoderModel.fromPretrained(`${FIXTURES}bert2bert`);
  const e1 = await assertRejects(
    () => model.forward({ inputIds: [[2, 99, 3]], decoderInputIds: [[2]] }),
    ModelInputError,
  );
  assert(e1.message.includes("= 99") && e1.message.includes("[0, 99)"), e1.message);
  await assertRejects(
    () => model.forward({ inputIds: [[2, 5, 3]], decoderInputIds: [[2, -1]] }),
    ModelInputError,
    "decoder input_ids[0][1] = -1",
  );
  await assertRejects(
    () => model.forward({ inputIds: [Array(65).fill(5)], decoderInputIds: [[2]] }),
    ModelInputError,
    "longer than max_position_embeddings = 64",
  );
  await assertRejects(
    () =>
      model.forward({
        inputIds: [[2, 5], [2, 6]],
        attentionMask: [[1, 1]],
        decoderInputIds: [[2], [2]],
      }),
    ModelInputError,
    "input_ids vs attention_mask (2 vs 1)",
  );
  await assertRejects(
    () => model.forward({ inputIds: [[2, 5], [2, 6]], decoderInputIds: [[2]] }),
    ModelInputError,
    "decoder inputs vs encoder inputs (1 vs 2)",
  );
  await assertRejects(
    () => model.forward({ inputIds: [[2, 5]], labels: [[5, 100]] }),
    ModelInputError,
    "labels[0][1] = 100",
  );
  await assertRejects(
    () => model.forward({ inputIds: [[2, 5], [3]], decoderInputIds: [[2]] }),
    ModelInputError,
    "row 1 has 1 items",
  );
  await assertRejects(
    () => model.forward({ inputIds: [[2, 5]], attentionMask: [[1, 2]], decoderInputIds: [[2]] }),
    ModelInputError,
    "attention_mask[0][1] = 2, expected 0 or 1",
  );
  const state = await model.encode([[2, 5, 3]], [[1, 1, 1]]);
  await assertRejects(() => model.decodeStep(state, [[2], [2]], null), ModelInputError, "(2 vs 1)");
  const { cache } = await model.decodeStep(state, [[2]], null);
  assertThrows(() => model.reorderCache(cache, [1]), ModelInputError, "row 1 is outside");
});

Deno.test("labels without decoder_start_token_id / pad_token_id: typed error as HF", async () => {
  const config = await fixtureConfig("bert2bert");
  const model = new EncoderDecoderModel({ ...config, decoder_start_token_id: null }, { seed: 1 });
  await assertRejects(
    () => model.forward({ inputIds: [[2, 5, 3]], labels: [[5, 3]] }),
    ModelInputError,
    "decoder_start_token_id is not set",
  );
  const noPad = new EncoderDecoderModel({ ...config, pad_token_id: null }, { seed: 1 });
  await assertRejects(
    () => noPad.forward({ inputIds: [[2, 5, 3]], labels: [[5, 3]] }),
    ModelInputError,
    "pad_token_id is not set",
  );
});

Deno.test("corrupted or mismatched weights: typed errors naming the file/key, no model returned", async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (const f of ["config.json", "generation_config.json"]) {
      await Deno.copyFile(`${FIXTURES}bert2bert/${f}`, `${dir}/${f}`);
    }
    const bytes = await Deno.readFile(`${FIXTURES}bert2bert/model.safetensors`);
    await Deno.writeFile(`${dir}/model.safetensors`, bytes.subarray(0, bytes.length - 100));
    await assertRejects(() => EncoderDecoderModel.fromPretrained(dir), WeightsError);
    // a config whose vocab disagrees with the weights: shape mismatch names the key
    const config = JSON.parse(await Deno.readTextFile(`${FIXTURES}bert2bert/config.json`));
    config.encoder.vocab_size = 98;
    await Deno.writeFile(`${dir}/model.safetensors`, bytes);
    await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(config));
    await assertRejects(
      () => EncoderDecoderModel.fromPretrained(dir),
      ModelLoadError,
      `tensor "encoder.embeddings.word_embeddings.weight" has shape [99, 32], expected [98, 32]`,
    );
    config.encoder.model_type = "t5";
    await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(config));
    await assertRejects(() => EncoderDecoderModel.fromPretrained(dir), ConfigError, `"t5"`);
    // GPT-2 is a decoder only here
    const gpt2 = JSON.parse(await Deno.readTextFile(`${FIXTURES}bert2gpt2/config.json`));
    assertThrows(
      () => new EncoderDecoderModel({ ...gpt2, encoder: gpt2.decoder }),
      ModelLoadError,
      `config.encoder.model_type "gpt2" is not supported as encoder`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("subclasses: static factories construct the subclass (new this)", async () => {
  class Sub extends EncoderDecoderModel {
    hello(): string {
      return "sub";
    }
  }
  const m = await Sub.fromPretrained(`${FIXTURES}bert2gpt2`);
  assert(m instanceof Sub);
  assertEquals(m.hello(), "sub");
});

Deno.test("inputsEmbeds / decoderInputsEmbeds = word-embedding rows give the same logits as ids (1e-6)", async () => {
  const model = await EncoderDecoderModel.fromPretrained(`${FIXTURES}bert2bert`);
  const sd = await model.stateDict();
  const embed = (key: string, ids: number[]) => {
    const w = sd.get(key)!;
    const H = w.dims[1];
    const out = new Float32Array(ids.length * H);
    ids.forEach((id, i) => out.set((w.data as Float32Array).subarray(id * H, (id + 1) * H), i * H));
    return new Tensor("float32", out, [1, ids.length, H]);
  };
  const src = [2, 65, 53, 3], tgt = [2, 88, 54];
  const a = await model.forward({ inputIds: [src], decoderInputIds: [tgt] });
  const b = await model.forward({
    inputsEmbeds: embed("encoder.embeddings.word_embeddings.weight", src),
    decoderInputsEmbeds: embed("decoder.bert.embeddings.word_embeddings.weight", tgt),
  });
  for (let i = 0; i < a.logits.size; i++) {
    assert(Math.abs(a.logits.get(i) - b.logits.get(i)) <= 1e-6, `logit ${i}`);
  }
});

Deno.test("dtype float16 on a half checkpoint gives the same logits as the default float32 upcast (exact)", async () => {
  const g = await goldens("bert2bert-fp16");
  const args = forwardArgs(g);
  const a = await (await EncoderDecoderModel.fromPretrained(`${FIXTURES}bert2bert-fp16`)).forward(
    args,
  );
  const half = await EncoderDecoderModel.fromPretrained(`${FIXTURES}bert2bert-fp16`, {
    dtype: "float16",
  });
  const b = await half.forward(args);
  assertEquals(b.logits.data, a.logits.data);
});

Deno.test("savePretrained({ maxShardSize }) writes shards + index; loading them gives identical logits", async () => {
  const model = await EncoderDecoderModel.fromPretrained(`${FIXTURES}bert2bert`);
  const dir = await Deno.makeTempDir();
  try {
    await model.savePretrained(dir, { maxShardSize: 60_000 });
    const files = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assert(files.includes("model.safetensors.index.json"), files.join());
    assert(
      files.filter((f) => /^model-\d{5}-of-\d{5}\.safetensors$/.test(f)).length >= 2,
      files.join(),
    );
    const again = await EncoderDecoderModel.fromPretrained(dir);
    const args = { inputIds: [[2, 65, 53, 3]], decoderInputIds: [[2, 88, 54]] };
    assertEquals((await again.forward(args)).logits.data, (await model.forward(args)).logits.data);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("too long for the position table: RoBERTa (padding_idx offset) and GPT-2 n_positions name the limit", async () => {
  const roberta = await EncoderDecoderModel.fromPretrained(`${FIXTURES}roberta2roberta`);
  // 64 tokens fit (positions 2..65 < 66); 65 do not
  const ok = await roberta.forward({ inputIds: [Array(64).fill(5)], decoderInputIds: [[0]] });
  assertEquals(ok.encoderLastHiddenState!.dims, [1, 64, 32]);
  await assertRejects(
    () => roberta.forward({ inputIds: [Array(65).fill(5)], decoderInputIds: [[0]] }),
    ModelInputError,
    "position id 66 of input_ids[0][64]",
  );
  const gpt2 = await EncoderDecoderModel.fromPretrained(`${FIXTURES}bert2gpt2`);
  await assertRejects(
    () => gpt2.forward({ inputIds: [[2, 3]], decoderInputIds: [Array(65).fill(5)] }),
    ModelInputError,
    "65 positions is longer than n_positions = 64",
  );
});
