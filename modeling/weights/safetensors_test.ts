import { assert, assertEquals, assertThrows } from "@std/assert";
import { floatToHalf, halfToFloat, Tensor } from "../tensor.ts";
import { WeightsError } from "./errors.ts";
import {
  loadSafetensorsFile,
  readSafetensors,
  saveSafetensorsFile,
  writeSafetensors,
} from "./safetensors.ts";

const FIXTURES = new URL("../../tests/testdata/fixtures/", import.meta.url);
const fixture = (p: string) => new URL(p, FIXTURES).pathname;

/** Builds a safetensors file from a header object and raw data bytes (no validation). */
function craft(header: unknown, data: Uint8Array = new Uint8Array(), rawHeader?: string) {
  const json = new TextEncoder().encode(rawHeader ?? JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

Deno.test("safetensors: every fixture loads with the expected count, dtype and shapes", async () => {
  const cases: [string, number, string][] = [
    ["bert2bert/model.safetensors", 101, "float32"],
    ["bert2bert-fp16/model.safetensors", 101, "float16"],
    ["bertgeneration/model.safetensors", 57, "float32"],
    ["from-pretrained-parts/encoder/model.safetensors", 39, "float32"],
    ["from-pretrained-parts/decoder/model.safetensors", 39, "float32"],
  ];
  for (const [file, count, dtype] of cases) {
    const { tensors, metadata } = await loadSafetensorsFile(fixture(file));
    assertEquals(tensors.size, count, file);
    assertEquals(metadata, { format: "pt" }, file);
    for (const [key, t] of tensors) assertEquals(t.dtype, dtype, `${file}: ${key}`);
  }
  const { tensors } = await loadSafetensorsFile(fixture("bert2bert/model.safetensors"));
  assertEquals(tensors.get("encoder.embeddings.word_embeddings.weight")!.dims, [99, 32]);
  assertEquals(tensors.get("encoder.encoder.layer.0.intermediate.dense.weight")!.dims, [37, 32]);
  assertEquals(tensors.get("decoder.cls.predictions.bias")!.dims, [99]);
});

Deno.test("safetensors: fp16 fixture equals the bert2bert weights rounded to fp16 (exact)", async () => {
  const f32 = (await loadSafetensorsFile(fixture("bert2bert/model.safetensors"))).tensors;
  const f16 = (await loadSafetensorsFile(fixture("bert2bert-fp16/model.safetensors"))).tensors;
  assertEquals([...f16.keys()].sort(), [...f32.keys()].sort());
  for (const [key, h] of f16) {
    const ref = f32.get(key)!;
    assertEquals(h.dims, ref.dims, key);
    const up = h.toFloat32().data;
    for (let i = 0; i < up.length; i++) {
      // tolerance 0: halfToFloat(floatToHalf(x)) is what torch's .half() stores.
      if (up[i] !== halfToFloat(floatToHalf(ref.data[i] as number))) {
        throw new Error(`${key}[${i}]: ${up[i]} != fp16(${ref.data[i]})`);
      }
    }
  }
});

Deno.test("safetensors: re-writing each fixture reproduces the Python file byte for byte", async () => {
  for (
    const file of [
      "bert2bert/model.safetensors",
      "bert2bert-fp16/model.safetensors",
      "bertgeneration/model.safetensors",
    ]
  ) {
    const bytes = await Deno.readFile(fixture(file));
    const { tensors, metadata } = readSafetensors(bytes, { file });
    const again = writeSafetensors(tensors, metadata);
    assertEquals(again.length, bytes.length, file);
    assert(again.every((b, i) => b === bytes[i]), `${file}: bytes differ`);
  }
});

Deno.test("safetensors: write → read round trip for every dtype, scalars and empty tensors", () => {
  const tensors = new Map<string, Tensor>([
    ["f32", Tensor.from([[1.5, -2.25, 3e-8], [0, -0, 65504]])],
    ["f16", Tensor.from([0.1, -2, 65504, 6e-8], "float16")],
    ["bf16", Tensor.from([0.1, -2, 3e38], "bfloat16")],
    ["i32", Tensor.from([[-2147483648, 2147483647]], "int32")],
    ["i64", new Tensor("int64", new BigInt64Array([-(2n ** 63n), 2n ** 62n + 1n]), [2])],
    ["bool", Tensor.from([1, 0, 1], "bool")],
    ["scalar", new Tensor("float32", new Float32Array([7]), [])],
    ["empty", Tensor.zeros([0, 3], "float32")],
  ]);
  const bytes = writeSafetensors(tensors, { format: "pt", note: "x" });
  const headerLen = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assertEquals(headerLen % 8, 0); // header padded with spaces to 8-byte alignment
  const back = readSafetensors(bytes);
  assertEquals(back.metadata, { format: "pt", note: "x" });
  assertEquals([...back.tensors.keys()].sort(), [...tensors.keys()].sort());
  for (const [key, t] of tensors) {
    const r = back.tensors.get(key)!;
    assertEquals(r.dtype, t.dtype, key);
    assertEquals(r.dims, t.dims, key);
    assertEquals([...r.data as Iterable<number | bigint>], [
      ...t.data as Iterable<number | bigint>,
    ]);
  }
  // Record input and no metadata.
  const plain = readSafetensors(writeSafetensors({ w: Tensor.from([1]) }, {}));
  assertEquals(plain.metadata, {});
  assertEquals(plain.tensors.get("w")!.tolist(), [1]);
});

Deno.test("safetensors: dtypes without a twin are widened (F64→f32, I16/U16/I8/U8→i32, U32→i64)", () => {
  const data = new Uint8Array(8 + 2 + 2 + 1 + 1 + 4);
  const v = new DataView(data.buffer);
  v.setFloat64(0, 0.1, true);
  v.setInt16(8, -300, true);
  v.setUint16(10, 60000, true);
  v.setInt8(12, -5);
  v.setUint8(13, 250);
  v.setUint32(14, 4000000000, true);
  const file = craft({
    a: { dtype: "F64", shape: [1], data_offsets: [0, 8] },
    b: { dtype: "I16", shape: [1], data_offsets: [8, 10] },
    c: { dtype: "U16", shape: [1], data_offsets: [10, 12] },
    d: { dtype: "I8", shape: [1], data_offsets: [12, 13] },
    e: { dtype: "U8", shape: [1], data_offsets: [13, 14] },
    f: { dtype: "U32", shape: [1], data_offsets: [14, 18] },
  }, data);
  const t = readSafetensors(file).tensors;
  assertEquals(t.get("a")!.dtype, "float32");
  assertEquals(t.get("a")!.item(), Math.fround(0.1));
  assertEquals([t.get("b")!.dtype, t.get("b")!.item()], ["int32", -300]);
  assertEquals(t.get("c")!.item(), 60000);
  assertEquals(t.get("d")!.item(), -5);
  assertEquals(t.get("e")!.item(), 250);
  assertEquals([t.get("f")!.dtype, t.get("f")!.item()], ["int64", 4000000000]);
});

Deno.test("safetensors: malformed headers are WeightsErrors naming the tensor and offsets", () => {
  const w = (e: unknown) => ({ w: e });
  const four = new Uint8Array(4);
  const cases: [string, Uint8Array, string][] = [
    ["shorter than 8 bytes", new Uint8Array(5), "truncated safetensors file: 5 bytes"],
    [
      "header beyond file",
      (() => {
        const f = craft(w({ dtype: "F32", shape: [1], data_offsets: [0, 4] }), four);
        return f.subarray(0, 20);
      })(),
      "runs past the end of the file",
    ],
    [
      "header claims 2^60 bytes",
      (() => {
        const f = craft({});
        new DataView(f.buffer).setBigUint64(0, 2n ** 60n, true);
        return f;
      })(),
      "exceeds the limit of 100000000 bytes",
    ],
    ["non-object JSON (array)", craft([1, 2]), "must be a JSON object, found an array"],
    ["non-object JSON (number)", craft(3), "must be a JSON object, found number"],
    ["invalid JSON", craft(null, four, '{"w":'), "not valid JSON"],
    [
      "unknown dtype",
      craft(w({ dtype: "F8_E4M3", shape: [4], data_offsets: [0, 4] }), four),
      'tensor "w": unsupported dtype "F8_E4M3"',
    ],
    [
      "negative shape",
      craft(w({ dtype: "U8", shape: [-4], data_offsets: [0, 4] }), four),
      'tensor "w": shape [-4] must be a list of integers >= 0',
    ],
    [
      "offsets outside the data",
      craft(w({ dtype: "U8", shape: [8], data_offsets: [0, 8] }), four),
      'tensor "w": data_offsets [0, 8] lie outside the data section (4 bytes)',
    ],
    [
      "dtype × shape ≠ bytes",
      craft(w({ dtype: "F32", shape: [2], data_offsets: [0, 4] }), four),
      'tensor "w": dtype F32 × shape [2] needs 8 bytes, but data_offsets [0, 4] hold 4',
    ],
    [
      "huge shape",
      craft(w({ dtype: "F32", shape: [2 ** 30, 2 ** 30, 2 ** 30], data_offsets: [0, 4] }), four),
      'tensor "w": dtype F32 × shape [1073741824, 1073741824, 1073741824] needs more than 4 bytes',
    ],
    [
      "overlapping offsets",
      craft({
        a: { dtype: "U8", shape: [3], data_offsets: [0, 3] },
        b: { dtype: "U8", shape: [2], data_offsets: [2, 4] },
      }, four),
      'tensor "b" data_offsets [2, 4] overlap tensor "a" [0, 3]',
    ],
    [
      "hole between tensors",
      craft({
        a: { dtype: "U8", shape: [1], data_offsets: [0, 1] },
        b: { dtype: "U8", shape: [2], data_offsets: [2, 4] },
      }, four),
      'tensor "b" data_offsets [2, 4] leave a hole: expected begin 1',
    ],
    [
      "trailing bytes",
      craft(w({ dtype: "U8", shape: [2], data_offsets: [0, 2] }), four),
      "tensors cover 2 bytes of the data section but it holds 4",
    ],
    [
      "begin > end",
      craft(w({ dtype: "U8", shape: [0], data_offsets: [3, 1] }), four),
      'tensor "w": data_offsets [3, 1] have begin > end',
    ],
    [
      "non-string metadata",
      craft({ __metadata__: { format: 1 } }),
      '"__metadata__"."format" must be a string',
    ],
  ];
  for (const [what, bytes, message] of cases) {
    const e = assertThrows(() => readSafetensors(bytes, { file: "bad.safetensors" }), WeightsError);
    assert(e.message.startsWith("bad.safetensors: "), `${what}: ${e.message}`);
    assert(e.message.includes(message), `${what}: "${e.message}" lacks "${message}"`);
  }
});

Deno.test("safetensors: every truncation of a real file is a WeightsError", async () => {
  const bytes = await Deno.readFile(fixture("bertgeneration/model.safetensors"));
  for (const cut of [0, 7, 8, 100, 6831, 6832, 6840, bytes.length - 1]) {
    assertThrows(() => readSafetensors(bytes.subarray(0, cut)), WeightsError, "<bytes>");
  }
});

Deno.test("safetensors: saveSafetensorsFile → loadSafetensorsFile, no temporary file left", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/model.safetensors`;
    await saveSafetensorsFile(path, { b: Tensor.from([1, 2]), a: Tensor.from([3], "int64") });
    await saveSafetensorsFile(path, { b: Tensor.from([5, 6]) }); // overwrite
    const { tensors } = await loadSafetensorsFile(path);
    assertEquals([...tensors.keys()], ["b"]);
    assertEquals(tensors.get("b")!.tolist(), [5, 6]);
    const names = [];
    for await (const e of Deno.readDir(dir)) names.push(e.name);
    assertEquals(names, ["model.safetensors"]);
    await assertRejectsWeights(() => loadSafetensorsFile(`${dir}/missing.safetensors`));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

async function assertRejectsWeights(fn: () => Promise<unknown>) {
  try {
    await fn();
  } catch (e) {
    assert(e instanceof WeightsError, String(e));
    assert(e.message.includes("missing.safetensors"), e.message);
    return;
  }
  throw new Error("expected a WeightsError");
}
