/**
 * The memory path of onnxruntime-web (issue 18, goal 4): weight slabs, weights quantized while
 * streamed from their file, initializers handed over as in-memory external data, and int8
 * embedding tables (`int8Embeddings`), against the fixture goldens.
 */
import { assert, assertEquals, assertRejects, assertThrows } from "@std/assert";
import { AutoConfig, type EncoderDecoderConfig } from "@encdec/config";
import { OnnxEncoderDecoder, OnnxModelError } from "./mod.ts";
import { type FileTensor, openSafetensorsCheckpoint } from "./checkpoint.ts";
import { quantizePerColumn, transpose2d } from "./graph_builder.ts";
import { GraphTracer } from "./traced_graphs.ts";
import { webExternalData } from "./_sessions.ts";
import { quantizeLinearFromFile } from "./_stream_quantize.ts";
import { collectWeightsInto, SLAB_CHUNK_BYTES, WeightSlab } from "./_weight_slab.ts";
import {
  assertBelow,
  FIXTURES,
  forwardLogits,
  greedy,
  maxAbsDiff,
  readGoldens,
} from "./_test_util.ts";
import type { GraphSpec } from "./_onnx_proto.ts";

Deno.test("WeightSlab: tensors 64-byte aligned in 64 MiB chunks, a larger one in its own, freed at once", () => {
  const slab = new WeightSlab();
  const a = slab.place(new Uint8Array([1, 2, 3]));
  const b = slab.reserve(100);
  const big = slab.reserve(SLAB_CHUNK_BYTES + 1);
  const c = slab.place(new Uint8Array([7]));
  assertEquals(Array.from(a), [1, 2, 3]);
  assertEquals([slab.locate(a), slab.locate(b)], [{ chunk: 0, offset: 0 }, {
    chunk: 0,
    offset: 64,
  }]);
  assertEquals(slab.locate(big), { chunk: 1, offset: 0 });
  assertEquals(slab.locate(c), { chunk: 2, offset: 0 }); // the big chunk had no room left
  assertEquals(slab.chunks.map((k) => k.byteLength), [
    SLAB_CHUNK_BYTES,
    SLAB_CHUNK_BYTES + 1,
    SLAB_CHUNK_BYTES,
  ]);
  assertEquals(slab.locate(new Uint8Array(3)), null);
  slab.release();
  assertEquals([a.byteLength, big.byteLength, slab.chunks.length], [0, 0, 0]);
});

Deno.test("quantizeLinearFromFile: bit for bit quantizePerColumn(transpose2d(w)) read in row blocks; typed error for a half tensor", async () => {
  const tensors = (await openSafetensorsCheckpoint(`${FIXTURES}bert2bert`))!;
  let checked = 0;
  for (const [key, e] of tensors) {
    if (e.dims.length !== 2 || !("path" in e)) continue;
    const t = e as FileTensor;
    const [outF, inF] = t.dims;
    const bytes = (await Deno.readFile(t.path)).slice(t.offset, t.offset + t.length);
    const expected = quantizePerColumn(
      transpose2d(new Float32Array(bytes.buffer), outF, inF),
      inF,
      outF,
    );
    const q = new Int8Array(outF * inF);
    const scale = new Float32Array(outF);
    quantizeLinearFromFile(t, q, scale);
    assertEquals([key, q, scale], [key, expected.q, expected.scale]);
    checked++;
  }
  assert(checked > 20, `${checked} matrices`);
  const half = [...(await openSafetensorsCheckpoint(`${FIXTURES}bert2bert-fp16`))!.values()]
    .find((e) => e.dims.length === 2 && e.dtype === "float16") as FileTensor;
  assertThrows(
    () => quantizeLinearFromFile(half, new Int8Array(0), new Float32Array(0)),
    OnnxModelError,
    "a float16 tensor",
  );
});

/** The decoder-step graph of fixture `name` in int8, traced into `slab` when given. */
async function int8DecoderGraph(
  name: string,
  int8Embeddings: boolean,
  slab: WeightSlab | null = null,
): Promise<GraphSpec> {
  const dir = `${FIXTURES}${name}`;
  const config = await AutoConfig.fromPretrained(dir) as EncoderDecoderConfig;
  const tracer = new GraphTracer(
    config,
    (await openSafetensorsCheckpoint(dir))!,
    dir,
    "int8",
    false,
  );
  tracer.int8Embeddings = int8Embeddings;
  const layout = tracer.crossKV().layout;
  const trace = () => tracer.decoderStep(layout).graph;
  return slab ? collectWeightsInto(slab, trace) : trace();
}

