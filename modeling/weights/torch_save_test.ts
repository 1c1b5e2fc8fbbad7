import { assert, assertEquals, assertThrows } from "@std/assert";
import { Tensor } from "../tensor.ts";
import { WeightsError } from "./errors.ts";
import { PickleEncoder } from "./_pickle_write.ts";
import { loadTorchCheckpointFile, readTorchCheckpoint } from "./torch_pickle.ts";
import {
  saveTorchCheckpointFile,
  stateDictOrder,
  torchArchiveName,
  writeTorchCheckpoint,
} from "./torch_save.ts";
import { readZip } from "./zip.ts";

const FIXTURE = new URL(
  "../../tests/testdata/fixtures/bert2bert-bin/pytorch_model.bin",
  import.meta.url,
).pathname;

/** The fixture's tied pairs (alias → key whose storage it shares), read from its data.pkl. */
const FIXTURE_TIES: [string, string][] = [
  ["decoder.cls.predictions.decoder.weight", "decoder.bert.embeddings.word_embeddings.weight"],
  ["decoder.cls.predictions.decoder.bias", "decoder.cls.predictions.bias"],
];

function assertSameTensors(a: Map<string, Tensor>, b: Map<string, Tensor>) {
  assertEquals([...b.keys()], [...a.keys()], "keys, in order");
  for (const [key, t] of a) {
    const u = b.get(key)!;
    assertEquals([u.dtype, u.dims], [t.dtype, t.dims], key);
    assertEquals([...u.data as Iterable<unknown>], [...t.data as Iterable<unknown>], key);
  }
}

const entryNames = (bytes: Uint8Array) => [...readZip(bytes).entries.keys()];

Deno.test("torch_save: every dtype, scalars, empty and 4-D tensors round-trip exactly", async () => {
  const tensors = new Map<string, Tensor>([
    ["f32", Tensor.from([[1.5, -2, 3.25e-7], [3, 4, -0]])],
    ["f16", Tensor.from([0.1, -2, 65504], "float16")],
    ["bf16", Tensor.from([0.1, 3e38, -1], "bfloat16")],
    ["i32", Tensor.from([-5, 6, 2 ** 31 - 1], "int32")],
    ["i64", new Tensor("int64", new BigInt64Array([-(2n ** 62n), 2n ** 40n]), [2, 1])],
    ["bool", Tensor.from([1, 0, 1], "bool")],
    ["scalar", Tensor.from(7.5)],
    ["empty", Tensor.zeros([0, 3], "float32")],
    ["four_d", Tensor.from([[[[1, 2], [3, 4]]], [[[5, 6], [7, 8]]]])],
  ]);
  const back = await readTorchCheckpoint(writeTorchCheckpoint(tensors));
  assertSameTensors(tensors, back);
  // One storage per tensor, in key order; torch sorts the entries as strings.
  assertEquals(entryNames(writeTorchCheckpoint(tensors)), [
    "archive/data.pkl",
    ...["0", "1", "2", "3", "4", "5", "6", "7", "8"].map((k) => `archive/data/${k}`),
    "archive/version",
  ]);
});

Deno.test("torch_save: tensors sharing a data array share one storage, others do not", async () => {
  const w = Tensor.from([[1, 2], [3, 4]]);
  const equalButDistinct = Tensor.from([[1, 2], [3, 4]]);
  const bytes = writeTorchCheckpoint({ w, tied: w, copy: equalButDistinct });
  assertEquals(entryNames(bytes), [
    "archive/data.pkl",
    "archive/data/0",
    "archive/data/1",
    "archive/version",
  ]);
  const back = await readTorchCheckpoint(bytes);
  for (const k of ["w", "tied", "copy"]) assertEquals(back.get(k)!.tolist(), [[1, 2], [3, 4]], k);
});

