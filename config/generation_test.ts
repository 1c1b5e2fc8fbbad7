import { assertEquals, assertInstanceOf, assertRejects, assertThrows } from "@std/assert";
import {
  AutoConfig,
  BertConfig,
  ConfigError,
  EncoderDecoderConfig,
  GenerationConfig,
  GenerationConfigError,
} from "./mod.ts";
import { MODELS, readTestJson, testdata } from "./_test_util.ts";

Deno.test("new GenerationConfig() has HF 4.40.2's defaults", () => {
  const g = new GenerationConfig();
  assertEquals(
    [g.maxLength, g.maxNewTokens, g.minLength, g.minNewTokens, g.earlyStopping, g.maxTime],
    [20, null, 0, null, false, null],
  );
  assertEquals([g.doSample, g.numBeams, g.numBeamGroups, g.penaltyAlpha, g.useCache], [
    false,
    1,
    1,
    null,
    true,
  ]);
  assertEquals([g.temperature, g.topK, g.topP, g.minP, g.typicalP, g.epsilonCutoff, g.etaCutoff], [
    1,
    50,
    1,
    null,
    1,
    0,
    0,
  ]);
  assertEquals(
    [g.diversityPenalty, g.repetitionPenalty, g.encoderRepetitionPenalty, g.lengthPenalty],
    [0, 1, 1, 1],
  );
  assertEquals([g.noRepeatNgramSize, g.encoderNoRepeatNgramSize, g.badWordsIds, g.forceWordsIds], [
    0,
    0,
    null,
    null,
  ]);
  assertEquals(
    [g.renormalizeLogits, g.forcedBosTokenId, g.forcedEosTokenId, g.removeInvalidValues],
    [
      false,
      null,
      null,
      false,
    ],
  );
  assertEquals([g.exponentialDecayLengthPenalty, g.suppressTokens, g.beginSuppressTokens], [
    null,
    null,
    null,
  ]);
  assertEquals([g.sequenceBias, g.numReturnSequences, g.outputScores, g.outputAttentions], [
    null,
    1,
    false,
    false,
  ]);
  assertEquals([g.returnDictInGenerate, g.padTokenId, g.bosTokenId, g.eosTokenId], [
    false,
    null,
    null,
    null,
  ]);
  assertEquals([g.decoderStartTokenId, g.stopStrings, g.createdFromModelConfig], [
    null,
    null,
    false,
  ]);
  assertEquals(g.toJSON(), { transformers_version: "4.40.2" });
});

for (const model of MODELS) {
  Deno.test(`${model}/generation_config.json loads, round-trips, and equals fromModelConfig(config.json)`, async () => {
    const golden = await readTestJson(`${model}/generation_config.json`);
    const g = await GenerationConfig.fromPretrained(testdata(model));
    assertEquals(g.toJSON(), golden);
    assertEquals(g.createdFromModelConfig, true);
    // HF wrote this file with GenerationConfig.from_model_config(model.config)
    const cfg = await AutoConfig.fromPretrained(testdata(model));
    assertEquals(GenerationConfig.fromModelConfig(cfg).toJSON(), golden);
  });
}

