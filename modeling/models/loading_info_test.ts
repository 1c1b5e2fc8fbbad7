/**
 * Hostile checkpoints and configs (issue 19 items 8 and 9): missing tensors are reported in
 * `loadingInfo` (and refused with `strict`), a config asking for more layers than the checkpoint
 * holds or for absurd sizes is refused before anything is allocated.
 */
import { assert, assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import { ConfigError } from "@encdec/config";
import { EncoderDecoderModel } from "./encoder_decoder.ts";
import { ModelLoadError } from "./errors.ts";
import { formatLoadingInfo, planLoading } from "./loading_info.ts";
import { loadSafetensorsFile, saveSafetensorsFile } from "../weights/safetensors.ts";
import { FIXTURES } from "./_test_util.ts";

const SRC = `${FIXTURES}bert2bert`;

/** The part of a composite `config.json` the tests edit. */
type SubConfigs = { encoder: Record<string, unknown>; decoder: Record<string, unknown> };

/** A copy of the bert2bert fixture whose weights and config are changed by `edit`. */
async function hostileDir(
  edit: { drop?: (key: string) => boolean; config?: (c: SubConfigs) => void },
): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "encdec-hostile-" });
  const { tensors } = await loadSafetensorsFile(`${SRC}/model.safetensors`);
  const kept = new Map([...tensors].filter(([k]) => !(edit.drop?.(k) ?? false)));
  await saveSafetensorsFile(`${dir}/model.safetensors`, kept);
  const config = JSON.parse(await Deno.readTextFile(`${SRC}/config.json`));
  edit.config?.(config);
  await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(config));
  await Deno.copyFile(`${SRC}/generation_config.json`, `${dir}/generation_config.json`);
  return dir;
}

Deno.test("loadingInfo: an empty safetensors loads every weight newly initialised, reported, and strict refuses it", async () => {
  const dir = await hostileDir({ drop: () => true });
  try {
    const model = await EncoderDecoderModel.fromPretrained(dir);
    const all = model.keyTable.map((s) => s.key).sort();
    assertEquals(model.loadingInfo.newlyInitialized, all);
    assertEquals(model.loadingInfo.missingKeys, all);
    const lines = formatLoadingInfo(model.loadingInfo, "EncoderDecoderModel", dir);
    assertEquals(lines.length, 1);
    assertStringIncludes(lines[0], `newly initialized (${all.length})`);
    assertStringIncludes(lines[0], "decoder.bert.embeddings.word_embeddings.weight");
    const err = await assertRejects(
      () => EncoderDecoderModel.fromPretrained(dir, { strict: true }),
      ModelLoadError,
      `${all.length} model weight(s) missing from the checkpoint`,
    );
    assertStringIncludes(err.message, "model.safetensors");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadingInfo: one missing tensor is named; strict lists it; a complete checkpoint passes strict", async () => {
  const gone = "encoder.encoder.layer.1.output.dense.weight";
  const dir = await hostileDir({ drop: (k) => k === gone });
  try {
    const model = await EncoderDecoderModel.fromPretrained(dir);
    assertEquals(model.loadingInfo.missingKeys, [gone]);
    assertEquals(model.loadingInfo.newlyInitialized, [gone]);
    assertEquals(model.loadingInfo.unexpectedKeys, []);
    await assertRejects(
      () => EncoderDecoderModel.fromPretrained(dir, { strict: true }),
      ModelLoadError,
      `1 model weight(s) missing from the checkpoint: ${gone}`,
    );
    const ok = await EncoderDecoderModel.fromPretrained(SRC, { strict: true });
    assertEquals(ok.loadingInfo.newlyInitialized, []);
    assertEquals(formatLoadingInfo(ok.loadingInfo, "EncoderDecoderModel", SRC), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("config sizes: num_hidden_layers 1000000 is refused, naming the field, before any allocation", async () => {
  const dir = await hostileDir({ config: (c) => (c.encoder.num_hidden_layers = 1_000_000) });
  try {
    const t0 = performance.now();
    await assertRejects(
      () => EncoderDecoderModel.fromPretrained(dir),
      ConfigError,
      "config.encoder.num_hidden_layers is 1000000; expected a non-negative integer of at most 512",
    );
    assert(performance.now() - t0 < 10_000, "refused quickly");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("config sizes: more layers than the checkpoint holds is a ModelLoadError naming the layers", async () => {
  const dir = await hostileDir({ config: (c) => (c.decoder.num_hidden_layers = 5) });
  try {
    await assertRejects(
      () => EncoderDecoderModel.fromPretrained(dir),
      ModelLoadError,
      'the config asks for 5 layers in "decoder.bert.encoder.layer.*" but the checkpoint holds tensors for 2 of them; no tensor for layer(s) 2, 3, 4',
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("config sizes: a huge estimated parameter count is refused (wide and deep within field bounds)", async () => {
  const dir = await hostileDir({
    config: (c) => {
      c.encoder.num_hidden_layers = 500;
      c.encoder.hidden_size = 8192;
      c.encoder.intermediate_size = 32768;
    },
  });
  try {
    await assertRejects(
      () => EncoderDecoderModel.fromPretrained(dir),
      ConfigError,
      "MODEL_LIMITS.parameters",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("planLoading: tied aliases count as loaded when their partner is in the checkpoint", () => {
  const info = planLoading({
    groups: new Map([["d.w", ["d.w", "e.w"]], ["d.b", ["d.b"]]]),
    checkpointKeys: new Set(["e.w", "x"]),
    source: "ckpt",
  });
  assertEquals(info, {
    missingKeys: ["d.b"],
    unexpectedKeys: ["x"],
    mismatchedKeys: [],
    newlyInitialized: ["d.b"],
  });
});
