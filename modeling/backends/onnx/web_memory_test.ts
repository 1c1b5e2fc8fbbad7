/**
 * The memory path of onnxruntime-web (issue 18, goal 4): one mmapped buffer per weight, weights
 * quantized while streamed from their file, initializers handed over as in-memory external data
 * and freed as onnxruntime copies them, and int8 embedding tables (`int8Embeddings`), against
 * the fixture goldens.
 */
import { assert, assertEquals, assertRejects, assertThrows } from "@std/assert";
import { AutoConfig, type EncoderDecoderConfig } from "@encdec/config";
import { OnnxEncoderDecoder, OnnxModelError } from "./mod.ts";
import { type FileTensor, openSafetensorsCheckpoint } from "./checkpoint.ts";
import { GraphBuilder, quantizePerColumn, transpose2d } from "./graph_builder.ts";
import { WeightInitializers } from "./weight_initializers.ts";
import { loadStateDict } from "../../weights/mod.ts";
import { GraphTracer } from "./traced_graphs.ts";
import { createSessions, FreeAfterRead, webExternalData } from "./_sessions.ts";
import { loadRuntime, OnnxRuntimeError, type Ort } from "./runtime.ts";
import { quantizeLinearFromFile } from "./_stream_quantize.ts";
import { collectWeightsInto, WeightBuffers } from "./_weight_buffers.ts";
import { encodeModel } from "./_onnx_proto.ts";
import {
  assertBelow,
  FAMILY_MODELS,
  FIXTURES,
  forwardLogits,
  greedy,
  maxAbsDiff,
  MODELS,
  readGoldens,
} from "./_test_util.ts";
import type { GraphSpec } from "./_onnx_proto.ts";

Deno.test("WeightBuffers: one resizable (mmapped) buffer per tensor, located by any view, all freed at once", () => {
  const weights = new WeightBuffers();
  const a = weights.place(new Uint8Array([1, 2, 3]));
  const b = weights.reserve(100);
  assertEquals([Array.from(a), b.byteLength, b.every((x) => x === 0)], [[1, 2, 3], 100, true]);
  assertEquals([a.buffer.resizable, a.buffer.byteLength, b.buffer.byteLength], [true, 3, 100]);
  assertEquals([weights.locate(a), weights.locate(b), weights.locate(b.subarray(5))], [0, 1, 1]);
  assertEquals(weights.locate(new Uint8Array(3)), null);
  assertEquals(weights.buffers, [a, b]);
  a.buffer.transferToFixedLength(0); // one freed early (as FreeAfterRead does), then the rest
  weights.release();
  assertEquals([a.byteLength, b.byteLength, b.buffer.detached, weights.buffers.length], [
    0,
    0,
    true,
    0,
  ]);
});

