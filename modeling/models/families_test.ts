/**
 * The families of issue 16 beyond their goldens (those run in `encoder_decoder_test.ts` and
 * `tests/generation_golden_test.ts`): save → load round trips per family (HF's saved key set,
 * identical logits), `tie_encoder_decoder` for every family (stored once, loaded into both sides),
 * bf16 checkpoints, `fromEncoderDecoderPretrained` across families (XLM-R encoder + GPT-2
 * decoder) with HF's report of newly initialised keys, `tie_encoder_decoder` from two parts,
 * checkpoint buffers ignored as HF does, DistilBERT's sinusoidal position table, CamemBERT's
 * registry line, and training on the autograd device (gradients reach every used parameter).
 * Longformer's own known answers live in `longformer_test.ts`.
 */
import { assert, assertEquals, assertNotEquals } from "@std/assert";
import {
  AutoConfig,
  type EncoderDecoderConfig,
  GPT2Config,
  XLMRobertaConfig,
} from "@encdec/config";
import { EncoderDecoderModel } from "./encoder_decoder.ts";
import { loadStateDict, readSafetensors } from "../weights/mod.ts";
import { saveSafetensorsFile } from "../weights/safetensors.ts";
import { Tensor } from "../tensor.ts";
import { FAMILY_MODELS, FIXTURES, forwardArgs, goldens, maxDiff } from "./_test_util.ts";
import { withTempDir } from "../../testing/fs.ts";

/** Keys of a saved `model.safetensors`. */
async function savedKeys(dir: string): Promise<string[]> {
  const st = readSafetensors(await Deno.readFile(`${dir}/model.safetensors`));
  return [...st.tensors.keys()].sort();
}

function flat(t: Tensor): number[] {
  return Array.from({ length: t.size }, (_, i) => t.get(i));
}

for (const name of FAMILY_MODELS) {
  Deno.test(`${name}: savePretrained → fromPretrained keeps HF's saved key set and gives identical logits`, async () => {
    const g = await goldens(name);
    const model = await EncoderDecoderModel.fromPretrained(`${FIXTURES}${name}`);
    const before = await model.forward(forwardArgs(g));
    await withTempDir(async (dir) => {
      await model.savePretrained(dir);
      // Python's save_pretrained stores these keys (bert2bert-shared: the shared weights once,
      // under decoder.bert.*; tied LM-head weights nowhere)
      assertEquals(await savedKeys(dir), await savedKeys(`${FIXTURES}${name}`));
      const again = await EncoderDecoderModel.fromPretrained(dir);
      assertEquals(again.loadingInfo.missingKeys, []);
      assertEquals(again.loadingInfo.unexpectedKeys, []);
      const after = await again.forward(forwardArgs(g));
      assertEquals(flat(after.logits), flat(before.logits));
      assertEquals(after.loss!.item(), before.loss!.item());
    });
  });
}

Deno.test("bert2bert-shared: the encoder runs on the decoder's base weights (one tensor, stored once)", async () => {
  const model = await EncoderDecoderModel.fromPretrained(`${FIXTURES}bert2bert-shared`);
  const file = (await loadStateDict(`${FIXTURES}bert2bert-shared`)).tensors;
  assert(!file.has("encoder.embeddings.word_embeddings.weight"));
  const tied = model.keyTable.find((s) => s.key === "encoder.encoder.layer.1.output.dense.weight");
  assertEquals(tied?.tiedTo, "decoder.bert.encoder.layer.1.output.dense.weight");
  // the pooler has no decoder counterpart: stored for the encoder
  assert(file.has("encoder.pooler.dense.weight"));
  assertEquals(
    model.keyTable.find((s) => s.key === "encoder.pooler.dense.weight")?.tiedTo,
    undefined,
  );
});

/** The fixture's config with `tie_encoder_decoder` turned on. */
async function tiedConfig(name: string): Promise<EncoderDecoderConfig> {
  const json = JSON.parse(await Deno.readTextFile(`${FIXTURES}${name}/config.json`));
  return AutoConfig.fromJSON({ ...json, tie_encoder_decoder: true }) as EncoderDecoderConfig;
}

