/**
 * The graph cache of `OnnxEncoderDecoder.fromPretrained` (onnxruntime-node): a second load
 * reads the entry (not the checkpoint) and gives the same logits; a corrupt, truncated or
 * foreign entry is rebuilt, never used.
 */
import { assert, assertEquals, assertNotEquals, assertRejects } from "@std/assert";
import { AutoConfig } from "@encdec/config";
import { OnnxEncoderDecoder, OnnxModelError } from "./mod.ts";
import {
  checkpointFiles,
  digest,
  graphCacheDir,
  GraphCacheEntry,
  graphCacheStats,
} from "./graph_cache.ts";
import { FIXTURES, forwardLogits, readGoldens } from "./_test_util.ts";

/** A copy of fixture `name` in a temporary folder (its files are then ours to corrupt). */
async function copyFixture(name: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "encdec_graph_cache_" });
  for await (const e of Deno.readDir(`${FIXTURES}${name}`)) {
    if (e.isFile) await Deno.copyFile(`${FIXTURES}${name}/${e.name}`, `${dir}/${e.name}`);
  }
  return dir;
}

async function logitsOf(
  dir: string,
  cache: string | false,
  precision: "fp32" | "int8" = "fp32",
  int8Embeddings?: boolean,
) {
  const g = await readGoldens("bert2bert");
  const model = await OnnxEncoderDecoder.fromPretrained(dir, {
    runtime: "node",
    graphCache: cache,
    precision,
    int8Embeddings,
  });
  try {
    return Array.from((await forwardLogits(model, g)).data);
  } finally {
    await model.release();
  }
}

async function entryOf(dir: string, cache: string, precision: "fp32" | "int8" = "fp32") {
  const config = await AutoConfig.fromPretrained(dir);
  const { ort } = { ort: await import("onnxruntime-node") };
  const version = ort.env.versions?.node ?? ort.env.versions?.common ?? "?";
  const files = (await checkpointFiles(dir))!;
  return (await GraphCacheEntry.open(cache, files, config.toDict(), precision, version))!;
}

/** Overwrites `bytes.length` bytes at `offset` of `path`, keeping its size and mtime. */
async function overwrite(path: string, offset: number, bytes: Uint8Array): Promise<void> {
  const st = await Deno.stat(path);
  const f = await Deno.open(path, { write: true });
  await f.seek(offset, Deno.SeekMode.Start);
  await f.write(bytes);
  f.close();
  await Deno.utime(path, st.atime!, st.mtime!);
}

for (const fixture of ["bert2bert", "bert2bert-bin"]) {
  Deno.test(`graph cache ${fixture}: the second load reads the entry; same logits; an edit rebuilds`, async () => {
    const dir = await copyFixture(fixture);
    const cache = await Deno.makeTempDir({ prefix: "encdec_graphs_" });
    const stats = () => ({ ...graphCacheStats });
    try {
      const plain = await logitsOf(dir, false);
      const s0 = stats();
      const first = await logitsOf(dir, cache); // miss: traced, written, loaded from the entry
      assertEquals(first, plain);
      assertEquals([stats().misses - s0.misses, stats().writes - s0.writes], [1, 1]);
      const entry = await entryOf(dir, cache);
      const names = [...Deno.readDirSync(cache)].map((e) => e.name);
      assertEquals(names, [entry.key], "one entry, no temporary folders left");
      const s1 = stats();
      assertEquals(await logitsOf(dir, cache), plain);
      assertEquals([stats().hits - s1.hits, stats().writes - s1.writes], [1, 0]);
      const file = (await checkpointFiles(dir))![0].path;
      const original = await Deno.readFile(file);
      if (fixture.endsWith("-bin")) {
        // Every weight of a .bin is converted into the entry: scrambling the checkpoint's
        // bytes (same size, mtime and inode) cannot change a cached load.
        await overwrite(file, original.length >> 1, new Uint8Array(4096).fill(0x7f));
        assertEquals(await logitsOf(dir, cache), plain);
        await Deno.writeFile(file, original);
      }
      // Editing the file (new mtime) changes the key: traced again, the stale entry pruned.
      await Deno.utime(file, new Date(), new Date(Date.now() + 5000));
      const s2 = stats();
      assertEquals(await logitsOf(dir, cache), plain);
      assertEquals([stats().misses - s2.misses, stats().writes - s2.writes], [1, 1]);
      assertEquals([...Deno.readDirSync(cache)].length, 1, "the stale entry was pruned");
    } finally {
      await Deno.remove(dir, { recursive: true });
      await Deno.remove(cache, { recursive: true });
    }
  });
}

