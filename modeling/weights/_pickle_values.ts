// Private: the values on the restricted unpickler's stack (Python objects as the torch pickle
// of a state dict uses them) and how messages name them.
import type { Tensor } from "../tensor.ts";
import type { StorageType } from "./_torch_globals.ts";

/** A Python tuple (kept apart from lists, which are plain arrays). */
export class PyTuple {
  constructor(readonly items: PyValue[]) {}
}

/** A Python dict / OrderedDict; keys are strings or numbers. */
export class PyDict {
  readonly map = new Map<string | number | bigint | boolean | null, PyValue>();
  constructor(readonly ordered: boolean) {}
}

/** An allow-listed global. `kind` says what the unpickler may do with it. */
export class PyGlobal {
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
export class StorageRef {
  constructor(
    readonly key: string,
    readonly type: StorageType,
    readonly numel: number,
  ) {}
}

/** A tensor built by `_rebuild_tensor_v2`. */
export class TensorValue {
  constructor(readonly tensor: Tensor) {}
}

/** Anything the unpickler may hold. */
export type PyValue =
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

/** The MARK opcode's stack marker. */
export const MARK: unique symbol = Symbol("mark");

/** The Python type name of `v`, for messages. */
export function describe(v: PyValue): string {
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