for (
  const [name, shared] of [
    ["xlmr2xlmr", "decoder.roberta.encoder.layer.0.attention.self.query.weight"],
    ["electra2electra", "decoder.electra.embeddings_project.weight"],
    ["longformer2roberta", "decoder.roberta.encoder.layer.1.intermediate.dense.weight"],
    ["distilbert2bert", null],
  ] as const
) {
  Deno.test(`${name} with tie_encoder_decoder: encoder keys matching the decoder's base model share its tensors, are stored once and round-trip`, async () => {
    const g = await goldens(name);
    const sd = (await loadStateDict(`${FIXTURES}${name}`)).tensors;
    const model = new EncoderDecoderModel(await tiedConfig(name), { stateDict: sd });
    const saved = await model.stateDict();
    const encTied = model.keyTable.filter((s) => s.key.startsWith("encoder.") && s.tiedTo)
      .map((s) => s.key);
    if (shared === null) {
      // HF ties module by module where the names match: DistilBERT's embeddings (word,
      // position, LayerNorm) match BERT's, its transformer.layer.* blocks have no counterpart
      assertEquals(encTied.sort(), [
        "encoder.embeddings.LayerNorm.bias",
        "encoder.embeddings.LayerNorm.weight",
        "encoder.embeddings.position_embeddings.weight",
        "encoder.embeddings.word_embeddings.weight",
      ]);
      assertEquals(saved.size, sd.size - 4);
    } else {
      const enc = `encoder.${shared.split(".").slice(2).join(".")}`;
      assertEquals(model.keyTable.find((s) => s.key === enc)?.tiedTo, shared);
      assert(!saved.has(enc), `${enc} is stored once, under ${shared}`);
      // the encoder runs on the decoder's tensor (HF re-ties after loading)
      assertEquals(flat(saved.get(shared)!), flat(sd.get(shared)!));
    }
    assertEquals(model.loadingInfo.missingKeys, []);
    assertEquals(model.loadingInfo.unexpectedKeys, []);
    for (const k of encTied) assert(!saved.has(k), `${k} stored once`);
    // Longformer's global projections have no RoBERTa counterpart and stay the encoder's own
    if (name === "longformer2roberta") {
      assert(saved.has("encoder.encoder.layer.0.attention.self.query_global.weight"));
    }
    await withTempDir(async (dir) => {
      await model.savePretrained(dir);
      const again = await EncoderDecoderModel.fromPretrained(dir);
      assertEquals(again.loadingInfo.missingKeys, []);
      const a = await model.forward(forwardArgs(g));
      const b = await again.forward(forwardArgs(g));
      assertEquals(flat(b.logits), flat(a.logits));
    });
  });
}

Deno.test("bert2bert-bf16: BF16 safetensors load upcast to float32 (goldens from the bf16-rounded weights, 1e-4)", async () => {
  const g = await goldens("bert2bert-bf16");
  const sd = (await loadStateDict(`${FIXTURES}bert2bert-bf16`)).tensors;
  assertEquals(sd.get("encoder.embeddings.word_embeddings.weight")!.dtype, "bfloat16");
  const model = await EncoderDecoderModel.fromPretrained(`${FIXTURES}bert2bert-bf16`);
  assertEquals(model.config.torchDtype, "bfloat16");
  const out = await model.forward(forwardArgs(g));
  assert(maxDiff(out.logits, g.forward.logits, "logits") <= 1e-4);
  // bf16 rounding changes the outputs: the bert2bert goldens are not these
  const fp32 = await goldens("bert2bert");
  assert(maxDiff(out.logits, fp32.forward.logits, "logits vs fp32") > 1e-3);
});

Deno.test("bert2bert-bf16 with dtype bfloat16: weights kept in bf16 on the device give the same goldens (1e-4)", async () => {
  const g = await goldens("bert2bert-bf16");
  const model = await EncoderDecoderModel.fromPretrained(`${FIXTURES}bert2bert-bf16`, {
    dtype: "bfloat16",
  });
  const out = await model.forward(forwardArgs(g));
  assert(Math.abs(out.loss!.item() - g.forward.loss) <= 1e-4);
  assert(maxDiff(out.logits, g.forward.logits, "logits") <= 1e-4);
});

