import { assert, assertEquals, assertRejects, assertThrows } from "@std/assert";
import { Tensor } from "../tensor.ts";
import { WeightsError } from "./errors.ts";
import { loadSafetensorsFile } from "./safetensors.ts";
import {
  loadTorchCheckpointFile,
  type PickleContext,
  readTorchCheckpoint,
  unpickleStateDict,
} from "./torch_pickle.ts";
import { readZip } from "./zip.ts";
import { makeTorchCheckpoint, makeZip, PickleWriter } from "./_test_utils.ts";

const FIXTURES = new URL("../../tests/testdata/fixtures/", import.meta.url);
const fixture = (p: string) => new URL(p, FIXTURES).pathname;
const enc = new TextEncoder();

/** A seeded linear congruential generator (reproducible mutations; no Math.random). */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const noRebuild: PickleContext = {
  file: "evil.pkl",
  rebuild: () => {
    throw new Error("rebuild must not be reached");
  },
};

Deno.test("torch: bert2bert-bin/pytorch_model.bin equals the fp16-rounded bert2bert weights, tensor by tensor", async () => {
  // The generator saved the .bin after model.half().float() (see fixtures/generate.py), so its
  // float32 values equal bert2bert-fp16/model.safetensors upcast: compared exactly (tolerance 0).
  const bin = await loadTorchCheckpointFile(fixture("bert2bert-bin/pytorch_model.bin"));
  const ref = (await loadSafetensorsFile(fixture("bert2bert-fp16/model.safetensors"))).tensors;
  const exact = (await loadSafetensorsFile(fixture("bert2bert/model.safetensors"))).tensors;
  assertEquals(bin.size, 103);
  for (const [key, h] of ref) {
    const t = bin.get(key);
    assert(t, `missing ${key}`);
    assertEquals(t.dtype, "float32", key);
    assertEquals(t.dims, h.dims, key);
    const want = h.toFloat32().data;
    assert(t.data.every((x, i) => x === want[i]), `${key}: values differ`);
    // And within fp16 rounding (relative 2^-11) of the float32 originals.
    const orig = exact.get(key)!.data as Float32Array;
    for (let i = 0; i < orig.length; i++) {
      assert(Math.abs((t.data[i] as number) - orig[i]) <= Math.abs(orig[i]) * 2 ** -11 + 1e-7);
    }
  }
  // The tied LM head is stored explicitly and shares the word-embedding storage.
  const head = bin.get("decoder.cls.predictions.decoder.weight")!;
  const emb = bin.get("decoder.bert.embeddings.word_embeddings.weight")!;
  assertEquals(head.dims, [99, 32]);
  assert(head.data.every((x, i) => x === emb.data[i]));
  assertEquals(
    bin.get("decoder.cls.predictions.decoder.bias")!.tolist(),
    bin.get("decoder.cls.predictions.bias")!.tolist(),
  );
});

Deno.test("torch: strided views, storage offsets, shared storages, protocol 4, deflate", async () => {
  const p = new PickleWriter().proto(4).raw(0x95, 200, 0, 0, 0, 0, 0, 0, 0); // FRAME
  p.raw(0x7d, 0x94).mark(); // {} memo0, MARK
  p.shortStr("t").raw(0x94); // memo1
  p.shortStr("torch._utils").shortStr("_rebuild_tensor_v2").raw(0x93, 0x94); // STACK_GLOBAL memo2
  // t = transposed view of storage 0 = [[0,1,2],[3,4,5]] → [[0,3],[1,4],[2,5]]
  p.mark().mark().str("storage").global("torch", "FloatStorage").str("0").str("cpu").int(6)
    .raw(0x74, 0x51, 0x94); // TUPLE BINPERSID memo3
  p.int(0).intTuple([3, 2]).intTuple([1, 3]).raw(0x89);
  p.global("collections", "OrderedDict").raw(0x29, 0x52).raw(0x74, 0x52);
  // u = storage 0, offset 1, size [2], stride [2] → [1, 3]
  p.shortStr("u").raw(0x68, 2).mark().raw(0x68, 3).int(1).intTuple([2]).intTuple([2]).raw(0x89);
  p.raw(0x4e).raw(0x74, 0x52); // None hooks
  // tied = storage 0 whole, contiguous [6]
  p.shortStr("tied").raw(0x68, 2).mark().raw(0x68, 3).int(0).intTuple([6]).intTuple([1]);
  p.raw(0x89, 0x4e, 0x74, 0x52);
  // p = _rebuild_parameter(int64 storage 1 [2, 1], True, OrderedDict())
  p.shortStr("p").global("torch._utils", "_rebuild_parameter").mark();
  p.raw(0x68, 2).mark().mark().str("storage").global("torch", "LongStorage").str("1").str("cpu")
    .int(2).raw(0x74, 0x51);
  p.int(0).intTuple([2, 1]).intTuple([1, 1]).raw(0x89, 0x4e, 0x74, 0x52);
  p.raw(0x88).global("collections", "OrderedDict").raw(0x29, 0x52).raw(0x74, 0x52);
  p.raw(0x75); // SETITEMS
  // BUILD the OrderedDict-free dict? No: state dicts are OrderedDicts; here the top is a dict,
  // which has no state, so stop.
  p.raw(0x2e);
  const floats = new Float32Array([0, 1, 2, 3, 4, 5]);
  const longs = new BigInt64Array([-7n, 2n ** 40n]);
  const zip = await makeZip([
    ["archive/data.pkl", p.build()],
    ["archive/byteorder", enc.encode("little")],
    ["archive/data/0", new Uint8Array(floats.buffer)],
    ["archive/data/1", new Uint8Array(longs.buffer)],
  ], { deflate: true });
  assertEquals([...readZip(zip).entries.values()].map((e) => e.method), [8, 8, 8, 8]);
  const sd = await readTorchCheckpoint(zip, { file: "views.bin" });
  assertEquals([...sd.keys()], ["t", "u", "tied", "p"]);
  assertEquals(sd.get("t")!.tolist(), [[0, 3], [1, 4], [2, 5]]);
  assertEquals(sd.get("u")!.tolist(), [1, 3]);
  assertEquals(sd.get("tied")!.tolist(), [0, 1, 2, 3, 4, 5]);
  assertEquals(sd.get("p")!.dtype, "int64");
  assertEquals([...sd.get("p")!.data as BigInt64Array], [-7n, 2n ** 40n]);
});

