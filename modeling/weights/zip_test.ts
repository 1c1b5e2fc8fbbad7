import { assert, assertEquals, assertRejects, assertThrows } from "@std/assert";
import { WeightsError } from "./errors.ts";
import { crc32, readZip, writeZip } from "./zip.ts";
import { concat, makeZip } from "./_test_utils.ts";

const enc = new TextEncoder();

Deno.test('zip: crc32 known answer ("123456789" → cbf43926)', () => {
  assertEquals(crc32(enc.encode("123456789")), 0xcbf43926);
  assertEquals(crc32(new Uint8Array()), 0);
});

Deno.test("zip: stored and deflated entries read back byte for byte, in both layouts", async () => {
  const big = new Uint8Array(5000).map((_, i) => (i * 7) % 13);
  for (const [deflate, layout] of [[false, "plain"], [true, "plain"], [false, "torch"]] as const) {
    const entries: [string, Uint8Array][] = [["a/x", enc.encode("hello")], ["a/y", big]];
    const zip = readZip(await makeZip(entries, { deflate, layout }));
    assertEquals([...zip.entries.keys()], ["a/x", "a/y"]);
    assertEquals(new TextDecoder().decode(await zip.read("a/x")), "hello");
    assertEquals(await zip.read("a/y"), big);
    await assertRejects(() => zip.read("a/z"), WeightsError, 'no entry "a/z"');
  }
});

Deno.test("zip: the ZIP64 end records of the torch layout are followed", async () => {
  const plain = await makeZip([["a/x", enc.encode("zip64")]], { layout: "torch" });
  const eocd = plain.length - 22;
  // Mark the classic end record's fields "see ZIP64" so only the ZIP64 record can answer.
  const masked = plain.slice();
  const ev = new DataView(masked.buffer);
  ev.setUint16(eocd + 8, 0xffff, true);
  ev.setUint16(eocd + 10, 0xffff, true);
  ev.setUint32(eocd + 12, 0xffffffff, true);
  ev.setUint32(eocd + 16, 0xffffffff, true);
  const zip = readZip(masked);
  assertEquals(new TextDecoder().decode(await zip.read("a/x")), "zip64");
  // Without the 20-byte locator the same end record is an error, not a guess.
  assertThrows(
    () => readZip(concat([masked.subarray(0, eocd - 20), masked.subarray(eocd)])),
    WeightsError,
    "ZIP64 locator is missing",
  );
});

/** Offset of the central directory, from the classic end record. */
function cdOffsetOf(zip: Uint8Array): number {
  return new DataView(zip.buffer, zip.byteOffset).getUint32(zip.length - 22 + 16, true);
}

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
  flipped[readZip(good).entries.get("a/x")!.dataOffset + 1] ^= 0x20;
  const e = await assertRejects(() => readZip(flipped).read("a/x"), WeightsError, "CRC-32");
  assert(e.message.includes('"a/x"'));
  // Unknown compression method.
  const bz = good.slice();
  new DataView(bz.buffer).setUint16(cdOffsetOf(good) + 10, 12, true);
  assertThrows(() => readZip(bz), WeightsError, "compression method 12");
});

Deno.test("zip: deflate output larger than the declared size is refused (zip bomb guard)", async () => {
  const zip = await makeZip([["a/x", new Uint8Array(100000)]], { deflate: true });
  // Shrink the declared uncompressed size in the central directory.
  new DataView(zip.buffer).setUint32(cdOffsetOf(zip) + 24, 10, true);
  await assertRejects(() => readZip(zip).read("a/x"), WeightsError, "beyond the declared 10 bytes");
});

Deno.test("zip: writeZip lays entries out as torch's writer (64-byte aligned data, descriptors)", () => {
  const names = ["archive/data.pkl", "archive/data/0", "archive/version"];
  const datas = [enc.encode("pickle"), new Uint8Array(100).fill(7), enc.encode("3\n")];
  const bytes = writeZip(names.map((name, i) => ({ name, data: datas[i] })));
  const zip = readZip(bytes);
  assertEquals([...zip.entries.keys()], names);
  let end = 0;
  for (const [i, e] of [...zip.entries.values()].entries()) {
    assertEquals([e.method, e.size, e.dataOffset % 64], [0, datas[i].length, 0], e.name);
    // Local header: flags 0x0808, zero CRC and sizes; padding is an "FB" extra of 'Z's.
    const local = bytes.subarray(end, e.dataOffset);
    const v = new DataView(local.buffer, local.byteOffset);
    assertEquals([v.getUint32(0, true), v.getUint16(6, true), v.getUint32(14, true)], [
      0x04034b50,
      0x0808,
      0,
    ]);
    const extra = local.subarray(30 + e.name.length);
    assertEquals(new TextDecoder().decode(extra.subarray(0, 2)), "FB");
    assert(extra.subarray(4).every((b) => b === 0x5a));
    // Data descriptor after the data: signature, CRC, sizes.
    const d = new DataView(bytes.buffer, e.dataOffset + e.size);
    assertEquals([d.getUint32(0, true), d.getUint32(4, true), d.getUint32(12, true)], [
      0x08074b50,
      e.crc32,
      e.size,
    ]);
    end = e.dataOffset + e.size + 16;
  }
  assertEquals(cdOffsetOf(bytes), end);
  // An empty entry, as miniz writes it: bit 3 clear and no data descriptor.
  const empty = writeZip([{ name: "e", data: new Uint8Array() }, { name: "f", data: datas[0] }]);
  const [e, f] = [...readZip(empty).entries.values()];
  assertEquals(new DataView(empty.buffer).getUint16(6, true), 0x0800);
  assertEquals(empty.subarray(e.dataOffset, e.dataOffset + 4), enc.encode("PK\x03\x04"));
  assertEquals(f.dataOffset % 64, 0);
});