Deno.test("fromPretrained without generation_config.json falls back to config.json legacy fields", async () => {
  const g = await GenerationConfig.fromPretrained(testdata("from-pretrained-parts/encoder"));
  assertEquals(g.toJSON(), {
    _from_model_config: true,
    pad_token_id: 0,
    transformers_version: "4.40.2",
  });
  const dir = await Deno.makeTempDir();
  try {
    await assertRejects(
      () => GenerationConfig.fromPretrained(dir),
      ConfigError,
      "config.json: file not found",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("fromModelConfig: legacy top-level fields, then decoder values for fields still at default", () => {
  const dec = new BertConfig({
    hiddenSize: 32,
    numAttentionHeads: 4,
    maxLength: 50,
    padTokenId: 0,
    eosTokenId: 9,
  });
  const cfg = EncoderDecoderConfig.fromEncoderDecoderConfigs(
    new BertConfig({ hiddenSize: 32, numAttentionHeads: 4 }),
    dec,
    {
      numBeams: 4,
      eosTokenId: 3,
      earlyStopping: true,
    },
  );
  const g = GenerationConfig.fromModelConfig(cfg);
  assertEquals([g.numBeams, g.earlyStopping, g.eosTokenId], [4, true, 3]); // top level wins
  assertEquals([g.maxLength, g.padTokenId], [50, 0]); // unset at top level → from the decoder
  assertEquals(g.createdFromModelConfig, true);
});

Deno.test("update(): call options override the file values; snake or camel keys; original untouched", async () => {
  const g = await GenerationConfig.fromPretrained(testdata("bert2bert"));
  const u = g.update({ numBeams: 4, early_stopping: true, maxNewTokens: 20, eosTokenId: 7 });
  assertEquals([u.numBeams, u.earlyStopping, u.maxNewTokens, u.eosTokenId], [4, true, 20, 7]);
  assertEquals([u.padTokenId, u.decoderStartTokenId, u.bosTokenId], [0, 2, 2]);
  assertEquals([g.numBeams, g.eosTokenId], [1, 3]);
  assertInstanceOf(u, GenerationConfig);
  const e = assertThrows(() => g.update({ numBeam: 4 }), GenerationConfigError);
  assertEquals(e.message.includes('"numBeam" is not a GenerationConfig field'), true);
  assertEquals(u.update({ eosTokenId: [3, 4] }).eosTokenId, [3, 4]);
});

Deno.test("validate() rejects what HF rejects, with a GenerationConfigError naming the field", () => {
  const cases: [Record<string, unknown>, string][] = [
    [
      { numBeams: 4, numBeamGroups: 3, diversityPenalty: 0.5 },
      "num_beam_groups is 3; expected a divisor of num_beams (4)",
    ],
    [{ numBeams: 4, numBeamGroups: 2 }, "diversity_penalty is 0; expected > 0"],
    [
      { numBeams: 4, numBeamGroups: 2, diversityPenalty: 0.5, doSample: true },
      "do_sample is true; expected false with diverse (group) beam search",
    ],
    [{ numReturnSequences: 2 }, "num_return_sequences is 2; expected 1 with greedy search"],
    [
      { numBeams: 2, numReturnSequences: 3 },
      "num_return_sequences is 3; expected at most num_beams (2)",
    ],
    [{ maxNewTokens: 0 }, "max_new_tokens is 0; expected an integer > 0"],
    [{ doSample: true, temperature: 0 }, "temperature is 0; expected a float > 0 when sampling"],
    [{ doSample: true, topK: -1 }, "top_k is -1"],
    [{ doSample: true, topP: 1.5 }, "top_p is 1.5; expected a float in [0, 1]"],
    [{ doSample: true, typicalP: 0 }, "typical_p is 0"],
    [{ repetitionPenalty: 0 }, "repetition_penalty is 0"],
    [
      { numBeams: 2, forceWordsIds: [[1]], doSample: true },
      "do_sample is true; expected false with constrained beam search",
    ],
  ];
  for (const [opts, msg] of cases) {
    const e = assertThrows(() => new GenerationConfig().update(opts), GenerationConfigError, msg);
    assertEquals(e instanceof ConfigError, true);
  }
  // sampling-only checks do not fire for greedy/beam search (HF builds no warper there)
  assertEquals(new GenerationConfig({ temperature: 0, topK: -1 }).temperature, 0);
  // early_stopping must be a boolean or "never"; wrong types are caught at the boundary
  const e = assertThrows(
    () => GenerationConfig.fromJSON({ early_stopping: "sometimes" }, { file: "g.json" }),
    ConfigError,
  );
  assertEquals(
    e.message,
    'g.json: GenerationConfig field "early_stopping" is string "sometimes"; expected true, false or "never"',
  );
  assertEquals(
    new GenerationConfig({ earlyStopping: "never", numBeams: 3 }).earlyStopping,
    "never",
  );
  assertThrows(
    () => GenerationConfig.fromJSON({ num_beams: "4" }),
    ConfigError,
    'field "num_beams" is string "4"',
  );
});

Deno.test("toJSON writes only non-default values; unknown fields kept; savePretrained is atomic", async () => {
  const g = GenerationConfig.fromJSON({
    num_beams: 4,
    length_penalty: 2,
    my_field: [1],
    _commit_hash: "abc",
  });
  assertEquals(g.toJSON(), {
    length_penalty: 2,
    my_field: [1],
    num_beams: 4,
    transformers_version: "4.40.2",
  });
  const dir = await Deno.makeTempDir();
  try {
    await g.savePretrained(dir);
    assertEquals(
      (await GenerationConfig.fromPretrained(dir)).toJSON(),
      JSON.parse(await Deno.readTextFile(`${dir}/generation_config.json`)),
    );
    const bad = g.update({ my_field: 1n });
    await assertRejects(() => bad.savePretrained(dir), ConfigError, "cannot serialize");
    assertEquals(JSON.parse(await Deno.readTextFile(`${dir}/generation_config.json`)).my_field, [
      1,
    ]);
    const names: string[] = [];
    for await (const e of Deno.readDir(dir)) names.push(e.name);
    assertEquals(names, ["generation_config.json"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