Deno.test("torch: round trip of every storage dtype through a torch-layout zip", async () => {
  const tensors = new Map<string, Tensor>([
    ["f32", Tensor.from([[1.5, -2], [3, 4]])],
    ["f16", Tensor.from([0.1, -2], "float16")],
    ["bf16", Tensor.from([0.1, 3e38], "bfloat16")],
    ["i32", Tensor.from([-5, 6], "int32")],
    ["i64", Tensor.from([[7], [8]], "int64")],
    ["bool", Tensor.from([1, 0], "bool")],
  ]);
  const sd = await readTorchCheckpoint(await makeTorchCheckpoint(tensors));
  for (const [key, t] of tensors) {
    const r = sd.get(key)!;
    assertEquals([r.dtype, r.dims], [t.dtype, t.dims], key);
    assertEquals([...r.data as Iterable<unknown>], [...t.data as Iterable<unknown>], key);
  }
});

Deno.test("torch: an OrderedDict state (_metadata) is accepted through BUILD", () => {
  const p = new PickleWriter().proto(2).global("collections", "OrderedDict").raw(0x29, 0x52);
  p.raw(0x7d).str("_metadata").raw(0x7d, 0x73).raw(0x62, 0x2e); // {"_metadata": {}} BUILD STOP
  assertEquals(unpickleStateDict(p.build(), noRebuild).size, 0);
});