Deno.test("FreeAfterRead: each file is freed when the next one is read, never the one being read; a read of a freed file is counted", () => {
  const data = [new Uint8Array([1, 2]), new Uint8Array([3, 4, 5]), new Uint8Array([6])].map(
    (d) => {
      const copy = new Uint8Array(new ArrayBuffer(d.length, { maxByteLength: d.length }));
      copy.set(d);
      return copy;
    },
  );
  const reads = new FreeAfterRead();
  const files = data.map((d, i) => reads.wrap({ path: `w_${i}`, data: d }));
  assertEquals(files.map((f) => [f.path, f.data.byteLength]), [["w_0", 2], ["w_1", 3], ["w_2", 1]]);
  assertEquals(Array.from(files[1].data.subarray(1, 3)), [4, 5]);
  assertEquals(Array.from(files[1].data.subarray(0, 1)), [3]); // the same file again: kept
  assertEquals([reads.freed, data[1].byteLength], [0, 3]);
  const view = files[0].data.subarray(0, 2);
  assertEquals([view instanceof FreeAfterRead, Array.from(view)], [false, [1, 2]]);
  assertEquals([reads.freed, data[1].byteLength, data[0].byteLength], [1, 0, 2]);
  files[2].data.subarray(0, 1);
  assertEquals([reads.freed, data[0].byteLength, data[2].byteLength], [2, 0, 1]);
  assertEquals(reads.rereads, 0);
  assertEquals(files[1].data.subarray(0, 1).byteLength, 0); // freed: read again, empty
  assertEquals(reads.rereads, 1);
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

/** An int8 tracer of fixture `name`. */
async function int8Tracer(name: string): Promise<GraphTracer> {
  const dir = `${FIXTURES}${name}`;
  const config = await AutoConfig.fromPretrained(dir) as EncoderDecoderConfig;
  return new GraphTracer(config, (await openSafetensorsCheckpoint(dir))!, dir, "int8", false);
}

/** The decoder-step graph of fixture `name` in int8, traced into `weights` when given. */
async function int8DecoderGraph(
  name: string,
  int8Embeddings: boolean,
  weights: WeightBuffers | null = null,
): Promise<GraphSpec> {
  const tracer = await int8Tracer(name);
  tracer.int8Embeddings = int8Embeddings;
  const layout = tracer.crossKV().layout;
  const trace = () => tracer.decoderStep(layout).graph;
  return weights ? collectWeightsInto(weights, trace) : trace();
}

Deno.test("webExternalData: initializers of 1 KiB or more go out, one file each (buffer_<i> for weight buffers, tensor_<name> for others), smaller ones stay inline, same bytes", async () => {
  const plain = await int8DecoderGraph("bert2bert", true);
  const weights = new WeightBuffers();
  const graph = await int8DecoderGraph("bert2bert", true, weights);
  try {
    const { model, files } = webExternalData(graph, weights);
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
      if (t.external) {
        out++;
        const at = weights.locate(file.get(t.external.location)!);
        assertEquals(t.external.location, `buffer_${at}`, t.name);
      }
    });
    assert(out > 10, `${out} external`);
    assertEquals(files.length, out);
    // Without weight buffers each large initializer is a file of its own, named after it
    // (builder names such as `w_0` cannot clash with the buffers' files).
    const own = webExternalData(plain);
    assertEquals(own.files.length, out);
    assertEquals(
      own.files.map((f) => f.path),
      plain.initializers.filter((t) => t.raw.byteLength >= 1024).map((t) => `tensor_${t.name}`),
    );
  } finally {
    weights.release();
  }
});

Deno.test("onnxruntime-web frees each weight buffer while it creates the session: all but the last read freed, none read twice, same outputs as the inline graph", async () => {
  const plain = await int8DecoderGraph("bert2bert", true);
  const weights = new WeightBuffers();
  const graph = await int8DecoderGraph("bert2bert", true, weights);
  const { ort } = await loadRuntime("web", 1);
  const { model, files } = webExternalData(graph, weights);
  const reads = new FreeAfterRead();
  const inline = await ort.InferenceSession.create(encodeModel(plain));
  const external = await ort.InferenceSession.create(
    encodeModel(model),
    {
      externalData: files.map((f) => reads.wrap(f)),
    } as Parameters<typeof ort.InferenceSession.create>[1],
  );
  try {
    assert(files.length > 10, `${files.length} files`);
    assertEquals([reads.freed, reads.rereads], [files.length - 1, 0]);
    assertEquals(files.filter((f) => f.data.byteLength > 0).length, 1);
    // Same outputs from the same feeds (zeros of each input's shape, one token, no past).
    const feeds: Record<string, unknown> = {};
    for (const v of plain.inputs) {
      const dims = v.dims.map((d) => (typeof d === "number" ? d : d.startsWith("past") ? 0 : 1));
      const n = dims.reduce((a, b) => a * b, 1);
      feeds[v.name] = v.dtype === "int64"
        ? new ort.Tensor("int64", new BigInt64Array(n), dims)
        : new ort.Tensor("float32", new Float32Array(n), dims);
    }
    const a = await inline.run(feeds as Parameters<typeof inline.run>[0]);
    const b = await external.run(feeds as Parameters<typeof inline.run>[0]);
    for (const name of Object.keys(a)) assertEquals(b[name].data, a[name].data, name);
  } finally {
    weights.release();
    await Promise.all([inline.release(), external.release()]);
  }
});

