/**
 * Mutators of the fuzz harness: byte-level (bit flips, inserts, deletes, truncation, splicing,
 * interesting integers), JSON-level (wrong types, deep nesting, duplicate keys, huge numbers) and
 * protobuf-level (random and overlong varints, wrong wire types, huge declared lengths). Every
 * mutator draws its choices from a {@link Rand}, so an input is a pure function of its seed.
 *
 * @module
 */
import { createRng } from "@encdec/generation";
import { concatBytes } from "@encdec/modeling";

/** A seeded source of random choices (xoshiro128** from `@encdec/generation` underneath). */
export class Rand {
  private readonly rng;
  /** Starts the stream of `seed` (a 32-bit integer). */
  constructor(seed: number) {
    this.rng = createRng(seed);
  }
  /** Uniform double in `[0, 1)`. */
  next(): number {
    return this.rng.random();
  }
  /** Uniform integer in `[0, n)` (`0` when `n <= 0`). */
  int(n: number): number {
    return n <= 0 ? 0 : Math.floor(this.next() * n);
  }
  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.next() < p;
  }
  /** One element of `xs` (which must not be empty). */
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }
}

/**
 * The seed of input `index` of a run with seed `runSeed`: each input has its own stream, so any
 * single input can be regenerated without replaying the ones before it.
 *
 * @example
 * ```ts
 * import { inputSeed } from "./mutate.ts";
 * inputSeed(1, 7) === inputSeed(1, 7); // true
 * ```
 */
