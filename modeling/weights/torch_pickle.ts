/**
 * PyTorch checkpoints (`pytorch_model.bin`, written by `torch.save` since torch 1.6: a zip
 * archive holding `<name>/data.pkl` plus one `<name>/data/<key>` entry per storage).
 *
 * The pickle is read by a RESTRICTED unpickler: it understands the opcodes torch writes for a
 * state dict and only an allow-list of globals (`collections.OrderedDict`,
 * `torch._utils._rebuild_tensor_v2`, `torch._utils._rebuild_parameter`, the typed storage
 * classes, `torch.<dtype>`). Any other global (`os.system`, `builtins.eval`, ...) is refused with
 * a `WeightsError` naming it. Nothing is ever executed: the allow-listed "functions" are
 * implemented here in TypeScript.
 *
 * @module
 */
import { type DType, Tensor } from "../tensor.ts";
import { WeightsError } from "./errors.ts";
import { readFileOrThrow } from "./_file_io.ts";
import { LITTLE_ENDIAN_HOST } from "./_bytes.ts";
import { readZip, type ZipArchive } from "./zip.ts";

// ---- values on the unpickler stack -------------------------------------------------------------

/** A Python tuple (kept apart from lists, which are plain arrays). */
class PyTuple {
  constructor(readonly items: PyValue[]) {}
}

/** A Python dict / OrderedDict; keys are strings or numbers. */
class PyDict {
  readonly map = new Map<string | number | bigint | boolean | null, PyValue>();
  constructor(readonly ordered: boolean) {}
}

/** An allow-listed global. `kind` says what the unpickler may do with it. */
class PyGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
    readonly kind: "function" | "storage" | "dtype" | "class",
  ) {}
  get qualified(): string {
    return `${this.module}.${this.name}`;
  }
}

/** A storage referenced through BINPERSID; its bytes live in `data/<key>` of the archive. */
class StorageRef {
  constructor(
    readonly key: string,
    readonly type: StorageType,
    readonly numel: number,
  ) {}
}

/** A tensor built by `_rebuild_tensor_v2`. */
class TensorValue {
  constructor(readonly tensor: Tensor) {}
}

type PyValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PyValue[]
  | PyTuple
  | PyDict
  | PyGlobal
  | StorageRef
  | TensorValue;

/** A storage class: bytes per element in the file and the dtype the values load as. */
interface StorageType {
  name: string;
  size: number;
  dtype: DType;
  read: (v: DataView, i: number) => number | bigint;
}

const STORAGES: Readonly<Record<string, StorageType>> = Object.fromEntries(
  (
    [
      ["FloatStorage", 4, "float32", (v, i) => v.getFloat32(i * 4, true)],
      ["DoubleStorage", 8, "float32", (v, i) => v.getFloat64(i * 8, true)],
      ["HalfStorage", 2, "float16", (v, i) => v.getUint16(i * 2, true)],
      ["BFloat16Storage", 2, "bfloat16", (v, i) => v.getUint16(i * 2, true)],
      ["LongStorage", 8, "int64", (v, i) => v.getBigInt64(i * 8, true)],
      ["IntStorage", 4, "int32", (v, i) => v.getInt32(i * 4, true)],
      ["ShortStorage", 2, "int32", (v, i) => v.getInt16(i * 2, true)],
      ["CharStorage", 1, "int32", (v, i) => v.getInt8(i)],
      ["ByteStorage", 1, "int32", (v, i) => v.getUint8(i)],
      ["BoolStorage", 1, "bool", (v, i) => v.getUint8(i) ? 1 : 0],
    ] as [string, number, DType, StorageType["read"]][]
  ).map(([name, size, dtype, read]) => [name, { name, size, dtype, read }]),
);

/** Storages whose file bytes are the loaded typed array's bytes on a little-endian host. */
const RAW_COPY = new Set([
  "FloatStorage",
  "HalfStorage",
  "BFloat16Storage",
  "LongStorage",
  "IntStorage",
]);

const TORCH_DTYPES = new Set([
  "float32",
  "float",
  "float64",
  "double",
  "float16",
  "half",
  "bfloat16",
  "int64",
  "long",
  "int32",
  "int",
  "int16",
  "short",
  "int8",
  "uint8",
  "bool",
]);

