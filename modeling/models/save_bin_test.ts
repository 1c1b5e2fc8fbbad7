/**
 * `savePretrained(dir, { safeSerialization: false })`: `pytorch_model.bin` in `torch.save`'s
 * layout with HF's `.bin` key set (tied keys included, sharing their target's storage), single
 * and sharded, loading back with identical logits.
 */
import { assert, assertEquals } from "@std/assert";
import { EncoderDecoderModel } from "./encoder_decoder.ts";
import { loadStateDict, parseShardIndex, readZip, stateDictOrder } from "../weights/mod.ts";
import { FIXTURES, forwardArgs, goldens } from "./_test_util.ts";
import { listDir, withTempDir } from "../../testing/fs.ts";

/** Logits (exact) and loss of `model` on a fixture's golden inputs. */
async function logitsOn(model: EncoderDecoderModel, name: string) {
  const g = await goldens(name);
  const out = await model.forward(forwardArgs(g));
  return { logits: out.logits.data, loss: out.loss!.item() };
}

Deno.test("bert2bert-bin: savePretrained({ safeSerialization: false }) rewrites HF's pytorch_model.bin byte for byte", async () => {
  const model = await EncoderDecoderModel.fromPretrained(`${FIXTURES}bert2bert-bin`);
  await withTempDir(async (dir) => {
    await model.savePretrained(dir, { safeSerialization: false });
    assertEquals(await listDir(dir), [
      "config.json",
      "generation_config.json",
      "pytorch_model.bin",
    ]);
    // The fixture is what transformers 4.40.2 + torch 1.13 wrote for the same weights.
    const ours = await Deno.readFile(`${dir}/pytorch_model.bin`);
    const hf = await Deno.readFile(`${FIXTURES}bert2bert-bin/pytorch_model.bin`);
    assertEquals([...readZip(ours).entries.keys()], [...readZip(hf).entries.keys()]);
    assert(ours.length === hf.length && ours.every((b, i) => b === hf[i]), "bytes differ");
    const again = await EncoderDecoderModel.fromPretrained(dir);
    assertEquals(await logitsOn(again, "bert2bert-bin"), await logitsOn(model, "bert2bert-bin"));
  });
});

for (const name of ["bert2bert", "bert2gpt2", "roberta2roberta", "bertgeneration"]) {
  Deno.test(`${name}: .bin save → fromPretrained gives identical logits; every key, tied ones sharing a storage`, async () => {
    const model = await EncoderDecoderModel.fromPretrained(`${FIXTURES}${name}`);
    await withTempDir(async (dir) => {
      await model.savePretrained(dir, { safeSerialization: false });
      assertEquals(await listDir(dir), [
        "config.json",
        "generation_config.json",
        "pytorch_model.bin",
      ]);
      const saved = await loadStateDict(dir);
      assertEquals(saved.format, "pytorch");
      // HF's .bin holds the whole state_dict(), in torch's module order.
      assertEquals([...saved.tensors.keys()], stateDictOrder(model.keyTable.map((s) => s.key)));
      const ties = model.keyTable.filter((s) => s.tiedTo !== undefined);
      const bytes = await Deno.readFile(`${dir}/pytorch_model.bin`);
      const storages = [...readZip(bytes).entries.keys()].filter((n) => n.includes("/data/"));
      assertEquals(
        storages.length,
        model.keyTable.length - ties.length,
        "one storage per tie root",
      );
      for (const s of ties) {
        assertEquals(saved.tensors.get(s.key)!.data, saved.tensors.get(s.tiedTo!)!.data, s.key);
      }
      const again = await EncoderDecoderModel.fromPretrained(dir);
      assertEquals(again.loadingInfo, {
        missingKeys: [],
        unexpectedKeys: [],
        mismatchedKeys: [],
        newlyInitialized: [],
      });
      assertEquals(await logitsOn(again, name), await logitsOn(model, name));
    });
  });
}

Deno.test("savePretrained switches formats: .bin replaces model.safetensors and back", async () => {
  const model = await EncoderDecoderModel.fromPretrained(`${FIXTURES}bert2bert`);
  await withTempDir(async (dir) => {
    await model.savePretrained(dir);
    await Deno.writeTextFile(`${dir}/vocab.txt`, "[PAD]\n");
    await model.savePretrained(dir, { safeSerialization: false });
    assertEquals(await listDir(dir), [
      "config.json",
      "generation_config.json",
      "pytorch_model.bin",
      "vocab.txt",
    ]);
    await model.savePretrained(dir);
    assertEquals(await listDir(dir), [
      "config.json",
      "generation_config.json",
      "model.safetensors",
      "vocab.txt",
    ]);
  });
});

Deno.test("sharded .bin save: shards + index as HF (tied keys in their storage's shard, counted once) load back identical", async () => {
  const model = await EncoderDecoderModel.fromPretrained(`${FIXTURES}bert2bert`);
  await withTempDir(async (dir) => {
    await model.savePretrained(dir, { safeSerialization: false, maxShardSize: 60_000 });
    const files = await listDir(dir);
    const shards = files.filter((f) => /^pytorch_model-\d{5}-of-\d{5}\.bin$/.test(f));
    assert(shards.length >= 2, files.join());
    assertEquals(files, [
      "config.json",
      "generation_config.json",
      ...shards,
      "pytorch_model.bin.index.json",
    ]);
    const index = parseShardIndex(
      await Deno.readTextFile(`${dir}/pytorch_model.bin.index.json`),
    );
    assertEquals([...index.weightMap.keys()], model.keyTable.map((s) => s.key).sort());
    const sd = await model.stateDict();
    const bytes = [...sd.values()].reduce((n, t) => n + t.data.byteLength, 0);
    assertEquals(index.metadata.total_size, bytes, "tied weights counted once");
    for (const s of model.keyTable.filter((s) => s.tiedTo !== undefined)) {
      assertEquals(index.weightMap.get(s.key), index.weightMap.get(s.tiedTo!), s.key);
    }
    // Every shard is a torch archive named after its file.
    const first = await Deno.readFile(`${dir}/${shards[0]}`);
    assertEquals([...readZip(first).entries.keys()][0], `${shards[0].slice(0, -4)}/data.pkl`);
    const again = await EncoderDecoderModel.fromPretrained(dir);
    assertEquals(await logitsOn(again, "bert2bert"), await logitsOn(model, "bert2bert"));
  });
});