export function inputSeed(runSeed: number, index: number): number {
  let h = Math.imul((runSeed >>> 0) ^ 0x9e3779b9, 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (index >>> 0) ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  h = Math.imul(h ^ Math.floor(index / 2 ** 32) ^ (h >>> 16), 0x27d4eb2f) >>> 0;
  return (h ^ (h >>> 15)) >>> 0;
}

// ---- bytes ---------------------------------------------------------------------------------------

/** Integers that tend to break length and offset checks, as little-endian widths. */
const INTERESTING_U32 = [
  0,
  1,
  7,
  8,
  0x7f,
  0x80,
  0xff,
  0x7fff,
  0xffff,
  0x7fffffff,
  0x80000000,
  0xffffffff,
];
const INTERESTING_U64 = [
  0n,
  1n,
  8n,
  2n ** 31n,
  2n ** 32n,
  2n ** 53n,
  2n ** 60n,
  2n ** 63n,
  2n ** 64n - 1n,
];

/** A position biased to the first and last 4 KiB, where headers and directories live. */
function position(r: Rand, len: number): number {
  if (len === 0) return 0;
  const x = r.next();
  if (x < 0.4) return r.int(Math.min(len, 4096));
  if (x < 0.7) return len - 1 - r.int(Math.min(len, 4096));
  return r.int(len);
}

/**
 * Applies one random byte-level mutation to `input` (never in place): bit flip, random or
 * interesting byte, interesting u32/u64 overwrite, insert, delete, duplicate a range, truncate,
 * append junk, or splice with `other`.
 *
 * @example
 * ```ts
 * import { mutateBytes, Rand } from "./mutate.ts";
 * const out = mutateBytes(new Uint8Array([1, 2, 3]), new Rand(1));
 * out instanceof Uint8Array; // true
 * ```
 */
export function mutateBytes(input: Uint8Array, r: Rand, other?: Uint8Array): Uint8Array {
  const b = input.slice();
  const len = b.length;
  switch (r.int(11)) {
    case 0: { // bit flip
      if (len === 0) return new Uint8Array([r.int(256)]);
      const p = position(r, len);
      b[p] ^= 1 << r.int(8);
      return b;
    }
    case 1: { // random byte
      if (len === 0) return new Uint8Array([r.int(256)]);
      b[position(r, len)] = r.int(256);
      return b;
    }
    case 2: { // interesting byte
      if (len === 0) return new Uint8Array([0xff]);
      b[position(r, len)] = r.pick([0, 1, 0x7f, 0x80, 0xff, 0x22, 0x5c, 0x7b, 0x5b, 0x0a]);
      return b;
    }
    case 3: { // interesting u32 / u64 little-endian overwrite
      if (len < 8) return b;
      const p = Math.min(position(r, len), len - 8);
      const v = new DataView(b.buffer);
      if (r.chance(0.5)) v.setUint32(p, r.pick(INTERESTING_U32), true);
      else v.setBigUint64(p, r.pick(INTERESTING_U64), true);
      return b;
    }
    case 4: { // insert random bytes
      const p = position(r, len + 1);
      const ins = new Uint8Array(1 + r.int(16)).map(() => r.int(256));
      return concatBytes([b.subarray(0, p), ins, b.subarray(p)]);
    }
    case 5: { // delete a range
      if (len === 0) return b;
      const p = position(r, len);
      const n = 1 + r.int(r.chance(0.8) ? 16 : 4096);
      return concatBytes([b.subarray(0, p), b.subarray(Math.min(len, p + n))]);
    }
    case 6: { // duplicate a range elsewhere
      if (len === 0) return b;
      const p = position(r, len);
      const n = 1 + r.int(Math.min(256, len - p));
      const at = position(r, len + 1);
      return concatBytes([b.subarray(0, at), b.slice(p, p + n), b.subarray(at)]);
    }
    case 7: // truncate
      return b.slice(0, r.chance(0.5) ? r.int(Math.min(len + 1, 4096)) : r.int(len + 1));
    case 8: { // append junk
      const junk = new Uint8Array(1 + r.int(64)).map(() => r.int(256));
      return concatBytes([b, junk]);
    }
    case 9: { // splice: head of one input, tail of the other
      if (!other || other.length === 0) return b;
      const p = r.int(len + 1);
      const q = r.int(other.length + 1);
      return concatBytes([b.subarray(0, p), other.subarray(q)]);
    }
    default: { // overwrite a range with one repeated byte
      if (len === 0) return b;
      const p = position(r, len);
      b.fill(r.pick([0, 0xff, 0x20, 0x30]), p, Math.min(len, p + 1 + r.int(64)));
      return b;
    }
  }
}

// ---- JSON ----------------------------------------------------------------------------------------

/** A JSON object whose entries may repeat a key (emitted as written, duplicates included). */
export class DupObject {
  /** Entries in output order. */
  constructor(readonly entries: [string, unknown][]) {}
}

/** A JSON number written verbatim (`1e400`, `-0`, `18446744073709551617`). */
export class RawNumber {
  /** The literal. */
  constructor(readonly text: string) {}
}

const WRONG_VALUES: readonly unknown[] = [
  null,
  true,
  false,
  0,
  -1,
  1.5,
  2 ** 31,
  2 ** 53,
  2 ** 60,
  -(2 ** 60),
  1e308,
  new RawNumber("1e400"),
  new RawNumber("-0"),
  new RawNumber("18446744073709551617"),
  "",
  "x",
  "\u0000",
  "\ud800",
  "../../etc/passwd",
  "__proto__",
  [],
  [1, 2, 3],
  [[]],
  {},
  JSON.parse('{"__proto__": {"polluted": true}}'),
  { constructor: 1, toString: 2 },
];

const WEIRD_KEYS = [
  "__proto__",
  "constructor",
  "toString",
  "hasOwnProperty",
  "",
  "\u0000",
  "0",
  "-1",
];

/** Writes `v` as JSON text, expanding {@link DupObject} and {@link RawNumber}. */
export function emitJson(v: unknown): string {
  if (v instanceof RawNumber) return v.text;
  if (v instanceof DupObject) {
    return `{${v.entries.map(([k, x]) => `${JSON.stringify(k)}:${emitJson(x)}`).join(",")}}`;
  }
  if (Array.isArray(v)) return `[${v.map(emitJson).join(",")}]`;
  if (v !== null && typeof v === "object") {
    const parts: string[] = [];
    // `Object.keys` includes an own "__proto__" made by JSON.parse; emit it as a key.
    for (const k of Object.keys(v)) {
      parts.push(`${JSON.stringify(k)}:${emitJson((v as Record<string, unknown>)[k])}`);
    }
    return `{${parts.join(",")}}`;
  }
  if (typeof v === "number" && !Number.isFinite(v)) return "null";
  return JSON.stringify(v) ?? "null";
}

/** Every container node of `v` (arrays and objects), outermost first, up to `limit`. */
function containers(v: unknown, limit = 5000): (unknown[] | Record<string, unknown>)[] {
  const out: (unknown[] | Record<string, unknown>)[] = [];
  const stack = [v];
  while (stack.length > 0 && out.length < limit) {
    const x = stack.pop();
    if (x instanceof DupObject || x instanceof RawNumber) continue;
    if (Array.isArray(x)) {
      out.push(x);
      stack.push(...x);
    } else if (x !== null && typeof x === "object") {
      out.push(x as Record<string, unknown>);
      stack.push(...Object.values(x));
    }
  }
  return out;
}

/** Sets an own property (an own `__proto__` too, as JSON.parse makes it). */
function setOwn(o: Record<string, unknown>, k: string, value: unknown): void {
  Object.defineProperty(o, k, { value, enumerable: true, writable: true, configurable: true });
}

/** A value to put somewhere: a wrong type, or a mutated copy of `near`. */
function wrongValue(r: Rand, near: unknown): unknown {
  if (typeof near === "number" && r.chance(0.4)) {
    return r.pick([near + 1, near - 1, -near, near * 2 ** 20, near + 0.5, 2 ** 53 + 2, -1]);
  }
  if (typeof near === "string" && r.chance(0.3)) {
    return r.pick([near + near, near.slice(1), near.toUpperCase(), "a".repeat(1 + r.int(100_000))]);
  }
  return structuredClone(r.pick(WRONG_VALUES));
}

/**
 * Applies one structural mutation to a parsed JSON value in place (wrong type, delete or add a
 * key, duplicate a key, shuffle or grow an array) and returns the new root. Deep nesting is
 * text-level: see {@link deepNest}.
 *
 * @example
 * ```ts
 * import { emitJson, mutateJsonValue, Rand } from "./mutate.ts";
 * const text = emitJson(mutateJsonValue({ a: 1, b: [2] }, new Rand(3)));
 * typeof text; // "string"
 * ```
 */
export function mutateJsonValue(root: unknown, r: Rand): unknown {
  const nodes = containers(root);
  if (nodes.length === 0 || r.chance(0.02)) return wrongValue(r, root);
  const node = r.pick(nodes);
  if (Array.isArray(node)) {
    switch (r.int(5)) {
      case 0:
        if (node.length > 0) {
          const i = r.int(node.length);
          node[i] = wrongValue(r, node[i]);
        } else node.push(wrongValue(r, undefined));
        break;
      case 1:
        node.splice(r.int(node.length), 1);
        break;
      case 2:
        if (node.length > 0) node.splice(r.int(node.length), 0, structuredClone(r.pick(node)));
        break;
      case 3:
        node.reverse();
        break;
      default:
        node.length = r.int(node.length + 1);
    }
    return root;
  }
  const keys = Object.keys(node);
  switch (r.int(6)) {
    case 0:
    case 1: {
      if (keys.length === 0) break;
      const k = r.pick(keys);
      setOwn(node, k, wrongValue(r, node[k]));
      break;
    }
    case 2:
      if (keys.length > 0) delete node[r.pick(keys)];
      break;
    case 3:
      setOwn(
        node,
        r.chance(0.5) || keys.length === 0 ? r.pick(WEIRD_KEYS) : r.pick(keys) + "_",
        wrongValue(r, undefined),
      );
      break;
    case 4: { // duplicate key: the same key twice with different values
      if (keys.length === 0) break;
      const k = r.pick(keys);
      const entries: [string, unknown][] = keys.map((x) => [x, node[x]]);
      entries.splice(r.int(entries.length + 1), 0, [k, wrongValue(r, node[k])]);
      for (const x of keys) delete node[x];
      // Swap the node for a DupObject in its parent.
      return replaceNode(root, node, new DupObject(entries));
    }
    default: { // move a value under another key (right type, wrong place)
      if (keys.length < 2) break;
      const a = r.pick(keys);
      const b = r.pick(keys);
      const t = node[a];
      setOwn(node, a, node[b]);
      setOwn(node, b, t);
    }
  }
  return root;
}

function replaceNode(root: unknown, target: object, by: unknown): unknown {
  if (root === target) return by;
  for (const c of containers(root)) {
    if (Array.isArray(c)) {
      const i = c.indexOf(target);
      if (i >= 0) c[i] = by;
    } else {
      for (const k of Object.keys(c)) if (c[k] === target) setOwn(c, k, by);
    }
  }
  return root;
}

/**
 * Wraps the JSON value at a random place of `text` in `depth` arrays or objects (text-level, so it
 * works at depths where `JSON.stringify` would overflow the stack).
 */
export function deepNest(text: string, r: Rand): string {
  const depth = r.pick([100, 1000, 10_000, 100_000]);
  const obj = r.chance(0.5);
  const open = obj ? '{"a":' : "[";
  const close = obj ? "}" : "]";
  // Insert right after a `:` (an object value) or replace the whole document.
  const colon = text.indexOf(":", r.int(text.length));
  if (colon < 0 || r.chance(0.2)) return open.repeat(depth) + "1" + close.repeat(depth);
  // Value after the colon: wrap a scalar-less placeholder to keep the document well formed.
  return text.slice(0, colon + 1) + open.repeat(depth) + "0" + close.repeat(depth) + "," +
    '"__fuzz_nested__":' + text.slice(colon + 1);
}

/**
 * One JSON mutation of `text`: mostly structural on the parsed tree, sometimes deep nesting, a
 * huge string, or raw byte damage. Text that does not parse gets byte mutations only.
 */
export function mutateJsonText(text: string, r: Rand): string {
  let root: unknown;
  try {
    root = JSON.parse(text);
  } catch {
    return new TextDecoder().decode(mutateBytes(new TextEncoder().encode(text), r));
  }
  const x = r.next();
  if (x < 0.7) {
    try {
      return emitJson(mutateJsonValue(root, r));
    } catch {
      // Too deep to walk recursively (an earlier deep-nesting mutation): damage bytes instead.
      return new TextDecoder().decode(mutateBytes(new TextEncoder().encode(text), r));
    }
  }
  if (x < 0.8) return deepNest(text, r);
  if (x < 0.85) {
    return text.replace(/"([^"\\]{1,40})"/, `"$1${"\\u0000\\ud800".repeat(1 + r.int(4))}"`);
  }
  return new TextDecoder().decode(mutateBytes(new TextEncoder().encode(text), r));
}

