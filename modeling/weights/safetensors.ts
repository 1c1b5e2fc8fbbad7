/**
 * Reading and writing the safetensors format (the one Hugging Face `save_pretrained` writes by
 * default): an 8-byte little-endian header length, a JSON header
 * `{"__metadata__": {...}, "<key>": {"dtype", "shape", "data_offsets"}, ...}` padded with spaces
 * to 8-byte alignment, then the raw little-endian tensor bytes.
 *
 * The header is validated completely (size limit, JSON shape, known dtypes, offsets inside the
 * data, no overlaps or holes, `numel × dtype size == byte length`) before any tensor byte is read.
 *
 * @module
 */
import { type DType, DTYPE_BYTES, Tensor } from "../tensor.ts";
import { WeightsError } from "./errors.ts";
import { readFileOrThrow, writeFileAtomic } from "./_file_io.ts";
import { LITTLE_ENDIAN_HOST, tensorBytesLE } from "./_bytes.ts";

/** Largest header the reader accepts, in bytes (the limit of the Rust `safetensors` crate). */
export const MAX_HEADER_SIZE = 100_000_000;

/** Safetensors dtype names this reader understands. */
export type SafetensorsDType =
  | "F64"
  | "F32"
  | "F16"
  | "BF16"
  | "I64"
  | "I32"
  | "U32"
  | "I16"
  | "U16"
  | "I8"
  | "U8"
  | "BOOL";

interface DTypeInfo {
  /** Bytes per element in the file. */
  size: number;
  /** The encdec dtype the values are loaded as. */
  dtype: DType;
  /** Position in the Rust `Dtype` enum; the writer orders tensors by it, descending. */
  rank: number;
}

const DTYPES: Readonly<Record<SafetensorsDType, DTypeInfo>> = {
  BOOL: { size: 1, dtype: "bool", rank: 0 },
  U8: { size: 1, dtype: "int32", rank: 1 },
  I8: { size: 1, dtype: "int32", rank: 2 },
  I16: { size: 2, dtype: "int32", rank: 5 },
  U16: { size: 2, dtype: "int32", rank: 6 },
  F16: { size: 2, dtype: "float16", rank: 7 },
  BF16: { size: 2, dtype: "bfloat16", rank: 8 },
  I32: { size: 4, dtype: "int32", rank: 9 },
  U32: { size: 4, dtype: "int64", rank: 10 },
  F32: { size: 4, dtype: "float32", rank: 11 },
  F64: { size: 8, dtype: "float32", rank: 12 },
  I64: { size: 8, dtype: "int64", rank: 13 },
};

/** The safetensors dtype each encdec dtype is written as. */
const WRITE_DTYPE: Readonly<Record<DType, SafetensorsDType>> = {
  float32: "F32",
  float16: "F16",
  bfloat16: "BF16",
  int32: "I32",
  int64: "I64",
  bool: "BOOL",
};

/** One validated header entry. Offsets are relative to the start of the data section. */
export interface SafetensorsEntry {
  /** Tensor key, e.g. `encoder.embeddings.word_embeddings.weight`. */
  name: string;
  /** Dtype as written in the file. */
  dtype: SafetensorsDType;
  /** Shape, outermost first. */
  shape: number[];
  /** Start of the tensor bytes inside the data section. */
  begin: number;
  /** End (exclusive) of the tensor bytes inside the data section. */
  end: number;
}

/** A validated safetensors header. */
export interface SafetensorsHeader {
  /** Byte offset of the data section in the file (`8 + header length`). */
  dataStart: number;
  /** Entries in file order (ascending offsets). */
  entries: SafetensorsEntry[];
  /** The `__metadata__` map (empty when absent). */
  metadata: Record<string, string>;
}

/** Options of the safetensors readers. */
export interface ReadSafetensorsOptions {
  /** File name used in error messages (default `"<bytes>"`). */
  file?: string;
}