Deno.test("torch_save: the bert2bert-bin fixture is rewritten byte for byte (torch 1.13 layout)", async () => {
  const original = await Deno.readFile(FIXTURE);
  const sd = await readTorchCheckpoint(original);
  // The reader copies tied tensors apart; alias them again as the model's state dict has them.
  const tied = new Map(sd);
  for (const [alias, key] of FIXTURE_TIES) tied.set(alias, sd.get(key)!);
  const bytes = writeTorchCheckpoint(tied, { archiveName: "pytorch_model" });
  assertEquals(entryNames(bytes), entryNames(original));
  assert(bytes.length === original.length && bytes.every((b, i) => b === original[i]));
  // Untied, the two aliases get storages of their own; every tensor still reads back equal.
  const untied = writeTorchCheckpoint(sd, { archiveName: "pytorch_model" });
  assertSameTensors(sd, await readTorchCheckpoint(untied));
  assertEquals(entryNames(untied).length, entryNames(original).length + 2);
});

Deno.test("torch_save: dict items are batched as CPython's C pickler does (1, 1000, 1001 keys)", async () => {
  const tail = async (
    bytes: Uint8Array,
  ) => [...(await readZip(bytes).read("archive/data.pkl")).slice(-3)];
  const layers = (n: number) =>
    new Map(Array.from({ length: n }, (_, i) => [`layer.${i}.bias`, Tensor.from([i, -i])]));
  // One item: KEY VALUE SETITEM (no MARK), STOP.
  assertEquals((await tail(writeTorchCheckpoint(layers(1)))).slice(1), [0x73, 0x2e]);
  // A full batch of 1000 is followed by an empty MARK SETITEMS, as pickle.dumps writes.
  assertEquals(await tail(writeTorchCheckpoint(layers(1000))), [0x28, 0x75, 0x2e]);
  const bytes = writeTorchCheckpoint(layers(1001));
  assertEquals((await tail(bytes)).slice(1), [0x75, 0x2e]);
  assertSameTensors(layers(1001), await readTorchCheckpoint(bytes));
});

Deno.test("torch_save: ints are pickled as CPython's save_long writes them", () => {
  const cases: [number | bigint, string][] = [
    [255, "4bff"],
    [256, "4d0001"],
    [65536, "4a00000100"],
    [-1, "4affffffff"],
    [-129, "4a7fffffff"],
    [2 ** 31, "8a050000008000"],
    [-(2 ** 31) - 1, "8a05ffffff7fff"],
    [2 ** 40, "8a06000000000001"],
    [-(2n ** 40n), "8a060000000000ff"],
  ];
  for (const [n, hex] of cases) {
    const got = [...new PickleEncoder().int(n).build()];
    assertEquals(got.map((b) => b.toString(16).padStart(2, "0")).join(""), hex, String(n));
  }
});

Deno.test("torch_save: files are written atomically with torch's archive name", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/pytorch_model-00001-of-00002.bin`;
    await saveTorchCheckpointFile(path, { w: Tensor.from([1, 2]) });
    assertEquals(entryNames(await Deno.readFile(path))[0], "pytorch_model-00001-of-00002/data.pkl");
    assertEquals((await loadTorchCheckpointFile(path)).get("w")!.tolist(), [1, 2]);
    const names = [];
    for await (const e of Deno.readDir(dir)) names.push(e.name);
    assertEquals(names, ["pytorch_model-00001-of-00002.bin"], "no temporary file left");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  assertEquals(torchArchiveName("a/b/model.pt"), "model");
  assertThrows(
    () => writeTorchCheckpoint({}, { archiveName: "a/b" }),
    WeightsError,
    "archive name",
  );
});

Deno.test("torch_save: stateDictOrder puts a module's own parameters before its submodules'", () => {
  // BertLMPredictionHead: `bias` is its own parameter, `transform` and `decoder` are children.
  const p = "decoder.cls.predictions";
  assertEquals(
    stateDictOrder([
      `${p}.transform.dense.weight`,
      `${p}.transform.LayerNorm.bias`,
      `${p}.bias`,
      `${p}.decoder.weight`,
      `${p}.decoder.bias`,
      "encoder.pooler.dense.weight",
    ]),
    [
      `${p}.bias`,
      `${p}.transform.dense.weight`,
      `${p}.transform.LayerNorm.bias`,
      `${p}.decoder.weight`,
      `${p}.decoder.bias`,
      "encoder.pooler.dense.weight",
    ],
  );
});