// ---- protobuf -------------------------------------------------------------------------------------

/** One protobuf field as written (wire 0 varint, 1 fixed64, 2 bytes, 5 fixed32). */
export interface PbField {
  /** Field number. */
  field: number;
  /** Wire type. */
  wire: number;
  /** Varint value (wire 0). */
  varint?: bigint;
  /** Payload (wire 1, 2, 5). */
  bytes?: Uint8Array;
}

function readVarint(b: Uint8Array, pos: number): [bigint, number] {
  let x = 0n;
  let shift = 0n;
  for (let i = 0; i < 10; i++) {
    if (pos >= b.length) throw new Error("eof");
    const c = b[pos++];
    x |= BigInt(c & 0x7f) << shift;
    if (!(c & 0x80)) return [x, pos];
    shift += 7n;
  }
  throw new Error("varint too long");
}

/** Decodes one message level; throws a plain `Error` when `b` is not a clean message. */
export function decodePb(b: Uint8Array): PbField[] {
  const out: PbField[] = [];
  let pos = 0;
  while (pos < b.length) {
    const [key, p1] = readVarint(b, pos);
    pos = p1;
    const field = Number(key >> 3n);
    const wire = Number(key & 7n);
    if (wire === 0) {
      const [v, p2] = readVarint(b, pos);
      pos = p2;
      out.push({ field, wire, varint: v });
    } else if (wire === 1 || wire === 5) {
      const n = wire === 1 ? 8 : 4;
      if (pos + n > b.length) throw new Error("eof");
      out.push({ field, wire, bytes: b.slice(pos, pos + n) });
      pos += n;
    } else if (wire === 2) {
      const [n, p2] = readVarint(b, pos);
      pos = p2;
      if (BigInt(pos) + n > BigInt(b.length)) throw new Error("eof");
      out.push({ field, wire, bytes: b.slice(pos, pos + Number(n)) });
      pos += Number(n);
    } else throw new Error(`wire ${wire}`);
  }
  return out;
}