/** Tensors and metadata read from a safetensors file. */
export interface SafetensorsContent {
  /** Tensors by key, in file order. */
  tensors: Map<string, Tensor>;
  /** The `__metadata__` map (`{"format": "pt"}` for files written by `transformers`). */
  metadata: Record<string, string>;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function isSize(v: unknown): v is number {
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
}

/**
 * Parses and validates the header of a safetensors file without reading any tensor data.
 * Every check that the format allows is made here; a file that passes can be decoded safely.
 *
 * @example
 * ```ts
 * import { parseSafetensorsHeader, writeSafetensors } from "./safetensors.ts";
 * import { Tensor } from "../tensor.ts";
 * const bytes = writeSafetensors({ w: Tensor.from([1, 2]) });
 * parseSafetensorsHeader(bytes).entries[0].shape; // [2]
 * ```
 */
export function parseSafetensorsHeader(
  bytes: Uint8Array,
  opts: ReadSafetensorsOptions = {},
): SafetensorsHeader {
  const file = opts.file ?? "<bytes>";
  const { json, dataStart } = readHeaderJson(bytes, file);
  const dataLen = bytes.length - dataStart;
  const metadata: Record<string, string> = {};
  const entries: SafetensorsEntry[] = [];
  for (const [name, raw] of Object.entries(json)) {
    if (name === "__metadata__") Object.assign(metadata, readMetadata(raw, file));
    else entries.push(parseEntry(name, raw, dataLen, file));
  }
  checkCoverage(entries, dataLen, file);
  return { dataStart, entries, metadata };
}

/** The header length prefix, then the header: UTF-8 JSON of one object, within the file. */
function readHeaderJson(
  bytes: Uint8Array,
  file: string,
): { json: Record<string, unknown>; dataStart: number } {
  if (bytes.length < 8) {
    throw new WeightsError(
      `${file}: truncated safetensors file: ${bytes.length} bytes, expected at least 8 (header length)`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const declared = view.getBigUint64(0, true);
  if (declared > BigInt(MAX_HEADER_SIZE)) {
    throw new WeightsError(
      `${file}: safetensors header length ${declared} exceeds the limit of ${MAX_HEADER_SIZE} bytes`,
    );
  }
  const headerLen = Number(declared);
  if (8 + headerLen > bytes.length) {
    throw new WeightsError(
      `${file}: safetensors header length ${headerLen} runs past the end of the file ` +
        `(${bytes.length} bytes; expected at most ${bytes.length - 8})`,
    );
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + headerLen));
  } catch {
    throw new WeightsError(`${file}: safetensors header is not valid UTF-8`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new WeightsError(
      `${file}: safetensors header is not valid JSON: ${(e as Error).message}`,
    );
  }
  if (!isRecord(json)) {
    throw new WeightsError(
      `${file}: safetensors header must be a JSON object, found ${
        Array.isArray(json) ? "an array" : json === null ? "null" : typeof json
      }`,
    );
  }
  return { json, dataStart: 8 + headerLen };
}

/** `__metadata__`: an object of strings. */
function readMetadata(raw: unknown, file: string): Record<string, string> {
  if (!isRecord(raw)) {
    throw new WeightsError(`${file}: "__metadata__" must be an object of strings`);
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (typeof v !== "string") {
      throw new WeightsError(
        `${file}: "__metadata__"."${k}" must be a string, found ${JSON.stringify(v)}`,
      );
    }
    out[k] = v;
  }
  return out;
}

/** One tensor's header entry: dtype, shape and offsets, whose byte length must match. */
function parseEntry(name: string, raw: unknown, dataLen: number, file: string): SafetensorsEntry {
  const where = `${file}: tensor "${name}"`;
  if (!isRecord(raw)) {
    throw new WeightsError(
      `${where}: header entry must be an object, found ${JSON.stringify(raw)}`,
    );
  }
  const { dtype, shape, data_offsets: offsets } = raw;
  if (typeof dtype !== "string" || !Object.hasOwn(DTYPES, dtype)) {
    throw new WeightsError(
      `${where}: unsupported dtype ${JSON.stringify(dtype)}, expected one of ${
        Object.keys(DTYPES).join(", ")
      }`,
    );
  }
  if (!Array.isArray(shape) || !shape.every(isSize)) {
    throw new WeightsError(
      `${where}: shape ${JSON.stringify(shape)} must be a list of integers >= 0`,
    );
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isSize)) {
    throw new WeightsError(
      `${where}: data_offsets ${JSON.stringify(offsets)} must be [begin, end] integers >= 0`,
    );
  }
  const [begin, end] = offsets as number[];
  if (begin > end) {
    throw new WeightsError(`${where}: data_offsets [${begin}, ${end}] have begin > end`);
  }
  if (end > dataLen) {
    throw new WeightsError(
      `${where}: data_offsets [${begin}, ${end}] lie outside the data section ` +
        `(${dataLen} bytes)`,
    );
  }
  const info = DTYPES[dtype as SafetensorsDType];
  // numel × size must equal the byte length; stop multiplying once it cannot fit.
  let count = 1;
  let overflow = false;
  for (const d of shape as number[]) {
    count *= d;
    if (count * info.size > dataLen && count !== 0) overflow = true;
  }
  if (shape.includes(0)) overflow = false;
  const want = count * info.size;
  if (overflow || want !== end - begin) {
    throw new WeightsError(
      `${where}: dtype ${dtype} × shape [${shape.join(", ")}] needs ${
        overflow && !Number.isSafeInteger(want) ? `more than ${dataLen}` : want
      } bytes, but data_offsets [${begin}, ${end}] hold ${end - begin}`,
    );
  }
  return { name, dtype: dtype as SafetensorsDType, shape: shape as number[], begin, end };
}

/** The entries tile the data section exactly: no overlap, no hole, no trailing bytes. */
function checkCoverage(entries: SafetensorsEntry[], dataLen: number, file: string): void {
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let expected = 0;
  let prev: SafetensorsEntry | undefined;
  for (const e of entries) {
    if (e.begin < expected) {
      throw new WeightsError(
        `${file}: tensor "${e.name}" data_offsets [${e.begin}, ${e.end}] overlap tensor "${
          prev!.name
        }" [${prev!.begin}, ${prev!.end}]`,
      );
    }
    if (e.begin > expected) {
      throw new WeightsError(
        `${file}: tensor "${e.name}" data_offsets [${e.begin}, ${e.end}] leave a hole: ` +
          `expected begin ${expected}`,
      );
    }
    expected = e.end;
    prev = e;
  }
  if (expected !== dataLen) {
    throw new WeightsError(
      `${file}: tensors cover ${expected} bytes of the data section but it holds ${dataLen} ` +
        `(trailing or missing bytes)`,
    );
  }
}

/** Decodes one validated entry into a tensor (always a copy into an aligned typed array). */
function decodeEntry(bytes: Uint8Array, dataStart: number, e: SafetensorsEntry): Tensor {
  const info = DTYPES[e.dtype];
  const src = bytes.subarray(dataStart + e.begin, dataStart + e.end);
  const n = src.length / info.size;
  const t = Tensor.zeros(e.shape, info.dtype);
  const sameLayout = DTYPE_BYTES[info.dtype] === info.size &&
    !(e.dtype === "U8" || e.dtype === "I8" || e.dtype === "U16" || e.dtype === "I16" ||
      e.dtype === "U32" || e.dtype === "F64");
  if (sameLayout && LITTLE_ENDIAN_HOST) {
    new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength).set(src);
    if (e.dtype === "BOOL") {
      const d = t.data as Uint8Array;
      for (let i = 0; i < n; i++) d[i] = d[i] ? 1 : 0;
    }
    return t;
  }
  const v = new DataView(src.buffer, src.byteOffset, src.byteLength);
  const d = t.data;
  for (let i = 0; i < n; i++) {
    switch (e.dtype) {
      case "F64":
        (d as Float32Array)[i] = v.getFloat64(i * 8, true);
        break;
      case "F32":
        (d as Float32Array)[i] = v.getFloat32(i * 4, true);
        break;
      case "F16":
      case "BF16":
        (d as Uint16Array)[i] = v.getUint16(i * 2, true);
        break;
      case "I64":
        (d as BigInt64Array)[i] = v.getBigInt64(i * 8, true);
        break;
      case "U32":
        (d as BigInt64Array)[i] = BigInt(v.getUint32(i * 4, true));
        break;
      case "I32":
        (d as Int32Array)[i] = v.getInt32(i * 4, true);
        break;
      case "I16":
        (d as Int32Array)[i] = v.getInt16(i * 2, true);
        break;
      case "U16":
        (d as Int32Array)[i] = v.getUint16(i * 2, true);
        break;
      case "I8":
        (d as Int32Array)[i] = v.getInt8(i);
        break;
      case "U8":
        (d as Int32Array)[i] = v.getUint8(i);
        break;
      case "BOOL":
        (d as Uint8Array)[i] = v.getUint8(i) ? 1 : 0;
        break;
    }
  }
  return t;
}