// ---- composition across families --------------------------------------------------------------

/** Writes a part checkpoint (config.json + model.safetensors) from `sd` under `prefix`. */
async function writePart(
  dir: string,
  config: { savePretrained(dir: string): Promise<void> },
  sd: Map<string, Tensor>,
  prefix: string,
  skip: (k: string) => boolean = () => false,
): Promise<Map<string, Tensor>> {
  const part = new Map<string, Tensor>();
  for (const [k, t] of sd) {
    if (k.startsWith(prefix) && !skip(k)) part.set(k.slice(prefix.length), t);
  }
  await config.savePretrained(dir);
  await saveSafetensorsFile(`${dir}/model.safetensors`, part);
  return part;
}

Deno.test("fromEncoderDecoderPretrained: an XLM-R encoder with a GPT-2 decoder, cross-attention newly initialised and reported as HF does", async () => {
  const xlmr = (await loadStateDict(`${FIXTURES}xlmr2xlmr`)).tensors;
  const gpt2 = (await loadStateDict(`${FIXTURES}bert2gpt2`)).tensors;
  const cfg = JSON.parse(await Deno.readTextFile(`${FIXTURES}bert2gpt2/config.json`));
  const xcfg = JSON.parse(await Deno.readTextFile(`${FIXTURES}xlmr2xlmr/config.json`));
  await withTempDir(async (dir) => {
    // an XLMRobertaModel checkpoint (no prefix) and a GPT2Model one without cross-attention
    const encSd = await writePart(
      `${dir}/enc`,
      XLMRobertaConfig.fromJSON(xcfg.encoder),
      xlmr,
      "encoder.",
    );
    const gcfg = GPT2Config.fromJSON({
      ...cfg.decoder,
      add_cross_attention: false,
      is_decoder: false,
    });
    const decSd = await writePart(
      `${dir}/dec`,
      gcfg,
      gpt2,
      "decoder.transformer.",
      (k) => /crossattention|ln_cross_attn/.test(k),
    );
    const model = await EncoderDecoderModel.fromEncoderDecoderPretrained(
      `${dir}/enc`,
      `${dir}/dec`,
      {},
      { seed: 3 },
    );
    assertEquals(model.config.encoder.modelType, "xlm-roberta");
    assertEquals(model.config.decoder.modelType, "gpt2");
    assertEquals(model.config.decoder.addCrossAttention, true);
    const info = model.partLoadingInfo!;
    assertEquals(info.encoder.missingKeys, []);
    assertEquals(info.encoder.unexpectedKeys, []);
    // HF's GPT2LMHeadModel.from_pretrained(dec, add_cross_attention=True): the new
    // cross-attention blocks, named as in the part checkpoint (base prefix added: transformer.)
    const want: string[] = [];
    for (let i = 0; i < 2; i++) {
      want.push(
        `h.${i}.crossattention.c_attn.bias`,
        `h.${i}.crossattention.c_attn.weight`,
        `h.${i}.crossattention.c_proj.bias`,
        `h.${i}.crossattention.c_proj.weight`,
        `h.${i}.crossattention.q_attn.bias`,
        `h.${i}.crossattention.q_attn.weight`,
        `h.${i}.ln_cross_attn.bias`,
        `h.${i}.ln_cross_attn.weight`,
      );
    }
    assertEquals(info.decoder.missingKeys, want.sort());
    assertEquals(info.decoder.unexpectedKeys, []);
    // copied weights are the part checkpoints' tensors
    const sd = await model.stateDict();
    for (const [k, t] of encSd) assertEquals(flat(sd.get(`encoder.${k}`)!), flat(t), k);
    const wte = sd.get("decoder.transformer.wte.weight")!;
    assertEquals(flat(wte), flat(decSd.get("wte.weight")!));
    // and the composite runs and round-trips
    const ids = [[0, 17, 250, 33, 2], [0, 999, 5, 2, 1]];
    const mask = [[1, 1, 1, 1, 1], [1, 1, 1, 1, 0]];
    const out = await model.forward({
      inputIds: ids,
      attentionMask: mask,
      decoderInputIds: [[2, 5, 6], [2, 7, 3]],
    });
    assertEquals(out.logits.dims, [2, 3, 99]);
    await model.savePretrained(`${dir}/joint`);
    const again = await EncoderDecoderModel.fromPretrained(`${dir}/joint`);
    assertEquals(again.loadingInfo.missingKeys, []);
    const out2 = await again.forward({
      inputIds: ids,
      attentionMask: mask,
      decoderInputIds: [[2, 5, 6], [2, 7, 3]],
    });
    assertEquals(flat(out2.logits), flat(out.logits));
  });
});