/** Encodes a varint (up to 64 bits; `overlong` pads it with redundant continuation bytes). */
export function varint(x: bigint, overlong = 0): Uint8Array {
  const out: number[] = [];
  let v = BigInt.asUintN(64, x);
  do {
    let c = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n || overlong > 0) c |= 0x80;
    out.push(c);
  } while (v > 0n);
  for (let i = 0; i < overlong; i++) out.push(i === overlong - 1 ? 0 : 0x80);
  return new Uint8Array(out);
}

/** Encodes fields; `lengthOverride` replaces the declared length of field index `at`. */
export function encodePb(
  fields: PbField[],
  lengthOverride?: { at: number; length: bigint },
): Uint8Array {
  const parts: Uint8Array[] = [];
  fields.forEach((f, i) => {
    parts.push(varint((BigInt(f.field) << 3n) | BigInt(f.wire & 7)));
    if (f.wire === 0) parts.push(varint(f.varint ?? 0n));
    else if (f.wire === 2) {
      const declared = lengthOverride?.at === i ? lengthOverride.length : BigInt(f.bytes!.length);
      parts.push(varint(declared), f.bytes!);
    } else parts.push(f.bytes ?? new Uint8Array(f.wire === 1 ? 8 : 4));
  });
  return concatBytes(parts);
}