/**
 * Reads every tensor of a safetensors file held in memory. F32/F16/BF16/I64/I32/BOOL keep their
 * type (half types as raw 16-bit words); F64 loads as float32, I16/U16/I8/U8 as int32, U32 as
 * int64. Throws `WeightsError` on any malformed header before reading data.
 *
 * @example
 * ```ts
 * import { readSafetensors, writeSafetensors } from "./safetensors.ts";
 * import { Tensor } from "../tensor.ts";
 * const bytes = writeSafetensors({ w: Tensor.from([[1, 2], [3, 4]]) });
 * const { tensors, metadata } = readSafetensors(bytes, { file: "model.safetensors" });
 * tensors.get("w")!.tolist(); // [[1, 2], [3, 4]]
 * metadata.format; // "pt"
 * ```
 */
export function readSafetensors(
  bytes: Uint8Array,
  opts: ReadSafetensorsOptions = {},
): SafetensorsContent {
  const header = parseSafetensorsHeader(bytes, opts);
  const tensors = new Map<string, Tensor>();
  for (const e of header.entries) tensors.set(e.name, decodeEntry(bytes, header.dataStart, e));
  return { tensors, metadata: header.metadata };
}

/** Tensors keyed by name, as a `Map` or a plain object. */
export type TensorDict = Map<string, Tensor> | Record<string, Tensor>;

