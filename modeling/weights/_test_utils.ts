/**
 * Test helpers (used only by the `*_test.ts` files here and a future fuzz harness): a minimal zip
 * writer, a pickle byte builder and a torch-checkpoint builder, so tests can hand-craft both valid
 * and malicious files byte by byte.
 *
 * @module
 */
import type { Tensor } from "../tensor.ts";
import { crc32 } from "./zip.ts";

const enc = new TextEncoder();

/** Options of `makeZip`. */
export interface MakeZipOptions {
  /** Deflate the entries (default: stored, as torch writes). */
  deflate?: boolean;
}

async function deflateRaw(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
    new CompressionStream("deflate-raw"),
  );
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Builds a zip archive (no ZIP64) from `[name, bytes]` entries, in order. */
export async function makeZip(
  entries: [string, Uint8Array][],
  opts: MakeZipOptions = {},
): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const [name, data] of entries) {
    const nameBytes = enc.encode(name);
    const body = opts.deflate ? await deflateRaw(data) : data;
    const method = opts.deflate ? 8 : 0;
    const crc = crc32(data);
    const local = new Uint8Array(30 + nameBytes.length);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, 0x04034b50, true);
    lv.setUint16(4, 20, true);
    lv.setUint16(8, method, true);
    lv.setUint32(14, crc, true);
    lv.setUint32(18, body.length, true);
    lv.setUint32(22, data.length, true);
    lv.setUint16(26, nameBytes.length, true);
    local.set(nameBytes, 30);
    const cd = new Uint8Array(46 + nameBytes.length);
    const cv = new DataView(cd.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(4, 20, true);
    cv.setUint16(6, 20, true);
    cv.setUint16(10, method, true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, body.length, true);
    cv.setUint32(24, data.length, true);
    cv.setUint16(28, nameBytes.length, true);
    cv.setUint32(42, offset, true);
    cd.set(nameBytes, 46);
    parts.push(local, body);
    central.push(cd);
    offset += local.length + body.length;
  }
  const cdSize = central.reduce((n, c) => n + c.length, 0);
  const eocd = new Uint8Array(22);
  const ev = new DataView(eocd.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, entries.length, true);
  ev.setUint16(10, entries.length, true);
  ev.setUint32(12, cdSize, true);
  ev.setUint32(16, offset, true);
  return concat([...parts, ...central, eocd]);
}

/** Concatenates byte arrays. */
export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A tiny pickle assembler: each method appends one opcode with its argument. */
export class PickleWriter {
  private readonly bytes: number[] = [];
  /** Raw bytes. */
  raw(...b: number[]): this {
    this.bytes.push(...b);
    return this;
  }
  /** PROTO n. */
  proto(n: number): this {
    return this.raw(0x80, n);
  }
  /** GLOBAL "module\nname\n". */
  global(module: string, name: string): this {
    return this.raw(0x63, ...enc.encode(`${module}\n${name}\n`));
  }
  /** BINUNICODE. */
  str(s: string): this {
    const b = enc.encode(s);
    return this.raw(0x58, b.length & 0xff, (b.length >> 8) & 0xff, 0, 0, ...b);
  }
  /** SHORT_BINUNICODE. */
  shortStr(s: string): this {
    const b = enc.encode(s);
    return this.raw(0x8c, b.length, ...b);
  }
  /** BININT1 / BININT2 / BININT for small non-negative ints. */
  int(n: number): this {
    if (n < 256) return this.raw(0x4b, n);
    if (n < 65536) return this.raw(0x4d, n & 0xff, n >> 8);
    return this.raw(0x4a, n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, (n >>> 24) & 0xff);
  }
  /** A tuple of small ints (MARK ... TUPLE). */
  intTuple(xs: number[]): this {
    this.mark();
    for (const x of xs) this.int(x);
    return this.raw(0x74);
  }
  /** MARK. */
  mark(): this {
    return this.raw(0x28);
  }
  /** The bytes written so far. */
  build(): Uint8Array {
    return new Uint8Array(this.bytes);
  }
}

const STORAGE_OF: Record<string, string> = {
  float32: "FloatStorage",
  float16: "HalfStorage",
  bfloat16: "BFloat16Storage",
  int32: "IntStorage",
  int64: "LongStorage",
  bool: "BoolStorage",
};

/**
 * Builds a torch zip checkpoint (`<prefix>/data.pkl` + `<prefix>/data/<i>`) holding `tensors`
 * as contiguous, unshared storages, pickled the way `torch.save(state_dict)` does (protocol 2).
 */
export async function makeTorchCheckpoint(
  tensors: Map<string, Tensor>,
  prefix = "archive",
): Promise<Uint8Array> {
  const p = new PickleWriter().proto(2).raw(0x7d).mark();
  const storages: [string, Uint8Array][] = [];
  let i = 0;
  for (const [key, t] of tensors) {
    const id = String(i++);
    const strides = t.dims.map((_, d) => t.dims.slice(d + 1).reduce((a, b) => a * b, 1));
    p.str(key).global("torch._utils", "_rebuild_tensor_v2").mark();
    p.mark().str("storage").global("torch", STORAGE_OF[t.dtype]).str(id).str("cpu").int(t.size)
      .raw(0x74, 0x51); // TUPLE, BINPERSID
    p.int(0).intTuple([...t.dims]).intTuple(strides).raw(0x89); // offset, size, stride, False
    p.global("collections", "OrderedDict").raw(0x29, 0x52); // OrderedDict()
    p.raw(0x74, 0x52); // TUPLE, REDUCE
    storages.push([
      `${prefix}/data/${id}`,
      new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength).slice(),
    ]);
  }
  p.raw(0x75, 0x2e); // SETITEMS, STOP
  return await makeZip([
    [`${prefix}/data.pkl`, p.build()],
    ...storages,
    [`${prefix}/version`, enc.encode("3\n")],
  ]);
}