Deno.test("fromEncoderDecoderPretrained with tie_encoder_decoder (the roberta_shared recipe) on XLM-R parts: one set of weights, saved once", async () => {
  const xlmr = (await loadStateDict(`${FIXTURES}xlmr2xlmr`)).tensors;
  const xcfg = JSON.parse(await Deno.readTextFile(`${FIXTURES}xlmr2xlmr/config.json`));
  await withTempDir(async (dir) => {
    await writePart(`${dir}/part`, XLMRobertaConfig.fromJSON(xcfg.encoder), xlmr, "encoder.");
    const model = await EncoderDecoderModel.fromEncoderDecoderPretrained(
      `${dir}/part`,
      `${dir}/part`,
      { tie_encoder_decoder: true },
    );
    assertEquals(model.config.tieEncoderDecoder, true);
    const sd = await model.stateDict();
    // the encoder's embeddings and layers are the decoder's base model; only the pooler is its own
    assertEquals([...sd.keys()].filter((k) => k.startsWith("encoder.")).sort(), [
      "encoder.pooler.dense.bias",
      "encoder.pooler.dense.weight",
    ]);
    // both sides hold the part's weights (the decoder loaded them under roberta.)
    const key = "encoder.layer.1.attention.self.value.weight";
    assertEquals(flat(sd.get(`decoder.roberta.${key}`)!), flat(xlmr.get(`encoder.${key}`)!));
    await model.savePretrained(`${dir}/shared`);
    assertEquals((await savedKeys(`${dir}/shared`)).filter((k) => k.startsWith("encoder.")), [
      "encoder.pooler.dense.bias",
      "encoder.pooler.dense.weight",
    ]);
    const again = await EncoderDecoderModel.fromPretrained(`${dir}/shared`);
    assertEquals(again.loadingInfo.missingKeys, []);
    const ids = [[0, 17, 250, 33, 2]];
    const a = await model.forward({ inputIds: ids, decoderInputIds: [[0, 5]] });
    const b = await again.forward({ inputIds: ids, decoderInputIds: [[0, 5]] });
    assertEquals(flat(b.logits), flat(a.logits));
  });
});

// ---- DistilBERT sinusoidal positions -----------------------------------------------------------

Deno.test("distilbert sinusoidal_pos_embds: a missing position table is HF's sinusoidal one; a stored one is loaded", async () => {
  const json = JSON.parse(await Deno.readTextFile(`${FIXTURES}distilbert2bert/config.json`));
  json.encoder.sinusoidal_pos_embds = true;
  const config = AutoConfig.fromJSON(json) as EncoderDecoderConfig;
  const sd = (await loadStateDict(`${FIXTURES}distilbert2bert`)).tensors;
  const key = "encoder.embeddings.position_embeddings.weight";
  const without = new Map([...sd].filter(([k]) => k !== key));
  const model = new EncoderDecoderModel(config, { stateDict: without });
  assertEquals(model.loadingInfo.missingKeys, [key]);
  const pos = (await model.stateDict()).get(key)!;
  const dim = 32;
  // create_sinusoidal_embeddings: sin on even columns, cos on odd ones of pos / 10000^(2⌊j/2⌋/dim)
  for (const [p, j] of [[0, 0], [0, 1], [1, 0], [1, 1], [5, 6], [63, 31]]) {
    const angle = p / Math.pow(10000, (2 * Math.floor(j / 2)) / dim);
    const want = j % 2 === 0 ? Math.sin(angle) : Math.cos(angle);
    assert(
      Math.abs(pos.get(p * dim + j) - want) < 1e-6,
      `[${p}][${j}] ${pos.get(p * dim + j)} vs ${want}`,
    );
  }
  const loaded = new EncoderDecoderModel(config, { stateDict: sd });
  assertEquals(loaded.loadingInfo.missingKeys, []);
  assertNotEquals(flat((await loaded.stateDict()).get(key)!), flat(pos));
});

