import { listDir, withTempDir } from "../../testing/fs.ts";
import { assert, assertEquals, assertRejects, assertThrows } from "@std/assert";
import { Tensor } from "../tensor.ts";
import { WeightsError } from "./errors.ts";
import { saveSafetensorsFile } from "./safetensors.ts";
import {
  loadStateDict,
  parseFileSize,
  parseShardIndex,
  saveShardedSafetensors,
  WEIGHTS_FILE_NAMES,
} from "./state_dict.ts";
import { makeTorchCheckpoint } from "./_test_utils.ts";

const FIXTURES = new URL("../../tests/testdata/fixtures/", import.meta.url);
const fixture = (p: string) => new URL(p, FIXTURES).pathname;

function assertSameTensors(a: Map<string, Tensor>, b: Map<string, Tensor>) {
  assertEquals([...a.keys()].sort(), [...b.keys()].sort());
  for (const [key, t] of a) {
    const u = b.get(key)!;
    assertEquals([u.dtype, u.dims], [t.dtype, t.dims], key);
    assert(t.data.every((x, i) => x === u.data[i]), `${key}: values differ (exact compare)`);
  }
}

Deno.test("loadStateDict: fixture dirs load as safetensors or pytorch", async () => {
  const st = await loadStateDict(fixture("bert2bert"));
  assertEquals(st.format, "safetensors");
  assertEquals(st.tensors.size, 101);
  assert(st.files[0].endsWith("bert2bert/model.safetensors"));
  const bin = await loadStateDict(fixture("bert2bert-bin"));
  assertEquals(bin.format, "pytorch");
  assertEquals(bin.tensors.size, 103);
  assert(bin.files[0].endsWith("bert2bert-bin/pytorch_model.bin"));
  assertEquals(bin.tensors.get("encoder.embeddings.word_embeddings.weight")!.dims, [99, 32]);
});

Deno.test("loadStateDict: model.safetensors wins over pytorch_model.bin; empty dir lists names", async () => {
  await withTempDir(async (dir) => {
    await assertRejects(
      () => loadStateDict(dir),
      WeightsError,
      `no weights found; looked for ${WEIGHTS_FILE_NAMES.join(", ")}`,
    );
    await Deno.writeFile(
      `${dir}/pytorch_model.bin`,
      await makeTorchCheckpoint(new Map([["w", Tensor.from([1])]])),
    );
    assertEquals((await loadStateDict(dir)).tensors.get("w")!.tolist(), [1]);
    await saveSafetensorsFile(`${dir}/model.safetensors`, { w: Tensor.from([2]) });
    const sd = await loadStateDict(dir);
    assertEquals([sd.format, sd.tensors.get("w")!.tolist()], ["safetensors", [2]]);
  });
});

Deno.test("saveShardedSafetensors: HF shard layout and index; load equals the original", async () => {
  const original = (await loadStateDict(fixture("bert2bert"))).tensors;
  await withTempDir(async (dir) => {
    const written = await saveShardedSafetensors(dir, original, { maxShardSize: "50KB" });
    const n = written.length - 1;
    assert(n > 2, `expected several shards, got ${written}`);
    assertEquals(written[0], `model-00001-of-${String(n).padStart(5, "0")}.safetensors`);
    assertEquals(written[n], "model.safetensors.index.json");
    assertEquals(await listDir(dir), [...written].sort());
    const index = JSON.parse(await Deno.readTextFile(`${dir}/model.safetensors.index.json`));
    const total = [...original.values()].reduce((s, t) => s + t.data.byteLength, 0);
    assertEquals(index.metadata, { total_size: total });
    const keys = Object.keys(index.weight_map);
    assertEquals(keys, [...keys].sort());
    assertEquals(keys.length, original.size);
    const sd = await loadStateDict(dir);
    assertEquals(sd.format, "safetensors");
    assertEquals(sd.files.length, n + 1);
    assertSameTensors(sd.tensors, original);
    // Each shard respects the limit unless it holds a single larger tensor.
    for (const name of written.slice(0, n)) {
      const held = keys.filter((k) => index.weight_map[k] === name);
      const bytes = held.reduce((s, k) => s + original.get(k)!.data.byteLength, 0);
      assert(bytes <= 50_000 || held.length === 1, `${name}: ${bytes} bytes`);
    }
    // Saving again unsharded removes the stale shards and index.
    assertEquals(await saveShardedSafetensors(dir, original), ["model.safetensors"]);
    assertEquals(await listDir(dir), ["model.safetensors"]);
    assertSameTensors((await loadStateDict(dir)).tensors, original);
  });
});

Deno.test("loadStateDict: sharded pytorch_model.bin.index.json", async () => {
  await withTempDir(async (dir) => {
    const a = new Map([["x", Tensor.from([1, 2])]]);
    const b = new Map([["y", Tensor.from([[3]], "int64")]]);
    await Deno.writeFile(`${dir}/pytorch_model-00001-of-00002.bin`, await makeTorchCheckpoint(a));
    await Deno.writeFile(`${dir}/pytorch_model-00002-of-00002.bin`, await makeTorchCheckpoint(b));
    await Deno.writeTextFile(
      `${dir}/pytorch_model.bin.index.json`,
      JSON.stringify({
        metadata: { total_size: 16 },
        weight_map: {
          x: "pytorch_model-00001-of-00002.bin",
          y: "pytorch_model-00002-of-00002.bin",
        },
      }),
    );
    const sd = await loadStateDict(dir);
    assertEquals(sd.format, "pytorch");
    assertEquals(sd.files.length, 3);
    assertEquals(sd.tensors.get("x")!.tolist(), [1, 2]);
    assertEquals(sd.tensors.get("y")!.tolist(), [[3]]);
  });
});

Deno.test("loadStateDict: broken shard indexes are WeightsErrors naming key and shard", async () => {
  await withTempDir(async (dir) => {
    await saveSafetensorsFile(`${dir}/s1.safetensors`, { a: Tensor.from([1]) });
    const index = `${dir}/model.safetensors.index.json`;
    await Deno.writeTextFile(
      index,
      JSON.stringify({ weight_map: { a: "s1.safetensors", b: "s1.safetensors" } }),
    );
    await assertRejects(
      () => loadStateDict(dir),
      WeightsError,
      'tensor "b" is mapped to shard "s1.safetensors" but that shard does not hold it',
    );
    await Deno.writeTextFile(index, JSON.stringify({ weight_map: { a: "s2.safetensors" } }));
    await assertRejects(() => loadStateDict(dir), WeightsError, 'shard "s2.safetensors"');
    await Deno.writeTextFile(index, JSON.stringify({ weight_map: { a: "../s1.safetensors" } }));
    await assertRejects(() => loadStateDict(dir), WeightsError, "escapes the model directory");
    await Deno.writeTextFile(index, "[1]");
    await assertRejects(() => loadStateDict(dir), WeightsError, "must be a JSON object");
  });
  assertThrows(() => parseShardIndex('{"weight_map": 3}', "i.json"), WeightsError, "i.json");
});

Deno.test("parseFileSize: byte counts and HF size strings", () => {
  assertEquals(parseFileSize(123), 123);
  assertEquals(parseFileSize("5GB"), 5_000_000_000);
  assertEquals(parseFileSize("10MB"), 10_000_000);
  assertEquals(parseFileSize("2GiB"), 2 * 2 ** 30);
  assertEquals(parseFileSize("8Mb"), 1_000_000);
  assertThrows(() => parseFileSize("five"), WeightsError, '"five"');
  assertThrows(() => parseFileSize(0), WeightsError);
});
