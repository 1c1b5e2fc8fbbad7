import { assertEquals, assertInstanceOf, assertRejects, assertThrows } from "@std/assert";
import {
  AutoConfig,
  BertConfig,
  ConfigError,
  EncoderDecoderConfig,
  GenerationConfig,
  GPT2Config,
  RobertaConfig,
} from "./mod.ts";
import { MODELS, readTestJson, testdata } from "./_test_util.ts";
import { listDir, withTempDir } from "../testing/fs.ts";

const withConfigDir = (fn: (dir: string) => Promise<void>) =>
  withTempDir(fn, "encdec_config_test_");

Deno.test("AutoConfig dispatches on model_type (fixtures and all five types)", async () => {
  for (const model of MODELS) {
    assertInstanceOf(await AutoConfig.fromPretrained(testdata(model)), EncoderDecoderConfig);
  }
  const enc = await AutoConfig.fromPretrained(testdata("from-pretrained-parts/encoder"));
  assertInstanceOf(enc, BertConfig);
  assertEquals(enc.toJSON(), await readTestJson("from-pretrained-parts/encoder/config.json"));
  assertInstanceOf(AutoConfig.fromJSON({ model_type: "roberta" }), RobertaConfig);
  assertInstanceOf(AutoConfig.forModel("gpt2", { n_layer: 2 }), GPT2Config);
  assertEquals(AutoConfig.fromJSON({ model_type: "bert-generation" }).modelType, "bert-generation");
});

Deno.test("AutoConfig.fromPretrained applies overrides (snake and camel) after loading", async () => {
  const c = await AutoConfig.fromPretrained(testdata("bert2bert"), {
    decoderStartTokenId: 5,
    pad_token_id: 7,
  });
  assertEquals([c.decoderStartTokenId, c.padTokenId], [5, 7]);
  // resolve options are passed to resolveModelFile, not treated as field overrides
  const r = await AutoConfig.fromPretrained(testdata("bert2bert"), {
    revision: "main",
    quiet: true,
  });
  assertEquals(r.toJSON(), await readTestJson("bert2bert/config.json"));
  await assertRejects(
    () => AutoConfig.fromPretrained(testdata("bert2bert"), { decoder_hidden_size: 3 }),
    ConfigError,
    'override "decoder_hidden_size" is not a field of EncoderDecoderConfig',
  );
});

Deno.test("unknown model_type → ConfigError naming the value and listing the known ones", () => {
  const e = assertThrows(
    () => AutoConfig.fromJSON({ model_type: "t5" }, { file: "t5/config.json" }),
    ConfigError,
  );
  assertEquals(
    e.message,
    't5/config.json: field "model_type" is string "t5"; expected one of "bert", "roberta", "xlm-roberta", "camembert", "bert-generation", "electra", "distilbert", "longformer", "gpt2", "encoder-decoder"',
  );
  const e2 = assertThrows(() => AutoConfig.fromJSON({ hidden_size: 4 }), ConfigError);
  assertEquals(
    e2.message.startsWith('config.json: field "model_type" is nothing (field missing)'),
    true,
  );
});

Deno.test("invalid JSON, non-object JSON and a missing config.json → ConfigError naming the file", async () => {
  await withConfigDir(async (dir) => {
    const e0 = await assertRejects(() => AutoConfig.fromPretrained(dir), ConfigError);
    assertEquals(
      e0.message,
      `${dir}/config.json: file not found; expected a model directory or Hub id with a config.json`,
    );
    await Deno.writeTextFile(`${dir}/config.json`, '{"model_type": "bert",');
    const e1 = await assertRejects(() => AutoConfig.fromPretrained(dir), ConfigError);
    assertEquals(e1.message.startsWith(`${dir}/config.json: invalid JSON (`), true);
    assertEquals(e1.message.endsWith("); expected a JSON object"), true);
    await Deno.writeTextFile(`${dir}/config.json`, "[1, 2]");
    const e2 = await assertRejects(() => BertConfig.fromPretrained(dir), ConfigError);
    assertEquals(
      e2.message,
      `${dir}/config.json: top level is an array of length 2; expected a JSON object`,
    );
    await Deno.writeTextFile(`${dir}/config.json`, '{"model_type": "bert", "hidden_size": "big"}');
    const e3 = await assertRejects(() => AutoConfig.fromPretrained(dir), ConfigError);
    assertEquals(
      e3.message,
      `${dir}/config.json: BertConfig field "hidden_size" is string "big"; expected number`,
    );
  });
});

