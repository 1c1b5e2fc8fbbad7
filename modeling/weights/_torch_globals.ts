// Private: what the restricted unpickler allows a torch state-dict pickle to name and call: the
// storage classes, dtypes and classes, and the "functions" torch's pickle reduces
// (`collections.OrderedDict`, `torch._utils._rebuild_tensor_v2`, `_rebuild_parameter`, ...),
// implemented here in TypeScript. Nothing from the file is ever executed.
import type { DType, Tensor } from "../tensor.ts";
import { WeightsError } from "./errors.ts";
import {
  describe,
  PyDict,
  PyGlobal,
  PyTuple,
  type PyValue,
  StorageRef,
  TensorValue,
} from "./_pickle_values.ts";

/** A storage class: bytes per element in the file and the dtype the values load as. */
export interface StorageType {
  name: string;
  size: number;
  dtype: DType;
  read: (v: DataView, i: number) => number | bigint;
}

export const STORAGES: Readonly<Record<string, StorageType>> = Object.fromEntries(
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
export const RAW_COPY = new Set([
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
export function allowGlobal(file: string, module: string, name: string, offset: number): PyGlobal {
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

/** Raises a WeightsError naming the opcode and offset (the unpickler's). */
export type Fail = (msg: string) => never;

/** Builds a tensor from a storage, offset and view (what `_rebuild_tensor_v2` is given). */
export type Rebuild = (
  storage: { key: string; storageType: string; numel: number },
  offset: number,
  size: number[],
  stride: number[],
) => Tensor;

function ints(x: PyValue, what: string, fail: Fail): number[] {
  const items = x instanceof PyTuple ? x.items : Array.isArray(x) ? x : null;
  if (!items || !items.every((i) => typeof i === "number" && Number.isSafeInteger(i))) {
    return fail(`${what} must be a tuple of integers, found ${describe(x)}`);
  }
  return items as number[];
}

/** `_rebuild_tensor(_v2)(storage, offset, size, stride, ...)`. */
function rebuildTensor(name: string, a: PyValue[], rebuild: Rebuild, fail: Fail): TensorValue {
  if (a.length < 4) fail(`${name} needs (storage, offset, size, stride, ...)`);
  const [storage, offset] = a;
  if (!(storage instanceof StorageRef)) {
    return fail(`${name}: first argument must be a storage, found ${describe(storage)}`);
  }
  if (typeof offset !== "number" || !Number.isSafeInteger(offset) || offset < 0) {
    return fail(`${name}: storage offset must be an integer >= 0`);
  }
  const size = ints(a[2], "size", fail);
  const stride = ints(a[3], "stride", fail);
  const ref = { key: storage.key, storageType: storage.type.name, numel: storage.numel };
  return new TensorValue(rebuild(ref, offset, size, stride));
}

/** REDUCE: calls an allow-listed function `fn` with the tuple `args`. */
export function callAllowed(fn: PyValue, args: PyValue, rebuild: Rebuild, fail: Fail): PyValue {
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
    case "torch._utils._rebuild_tensor_v2":
      return rebuildTensor(fn.name, a, rebuild, fail);
    case "torch._utils._rebuild_parameter":
    case "torch._utils._rebuild_parameter_with_state":
      if (!(a[0] instanceof TensorValue)) fail(`${fn.name}: first argument must be a tensor`);
      return a[0];
    case "torch._tensor._rebuild_from_type_v2": {
      const [inner, type, innerArgs] = a;
      if (!(type instanceof PyGlobal) || type.kind !== "class") {
        return fail(`_rebuild_from_type_v2 with type ${describe(type ?? null)}`);
      }
      return callAllowed(inner ?? null, innerArgs ?? null, rebuild, fail);
    }
  }
  return fail(`unsupported function ${fn.qualified}`);
}

/** BINPERSID: `("storage", type, key, location, numel)` → a storage reference. */
export function persistentLoad(pid: PyValue, fail: Fail): StorageRef {
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

/** The unpickled result as a state dict: a dict of string keys → tensors. */
export function toStateDict(file: string, result: PyValue): Map<string, Tensor> {
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