Deno.test("graph cache: int8 with int8 embedding tables is an entry of its own beside plain int8; both read back, same logits", async () => {
  const dir = await copyFixture("bert2bert");
  const cache = await Deno.makeTempDir({ prefix: "encdec_graphs_" });
  try {
    const tables = await logitsOf(dir, false, "int8", true);
    const plain = await logitsOf(dir, false, "int8");
    assertNotEquals(tables, plain, "int8 tables round the embeddings");
    assertEquals(await logitsOf(dir, cache, "int8", true), tables);
    assertEquals(await logitsOf(dir, cache, "int8"), plain);
    assertEquals([...Deno.readDirSync(cache)].length, 2, "neither entry pruned the other");
    const s = { ...graphCacheStats };
    assertEquals(await logitsOf(dir, cache, "int8", true), tables);
    assertEquals(await logitsOf(dir, cache, "int8", false), plain);
    assertEquals([graphCacheStats.hits - s.hits, graphCacheStats.writes - s.writes], [2, 0]);
    // A bad option is refused on a cache hit as without the cache, not ignored.
    await logitsOf(dir, cache); // an fp32 entry
    await assertRejects(
      () => logitsOf(dir, cache, "fp32", true),
      OnnxModelError,
      'int8Embeddings needs precision "int8"',
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(cache, { recursive: true });
  }
});

Deno.test("graph cache: corrupt, truncated and foreign entries are rebuilt, never used", async (t) => {
  const dir = await copyFixture("bert2bert");
  const cache = await Deno.makeTempDir({ prefix: "encdec_graphs_" });
  try {
    const plain = await logitsOf(dir, false, "int8");
    assertEquals(await logitsOf(dir, cache, "int8"), plain);
    const entry = await entryOf(dir, cache, "int8");
    const meta = () => JSON.parse(Deno.readTextFileSync(`${entry.dir}/meta.json`));
    const cases: [string, () => Promise<void>][] = [
      ["a flipped byte in the decoder graph", async () => {
        const p = `${entry.dir}/decoder.onnx`;
        const b = await Deno.readFile(p);
        await overwrite(p, b.length >> 1, new Uint8Array([b[b.length >> 1] ^ 0xff]));
      }],
      [
        "overwritten int8 weights",
        () => overwrite(`${entry.dir}/weights.bin`, 0, new Uint8Array(4096).fill(3)),
      ],
      ["a truncated weights.bin", () => Deno.truncate(`${entry.dir}/weights.bin`, 4096)],
      [
        "a foreign meta.json (another key)",
        () =>
          Deno.writeTextFile(
            `${entry.dir}/meta.json`,
            JSON.stringify({ ...meta(), key: "0".repeat(64) }),
          ),
      ],
      ["a meta.json that is not JSON", () => Deno.writeTextFile(`${entry.dir}/meta.json`, "{")],
    ];
    for (const [what, corrupt] of cases) {
      await t.step(what, async () => {
        await corrupt();
        const broken = await entryOf(dir, cache, "int8");
        assertEquals(await broken.read(), null);
        assertEquals(broken.miss, "invalid");
        // The failed read moved the entry aside; the next load rebuilds it.
        assertEquals(await logitsOf(dir, cache, "int8"), plain);
        const again = await entryOf(dir, cache, "int8");
        assert((await again.read()) !== null);
        assertEquals(again.miss, null);
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(cache, { recursive: true });
  }
});

Deno.test("graphCacheDir: false is no cache, a granted folder is used; digest known answers", () => {
  assertEquals(graphCacheDir(false), null);
  assertEquals(graphCacheDir("/tmp/x"), "/tmp/x"); // this test runs with -A
  assertEquals(digest(new Uint8Array(0)), "811c9dc501000193");
  assertNotEquals(digest(new Uint8Array([1, 2, 3, 4])), digest(new Uint8Array([1, 2, 3, 5])));
});
