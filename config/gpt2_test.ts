import { assertEquals, assertThrows } from "@std/assert";
import { ConfigError, GPT2Config } from "./mod.ts";
import { readTestJson } from "./_test_util.ts";

Deno.test("GPT2Config() defaults equal HF GPT2Config() (exact values)", () => {
  const c = new GPT2Config();
  assertEquals(c.modelType, "gpt2");
  assertEquals([c.vocabSize, c.nPositions, c.nEmbd, c.nLayer, c.nHead, c.nInner], [
    50257,
    1024,
    768,
    12,
    12,
    null,
  ]);
  assertEquals([c.activationFunction, c.residPdrop, c.embdPdrop, c.attnPdrop], [
    "gelu_new",
    0.1,
    0.1,
    0.1,
  ]);
  assertEquals([c.layerNormEpsilon, c.initializerRange, c.bosTokenId, c.eosTokenId], [
    1e-5,
    0.02,
    50256,
    50256,
  ]);
  assertEquals(
    [c.scaleAttnWeights, c.scaleAttnByInverseLayerIdx, c.reorderAndUpcastAttn, c.useCache],
    [true, false, false, true],
  );
  assertEquals([c.summaryType, c.summaryUseProj, c.summaryFirstDropout], ["cls_index", true, 0.1]);
  // attribute_map aliases and the effective inner size
  assertEquals([c.hiddenSize, c.numHiddenLayers, c.numAttentionHeads, c.maxPositionEmbeddings], [
    768,
    12,
    12,
    1024,
  ]);
  assertEquals(c.innerSize, 3072);
});

Deno.test("GPT2Config.toDict() equals HF's to_dict() of the bert2gpt2 decoder", async () => {
  const golden = (await readTestJson("bert2gpt2/config.json")).decoder;
  const c = new GPT2Config({
    vocabSize: 99,
    nEmbd: 32,
    nLayer: 2,
    nHead: 4,
    nPositions: 64,
    initializerRange: 0.1,
    addCrossAttention: true,
    isDecoder: true,
    bosTokenId: 2,
    eosTokenId: 3,
  });
  const { transformers_version: _, ...dict } = c.toDict();
  assertEquals(dict, golden);
});

Deno.test("GPT2 attribute_map: hidden_size / hiddenSize set n_embd, as HF", () => {
  assertEquals(GPT2Config.fromJSON({ hidden_size: 64, n_head: 4 }).nEmbd, 64);
  const c = new GPT2Config({ hiddenSize: 64, numAttentionHeads: 8, numHiddenLayers: 3 });
  assertEquals([c.nEmbd, c.nHead, c.nLayer], [64, 8, 3]);
  assertEquals(c.toJSON().n_embd, 64);
  assertEquals("hidden_size" in c.toJSON(), false);
  assertEquals(c.withOverrides({ max_position_embeddings: 128 }).nPositions, 128);
});

Deno.test("GPT2: n_embd not divisible by n_head → ConfigError", () => {
  const e = assertThrows(() => GPT2Config.fromJSON({ n_embd: 30, n_head: 4 }), ConfigError);
  assertEquals(
    e.message,
    'config.json: field "n_embd" = 30 is not a multiple of "n_head" = 4; expected n_embd % n_head == 0',
  );
});