const FUNCTIONS = new Set([
  "collections.OrderedDict",
  "torch._utils._rebuild_tensor",
  "torch._utils._rebuild_tensor_v2",
  "torch._utils._rebuild_parameter",
  "torch._utils._rebuild_parameter_with_state",
  "torch._tensor._rebuild_from_type_v2",
]);

const CLASSES = new Set(["torch.nn.parameter.Parameter", "torch.Tensor"]);

/** Resolves a GLOBAL against the allow-list, or throws naming the refused global. */
function allowGlobal(file: string, module: string, name: string, offset: number): PyGlobal {
  const q = `${module}.${name}`;
  if (FUNCTIONS.has(q)) return new PyGlobal(module, name, "function");
  if (CLASSES.has(q)) return new PyGlobal(module, name, "class");
  if (module === "torch" && Object.hasOwn(STORAGES, name)) {
    return new PyGlobal(module, name, "storage");
  }
  if (module === "torch" && TORCH_DTYPES.has(name)) return new PyGlobal(module, name, "dtype");
  throw new WeightsError(
    `${file}: pickle refers to the global "${q}" at offset ${offset}, which is not allowed ` +
      `(only torch state-dict globals such as torch._utils._rebuild_tensor_v2, ` +
      `torch.FloatStorage and collections.OrderedDict are; nothing was executed)`,
  );
}

function describe(v: PyValue): string {
  if (v === null) return "None";
  if (v instanceof PyGlobal) return v.qualified;
  if (v instanceof PyTuple) return "tuple";
  if (v instanceof PyDict) return v.ordered ? "OrderedDict" : "dict";
  if (v instanceof StorageRef) return "storage";
  if (v instanceof TensorValue) return "tensor";
  if (Array.isArray(v)) return "list";
  if (v instanceof Uint8Array) return "bytes";
  return typeof v;
}

// ---- the unpickler -----------------------------------------------------------------------------

/** How the unpickler resolves persistent ids (`BINPERSID`) into storages. */
export interface PickleContext {
  /** File name used in error messages. */
  file: string;
  /** Builds a tensor from a storage key, dtype and layout; called by `_rebuild_tensor_v2`. */
  rebuild: (
    storage: { key: string; storageType: string; numel: number },
    offset: number,
    size: number[],
    stride: number[],
  ) => Tensor;
}

const MARK = Symbol("mark");

/**
 * Runs the restricted unpickler over `data` (the bytes of `data.pkl`) and returns the state dict
 * it describes: tensor keys → tensors. Any opcode or global outside what torch writes for a
 * state dict is refused with a `WeightsError`.
 *
 * @example
 * ```ts
 * import { unpickleStateDict } from "./torch_pickle.ts";
 * import { WeightsError } from "./errors.ts";
 * // \x80\x02 c os\nsystem\n ... : refused, never executed
 * const evil = new TextEncoder().encode("\x80\x02cos\nsystem\n.");
 * try {
 *   unpickleStateDict(evil, { file: "x.pkl", rebuild: () => { throw new Error(); } });
 * } catch (e) {
 *   console.log(e instanceof WeightsError); // true
 * }
 * ```
 */
