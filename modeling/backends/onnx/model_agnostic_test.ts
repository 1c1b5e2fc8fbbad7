/**
 * The onnx backend knows no model: no non-test file in this folder names a supported
 * `model_type` (or its family) or spells a checkpoint key of any fixture model's key table.
 * The graphs come from the model code (issue 15); this keeps it that way.
 */
import { assertEquals } from "@std/assert";
import { AutoConfig, EncoderDecoderConfig } from "@encdec/config";
import { compositeTable } from "../../models/_composite.ts";
import { checkSupported, DECODER_TYPES, ENCODER_TYPES } from "../../models/_registry.ts";
import { FIXTURES, GOLDEN_MODELS } from "../../models/_test_util.ts";

const DIR = new URL(".", import.meta.url).pathname;

/** Non-test sources of this folder, with fixture paths (`fixtures/bert2bert`) blanked. */
async function sources(): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const e of Deno.readDir(DIR)) {
    if (!e.isFile || !/\.(ts|md)$/.test(e.name) || /_test(_util)?\.ts$/.test(e.name)) continue;
    const text = await Deno.readTextFile(`${DIR}${e.name}`);
    out.set(e.name, text.replace(/fixtures\/[\w-]+/g, "fixtures/<model>"));
  }
  return out;
}

Deno.test("onnx backend files name no model_type or model family of the registry", async () => {
  const types = [...new Set([...ENCODER_TYPES, ...DECODER_TYPES])];
  // "bert-generation" -> also "bertgeneration"; "gpt2" -> also "gpt-2".
  const names = types.flatMap((t) => [t, t.replace(/-/g, ""), t.replace(/^gpt/, "gpt-")]);
  const found: string[] = [];
  for (const [file, text] of await sources()) {
    if (file === "README.md") continue; // prose may cite fixtures and HF quirks
    for (const n of new Set(names)) {
      if (new RegExp(`\\b${n}\\b`, "i").test(text)) found.push(`${file}: ${n}`);
    }
  }
  assertEquals(found, []);
});

Deno.test("onnx backend files spell no checkpoint key of any fixture model's key table", async () => {
  // Keys without layer numbers, e.g. "attention.self.query.weight", "crossattention.c_attn.bias".
  const keys = new Set<string>();
  for (const name of GOLDEN_MODELS) {
    const config = await AutoConfig.fromPretrained(`${FIXTURES}${name}`);
    if (!(config instanceof EncoderDecoderConfig)) throw new Error(`${name}: not a composite`);
    const { table } = compositeTable(
      config,
      checkSupported(config.encoder.toDict(), "encoder"),
      checkSupported(config.decoder.toDict(), "decoder"),
    );
    for (const s of table) {
      const parts = s.key.split(".").filter((p) => !/^\d+$/.test(p));
      // the last three segments: distinctive (a whole key would never match a partial spelling)
      keys.add(parts.slice(-3).join("."));
    }
  }
  const found: string[] = [];
  for (const [file, text] of await sources()) {
    for (const k of keys) if (text.includes(k)) found.push(`${file}: ${k}`);
  }
  assertEquals(found, []);
});