Deno.test("savePretrained writes HF's config.json; load → save → load round-trips every fixture", async () => {
  for (const model of MODELS) {
    await withConfigDir(async (dir) => {
      const c = await AutoConfig.fromPretrained(testdata(model));
      await c.savePretrained(dir);
      assertEquals(await listDir(dir), ["config.json"]);
      const text = await Deno.readTextFile(`${dir}/config.json`);
      assertEquals(JSON.parse(text), await readTestJson(`${model}/config.json`));
      assertEquals(text.endsWith("}\n") && text.startsWith('{\n  "architectures"'), true);
      assertEquals((await AutoConfig.fromPretrained(dir)).toJSON(), c.toJSON());
    });
  }
});

Deno.test("unknown fields survive a load → save → load round trip", async () => {
  await withConfigDir(async (dir) => {
    const json: Record<string, unknown> = {
      ...(await readTestJson("bert2bert/config.json")),
      my_extra: { nested: [1, 2, 3] },
    };
    (json.decoder as Record<string, unknown>).decoder_only_extra = "kept";
    await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(json));
    const c = await AutoConfig.fromPretrained(dir);
    await c.savePretrained(`${dir}/out`);
    const saved = JSON.parse(await Deno.readTextFile(`${dir}/out/config.json`));
    assertEquals(saved, json);
  });
});

Deno.test("savePretrained with a generationConfig writes both files", async () => {
  await withConfigDir(async (dir) => {
    const c = await AutoConfig.fromPretrained(testdata("bert2bert"));
    await c.savePretrained(dir, { generationConfig: GenerationConfig.fromModelConfig(c) });
    assertEquals(await listDir(dir), ["config.json", "generation_config.json"]);
    assertEquals(
      JSON.parse(await Deno.readTextFile(`${dir}/generation_config.json`)),
      await readTestJson("bert2bert/generation_config.json"),
    );
  });
});

Deno.test("a failed save writes nothing and leaves the old config.json untouched", async () => {
  await withConfigDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/config.json`, "OLD");
    // a value JSON cannot serialize
    const c = new BertConfig({ extra: { bad: 10n } });
    const e = await assertRejects(() => c.savePretrained(dir), ConfigError);
    assertEquals(e.message.startsWith(`${dir}/config.json: cannot serialize`), true);
    assertEquals(await listDir(dir), ["config.json"]);
    assertEquals(await Deno.readTextFile(`${dir}/config.json`), "OLD");
    // the second file fails to serialize → neither is written
    const gen = {
      toJSON(): Record<string, unknown> {
        return { x: 1n };
      },
    };
    await assertRejects(
      () => new BertConfig().savePretrained(dir, { generationConfig: gen }),
      ConfigError,
    );
    assertEquals(await listDir(dir), ["config.json"]);
    assertEquals(await Deno.readTextFile(`${dir}/config.json`), "OLD");
    // the target name is a directory: rename fails, the temp file is removed
    await Deno.mkdir(`${dir}/sub/config.json`, { recursive: true });
    await assertRejects(() => new BertConfig().savePretrained(`${dir}/sub`), ConfigError);
    assertEquals(await listDir(`${dir}/sub`), ["config.json"]);
    // the save directory is a file
    await assertRejects(
      () => new BertConfig().savePretrained(`${dir}/config.json`),
      ConfigError,
      "cannot create the save directory",
    );
  });
});