const INTERESTING_VARINTS = [
  0n,
  1n,
  2n,
  3n,
  5n,
  6n,
  127n,
  128n,
  2n ** 31n - 1n,
  2n ** 32n,
  2n ** 53n,
  2n ** 63n,
  2n ** 64n - 1n,
];

/**
 * One protobuf mutation of a message: recurse into a sub-message (up to `depth`), change a
 * varint, change a wire type, declare a huge or short length, duplicate, delete, or insert a
 * random field, or write an overlong varint. Falls back to byte mutations when `b` is not a
 * clean message.
 */
export function mutateProtobuf(b: Uint8Array, r: Rand, depth = 2): Uint8Array {
  let fields: PbField[];
  try {
    fields = decodePb(b);
  } catch {
    return mutateBytes(b, r);
  }
  if (fields.length === 0) return mutateBytes(b, r);
  const i = r.int(fields.length);
  const f = fields[i];
  // Prefer the sub-messages of a message (pieces, specs), where the interesting values are.
  if (f.wire === 2 && depth > 0 && r.chance(0.6)) {
    let sub: Uint8Array;
    try {
      decodePb(f.bytes!);
      sub = mutateProtobuf(f.bytes!, r, depth - 1);
    } catch {
      sub = mutateBytes(f.bytes!, r);
    }
    fields[i] = { ...f, bytes: sub };
    return encodePb(fields);
  }
  switch (r.int(8)) {
    case 0:
      fields[i] = { field: f.field, wire: 0, varint: r.pick(INTERESTING_VARINTS) };
      break;
    case 1:
      fields[i] = {
        ...f,
        wire: r.pick([0, 1, 2, 5, 3, 4, 6, 7]),
        varint: f.varint ?? 1n,
        bytes: f.bytes ?? new Uint8Array(8),
      };
      break;
    case 2:
      if (f.wire === 2) {
        return encodePb(fields, {
          at: i,
          length: r.pick([2n ** 60n, 2n ** 31n, BigInt(f.bytes!.length + 1), 2n ** 64n - 1n]),
        });
      }
      break;
    case 3:
      fields.splice(i, 0, { ...f });
      break;
    case 4:
      fields.splice(i, 1);
      break;
    case 5:
      fields.splice(i, 0, { field: 1 + r.int(40), wire: 0, varint: r.pick(INTERESTING_VARINTS) });
      break;
    case 6: { // float payloads: NaN, infinities, denormals
      const v = new DataView(new ArrayBuffer(4));
      v.setUint32(0, r.pick([0x7fc00000, 0x7f800000, 0xff800000, 0x00000001, 0x80000000]), true);
      fields[i] = { field: f.field, wire: 5, bytes: new Uint8Array(v.buffer) };
      break;
    }
    default: { // an overlong or 11-byte varint in the middle of the stream
      const head = encodePb(fields.slice(0, i));
      const tail = encodePb(fields.slice(i));
      const bad = r.chance(0.5)
        ? varint(BigInt(r.int(1000)), 1 + r.int(12))
        : new Uint8Array(11).fill(0xff);
      return concatBytes([head, varint(BigInt((f.field << 3) | 0)), bad, tail]);
    }
  }
  return encodePb(fields);
}
