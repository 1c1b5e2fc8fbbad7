/**
 * The fast paths of reading a `pytorch_model.bin`: the file read into one buffer of its size,
 * storages viewed in that buffer instead of copied (`shareBytes`, what `loadTorchCheckpointFile`
 * uses) and the slice-by-8 CRC-32. Each gives what the plain path gives.
 */
import { assert, assertEquals, assertRejects } from "@std/assert";
import { Tensor } from "../tensor.ts";
import { WeightsError } from "./errors.ts";
import { readFileOrThrow } from "./_file_io.ts";
import { loadTorchCheckpointFile, readTorchCheckpoint } from "./torch_pickle.ts";
import { writeTorchCheckpoint } from "./torch_save.ts";
import { makeZip } from "./_test_utils.ts";
import { crc32, readZip } from "./zip.ts";

const FIXTURE = new URL(
  "../../tests/testdata/fixtures/bert2bert-bin/pytorch_model.bin",
  import.meta.url,
).pathname;

function assertSameTensors(a: Map<string, Tensor>, b: Map<string, Tensor>) {
  assertEquals([...b.keys()], [...a.keys()], "keys, in order");
  for (const [key, t] of a) {
    const u = b.get(key)!;
    assertEquals([u.dtype, u.dims], [t.dtype, t.dims], key);
    assertEquals([...u.data as Iterable<unknown>], [...t.data as Iterable<unknown>], key);
  }
}

/** The byte-at-a-time CRC-32 (the reference the slice-by-8 one must equal). */
function crc32Bytewise(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

Deno.test("crc32: slice-by-8 equals the bytewise CRC at every length and alignment", () => {
  const data = Uint8Array.from({ length: 4099 }, (_, i) => (i * 2654435761) >>> 13);
  for (let start = 0; start < 9; start++) {
    for (const len of [0, 1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 1000, 4090]) {
      const s = data.subarray(start, start + len);
      assertEquals(crc32(s), crc32Bytewise(s), `start ${start}, length ${len}`);
    }
  }
  assertEquals(crc32(new TextEncoder().encode("123456789")), 0xcbf43926);
  assertEquals(crc32(new Uint8Array(32).fill(0xff)), crc32Bytewise(new Uint8Array(32).fill(0xff)));
});

Deno.test("readFileOrThrow: the whole file, exactly; a missing file is a WeightsError", async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (const n of [0, 1, 65537, 3 << 20]) {
      const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 31 + n) & 0xff);
      await Deno.writeFile(`${dir}/f`, bytes);
      const got = await readFileOrThrow(`${dir}/f`);
      assertEquals(got.length, n);
      assert(got.every((b, i) => b === bytes[i]), `${n} bytes`);
    }
    await assertRejects(() => readFileOrThrow(`${dir}/none`), WeightsError, `${dir}/none`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadTorchCheckpointFile: the fixture's tensors equal the copying reader's", async () => {
  const bytes = await Deno.readFile(FIXTURE);
  const copied = await readTorchCheckpoint(bytes, { file: FIXTURE });
  const shared = await loadTorchCheckpointFile(FIXTURE);
  assertSameTensors(copied, shared);
  // Storages are viewed in one file buffer, not copied one by one...
  const buffers = new Set([...shared.values()].map((t) => t.data.buffer));
  assert(buffers.size < shared.size / 2, `${buffers.size} buffers for ${shared.size} tensors`);
  // ...but a tied pair (one storage) still gets two tensors that do not share data.
  const a = shared.get("decoder.bert.embeddings.word_embeddings.weight")!;
  const b = shared.get("decoder.cls.predictions.decoder.weight")!;
  assert(a.data.buffer !== b.data.buffer, "a tied pair shares a buffer");
  const before = b.get(0);
  (a.data as Float32Array)[0] = before + 1;
  assertEquals(b.get(0), before);
});

Deno.test("readTorchCheckpoint shareBytes: half, bfloat16, int64 and a tie, stored and deflated", async () => {
  const w = Tensor.from([[0.5, -2], [3, 65504]], "float16");
  const tensors = new Map<string, Tensor>([
    ["w", w],
    ["tied", w],
    ["bf", Tensor.from([0.1, 3e38, -1], "bfloat16")],
    ["f", Tensor.from([[1.5, -2, 7]])],
    ["i", Tensor.from([[7], [-8]], "int64")],
  ]);
  const bytes = writeTorchCheckpoint(tensors);
  const plain = await readTorchCheckpoint(bytes);
  const shared = await readTorchCheckpoint(bytes.slice(), { shareBytes: true });
  assertSameTensors(plain, shared);
  assertSameTensors(tensors, shared);
  assert(shared.get("w")!.data.buffer !== shared.get("tied")!.data.buffer);
  // The same storages deflated: the inflated buffers are adopted, the values unchanged.
  const zip = readZip(bytes);
  const parts: [string, Uint8Array][] = [];
  for (const name of zip.entries.keys()) parts.push([name, await zip.read(name)]);
  const deflated = await makeZip(parts, { deflate: true });
  assertSameTensors(tensors, await readTorchCheckpoint(deflated, { shareBytes: true }));
});
