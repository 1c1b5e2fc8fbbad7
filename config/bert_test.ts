import { assertEquals, assertInstanceOf, assertThrows } from "@std/assert";
import { BertConfig, BertGenerationConfig, ConfigError, RobertaConfig } from "./mod.ts";
import { readTestJson } from "./_test_util.ts";

// The sizes of the fixture models' BERT-family configs (tests/testdata/fixtures/generate.py).
const TINY = {
  vocabSize: 99,
  hiddenSize: 32,
  numHiddenLayers: 2,
  numAttentionHeads: 4,
  intermediateSize: 37,
  maxPositionEmbeddings: 64,
  initializerRange: 0.1,
};

function withoutVersion(d: Record<string, unknown>): Record<string, unknown> {
  const { transformers_version: _, ...rest } = d;
  return rest;
}

Deno.test("BertConfig() defaults equal HF BertConfig() (exact values)", () => {
  const c = new BertConfig();
  assertEquals(c.modelType, "bert");
  assertEquals(BertConfig.modelType, "bert");
  assertEquals(
    [c.vocabSize, c.hiddenSize, c.numHiddenLayers, c.numAttentionHeads, c.intermediateSize],
    [30522, 768, 12, 12, 3072],
  );
  assertEquals([c.hiddenAct, c.hiddenDropoutProb, c.attentionProbsDropoutProb], ["gelu", 0.1, 0.1]);
  assertEquals([c.maxPositionEmbeddings, c.typeVocabSize, c.initializerRange], [512, 2, 0.02]);
  assertEquals([c.layerNormEps, c.positionEmbeddingType, c.useCache], [1e-12, "absolute", true]);
  assertEquals([c.padTokenId, c.bosTokenId, c.eosTokenId, c.classifierDropout], [
    0,
    null,
    null,
    null,
  ]);
  assertEquals([c.isDecoder, c.addCrossAttention, c.tieWordEmbeddings], [false, false, true]);
  assertEquals([c.maxLength, c.numBeams, c.earlyStopping, c.topK], [20, 1, false, 50]);
  assertEquals(c.id2label, { "0": "LABEL_0", "1": "LABEL_1" });
  assertEquals(c.label2id, { LABEL_0: 0, LABEL_1: 1 });
  assertEquals(c.numLabels, 2);
});

Deno.test("BertConfig.toDict() equals HF's to_dict() of the fixture encoder (all 70 keys)", async () => {
  // bert2bert/config.json "encoder" is HF BertConfig(vocab 99, hidden 32, ...).to_dict()
  const golden = (await readTestJson("bert2bert/config.json")).encoder as Record<string, unknown>;
  const c = new BertConfig({
    ...TINY,
    padTokenId: 0,
  });
  assertEquals(withoutVersion(c.toDict()), golden);
  const dec = new BertConfig({ ...c, isDecoder: true, addCrossAttention: true });
  const goldenDec = (await readTestJson("bert2bert/config.json")).decoder;
  assertEquals(withoutVersion(dec.toDict()), goldenDec);
});

Deno.test("RobertaConfig defaults (vocab 50265, pad 1, bos 0, eos 2) and fixture to_dict", async () => {
  const r = new RobertaConfig();
  assertEquals(
    [r.vocabSize, r.padTokenId, r.bosTokenId, r.eosTokenId, r.modelType],
    [50265, 1, 0, 2, "roberta"],
  );
  assertEquals([r.hiddenSize, r.typeVocabSize, r.layerNormEps], [768, 2, 1e-12]);
  const golden = (await readTestJson("roberta2roberta/config.json")).encoder;
  const c = new RobertaConfig({ ...TINY, maxPositionEmbeddings: 66, typeVocabSize: 1 });
  assertEquals(withoutVersion(c.toDict()), golden);
  assertEquals(r instanceof BertConfig, false);
});

Deno.test("BertGenerationConfig defaults (vocab 50358, 1024, 24x16, 4096, pad 0, bos 2, eos 1)", async () => {
  const g = new BertGenerationConfig();
  assertEquals(
    [g.vocabSize, g.hiddenSize, g.numHiddenLayers, g.numAttentionHeads, g.intermediateSize],
    [50358, 1024, 24, 16, 4096],
  );
  assertEquals([g.hiddenAct, g.maxPositionEmbeddings, g.padTokenId, g.bosTokenId, g.eosTokenId], [
    "gelu",
    512,
    0,
    2,
    1,
  ]);
  assertEquals("type_vocab_size" in g.toDict(), false);
  const golden = (await readTestJson("bertgeneration/config.json")).decoder;
  const c = new BertGenerationConfig({
    ...TINY,
    vocabSize: 1002,
    padTokenId: 1001,
    bosTokenId: 1,
    eosTokenId: 2,
    isDecoder: true,
    addCrossAttention: true,
  });
  assertEquals(withoutVersion(c.toDict()), golden);
});