Deno.test("createSessions on web: a runtime that reads an external data file again after it was freed fails with an OnnxRuntimeError saying so", async () => {
  const tracer = await int8Tracer("bert2bert");
  let files = 0;
  const released: number[] = [];
  const ort = {
    InferenceSession: {
      create: (_model: Uint8Array, options: { externalData: { data: Uint8Array }[] }) => {
        const data = options.externalData.map((f) => f.data);
        // The tiny fixture's cross K/V graph has one file: a session (that nothing runs).
        if (data.length < 2) return Promise.resolve({ release: () => released.push(1) });
        files = data.length;
        // Read as onnxruntime-web reads a file (range checked against its size, then a view
        // copied): every file, then the first one again (freed when the second was read).
        const read = (d: Uint8Array) => (1 > d.byteLength ? null : d.subarray(0, 1).slice());
        for (const d of data) assert(read(d) !== null);
        assertEquals(read(data[0]), null); // its size is 0 now: the range check fails
        return Promise.reject(new Error("failed to load external data"));
      },
    },
  } as unknown as Ort;
  await assertRejects(
    () => createSessions(ort, "web", 1, tracer, "fixture"),
    OnnxRuntimeError,
    "fixture: onnxruntime-web read an external data file of the decoder graph again after it " +
      "was freed; this onnxruntime-web is not the version deno.json pins (1.30.0)",
  );
  assert(files > 1, `${files} files`);
  assertEquals(released, [1]); // the session built before the failure was released
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

Deno.test("the traced graphs never Cast (onnxruntime-web's Cast is one huge wasm function V8 needs ~110 MiB to optimize): every fixture model, fp32, int8 and int8 tables", async () => {
  for (const name of [...MODELS, ...FAMILY_MODELS]) {
    const dir = `${FIXTURES}${name}`;
    const config = await AutoConfig.fromPretrained(dir) as EncoderDecoderConfig;
    const { tensors } = await loadStateDict(dir);
    for (const [precision, tables] of [["fp32", false], ["int8", false], ["int8", true]] as const) {
      const tracer = new GraphTracer(config, tensors, name, precision, false);
      tracer.int8Embeddings = tables;
      const cross = tracer.crossKV();
      const graphs = [tracer.encoder().graph, cross.graph, tracer.decoderStep(cross.layout).graph];
      const ops = new Set(graphs.flatMap((g) => g.nodes.map((n) => n.opType)));
      assert(ops.has("MatMul") || ops.has("Gemm") || ops.has("DynamicQuantizeMatMul"));
      assertEquals(ops.has("Cast"), false, `${name} ${precision}${tables ? " int8 tables" : ""}`);
    }
  }
});

Deno.test("GraphBuilder.indicator / nonzero on onnxruntime-web: the values Cast gives for 0/1 masks and booleans, as float32, int32 and int64", async () => {
  const g = new GraphBuilder("masks");
  const mask = g.input("mask", "int64", [2, 3]);
  const cond = g.op("Greater", [mask, g.constI(0)]);
  const outs = [
    ["f", g.nonzero(mask, "float32"), "float32"],
    ["i", g.nonzero(mask, "int32"), "int32"],
    ["l", g.nonzero(mask, "int64"), "int64"],
    ["b", g.indicator(cond, "float32"), "float32"],
    ["n", g.indicator(cond, "int64", true), "int64"],
  ] as const;
  for (const [name, value, dtype] of outs) g.output(name, value, dtype, [2, 3]);
  const { ort } = await loadRuntime("web", 1);
  const session = await ort.InferenceSession.create(encodeModel(g.build()));
  try {
    const r = await session.run(
      {
        mask: new ort.Tensor("int64", BigInt64Array.from([1n, 0n, 1n, 0n, 0n, 1n]), [2, 3]),
      } as Parameters<typeof session.run>[0],
    );
    assertEquals(r.f.data, Float32Array.from([1, 0, 1, 0, 0, 1]));
    assertEquals(r.i.data, Int32Array.from([1, 0, 1, 0, 0, 1]));
    assertEquals(r.l.data, BigInt64Array.from([1n, 0n, 1n, 0n, 0n, 1n]));
    assertEquals(r.b.data, Float32Array.from([1, 0, 1, 0, 0, 1]));
    assertEquals(r.n.data, BigInt64Array.from([0n, 1n, 0n, 1n, 1n, 0n]));
  } finally {
    await session.release();
  }
});

Deno.test("WeightInitializers.quantizedGather on onnxruntime-web: rows [ids..., width] of the int8 table times their row's scale, bit for bit", async () => {
  const tensors = (await openSafetensorsCheckpoint(`${FIXTURES}bert2bert`))!;
  const key = "encoder.embeddings.word_embeddings.weight";
  const entry = tensors.get(key)!;
  const [rows, width] = entry.dims;
  const g = new GraphBuilder("gather");
  const inits = new WeightInitializers(g, "int8");
  inits.int8Embeddings = true;
  const ids = g.input("ids", "int64", [2, 3]);
  g.output("rows", inits.quantizedGather({ key, entry, conv1d: false }, ids, 2), "float32", [
    2,
    3,
    width,
  ]);
  const graph = g.build();
  const bytes = (dtype: string) => graph.initializers.find((t) => t.dtype === dtype)!.raw;
  const q = new Int8Array(bytes("int8").slice().buffer);
  const scale = new Float32Array(bytes("float32").slice().buffer);
  assertEquals([q.length, scale.length], [rows * width, rows]);
  const picked = [5, 0, rows - 1, 17, 17, 42];
  const want = new Float32Array(picked.length * width);
  picked.forEach((id, i) => {
    for (let j = 0; j < width; j++) want[i * width + j] = q[j * rows + id] * scale[id];
  });
  const { ort } = await loadRuntime("web", 1);
  const session = await ort.InferenceSession.create(encodeModel(graph));
  try {
    const r = await session.run(
      {
        ids: new ort.Tensor("int64", BigInt64Array.from(picked.map(BigInt)), [2, 3]),
      } as Parameters<typeof session.run>[0],
    );
    assertEquals(r.rows.dims, [2, 3, width]);
    assertEquals(r.rows.data, want);
    assertEquals(graph.nodes.some((n) => n.opType === "Cast"), false);
  } finally {
    await session.release();
  }
});

Deno.test("onnxruntime-web runs on its wasm file read into an mmapped buffer, freed once a session exists", async () => {
  // A fresh process: the runtime is configured once per process.
  const here = (f: string) => new URL(f, import.meta.url).href;
  const script = `
    import { loadRuntime } from "${here("./runtime.ts")}";
    import { OnnxEncoderDecoder } from "${here("./mod.ts")}";
    const { ort } = await loadRuntime("web", 1);
    const held = ort.env.wasm.wasmBinary;
    const before = [held.buffer.resizable, held.byteLength, Array.from(held.subarray(0, 4))];
    const m = await OnnxEncoderDecoder.fromPretrained("${FIXTURES}bert2bert", { runtime: "web" });
    const out = await m.encode([[2, 40, 3]], [[1, 1, 1]]);
    console.log(JSON.stringify({
      before,
      after: ["wasmBinary" in ort.env.wasm, held.buffer.detached, out.lastHiddenState.dims],
    }));
  `;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--quiet", script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(out.stderr);
  assert(out.success, err);
  const wasm = new URL("ort-wasm-simd-threaded.wasm", import.meta.resolve("onnxruntime-web"));
  const size = (await Deno.stat(wasm)).size;
  const r = JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!);
  assertEquals(r.before, [true, size, [0, 0x61, 0x73, 0x6d]]); // "\0asm"
  assertEquals(r.after.slice(0, 2), [false, true]); // unset, and its buffer freed
  assertEquals(r.after[2], [1, 3, 32]);
});
