/**
 * The ModelProto writer: exact wire bytes of a tiny model, and onnxruntime-node running graphs
 * that use every attribute kind (int, negative int, float, ints, tensor) with known answers, and
 * a weight read from an external-data file.
 */
import { assertEquals, assertThrows } from "@std/assert";
import * as ort from "onnxruntime-node";
import { encodeModel, type GraphSpec, OnnxProtoError } from "./_onnx_proto.ts";
import { GraphBuilder, quantizePerColumn, transpose2d } from "./graph_builder.ts";

const idGraph: GraphSpec = {
  name: "g",
  nodes: [{ opType: "Identity", inputs: ["x"], outputs: ["y"], name: "n" }],
  initializers: [],
  inputs: [{ name: "x", dtype: "float32", dims: ["n"] }],
  outputs: [{ name: "y", dtype: "float32", dims: [2] }],
};

Deno.test("encodeModel: wire bytes of an Identity model equal the hand-encoded protobuf", () => {
  const bytes = encodeModel(idGraph);
  const str = (
    field: number,
    s: string,
  ) => [(field << 3) | 2, s.length, ...new TextEncoder().encode(s)];
  const msg = (field: number, body: number[]) => [(field << 3) | 2, body.length, ...body];
  const node = [...str(1, "x"), ...str(2, "y"), ...str(3, "n"), ...str(4, "Identity")];
  const vi = (
    name: string,
    dim: number[],
  ) => [...str(1, name), ...msg(2, msg(1, [0x08, 1, ...msg(2, msg(1, dim))]))];
  const graph = [
    ...msg(1, node),
    ...str(2, "g"),
    ...msg(11, vi("x", str(2, "n"))),
    ...msg(12, vi("y", [0x08, 2])),
  ];
  const expected = [
    0x08,
    8, // ir_version 8
    ...str(2, "encdec"),
    ...str(3, "0.1.0"),
    ...msg(7, graph),
    ...msg(8, [0x10, 17]), // opset_import { version: 17 }
    ...msg(8, [...str(1, "com.microsoft"), 0x10, 1]),
  ];
  assertEquals(Array.from(bytes), expected);
});

Deno.test("encodeModel: int/negative int/float/ints/tensor attributes run in onnxruntime (exact)", async () => {
  const g = new GraphBuilder("attrs");
  const x = g.input("x", "float32", ["rows", 3]);
  // Transpose (ints) → Softmax (negative int axis) → LayerNormalization (float epsilon).
  const t = g.op("Transpose", [x], { perm: [1, 0] }); // [3, rows]
  const s = g.op("Softmax", [t], { axis: -1 });
  const c = g.op("Constant", [], {
    value: {
      name: "",
      dtype: "float32",
      dims: [1],
      raw: new Uint8Array(new Float32Array([2]).buffer),
    },
  });
  const m = g.op("Mul", [s, c]);
  const y = g.op("LeakyRelu", [g.op("Sub", [m, g.constF(3)])], { alpha: { f: 0.5 } });
  g.output("y", y, "float32", [3, "rows"]);
  const session = await ort.InferenceSession.create(encodeModel(g.build()));
  const out = await session.run({
    x: new ort.Tensor("float32", new Float32Array([0, 1, 2, 0, 1, 2]), [2, 3]),
  });
  // Each column of x is constant across rows → softmax over 2 equal values = 0.5; × 2 = 1;
  // LeakyRelu(1 - 3, alpha 0.5) = -1.
  assertEquals(out.y.dims, [3, 2]);
  assertEquals(Array.from(out.y.data as Float32Array), [-1, -1, -1, -1, -1, -1]);
  await session.release();
});

Deno.test("encodeModel: a non-integer int attribute is an OnnxProtoError naming node and attribute", () => {
  assertThrows(
    () =>
      encodeModel({
        ...idGraph,
        nodes: [{ ...idGraph.nodes[0], attrs: { axis: 0.5 } }],
      }),
    OnnxProtoError,
    `node "n" attribute "axis": 0.5 is not an integer`,
  );
});

Deno.test("transpose and per-column int8 quantization: known answers", () => {
  const m = transpose2d(new Float32Array([1, 2, 3, 4, 5, 6]), 2, 3); // [2, 3] -> [3, 2]
  assertEquals(Array.from(m), [1, 4, 2, 5, 3, 6]);
  // Columns: max |.| = 127 → scale 1; 0.5/254 → scale 1/254·... exact round trip on the max.
  const { q, scale } = quantizePerColumn(new Float32Array([127, -1, -63.5, 0.5]), 2, 2);
  assertEquals(Array.from(scale), [1, Math.fround(1 / 127)]);
  assertEquals(Array.from(q), [127, -127, -64, 64]);
});

Deno.test("external data: a Gemm (transB) over a weight at an offset in a file = host answer", async () => {
  // File: 12 bytes of padding, then w [2, 3] (rows = outputs) as float32.
  const dir = await Deno.makeTempDir();
  try {
    const w = new Float32Array([1, 2, 3, -1, 0.5, 4]);
    const file = new Uint8Array(12 + w.byteLength);
    file.set(new Uint8Array(w.buffer), 12);
    await Deno.writeFile(`${dir}/w.bin`, file);
    const bytes = encodeModel({
      name: "g",
      nodes: [{
        opType: "Gemm",
        inputs: ["x", "w"],
        outputs: ["y"],
        name: "n",
        attrs: { transB: 1 },
      }],
      initializers: [{
        name: "w",
        dtype: "float32",
        dims: [2, 3],
        raw: new Uint8Array(0),
        external: { location: "w.bin", offset: 12, length: w.byteLength },
      }],
      inputs: [{ name: "x", dtype: "float32", dims: ["n", 3] }],
      outputs: [{ name: "y", dtype: "float32", dims: ["n", 2] }],
    });
    const s = await ort.InferenceSession.create(bytes, {
      extra: { session: { model_external_initializers_file_folder_path: dir } },
    });
    const x = new ort.Tensor("float32", new Float32Array([1, 1, 2]), [1, 3]);
    const y = (await s.run({ x })).y;
    assertEquals([...y.data as Float32Array], [1 + 2 + 6, -1 + 0.5 + 8]);
    await s.release();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