export function unpickleStateDict(data: Uint8Array, ctx: PickleContext): Map<string, Tensor> {
  const file = ctx.file;
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const stack: (PyValue | typeof MARK)[] = [];
  const memo = new Map<number, PyValue>();
  let pos = 0;
  let op = 0;
  let opAt = 0;
  const fail = (msg: string): never => {
    throw new WeightsError(`${file}: pickle opcode 0x${op.toString(16)} at offset ${opAt}: ${msg}`);
  };
  const need = (n: number) => {
    if (n < 0 || pos + n > data.length) {
      fail(`needs ${n} bytes but the pickle ends at ${data.length} (truncated)`);
    }
  };
  const u8 = () => (need(1), data[pos++]);
  const u16 = () => (need(2), pos += 2, v.getUint16(pos - 2, true));
  const u32 = () => (need(4), pos += 4, v.getUint32(pos - 4, true));
  const u64 = () => {
    need(8);
    const x = v.getBigUint64(pos, true);
    pos += 8;
    if (x > BigInt(data.length)) fail(`length ${x} exceeds the pickle size ${data.length}`);
    return Number(x);
  };
  const text = (n: number) => {
    need(n);
    const s = new TextDecoder("utf-8", { fatal: false }).decode(data.subarray(pos, pos + n));
    pos += n;
    return s;
  };
  const line = () => {
    const end = data.indexOf(0x0a, pos);
    if (end < 0) fail("unterminated line (truncated)");
    const s = new TextDecoder().decode(data.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const pop = (): PyValue => {
    if (stack.length === 0) fail("stack underflow");
    const x = stack.pop()!;
    if (x === MARK) fail("unexpected MARK on the stack");
    return x as PyValue;
  };
  const top = (): PyValue => {
    const x = stack[stack.length - 1];
    if (stack.length === 0 || x === MARK) fail("stack underflow");
    return x as PyValue;
  };
  const popMark = (): PyValue[] => {
    const i = stack.lastIndexOf(MARK);
    if (i < 0) fail("no MARK on the stack");
    const items = stack.splice(i) as PyValue[];
    items.shift();
    return items;
  };
  const dictKey = (k: PyValue) => {
    if (
      typeof k === "string" || typeof k === "number" || typeof k === "bigint" ||
      typeof k === "boolean" || k === null
    ) return k;
    return fail(`unsupported dict key of type ${describe(k)}`);
  };
  const setItems = (target: PyValue, items: PyValue[]) => {
    if (!(target instanceof PyDict)) return fail(`SETITEM(S) on a ${describe(target)}`);
    if (items.length % 2) fail("odd number of items for SETITEMS");
    for (let i = 0; i < items.length; i += 2) target.map.set(dictKey(items[i]), items[i + 1]);
  };
  const append = (target: PyValue, items: PyValue[]) => {
    if (!Array.isArray(target)) return fail(`APPEND(S) on a ${describe(target)}`);
    for (const x of items) target.push(x);
  };
  const ints = (x: PyValue, what: string): number[] => {
    const items = x instanceof PyTuple ? x.items : Array.isArray(x) ? x : null;
    if (!items || !items.every((i) => typeof i === "number" && Number.isSafeInteger(i))) {
      return fail(`${what} must be a tuple of integers, found ${describe(x)}`);
    }
    return items as number[];
  };
  const call = (fn: PyValue, args: PyValue): PyValue => {
    if (!(fn instanceof PyGlobal) || fn.kind !== "function") {
      return fail(`REDUCE may only call an allowed function, not ${describe(fn)}`);
    }
    if (!(args instanceof PyTuple)) return fail(`REDUCE arguments must be a tuple`);
    const a = args.items;
    switch (fn.qualified) {
      case "collections.OrderedDict":
        if (a.length !== 0) fail("OrderedDict() with arguments is not supported");
        return new PyDict(true);
      case "torch._utils._rebuild_tensor":
      case "torch._utils._rebuild_tensor_v2": {
        if (a.length < 4) fail(`${fn.name} needs (storage, offset, size, stride, ...)`);
        const [storage, offset] = a;
        if (!(storage instanceof StorageRef)) {
          return fail(`${fn.name}: first argument must be a storage, found ${describe(storage)}`);
        }
        if (typeof offset !== "number" || !Number.isSafeInteger(offset) || offset < 0) {
          return fail(`${fn.name}: storage offset must be an integer >= 0`);
        }
        const size = ints(a[2], "size");
        const stride = ints(a[3], "stride");
        return new TensorValue(
          ctx.rebuild(
            { key: storage.key, storageType: storage.type.name, numel: storage.numel },
            offset,
            size,
            stride,
          ),
        );
      }
      case "torch._utils._rebuild_parameter":
      case "torch._utils._rebuild_parameter_with_state":
        if (!(a[0] instanceof TensorValue)) fail(`${fn.name}: first argument must be a tensor`);
        return a[0];
      case "torch._tensor._rebuild_from_type_v2": {
        const [inner, type, innerArgs] = a;
        if (!(type instanceof PyGlobal) || type.kind !== "class") {
          return fail(`_rebuild_from_type_v2 with type ${describe(type ?? null)}`);
        }
        return call(inner ?? null, innerArgs ?? null);
      }
    }
    return fail(`unsupported function ${fn.qualified}`);
  };

  let sawProto = false;
  while (true) {
    opAt = pos;
    if (pos >= data.length) {
      throw new WeightsError(`${file}: pickle ends at offset ${pos} without STOP (truncated)`);
    }
    op = data[pos++];
    switch (op) {
      case 0x80: { // PROTO
        const proto = u8();
        if (sawProto || opAt !== 0) fail("a second or nested PROTO is not allowed");
        if (proto < 2 || proto > 5) fail(`pickle protocol ${proto}, expected 2 to 5`);
        sawProto = true;
        break;
      }
      case 0x95: // FRAME
        u64();
        break;
      case 0x2e: { // STOP
        const result = pop();
        return toStateDict(file, result);
      }
      case 0x7d: // EMPTY_DICT
        stack.push(new PyDict(false));
        break;
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push(new PyTuple([]));
        break;
      case 0x28: // MARK
        stack.push(MARK);
        break;
      case 0x30: // POP
        pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      case 0x58: // BINUNICODE
        stack.push(text(u32()));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(text(u8()));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(text(u64()));
        break;
      case 0x43: { // SHORT_BINBYTES
        const n = u8();
        need(n);
        stack.push(data.slice(pos, pos + n));
        pos += n;
        break;
      }
      case 0x42: { // BINBYTES
        const n = u32();
        need(n);
        stack.push(data.slice(pos, pos + n));
        pos += n;
        break;
      }
      case 0x4a: // BININT
        need(4);
        stack.push(v.getInt32(pos, true));
        pos += 4;
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x8a: { // LONG1
        const n = u8();
        need(n);
        let x = 0n;
        for (let i = n - 1; i >= 0; i--) x = (x << 8n) | BigInt(data[pos + i]);
        if (n > 0 && data[pos + n - 1] & 0x80) x -= 1n << BigInt(8 * n);
        pos += n;
        stack.push(
          x >= BigInt(Number.MIN_SAFE_INTEGER) && x <= BigInt(Number.MAX_SAFE_INTEGER)
            ? Number(x)
            : x,
        );
        break;
      }
      case 0x47: // BINFLOAT (big-endian)
        need(8);
        stack.push(v.getFloat64(pos, false));
        pos += 8;
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x85: // TUPLE1
        stack.push(new PyTuple([pop()]));
        break;
      case 0x86: { // TUPLE2
        const b = pop();
        const a = pop();
        stack.push(new PyTuple([a, b]));
        break;
      }
      case 0x87: { // TUPLE3
        const c = pop();
        const b = pop();
        const a = pop();
        stack.push(new PyTuple([a, b, c]));
        break;
      }
      case 0x74: // TUPLE
        stack.push(new PyTuple(popMark()));
        break;
      case 0x6c: // LIST
        stack.push(popMark());
        break;
      case 0x64: { // DICT
        const d = new PyDict(false);
        setItems(d, popMark());
        stack.push(d);
        break;
      }
      case 0x73: { // SETITEM
        const value = pop();
        const key = pop();
        setItems(top(), [key, value]);
        break;
      }
      case 0x75: { // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x61: { // APPEND
        const x = pop();
        append(top(), [x]);
        break;
      }
      case 0x65: { // APPENDS
        const items = popMark();
        append(top(), items);
        break;
      }
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x68: // BINGET
      case 0x6a: { // LONG_BINGET
        const i = op === 0x68 ? u8() : u32();
        if (!memo.has(i)) fail(`memo entry ${i} was never stored`);
        stack.push(memo.get(i)!);
        break;
      }
      case 0x63: { // GLOBAL
        const module = line();
        const name = line();
        stack.push(allowGlobal(file, module, name, opAt));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== "string" || typeof name !== "string") {
          fail("STACK_GLOBAL needs two strings");
        }
        stack.push(allowGlobal(file, module as string, name as string, opAt));
        break;
      }
      case 0x52: { // REDUCE
        const args = pop();
        const fn = pop();
        stack.push(call(fn, args));
        break;
      }
      case 0x81: { // NEWOBJ
        const args = pop();
        const cls = pop();
        if (
          !(cls instanceof PyGlobal) || cls.qualified !== "collections.OrderedDict" ||
          !(args instanceof PyTuple) || args.items.length !== 0
        ) {
          fail(`NEWOBJ of ${describe(cls)} is not allowed`);
        }
        stack.push(new PyDict(true));
        break;
      }
      case 0x62: { // BUILD
        const state = pop();
        const target = top();
        // torch pickles a state dict's `_metadata` as the OrderedDict's state; nothing else may
        // receive a state (that is how `__setstate__` gadgets run code).
        if (!(target instanceof PyDict) || !target.ordered) {
          fail(`BUILD (__setstate__) on a ${describe(target)} is not allowed`);
        }
        if (state !== null && !(state instanceof PyDict)) {
          fail(`BUILD state of an OrderedDict must be a dict, found ${describe(state)}`);
        }
        break;
      }
      case 0x51: { // BINPERSID
        const pid = pop();
        stack.push(persistentLoad(pid));
        break;
      }
      default:
        fail("opcode not supported by the restricted unpickler (torch does not write it)");
    }
  }

  function persistentLoad(pid: PyValue): StorageRef {
    const items = pid instanceof PyTuple ? pid.items : null;
    if (!items || items.length !== 5 || items[0] !== "storage") {
      return fail(`persistent id must be ("storage", type, key, location, numel)`);
    }
    const [, type, key, , n] = items;
    if (!(type instanceof PyGlobal) || type.kind !== "storage") {
      return fail(`persistent id storage type ${describe(type)} is not a torch storage class`);
    }
    if (typeof key !== "string") return fail("persistent id storage key must be a string");
    if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 0) {
      return fail("persistent id storage size must be an integer >= 0");
    }
    return new StorageRef(key, STORAGES[type.name], n);
  }
}