// ---- training ----------------------------------------------------------------------------------

for (
  const [name, unused] of [
    ["xlmr2xlmr", ["encoder.pooler.dense.bias", "encoder.pooler.dense.weight"]],
    ["electra2electra", []],
    ["distilbert2bert", []],
    // without global tokens the global projections take no part, as in HF
    [
      "longformer2roberta",
      [0, 1].flatMap((i) =>
        ["query", "key", "value"].flatMap((p) =>
          ["bias", "weight"].map((k) =>
            `encoder.encoder.layer.${i}.attention.self.${p}_global.${k}`
          )
        )
      ).concat(["encoder.pooler.dense.bias", "encoder.pooler.dense.weight"]),
    ],
  ] as const
) {
  Deno.test(`${name} on the autograd device: HF's loss (eval mode), and a gradient for every parameter the loss reaches`, async () => {
    const g = await goldens(name);
    const model = await EncoderDecoderModel.fromPretrained(`${FIXTURES}${name}`, {
      device: "autograd",
    });
    const out = await model.forward(forwardArgs(g));
    assert(Math.abs(out.loss!.item() - g.forward.loss) <= 1e-4);
    out.loss!.backward();
    const noGrad = [...model.namedParameters()].filter(([, p]) => !p.grad).map(([k]) => k);
    assertEquals(noGrad.sort(), [...unused].sort());
  });
}

Deno.test("camembert: xlmr2xlmr's weights under model_type camembert (same architecture and keys as HF's) give its goldens (1e-4)", async () => {
  const g = await goldens("xlmr2xlmr");
  const json = JSON.parse(await Deno.readTextFile(`${FIXTURES}xlmr2xlmr/config.json`));
  json.encoder.model_type = "camembert";
  json.decoder.model_type = "camembert";
  const config = AutoConfig.fromJSON(json) as EncoderDecoderConfig;
  assertEquals(config.encoder.constructor.name, "CamembertConfig");
  const sd = (await loadStateDict(`${FIXTURES}xlmr2xlmr`)).tensors;
  const model = new EncoderDecoderModel(config, { stateDict: sd });
  assertEquals(model.loadingInfo.missingKeys, []);
  assertEquals(model.loadingInfo.unexpectedKeys, []);
  assertEquals(model.encoder.constructor.name, "CamembertModel");
  const out = await model.forward(forwardArgs(g));
  assert(Math.abs(out.loss!.item() - g.forward.loss) <= 1e-4);
  assert(maxDiff(out.logits, g.forward.logits, "logits") <= 1e-4);
});

Deno.test("buffers older checkpoints store (embeddings.position_ids / token_type_ids) are ignored as HF ignores them, for every family; real unexpected keys are still reported", async () => {
  for (
    const name of [
      "bert2bert",
      "xlmr2xlmr",
      "electra2electra",
      "distilbert2bert",
      "longformer2roberta",
    ]
  ) {
    const sd = new Map((await loadStateDict(`${FIXTURES}${name}`)).tensors);
    const config = (await EncoderDecoderModel.fromPretrained(`${FIXTURES}${name}`)).config;
    const decBase = name.startsWith("xlmr") || name.startsWith("longformer")
      ? "roberta"
      : name.startsWith("electra")
      ? "electra"
      : "bert";
    const buffer = new Tensor("int32", Int32Array.from({ length: 9 }, (_, i) => i), [1, 9]);
    sd.set("encoder.embeddings.position_ids", buffer);
    sd.set(`decoder.${decBase}.embeddings.position_ids`, buffer);
    sd.set(`decoder.${decBase}.embeddings.token_type_ids`, buffer);
    sd.set("encoder.not_a_weight", buffer);
    const model = new EncoderDecoderModel(config, { stateDict: sd });
    assertEquals(model.loadingInfo.unexpectedKeys, ["encoder.not_a_weight"], name);
  }
});
