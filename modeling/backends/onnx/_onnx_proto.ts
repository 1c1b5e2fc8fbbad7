/**
 * A minimal ONNX `ModelProto` writer: protobuf wire encoding of the messages an inference graph
 * needs (ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto with `raw_data`,
 * ValueInfoProto with symbolic dims). Field numbers follow `onnx/onnx.proto` (IR version 8).
 *
 * Large initializers are never copied while the message tree is built: each message is a list of
 * byte chunks, and `encodeModel` concatenates them once at the end.
 *
 * @module
 */
import { EncdecError } from "@encdec/config";

/** Thrown when a graph cannot be encoded (bad attribute value, oversized model, ...). */
export class OnnxProtoError extends EncdecError {}

/** `TensorProto.DataType` codes used by encdec. */
export const ONNX_DTYPE: Readonly<Record<OnnxDType, number>> = {
  float32: 1,
  uint8: 2,
  int8: 3,
  int32: 6,
  int64: 7,
  bool: 9,
  float16: 10,
  bfloat16: 16,
};

/** An ONNX element type name (a key of `ONNX_DTYPE`). */
export type OnnxDType =
  | "float32"
  | "uint8"
  | "int8"
  | "int32"
  | "int64"
  | "bool"
  | "float16"
  | "bfloat16";

/** A tensor to embed (initializer or attribute): dims, dtype and little-endian raw bytes. */
export interface TensorSpec {
  /** Name (initializers only; empty for attribute values). */
  name: string;
  /** Element type. */
  dtype: OnnxDType;
  /** Shape. */
  dims: readonly number[];
  /** Raw little-endian element bytes (`raw_data`); empty when `external` is set. */
  raw: Uint8Array;
  /**
   * Where the bytes live instead (ONNX external data): `length` bytes at `offset` of file
   * `location`, which onnxruntime resolves in the session's external-data folder or among the
   * in-memory files given as `externalData`.
   */
  external?: ExternalDataRef;
  /**
   * When set, `raw` is the float32 upcast of these half words, the parts one after another (and
   * may be computed only when read): a writer can convert them piece by piece instead (the
   * graph cache does).
   */
  upcast?: readonly HalfWords[];
}

/** Half-precision words whose float32 values an initializer holds (see `TensorSpec.upcast`). */
export interface HalfWords {
  /** The words' type. */
  dtype: "float16" | "bfloat16";
  /** The words, in the tensor's element order. */
  words: Uint16Array;
}

/** A tensor's bytes in an external file (`TensorProto.external_data`, `data_location = 1`). */
export interface ExternalDataRef {
  /** File name, relative to the external-data folder. */
  location: string;
  /** Byte offset in the file. */
  offset: number;
  /** Byte length. */
  length: number;
}

/** An attribute value: number (int unless `{f}`), float, string, int list, float list, tensor. */
export type AttrValue =
  | number
  | { f: number }
  | string
  | readonly number[]
  | { floats: readonly number[] }
  | TensorSpec;

/** A graph node. */
export interface NodeSpec {
  /** Operator type (`MatMul`, `LayerNormalization`, ...). */
  opType: string;
  /** Input value names (`""` for an omitted optional input). */
  inputs: readonly string[];
  /** Output value names. */
  outputs: readonly string[];
  /** Node name (unique). */
  name: string;
  /** Operator domain (`""` = ai.onnx, `"com.microsoft"` for contrib ops). */
  domain?: string;
  /** Attributes by name. */
  attrs?: Readonly<Record<string, AttrValue>>;
}

/** A graph input or output: name, element type and dims (numbers or symbolic names). */
export interface ValueInfoSpec {
  /** Value name. */
  name: string;
  /** Element type. */
  dtype: OnnxDType;
  /** Dims: a number is fixed, a string is a symbolic dim (`"batch"`). */
  dims: readonly (number | string)[];
}