Deno.test("webExternalData: initializers of 1 KiB or more go out (slab bytes by chunk and offset), smaller ones stay inline, same bytes", async () => {
  const plain = await int8DecoderGraph("bert2bert", true);
  const slab = new WeightSlab();
  const graph = await int8DecoderGraph("bert2bert", true, slab);
  try {
    const { model, files } = webExternalData(graph, slab);
    assertEquals(files.map((f) => f.path), slab.chunks.map((_, i) => `slab_${i}`));
    const file = new Map(files.map((f) => [f.path, f.data]));
    let out = 0;
    model.initializers.forEach((t, i) => {
      const before = plain.initializers[i];
      assertEquals([t.name, t.dims], [before.name, before.dims]);
      const bytes = t.external
        ? file.get(t.external.location)!.subarray(
          t.external.offset,
          t.external.offset + t.external.length,
        )
        : t.raw;
      assertEquals(bytes, before.raw, t.name);
      assertEquals(t.external !== undefined, before.raw.byteLength >= 1024, t.name);
      if (t.external) out++;
    });
    assert(out > 10, `${out} external`);
    // Without a slab each large initializer is a file of its own.
    const own = webExternalData(plain);
    assertEquals(own.files.length, out);
    assertEquals(
      own.files.every((f, i) => f.path === own.files[i].path && f.data.length >= 1024),
      true,
    );
  } finally {
    slab.release();
  }
});

Deno.test("int8Embeddings: the tied word table is one int8 [width, vocab] matrix read by a Gather (axis 1) and the LM head; off: a float32 table for the Gather, the LM head int8 all the same", async () => {
  const on = await int8DecoderGraph("bert2bert", true);
  const users = (g: GraphSpec, name: string) =>
    g.nodes.filter((n) => n.inputs.includes(name)).map((n) => n.opType).sort();
  const table = on.initializers.find((t) => t.dtype === "int8" && t.dims[1] === 99)!;
  assertEquals(table.dims.length, 2);
  assertEquals(users(on, table.name), ["DynamicQuantizeMatMul", "Gather"]);
  assertEquals(on.nodes.find((n) => n.inputs[0] === table.name && n.opType === "Gather")?.attrs, {
    axis: 1,
  });
  const table32 = (g: GraphSpec) =>
    g.initializers.filter((t) => t.dtype === "float32" && t.dims.length === 2 && t.dims[0] === 99);
  assertEquals(table32(on), []);
  const off = await int8DecoderGraph("bert2bert", false);
  const [f32] = table32(off);
  assertEquals(users(off, f32.name), ["Gather"]);
  const head = off.initializers.filter((t) => t.dtype === "int8" && t.dims[1] === 99);
  assertEquals(head.map((t) => [t.dims, users(off, t.name)]), [
    [table.dims, ["DynamicQuantizeMatMul"]],
  ]);
  assertEquals(off.nodes.filter((n) => n.opType === "Gemm" || n.opType === "MatMul").length, 0);
});

for (const name of ["bert2bert", "bert2gpt2"]) {
  Deno.test(`onnx web int8 ${name} (int8 embeddings, the web default): logits within 0.1 of the fp32 goldens`, async () => {
    const g = await readGoldens(name);
    const model = await OnnxEncoderDecoder.fromPretrained(`${FIXTURES}${name}`, {
      runtime: "web",
      precision: "int8",
    });
    try {
      assertEquals([model.runtime, model.precision], ["web", "int8"]);
      const lg = await forwardLogits(model, g);
      const diff = maxAbsDiff(lg.data, g.forward.logits);
      console.log(`${name} web int8 + int8 embeddings: max |logit - fp32 golden| = ${diff}`);
      assertBelow(diff, 0.1);
    } finally {
      await model.release();
    }
  });
}

Deno.test("int8Embeddings on onnxruntime-node gives the web path's logits (1e-4) and greedy ids; bad values are typed errors", async () => {
  const g = await readGoldens("bert2bert");
  const dir = `${FIXTURES}bert2bert`;
  const node = await OnnxEncoderDecoder.fromPretrained(dir, {
    runtime: "node",
    precision: "int8",
    int8Embeddings: true,
    graphCache: false,
  });
  const web = await OnnxEncoderDecoder.fromPretrained(dir, { runtime: "web", precision: "int8" });
  try {
    const a = await forwardLogits(node, g);
    const b = await forwardLogits(web, g);
    assertBelow(maxAbsDiff(a.data, Array.from(b.data)), 1e-4);
    // The tiny random fixture's logits are close to ties: int8 tables move its greedy path off
    // the fp32 goldens at step 5 (bench/README.md gives the base-size figures), but both
    // runtimes follow the same one.
    assertEquals(await greedy(node, "bert2bert", g), await greedy(web, "bert2bert", g));
  } finally {
    await Promise.all([node.release(), web.release()]);
  }
  await assertRejects(
    () => OnnxEncoderDecoder.fromPretrained(dir, { runtime: "web", int8Embeddings: true }),
    OnnxModelError,
    'int8Embeddings needs precision "int8"; precision is "fp32"',
  );
  await assertRejects(
    () =>
      OnnxEncoderDecoder.fromPretrained(dir, {
        runtime: "web",
        precision: "int8",
        int8Embeddings: "yes" as unknown as boolean,
      }),
    OnnxModelError,
    "int8Embeddings = yes; expected true or false",
  );
});
