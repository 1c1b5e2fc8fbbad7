import { assertEquals, assertInstanceOf, assertRejects, assertThrows } from "@std/assert";
import {
  AutoConfig,
  BertConfig,
  BertGenerationConfig,
  CamembertConfig,
  ConfigError,
  DistilBertConfig,
  ElectraConfig,
  EncoderDecoderConfig,
  GenerationConfig,
  GPT2Config,
  LongformerConfig,
  type ModelConfig,
  RobertaConfig,
  splitEncoderDecoderKwargs,
  XLMRobertaConfig,
} from "./mod.ts";
import { MODELS, readTestJson, testdata } from "./_test_util.ts";

for (const model of MODELS) {
  Deno.test(`${model}/config.json loads and toJSON() deep-equals the file`, async () => {
    const golden = await readTestJson(`${model}/config.json`);
    const c = await EncoderDecoderConfig.fromPretrained(testdata(model));
    assertInstanceOf(c, EncoderDecoderConfig);
    assertEquals(c.isEncoderDecoder, true);
    assertEquals(c.decoder.isDecoder, true);
    assertEquals(c.decoder.addCrossAttention, true);
    assertEquals(c.encoder.isDecoder, false);
    assertEquals(c.toJSON(), golden);
    // and again through a fresh parse of our own output
    assertEquals(EncoderDecoderConfig.fromJSON(c.toJSON()).toJSON(), golden);
  });
}

/** Rebuilds a sub-config as the generator built it (decoder flags as passed to HF). */
function subConfig(dict: Record<string, unknown>, flags: boolean): ModelConfig {
  const c = AutoConfig.fromJSON(dict) as ModelConfig;
  assertInstanceOf(
    c,
    {
      bert: BertConfig,
      roberta: RobertaConfig,
      "bert-generation": BertGenerationConfig,
      gpt2: GPT2Config,
      "xlm-roberta": XLMRobertaConfig,
      camembert: CamembertConfig,
      electra: ElectraConfig,
      distilbert: DistilBertConfig,
      longformer: LongformerConfig,
    }[
      c.modelType as "bert"
    ],
  );
  return c.withOverrides({ is_decoder: flags, add_cross_attention: flags });
}

for (const model of MODELS) {
  Deno.test(`${model}: fromEncoderDecoderConfigs composes config.json as HF did`, async () => {
    const golden = await readTestJson(`${model}/config.json`);
    const enc = subConfig(golden.encoder as Record<string, unknown>, false);
    // bert2bert passes is_decoder/add_cross_attention itself; composition must set them anyway
    const dec = subConfig(golden.decoder as Record<string, unknown>, false);
    const cfg = EncoderDecoderConfig.fromEncoderDecoderConfigs(enc, dec, {
      tieEncoderDecoder: golden.tie_encoder_decoder === true ? true : undefined,
    });
    assertEquals(dec.isDecoder, false, "input config must not be mutated");
    // generate.py: set_gen_ids(...) then save_pretrained adds architectures + torch_dtype
    cfg.decoderStartTokenId = golden.decoder_start_token_id as number;
    cfg.eosTokenId = golden.eos_token_id as number;
    cfg.padTokenId = golden.pad_token_id as number;
    cfg.bosTokenId = golden.bos_token_id as number;
    cfg.vocabSize = golden.vocab_size as number;
    cfg.architectures = ["EncoderDecoderModel"];
    cfg.torchDtype = golden.torch_dtype as string;
    assertEquals(cfg.toJSON(), golden);
  });
}

Deno.test("fromEncoderDecoderConfigs takes top-level overrides in snake or camel case", () => {
  const b = new BertConfig({ vocabSize: 99, hiddenSize: 32, numAttentionHeads: 4 });
  const cfg = EncoderDecoderConfig.fromEncoderDecoderConfigs(b, b, {
    decoder_start_token_id: 2,
    padTokenId: 0,
    eosTokenId: 3,
    tie_encoder_decoder: true,
  });
  assertEquals(
    [cfg.decoderStartTokenId, cfg.padTokenId, cfg.eosTokenId, cfg.tieEncoderDecoder],
    [2, 0, 3, true],
  );
  assertEquals(cfg.vocabSize, 99); // falls back to the decoder's
  assertEquals("vocab_size" in cfg.toJSON(), false);
  assertEquals(cfg.encoder.isDecoder, false);
  assertEquals(cfg.decoder.isDecoder && cfg.decoder.addCrossAttention, true);
});

Deno.test("splitEncoderDecoderKwargs routes like HF from_encoder_decoder_pretrained", () => {
  assertEquals(
    splitEncoderDecoderKwargs({
      encoder_hidden_dropout_prob: 0,
      decoderNumHiddenLayers: 1,
      encoderAttentionProbsDropoutProb: 0.2,
      pad_token_id: 0,
      tieEncoderDecoder: true,
      // HF quirks: both go to a sub-config with the prefix cut off
      decoder_start_token_id: 2,
      encoder_no_repeat_ngram_size: 3,
    }),
    {
      encoder: {
        hidden_dropout_prob: 0,
        attention_probs_dropout_prob: 0.2,
        no_repeat_ngram_size: 3,
      },
      decoder: { num_hidden_layers: 1, start_token_id: 2 },
      top: { pad_token_id: 0, tie_encoder_decoder: true },
    },
  );
  assertEquals(splitEncoderDecoderKwargs({ decoderStartTokenId: 1 }).decoder, {
    start_token_id: 1,
  });
});