/** A whole graph. */
export interface GraphSpec {
  /** Graph name. */
  name: string;
  /** Nodes in topological order. */
  nodes: readonly NodeSpec[];
  /** Constant weights. */
  initializers: readonly TensorSpec[];
  /** Graph inputs (initializers are not listed here). */
  inputs: readonly ValueInfoSpec[];
  /** Graph outputs. */
  outputs: readonly ValueInfoSpec[];
}

// ---- wire format -------------------------------------------------------------------------------

const WIRE_VARINT = 0;
const WIRE_I32 = 5;
const WIRE_LEN = 2;

const textEncoder = new TextEncoder();

/** A protobuf message being written: small fields go to a growable buffer, big blobs by ref. */
class Writer {
  readonly chunks: Uint8Array[] = [];
  private buf = new Uint8Array(256);
  private pos = 0;

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.pos + n));
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  private flush(): void {
    if (this.pos === 0) return;
    this.chunks.push(this.buf.slice(0, this.pos));
    this.pos = 0;
  }

  varint(v: number | bigint): void {
    this.ensure(10);
    if (typeof v === "number" && v >= 0 && v <= 0x7fffffff) {
      while (v > 0x7f) {
        this.buf[this.pos++] = (v & 0x7f) | 0x80;
        v >>>= 7;
      }
      this.buf[this.pos++] = v;
    } else {
      if (typeof v === "number" && !Number.isSafeInteger(v)) {
        throw new OnnxProtoError(`cannot encode ${v} as an int64`);
      }
      let b = BigInt.asUintN(64, BigInt(v));
      while (b > 0x7fn) {
        this.buf[this.pos++] = Number(b & 0x7fn) | 0x80;
        b >>= 7n;
      }
      this.buf[this.pos++] = Number(b);
    }
  }

  tag(field: number, wire: number): void {
    this.varint((field << 3) | wire);
  }

  int(field: number, v: number): void {
    this.tag(field, WIRE_VARINT);
    this.varint(v);
  }

  float(field: number, v: number): void {
    this.tag(field, WIRE_I32);
    this.ensure(4);
    new DataView(this.buf.buffer).setFloat32(this.pos, v, true);
    this.pos += 4;
  }

  bytes(field: number, data: Uint8Array): void {
    this.tag(field, WIRE_LEN);
    this.varint(data.length);
    if (data.length <= 1024) {
      this.ensure(data.length);
      this.buf.set(data, this.pos);
      this.pos += data.length;
    } else {
      this.flush();
      this.chunks.push(data);
    }
  }

  string(field: number, s: string): void {
    this.bytes(field, textEncoder.encode(s));
  }

  message(field: number, m: Writer): void {
    m.flush();
    const len = m.chunks.reduce((a, c) => a + c.length, 0);
    this.tag(field, WIRE_LEN);
    this.varint(len);
    this.flush();
    for (const c of m.chunks) this.chunks.push(c);
  }

  finish(): Uint8Array[] {
    this.flush();
    return this.chunks;
  }
}

function encodeTensor(t: TensorSpec): Writer {
  const w = new Writer();
  for (const d of t.dims) w.int(1, d); // dims (unpacked repeated int64 is valid proto2/3 input)
  w.int(2, ONNX_DTYPE[t.dtype]);
  if (t.name) w.string(8, t.name);
  if (t.external) {
    const { location, offset, length } = t.external;
    for (const [key, value] of [["location", location], ["offset", offset], ["length", length]]) {
      const entry = new Writer();
      entry.string(1, key as string);
      entry.string(2, String(value));
      w.message(13, entry); // external_data
    }
    w.int(14, 1); // data_location = EXTERNAL
  } else {
    w.bytes(9, t.raw);
  }
  return w;
}

function isTensorSpec(v: AttrValue): v is TensorSpec {
  return typeof v === "object" && v !== null && "raw" in v;
}