/** The entries of a `TensorDict`. */
export function tensorEntries(tensors: TensorDict): [string, Tensor][] {
  return tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
}

/** Compares strings by Unicode code point (the byte order of their UTF-8, as Rust sorts). */
function compareCodePoints(a: string, b: string): number {
  const x = [...a];
  const y = [...b];
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) {
    const d = x[i].codePointAt(0)! - y[i].codePointAt(0)!;
    if (d !== 0) return d;
  }
  return x.length - y.length;
}

/**
 * Serialises tensors in the layout the Python `safetensors` package writes: tensors ordered by
 * dtype (widest first) then key, a compact JSON header with `__metadata__` first, padded with
 * spaces to a multiple of 8 bytes. `metadata` defaults to `{"format": "pt"}` (what
 * `transformers` writes); pass `{}` to omit `__metadata__`.
 *
 * @example
 * ```ts
 * import { writeSafetensors } from "./safetensors.ts";
 * import { Tensor } from "../tensor.ts";
 * const bytes = writeSafetensors(new Map([["bias", Tensor.zeros([4], "float32")]]));
 * bytes.length % 8; // 0
 * ```
 */
export function writeSafetensors(
  tensors: TensorDict,
  metadata: Record<string, string> = { format: "pt" },
): Uint8Array {
  const items = tensorEntries(tensors);
  const seen = new Set<string>();
  for (const [name] of items) {
    if (name === "__metadata__") {
      throw new WeightsError(`cannot write a tensor named "__metadata__" (reserved key)`);
    }
    if (seen.has(name)) throw new WeightsError(`duplicate tensor key "${name}"`);
    seen.add(name);
  }
  items.sort(([an, at], [bn, bt]) =>
    DTYPES[WRITE_DTYPE[bt.dtype]].rank - DTYPES[WRITE_DTYPE[at.dtype]].rank ||
    compareCodePoints(an, bn)
  );
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = { ...metadata };
  let offset = 0;
  const bytes: Uint8Array[] = [];
  for (const [name, t] of items) {
    const b = tensorBytesLE(name, t);
    header[name] = {
      dtype: WRITE_DTYPE[t.dtype],
      shape: [...t.dims],
      data_offsets: [offset, offset + b.length],
    };
    bytes.push(b);
    offset += b.length;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const pad = (8 - (json.length % 8)) % 8;
  const headerLen = json.length + pad;
  const out = new Uint8Array(8 + headerLen + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLen), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLen);
  let pos = 8 + headerLen;
  for (const b of bytes) {
    out.set(b, pos);
    pos += b.length;
  }
  return out;
}

/**
 * Reads a `.safetensors` file from disk.
 *
 * @example
 * ```ts ignore
 * import { loadSafetensorsFile } from "./safetensors.ts";
 * const { tensors } = await loadSafetensorsFile("bert2bert/model.safetensors");
 * ```
 */
export async function loadSafetensorsFile(path: string): Promise<SafetensorsContent> {
  return readSafetensors(await readFileOrThrow(path), { file: path });
}

/**
 * Writes a `.safetensors` file crash-safely: to a temporary sibling, synced, then renamed, so the
 * final name only ever holds a complete file.
 *
 * @example
 * ```ts ignore
 * import { saveSafetensorsFile } from "./safetensors.ts";
 * import { Tensor } from "../tensor.ts";
 * await saveSafetensorsFile("out/model.safetensors", { w: Tensor.from([1]) });
 * ```
 */
export async function saveSafetensorsFile(
  path: string,
  tensors: TensorDict,
  metadata: Record<string, string> = { format: "pt" },
): Promise<void> {
  await writeFileAtomic(path, writeSafetensors(tensors, metadata));
}
