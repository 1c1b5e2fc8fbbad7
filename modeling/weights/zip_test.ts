import { assert, assertEquals, assertRejects, assertThrows } from "@std/assert";
import { WeightsError } from "./errors.ts";
import { crc32, readZip } from "./zip.ts";
import { concat, makeZip } from "./_test_utils.ts";

const enc = new TextEncoder();

Deno.test('zip: crc32 known answer ("123456789" → cbf43926)', () => {
  assertEquals(crc32(enc.encode("123456789")), 0xcbf43926);
  assertEquals(crc32(new Uint8Array()), 0);
});

Deno.test("zip: stored and deflated entries read back byte for byte", async () => {
  const big = new Uint8Array(5000).map((_, i) => (i * 7) % 13);
  for (const deflate of [false, true]) {
    const zip = readZip(await makeZip([["a/x", enc.encode("hello")], ["a/y", big]], { deflate }));
    assertEquals([...zip.entries.keys()], ["a/x", "a/y"]);
    assertEquals(new TextDecoder().decode(await zip.read("a/x")), "hello");
    assertEquals(await zip.read("a/y"), big);
    await assertRejects(() => zip.read("a/z"), WeightsError, 'no entry "a/z"');
  }
});

Deno.test("zip: ZIP64 end records are followed", async () => {
  const plain = await makeZip([["a/x", enc.encode("zip64")]]);
  const eocd = plain.length - 22;
  const v = new DataView(plain.buffer);
  const cdSize = v.getUint32(eocd + 12, true);
  const cdOffset = v.getUint32(eocd + 16, true);
  const rec = new Uint8Array(56);
  const rv = new DataView(rec.buffer);
  rv.setUint32(0, 0x06064b50, true);
  rv.setBigUint64(4, 44n, true);
  rv.setBigUint64(24, 1n, true);
  rv.setBigUint64(32, 1n, true);
  rv.setBigUint64(40, BigInt(cdSize), true);
  rv.setBigUint64(48, BigInt(cdOffset), true);
  const loc = new Uint8Array(20);
  const lv = new DataView(loc.buffer);
  lv.setUint32(0, 0x07064b50, true);
  lv.setBigUint64(8, BigInt(eocd), true);
  lv.setUint32(16, 1, true);
  const end = plain.slice(eocd);
  const ev = new DataView(end.buffer);
  ev.setUint16(8, 0xffff, true);
  ev.setUint16(10, 0xffff, true);
  ev.setUint32(12, 0xffffffff, true);
  ev.setUint32(16, 0xffffffff, true);
  const zip = readZip(concat([plain.subarray(0, eocd), rec, loc, end]));
  assertEquals(new TextDecoder().decode(await zip.read("a/x")), "zip64");
  // Without the locator the same end record is an error, not a guess.
  assertThrows(
    () => readZip(concat([plain.subarray(0, eocd), end])),
    WeightsError,
    "ZIP64 locator is missing",
  );
});

Deno.test("zip: corrupt archives are WeightsErrors naming the problem", async () => {
  const good = await makeZip([["a/x", enc.encode("hello")]]);
  assertThrows(
    () => readZip(new Uint8Array(10), { file: "f.zip" }),
    WeightsError,
    "f.zip: not a zip",
  );
  // Central directory offset pointing past the records.
  const bad = good.slice();
  new DataView(bad.buffer).setUint32(bad.length - 22 + 16, 1_000_000, true);
  assertThrows(() => readZip(bad), WeightsError, "central directory");
  // Data flipped: CRC mismatch on read.
  const flipped = good.slice();
  flipped[30 + 3 + 1] ^= 0x20;
  const e = await assertRejects(() => readZip(flipped).read("a/x"), WeightsError, "CRC-32");
  assert(e.message.includes('"a/x"'));
  // Unknown compression method.
  const bz = good.slice();
  new DataView(bz.buffer).setUint16(good.length - 22 - 49 + 10, 12, true);
  assertThrows(() => readZip(bz), WeightsError, "compression method 12");
});

Deno.test("zip: deflate output larger than the declared size is refused (zip bomb guard)", async () => {
  const zip = await makeZip([["a/x", new Uint8Array(100000)]], { deflate: true });
  // Shrink the declared uncompressed size in the central directory.
  const cd = zip.length - 22 - (46 + 3);
  new DataView(zip.buffer).setUint32(cd + 24, 10, true);
  await assertRejects(() => readZip(zip).read("a/x"), WeightsError, "beyond the declared 10 bytes");
});