function toStateDict(file: string, result: PyValue): Map<string, Tensor> {
  if (!(result instanceof PyDict)) {
    throw new WeightsError(
      `${file}: pickle holds a ${describe(result)}, expected a state dict (dict of tensors)`,
    );
  }
  const out = new Map<string, Tensor>();
  for (const [k, val] of result.map) {
    if (typeof k !== "string") {
      throw new WeightsError(`${file}: state dict key ${String(k)} is not a string`);
    }
    if (!(val instanceof TensorValue)) {
      throw new WeightsError(
        `${file}: state dict entry "${k}" is a ${describe(val)}, expected a tensor`,
      );
    }
    out.set(k, val.tensor);
  }
  return out;
}

// ---- the checkpoint ----------------------------------------------------------------------------

/** Options of `readTorchCheckpoint`. */
export interface ReadTorchOptions {
  /** File name used in error messages (default `"<bytes>"`). */
  file?: string;
}

/**
 * Reads a PyTorch zip checkpoint (`torch.save(state_dict)`, torch ≥ 1.6) held in memory and
 * returns its tensors. Storages shared by several tensors (tied weights) are decoded once;
 * strided and offset views are gathered into contiguous tensors. Half types stay raw
 * (`float16`/`bfloat16`), double becomes float32, short/char/byte become int32.
 *
 * @example
 * ```ts ignore
 * import { readTorchCheckpoint } from "./torch_pickle.ts";
 * const bytes = await Deno.readFile("bert2bert-bin/pytorch_model.bin");
 * const tensors = await readTorchCheckpoint(bytes, { file: "pytorch_model.bin" });
 * tensors.get("encoder.embeddings.word_embeddings.weight")!.dims; // [99, 32]
 * ```
 */