function encodeAttr(name: string, v: AttrValue, node: string): Writer {
  const w = new Writer();
  w.string(1, name);
  if (typeof v === "number") {
    if (!Number.isInteger(v)) {
      throw new OnnxProtoError(`node "${node}" attribute "${name}": ${v} is not an integer`);
    }
    w.int(3, v);
    w.int(20, 2); // INT
  } else if (typeof v === "string") {
    w.string(4, v);
    w.int(20, 3); // STRING
  } else if (Array.isArray(v)) {
    for (const x of v as readonly number[]) w.int(8, x);
    w.int(20, 7); // INTS
  } else if (isTensorSpec(v)) {
    w.message(5, encodeTensor(v));
    w.int(20, 4); // TENSOR
  } else if ("f" in v) {
    w.float(2, v.f);
    w.int(20, 1); // FLOAT
  } else if ("floats" in v) {
    for (const x of v.floats) w.float(7, x);
    w.int(20, 6); // FLOATS
  } else {
    throw new OnnxProtoError(`node "${node}" attribute "${name}": unsupported value`);
  }
  return w;
}

function encodeNode(n: NodeSpec): Writer {
  const w = new Writer();
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  w.string(3, n.name);
  w.string(4, n.opType);
  for (const [k, v] of Object.entries(n.attrs ?? {})) w.message(5, encodeAttr(k, v, n.name));
  if (n.domain) w.string(7, n.domain);
  return w;
}

function encodeValueInfo(v: ValueInfoSpec): Writer {
  const shape = new Writer();
  for (const d of v.dims) {
    const dim = new Writer();
    if (typeof d === "number") dim.int(1, d);
    else dim.string(2, d);
    shape.message(1, dim);
  }
  const tensorType = new Writer();
  tensorType.int(1, ONNX_DTYPE[v.dtype]);
  tensorType.message(2, shape);
  const type = new Writer();
  type.message(1, tensorType);
  const w = new Writer();
  w.string(1, v.name);
  w.message(2, type);
  return w;
}

function encodeGraph(g: GraphSpec): Writer {
  const w = new Writer();
  for (const n of g.nodes) w.message(1, encodeNode(n));
  w.string(2, g.name);
  for (const t of g.initializers) w.message(5, encodeTensor(t));
  for (const i of g.inputs) w.message(11, encodeValueInfo(i));
  for (const o of g.outputs) w.message(12, encodeValueInfo(o));
  return w;
}

/** Opset versions the written models import. */
export const OPSET = { onnx: 17, microsoft: 1 } as const;

/**
 * Encodes a graph as an ONNX `ModelProto` (IR 8, opset 17 + `com.microsoft` 1). Fails when the
 * result would exceed protobuf's 2 GiB message limit.
 *
 * @example
 * ```ts
 * import { encodeModel } from "./_onnx_proto.ts";
 * const bytes = encodeModel({
 *   name: "id",
 *   nodes: [{ opType: "Identity", inputs: ["x"], outputs: ["y"], name: "n0" }],
 *   initializers: [],
 *   inputs: [{ name: "x", dtype: "float32", dims: ["n"] }],
 *   outputs: [{ name: "y", dtype: "float32", dims: ["n"] }],
 * });
 * bytes.length > 0; // true
 * ```
 */
export function encodeModel(graph: GraphSpec): Uint8Array {
  const w = new Writer();
  w.int(1, 8); // ir_version
  w.string(2, "encdec");
  w.string(3, "0.1.0");
  w.message(7, encodeGraph(graph));
  for (const [domain, version] of [["", OPSET.onnx], ["com.microsoft", OPSET.microsoft]] as const) {
    const op = new Writer();
    if (domain) op.string(1, domain);
    op.int(2, version);
    w.message(8, op);
  }
  const chunks = w.finish();
  const total = chunks.reduce((a, c) => a + c.length, 0);
  if (total >= 2 ** 31) {
    throw new OnnxProtoError(
      `graph "${graph.name}" encodes to ${total} bytes; ONNX protobuf models must stay under 2 GiB`,
    );
  }
  const out = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}