Deno.test("standalone BertConfig.toJSON() equals the saved BertModel config.json", async () => {
  const golden = await readTestJson("from-pretrained-parts/encoder/config.json");
  const c = new BertConfig({
    ...TINY,
    architectures: ["BertModel"],
    torchDtype: "float32",
  });
  assertEquals(c.toJSON(), golden);
});

Deno.test("hidden_size not divisible by num_attention_heads → ConfigError naming both fields", () => {
  const e = assertThrows(
    () => new BertConfig({ hiddenSize: 30, numAttentionHeads: 4 }),
    ConfigError,
  );
  assertEquals(
    e.message,
    'new BertConfig(options): field "hidden_size" = 30 is not a multiple of "num_attention_heads" = 4; expected hidden_size % num_attention_heads == 0',
  );
  const e2 = assertThrows(
    () =>
      BertConfig.fromJSON({ hidden_size: 32, num_attention_heads: 5 }, { file: "x/config.json" }),
    ConfigError,
  );
  assertEquals(e2.message.startsWith('x/config.json: field "hidden_size" = 32'), true);
});

Deno.test("wrong type → ConfigError naming file, field path, found value and expectation", () => {
  const e = assertThrows(
    () => BertConfig.fromJSON({ hidden_size: "big" }, { file: "m/config.json" }),
    ConfigError,
  );
  assertEquals(
    e.message,
    'm/config.json: BertConfig field "hidden_size" is string "big"; expected number',
  );
  const e2 = assertThrows(
    () => BertConfig.fromJSON({ num_hidden_layers: 2.5 }, { file: "m/config.json" }),
    ConfigError,
  );
  assertEquals(e2.message.includes('field "num_hidden_layers" is number 2.5; expected int'), true);
  const e3 = assertThrows(
    () => BertConfig.fromJSON({ model_type: "gpt2" }, { file: "m/config.json" }),
    ConfigError,
  );
  assertEquals(
    e3.message,
    'm/config.json: field "model_type" is "gpt2"; expected "bert" for BertConfig',
  );
});

Deno.test("unknown fields survive toDict/toJSON; withOverrides accepts snake and camel keys", () => {
  const c = BertConfig.fromJSON({
    hidden_size: 48,
    my_custom_field: { a: [1, 2] },
    gradient_checkpointing: false,
  });
  assertEquals(c.extra, { my_custom_field: { a: [1, 2] }, gradient_checkpointing: false });
  assertEquals(c.toJSON().my_custom_field, { a: [1, 2] });
  const o = c.withOverrides({ hidden_dropout_prob: 0, isDecoder: true, my_custom_field: 3 });
  assertEquals([o.hiddenDropoutProb, o.isDecoder, o.extra.my_custom_field, o.hiddenSize], [
    0,
    true,
    3,
    48,
  ]);
  assertEquals(c.hiddenDropoutProb, 0.1); // original untouched
  const e = assertThrows(() => c.withOverrides({ start_token_id: 2 }), ConfigError);
  assertEquals(e.message.includes('override "start_token_id" is not a field of BertConfig'), true);
  assertInstanceOf(o, BertConfig);
});

Deno.test("num_labels builds id2label/label2id as HF's num_labels setter", () => {
  const c = BertConfig.fromJSON({ num_labels: 3 });
  assertEquals(c.id2label, { "0": "LABEL_0", "1": "LABEL_1", "2": "LABEL_2" });
  assertEquals(c.numLabels, 3);
  assertEquals("num_labels" in c.toDict(), false);
  assertEquals(c.toJSON().id2label, { "0": "LABEL_0", "1": "LABEL_1", "2": "LABEL_2" });
});

Deno.test("toJSON keeps a common field equal to PretrainedConfig's default but not the class's (HF to_diff_dict)", () => {
  // RobertaConfig's pad default is 1; an explicit null equals PretrainedConfig's default yet must be written
  const r = new RobertaConfig({ padTokenId: null });
  assertEquals(r.toJSON().pad_token_id, null);
  assertEquals(RobertaConfig.fromJSON(r.toJSON()).padTokenId, null);
  // a common field at its default is left out; a model field at its default is written
  const j = new RobertaConfig().toJSON();
  assertEquals(["num_beams" in j, "is_decoder" in j, j.hidden_size, j.pad_token_id], [
    false,
    false,
    768,
    1,
  ]);
});