export async function readTorchCheckpoint(
  bytes: Uint8Array,
  opts: ReadTorchOptions = {},
): Promise<Map<string, Tensor>> {
  const file = opts.file ?? "<bytes>";
  if (bytes.length >= 2 && bytes[0] === 0x80) {
    throw new WeightsError(
      `${file}: legacy (pre-1.6, non-zip) torch checkpoint; re-save it with a recent torch or ` +
        `convert it to safetensors`,
    );
  }
  const zip = readZip(bytes, { file });
  const pkls = [...zip.entries.keys()].filter((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (pkls.length !== 1) {
    throw new WeightsError(
      `${file}: expected exactly one "<name>/data.pkl" entry in the torch zip, found ${pkls.length}`,
    );
  }
  const prefix = pkls[0].slice(0, -"data.pkl".length);
  const byteorder = zip.entries.has(`${prefix}byteorder`)
    ? new TextDecoder().decode(await zip.read(`${prefix}byteorder`)).trim()
    : "little";
  if (byteorder !== "little") {
    throw new WeightsError(`${file}: torch byteorder "${byteorder}", expected "little"`);
  }
  const pickle = await zip.read(pkls[0]);
  const raw = await readReferencedStorages(zip, prefix, pickle, file, bytes.length);
  const decoded = new Map<string, Tensor>();
  // Views are copied out; bound their total so a small file cannot expand (stride-0 views, one
  // storage viewed many times) into far more memory than its storages hold. Tied weights need 2×.
  const storageBytes = [...raw.values()].reduce((n, b) => n + b.length, 0);
  let budget = 2 ** 20 + 4 * storageBytes;
  const rebuild: PickleContext["rebuild"] = (storage, offset, size, stride) => {
    const type = STORAGES[storage.storageType];
    const where = `${file}: storage "${storage.key}" (${type.name})`;
    budget -= size.reduce((n, d) => n * Math.max(0, d), 1);
    if (budget < 0) {
      throw new WeightsError(
        `${where}: view size [${size}], stride [${stride}] brings the tensors past ${
          2 ** 20 + 4 * storageBytes
        } elements (4 per storage byte, ${storageBytes} bytes); expected views that fit their storages`,
      );
    }
    let flat = decoded.get(storage.key);
    if (!flat) {
      const b = raw.get(storage.key);
      if (!b) {
        throw new WeightsError(`${where}: no entry "${prefix}data/${storage.key}" in the zip`);
      }
      if (b.length !== storage.numel * type.size) {
        throw new WeightsError(
          `${where}: ${b.length} bytes, expected ${storage.numel} elements × ${type.size} bytes`,
        );
      }
      flat = Tensor.zeros([storage.numel], type.dtype);
      if (LITTLE_ENDIAN_HOST && RAW_COPY.has(type.name)) {
        new Uint8Array(flat.data.buffer, flat.data.byteOffset, flat.data.byteLength).set(b);
      } else {
        const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
        const d = flat.data as unknown as { [i: number]: number | bigint };
        for (let i = 0; i < storage.numel; i++) d[i] = type.read(view, i);
      }
      decoded.set(storage.key, flat);
    } else if (flat.dtype !== type.dtype || flat.size !== storage.numel) {
      throw new WeightsError(`${where}: referenced with two different types or sizes`);
    }
    return viewOf(flat, offset, size, stride, where);
  };
  return unpickleStateDict(pickle, { file, rebuild });
}

/**
 * Inflated bytes all deflated storages of one checkpoint may take together: 64 per file byte,
 * at least 256 MiB (torch itself stores storages uncompressed; only hand-made zips deflate).
 */
const inflateBudget = (fileBytes: number) => Math.max(2 ** 28, 64 * fileBytes);

/**
 * The bytes of the storages the pickle references, and only those (an unreferenced entry is
 * never inflated): a first unpickling pass collects each storage's key, type and element count;
 * each entry's declared size must equal `numel × element size` before it is read, and deflated
 * entries together may not inflate past {@link inflateBudget} (zip bombs).
 */
async function readReferencedStorages(
  zip: ZipArchive,
  prefix: string,
  pickle: Uint8Array,
  file: string,
  fileBytes: number,
): Promise<Map<string, Uint8Array>> {
  const wanted = new Map<string, { storageType: string; numel: number }>();
  unpickleStateDict(pickle, {
    file,
    rebuild: (storage) => {
      wanted.set(storage.key, storage);
      return Tensor.zeros([0], "float32");
    },
  });
  const raw = new Map<string, Uint8Array>();
  let budget = inflateBudget(fileBytes);
  for (const [key, { storageType, numel }] of wanted) {
    const type = STORAGES[storageType];
    const name = `${prefix}data/${key}`;
    const entry = zip.entries.get(name);
    const where = `${file}: storage "${key}" (${type.name})`;
    if (!entry) throw new WeightsError(`${where}: no entry "${name}" in the zip`);
    const expected = numel * type.size;
    if (entry.size !== expected) {
      throw new WeightsError(
        `${where}: the zip entry declares ${entry.size} bytes, the pickle's storage needs ` +
          `${numel} elements × ${type.size} bytes = ${expected}; refused unread`,
      );
    }
    if (entry.method !== 0) {
      budget -= expected;
      if (budget < 0) {
        throw new WeightsError(
          `${where}: deflated storages would inflate past ${inflateBudget(fileBytes)} bytes ` +
            `(64 per byte of this ${fileBytes}-byte file); refused as a zip bomb`,
        );
      }
    }
    raw.set(key, await zip.read(name));
  }
  return raw;
}

/** Largest tensor a view may expand to (stride-0 views could otherwise claim any size). */
const MAX_VIEW_ELEMENTS = 2 ** 31 - 1;

/** Copies the strided view (`offset`, `size`, `stride`) of a flat storage into a new tensor. */
function viewOf(
  flat: Tensor,
  offset: number,
  size: number[],
  stride: number[],
  where: string,
): Tensor {
  const desc = `size [${size}], stride [${stride}], offset ${offset}`;
  if (size.length !== stride.length || size.some((s) => s < 0) || stride.some((s) => s < 0)) {
    throw new WeightsError(`${where}: invalid view ${desc}`);
  }
  let n = 1;
  let last = offset;
  for (let i = 0; i < size.length; i++) {
    n *= size[i];
    last += (size[i] - 1) * stride[i];
  }
  if (n > MAX_VIEW_ELEMENTS) {
    throw new WeightsError(
      `${where}: view ${desc} has ${n} elements, more than ${MAX_VIEW_ELEMENTS}`,
    );
  }
  if (n > 0 && last >= flat.size) {
    throw new WeightsError(
      `${where}: view ${desc} reaches element ${last}, storage has ${flat.size}`,
    );
  }
  let out: Tensor;
  try {
    out = Tensor.zeros(size, flat.dtype);
  } catch (e) {
    throw new WeightsError(`${where}: cannot allocate view ${desc}: ${(e as Error).message}`);
  }
  if (n === 0) return out;
  const src = flat.data as unknown as { [i: number]: number | bigint };
  const dst = out.data as unknown as { [i: number]: number | bigint };
  // Contiguous row-major view: one slice copy.
  let contiguous = true;
  for (let i = size.length - 1, expect = 1; i >= 0; i--) {
    if (size[i] !== 1 && stride[i] !== expect) contiguous = false;
    expect *= size[i];
  }
  if (contiguous) {
    (out.data as Float32Array).set((flat.data as Float32Array).subarray(offset, offset + n));
    return out;
  }
  const idx = new Array<number>(size.length).fill(0);
  let at = offset;
  for (let k = 0; k < n; k++) {
    dst[k] = src[at];
    for (let d = size.length - 1; d >= 0; d--) {
      idx[d]++;
      at += stride[d];
      if (idx[d] < size[d]) break;
      at -= stride[d] * size[d];
      idx[d] = 0;
    }
  }
  return out;
}

/**
 * Reads a PyTorch checkpoint file (`pytorch_model.bin`) from disk.
 *
 * @example
 * ```ts ignore
 * import { loadTorchCheckpointFile } from "./torch_pickle.ts";
 * const tensors = await loadTorchCheckpointFile("bert2bert-bin/pytorch_model.bin");
 * ```
 */
export async function loadTorchCheckpointFile(path: string): Promise<Map<string, Tensor>> {
  return await readTorchCheckpoint(await readFileOrThrow(path), { file: path });
}