Deno.test("fromEncoderDecoderPretrained matches the from-pretrained-parts goldens", async () => {
  const g = (await readTestJson("from-pretrained-parts/goldens.json")).config as Record<
    string,
    unknown
  >;
  const cfg = await EncoderDecoderConfig.fromEncoderDecoderPretrained(
    testdata("from-pretrained-parts/encoder"),
    testdata("from-pretrained-parts/decoder"),
  );
  assertEquals(cfg.encoder.isDecoder, g["encoder.is_decoder"]);
  assertEquals(cfg.encoder.addCrossAttention, g["encoder.add_cross_attention"]);
  assertEquals(cfg.decoder.isDecoder, g["decoder.is_decoder"]);
  assertEquals(cfg.decoder.addCrossAttention, g["decoder.add_cross_attention"]);
  assertEquals(cfg.isEncoderDecoder, g.is_encoder_decoder);
  assertEquals(cfg.tieEncoderDecoder, g.tie_encoder_decoder);
  assertEquals(cfg.decoderStartTokenId, g.decoder_start_token_id);
  assertEquals(cfg.padTokenId, g.pad_token_id);
  // HF: model.generation_config = GenerationConfig.from_model_config(config) → to_diff_dict()
  assertEquals(GenerationConfig.fromModelConfig(cfg).toJSON(), g["model.generation_config"]);
});

Deno.test("fromEncoderDecoderPretrained applies prefixed overrides; HF's start_token_id quirk → ConfigError", async () => {
  const enc = testdata("from-pretrained-parts/encoder");
  const dec = testdata("from-pretrained-parts/decoder");
  const cfg = await EncoderDecoderConfig.fromEncoderDecoderPretrained(enc, dec, {
    encoder_hidden_dropout_prob: 0,
    decoderAttentionProbsDropoutProb: 0,
    pad_token_id: 0,
  });
  assertEquals(
    [(cfg.encoder as BertConfig).hiddenDropoutProb, (cfg.decoder as BertConfig).hiddenDropoutProb],
    [0, 0.1],
  );
  assertEquals((cfg.decoder as BertConfig).attentionProbsDropoutProb, 0);
  assertEquals(cfg.padTokenId, 0);
  const e = await assertRejects(
    () =>
      EncoderDecoderConfig.fromEncoderDecoderPretrained(enc, dec, { decoder_start_token_id: 2 }),
    ConfigError,
  );
  assertEquals(e.message.includes('override "start_token_id" is not a field of BertConfig'), true);
});

Deno.test("nested errors name the nested field path; unknown nested model_type lists known ones", async () => {
  const golden = await readTestJson("bert2bert/config.json");
  const bad = structuredClone(golden);
  (bad.encoder as Record<string, unknown>).hidden_size = "big";
  const e = assertThrows(() => AutoConfig.fromJSON(bad, { file: "m/config.json" }), ConfigError);
  assertEquals(
    e.message,
    'm/config.json: BertConfig field "encoder.hidden_size" is string "big"; expected number',
  );
  const bad2 = structuredClone(golden);
  (bad2.decoder as Record<string, unknown>).model_type = "t5";
  const e2 = assertThrows(() => AutoConfig.fromJSON(bad2, { file: "m/config.json" }), ConfigError);
  assertEquals(
    e2.message,
    'm/config.json: field "decoder.model_type" is string "t5"; expected one of "bert", "roberta", "xlm-roberta", "camembert", "bert-generation", "electra", "distilbert", "longformer", "gpt2" for an encoder or decoder',
  );
  const { encoder: _, ...noEncoder } = golden;
  const e3 = assertThrows(
    () => AutoConfig.fromJSON(noEncoder, { file: "m/config.json" }),
    ConfigError,
  );
  assertEquals(
    e3.message,
    `m/config.json: EncoderDecoderConfig field "encoder" is nothing (field missing); expected the encoder's config object (with a model_type)`,
  );
});

Deno.test("new EncoderDecoderConfig({encoder, decoder}) keeps both whole without setting decoder flags (as HF's __init__)", () => {
  const enc = new BertConfig({ hiddenSize: 32, numAttentionHeads: 4 });
  const dec = new GPT2Config({ nEmbd: 32, nHead: 4, isDecoder: true, addCrossAttention: true });
  const cfg = new EncoderDecoderConfig({ encoder: enc, decoder: dec, padTokenId: 0, vocabSize: 7 });
  assertInstanceOf(cfg.decoder, GPT2Config);
  assertEquals([cfg.isEncoderDecoder, cfg.padTokenId, cfg.vocabSize], [true, 0, 7]);
  const { transformers_version: _, ...encDict } = enc.toDict();
  assertEquals(cfg.toJSON().encoder, encDict);
  assertEquals(cfg.toJSON().vocab_size, 7);
  const plain = new EncoderDecoderConfig({ encoder: enc, decoder: enc });
  assertEquals(plain.decoder.isDecoder, false);
});