Deno.test("torch: malicious pickles are refused, nothing runs, no marker file appears", async () => {
  const dir = await Deno.makeTempDir();
  const marker = `${dir}/pwned`;
  const cmd = `touch ${marker}`;
  const cases: [string, Uint8Array, string][] = [
    [
      "os.system + REDUCE",
      new PickleWriter().proto(2).global("os", "system").str(cmd).raw(0x85, 0x52, 0x2e).build(),
      '"os.system"',
    ],
    [
      "posix.system via STACK_GLOBAL",
      new PickleWriter().proto(4).shortStr("posix").shortStr("system").raw(0x93).str(cmd)
        .raw(0x85, 0x52, 0x2e).build(),
      '"posix.system"',
    ],
    [
      "builtins.eval",
      new PickleWriter().proto(2).global("builtins", "eval")
        .str(`__import__('os').system('${cmd}')`).raw(0x85, 0x52, 0x2e).build(),
      '"builtins.eval"',
    ],
    [
      "subprocess.Popen",
      new PickleWriter().proto(2).global("subprocess", "Popen").raw(0x5d).str("touch").raw(0x61)
        .str(marker).raw(0x61, 0x85, 0x52, 0x2e).build(),
      '"subprocess.Popen"',
    ],
    [
      "builtins.getattr",
      new PickleWriter().proto(2).global("builtins", "getattr").build(),
      '"builtins.getattr"',
    ],
    [
      "a torch global outside the allow-list",
      new PickleWriter().proto(2).global("torch", "load").build(),
      '"torch.load"',
    ],
    [
      "BUILD (__setstate__) on a list",
      new PickleWriter().proto(2).raw(0x5d).raw(0x7d).str("__setstate__").str(cmd).raw(0x73)
        .raw(0x62, 0x2e).build(),
      "BUILD (__setstate__) on a list is not allowed",
    ],
    [
      "BUILD on an allowed class object",
      new PickleWriter().proto(2).global("torch.nn.parameter", "Parameter").raw(0x7d, 0x62, 0x2e)
        .build(),
      "BUILD (__setstate__) on a torch.nn.parameter.Parameter is not allowed",
    ],
    [
      "REDUCE on a class",
      new PickleWriter().proto(2).global("torch", "Tensor").raw(0x29, 0x52, 0x2e).build(),
      "REDUCE may only call an allowed function, not torch.Tensor",
    ],
    [
      "nested PROTO",
      new PickleWriter().proto(2).raw(0x7d).proto(4).global("os", "system").build(),
      "a second or nested PROTO is not allowed",
    ],
    [
      "protocol 0 INST opcode",
      new PickleWriter().proto(2).raw(0x69, ...enc.encode(`os\nsystem\n`)).build(),
      "opcode 0x69",
    ],
    [
      "a pickle inside bytes is data, not code",
      (() => {
        const inner = new PickleWriter().proto(2).global("os", "system").str(cmd)
          .raw(0x85, 0x52, 0x2e).build();
        return new PickleWriter().proto(2).raw(0x7d).str("w").raw(0x43, inner.length, ...inner)
          .raw(0x73, 0x2e).build();
      })(),
      'state dict entry "w" is a bytes, expected a tensor',
    ],
    [
      "_rebuild_tensor_v2 on a string",
      new PickleWriter().proto(2).global("torch._utils", "_rebuild_tensor_v2").mark().str(cmd)
        .int(0).intTuple([1]).intTuple([1]).raw(0x74, 0x52, 0x2e).build(),
      "first argument must be a storage",
    ],
  ];
  try {
    for (const [what, pickle, message] of cases) {
      const e = assertThrows(() => unpickleStateDict(pickle, noRebuild), WeightsError);
      assert(e.message.includes(message), `${what}: "${e.message}" lacks ${message}`);
      const zip = await makeZip([["archive/data.pkl", pickle]]);
      await assertRejects(() => readTorchCheckpoint(zip, { file: "evil.bin" }), WeightsError);
    }
    const e = assertThrows(() => unpickleStateDict(cases[0][1], noRebuild), WeightsError);
    assert(e.message.includes("not allowed") && e.message.includes("nothing was executed"));
    assertEquals(await Deno.stat(marker).then(() => true, () => false), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("zip: unsafe and duplicate entry names are refused and nothing is written", async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (const name of ["../../evil", "/etc/x", "archive/../../x", "C:\\x", "a\\..\\b"]) {
      const zip = await makeZip([["archive/data.pkl", new Uint8Array([0x80, 2, 0x7d, 0x2e])], [
        name,
        enc.encode("evil"),
      ]]);
      const e = assertThrows(() => readZip(zip, { file: "evil.bin" }), WeightsError);
      assert(e.message.includes(JSON.stringify(name)) && e.message.includes("unsafe"), e.message);
      await assertRejects(() => readTorchCheckpoint(zip), WeightsError, "unsafe");
    }
    const dup = await makeZip([["a/data.pkl", enc.encode("x")], ["a/data.pkl", enc.encode("y")]]);
    assertThrows(() => readZip(dup), WeightsError, 'two entries named "a/data.pkl"');
    const written = [];
    for await (const e of Deno.readDir(dir)) written.push(e.name);
    assertEquals(written, []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("torch: truncated and bit-flipped .bin files give WeightsError or the same tensors", async () => {
  const bytes = await Deno.readFile(fixture("bert2bert-bin/pytorch_model.bin"));
  const good = await readTorchCheckpoint(bytes);
  for (const cut of [0, 1, 22, 100, 13000, 100000, bytes.length - 200, bytes.length - 1]) {
    await assertRejects(
      () => readTorchCheckpoint(bytes.subarray(0, cut), { file: "cut.bin" }),
      WeightsError,
      "cut.bin",
    );
  }
  // 200 single-bit flips at seeded positions: CRC-32, header and pickle checks catch each one,
  // unless the bit lies in a field that does not matter (timestamps, version-made-by).
  const rand = lcg(4);
  let refused = 0;
  for (let k = 0; k < 200; k++) {
    const mutated = bytes.slice();
    const at = Math.floor(rand() * bytes.length);
    mutated[at] ^= 1 << Math.floor(rand() * 8);
    try {
      const sd = await readTorchCheckpoint(mutated);
      assertEquals([...sd.keys()], [...good.keys()], `flip at ${at}`);
      for (const [key, t] of sd) {
        assert(t.data.every((x, i) => x === good.get(key)!.data[i]), `flip at ${at}: ${key}`);
      }
    } catch (e) {
      assert(e instanceof WeightsError, `flip at ${at}: ${e}`);
      refused++;
    }
  }
  assert(refused > 150, `only ${refused} of 200 flips detected`);
});

Deno.test("torch: mutated pickles (bit flips, truncation) inside valid zips never crash", async () => {
  const bytes = await Deno.readFile(fixture("bert2bert-bin/pytorch_model.bin"));
  const zip = readZip(bytes);
  const entries: [string, Uint8Array][] = [];
  for (const name of zip.entries.keys()) entries.push([name, await zip.read(name)]);
  const pklIndex = entries.findIndex(([n]) => n.endsWith("data.pkl"));
  const pkl = entries[pklIndex][1];
  const rand = lcg(11);
  let refused = 0;
  for (let k = 0; k < 150; k++) {
    let mutated = pkl.slice();
    if (k % 5 === 0) mutated = mutated.subarray(0, Math.floor(rand() * pkl.length));
    else {
      for (let j = 0; j < 3; j++) {
        mutated[Math.floor(rand() * pkl.length)] ^= 1 << Math.floor(rand() * 8);
      }
    }
    const parts = entries.slice();
    parts[pklIndex] = [parts[pklIndex][0], mutated];
    try {
      await readTorchCheckpoint(await makeZip(parts));
    } catch (e) {
      assert(e instanceof WeightsError, `mutation ${k}: ${e}`);
      refused++;
    }
  }
  assert(refused > 0);
});

Deno.test("torch: legacy non-zip checkpoints are refused with a clear message", async () => {
  await assertRejects(
    () => readTorchCheckpoint(new Uint8Array([0x80, 2, 0x8a, 0x0a]), { file: "old.bin" }),
    WeightsError,
    "old.bin: legacy (pre-1.6, non-zip) torch checkpoint",
  );
});

// ---- zip bombs (issue 19 item 10) ---------------------------------------------------------------

/** Sets the declared uncompressed size of zip entry `name` in the central directory. */
function patchDeclaredSize(zip: Uint8Array, name: string, size: number): void {
  const v = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
  const want = enc.encode(name);
  for (let p = 0; p + 46 < zip.length; p++) {
    if (v.getUint32(p, true) !== 0x02014b50 || v.getUint16(p + 28, true) !== want.length) continue;
    if (want.every((b, i) => zip[p + 46 + i] === b)) {
      v.setUint32(p + 24, size, true);
      return;
    }
  }
  throw new Error(`no central record for ${name}`);
}

/** A real checkpoint of `{ w: [1, 2, 3] }` rebuilt as a deflated zip with `extra` entries. */
async function checkpointWith(extra: [string, Uint8Array][]): Promise<Uint8Array> {
  const good = readZip(await makeTorchCheckpoint(new Map([["w", Tensor.from([1, 2, 3])]])));
  const entries: [string, Uint8Array][] = [];
  for (const name of good.entries.keys()) entries.push([name, await good.read(name)]);
  return await makeZip([...entries, ...extra], { deflate: true });
}

Deno.test("torch zip bomb: an unreferenced data/ entry declaring 2 GB is never inflated; the checkpoint loads", async () => {
  const zip = await checkpointWith([["archive/data/999", new Uint8Array(100_000)]]);
  patchDeclaredSize(zip, "archive/data/999", 2 ** 31);
  const sd = await readTorchCheckpoint(zip, { file: "bomb.bin" });
  assertEquals([...sd.keys()], ["w"]);
  assertEquals(sd.get("w")!.tolist(), [1, 2, 3]);
});

Deno.test("torch zip bomb: a referenced storage whose declared size is not numel × element size is refused unread", async () => {
  const zip = await checkpointWith([]);
  patchDeclaredSize(zip, "archive/data/0", 2 ** 30);
  await assertRejects(
    () => readTorchCheckpoint(zip, { file: "lie.bin" }),
    WeightsError,
    'lie.bin: storage "0" (FloatStorage): the zip entry declares 1073741824 bytes, the pickle\'s storage needs 3 elements × 4 bytes = 12; refused unread',
  );
});

Deno.test("zip bomb: an entry declaring more than deflate can expand (ratio > 1032) is refused before allocating", async () => {
  const zip = await makeZip([["a/x", new Uint8Array(1000)]], { deflate: true });
  patchDeclaredSize(zip, "a/x", 2 ** 31);
  await assertRejects(() => readZip(zip).read("a/x"), WeightsError, "more than deflate can expand");
});
