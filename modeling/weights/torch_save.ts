/**
 * Writing PyTorch checkpoints (`pytorch_model.bin`) as `torch.save(state_dict)` does since torch
 * 1.6, byte for byte as torch 1.13 writes them: a zip archive (stored entries, data aligned to
 * 64 bytes) holding `<name>/data.pkl`, one `<name>/data/<key>` entry per storage and
 * `<name>/version`.
 *
 * `data.pkl` is the protocol-2 pickle CPython's pickler writes for the state dict: a dict of
 * `torch._utils._rebuild_tensor_v2(persistent_load(("storage", torch.<Type>Storage, "<key>",
 * "cpu", numel)), 0, size, stride, False, collections.OrderedDict())`, with CPython's memo
 * (BINPUT/BINGET). Tensors that share their `data` array (tied weights) share one storage, as
 * in torch, so `torch.load` gives them back tied.
 *
 * @module
 */
import type { DType, Tensor } from "../tensor.ts";
import { WeightsError } from "./errors.ts";
import { writeFileAtomic } from "./_file_io.ts";
import { tensorBytesLE } from "./_bytes.ts";
import { PickleEncoder } from "./_pickle_write.ts";
import { type TensorDict, tensorEntries } from "./safetensors.ts";
import { writeZip, type ZipWriteEntry } from "./zip.ts";

/** The torch storage class each encdec dtype is written as. */
const STORAGE_CLASS: Readonly<Record<DType, string>> = {
  float32: "FloatStorage",
  float16: "HalfStorage",
  bfloat16: "BFloat16Storage",
  int32: "IntStorage",
  int64: "LongStorage",
  bool: "BoolStorage",
};

/** CPython's pickler `BATCHSIZE`: dict items per MARK ... SETITEMS. */
const BATCH = 1000;

/** Options of `writeTorchCheckpoint`. */
export interface WriteTorchOptions {
  /**
   * The archive's top folder (default `"archive"`, what `torch.save` uses for a buffer; for a
   * file it is the file name without its extension, e.g. `"pytorch_model"`).
   */
  archiveName?: string;
}

interface Storage {
  key: string;
  dtype: DType;
  bytes: Uint8Array;
}

/** torch's contiguous strides: products of the later sizes, a size 0 counting as 1. */
function contiguousStrides(dims: readonly number[]): number[] {
  const out = new Array<number>(dims.length);
  let s = 1;
  for (let d = dims.length - 1; d >= 0; d--) {
    out[d] = s;
    s *= Math.max(dims[d], 1);
  }
  return out;
}

/**
 * Serialises `tensors` as `torch.save(state_dict)` (zip format, torch ≥ 1.6) does, in the given
 * key order. Float32/float16/bfloat16/int32/int64/bool tensors become Float/Half/BFloat16/Int/
 * Long/Bool storages; tensors sharing one `data` array share one storage.
 *
 * @example
 * ```ts
 * import { writeTorchCheckpoint } from "./torch_save.ts";
 * import { readTorchCheckpoint } from "./torch_pickle.ts";
 * import { Tensor } from "../tensor.ts";
 * const bytes = writeTorchCheckpoint({ w: Tensor.from([[1, 2], [3, 4]]) });
 * const back = await readTorchCheckpoint(bytes);
 * back.get("w")!.tolist(); // [[1, 2], [3, 4]]
 * ```
 */
export function writeTorchCheckpoint(
  tensors: TensorDict,
  opts: WriteTorchOptions = {},
): Uint8Array {
  const archive = opts.archiveName ?? "archive";
  if (archive === "" || /[\\/]/.test(archive) || archive === "." || archive === "..") {
    throw new WeightsError(
      `torch checkpoint archive name ${JSON.stringify(archive)} must be one non-empty path part`,
    );
  }
  const p = new PickleEncoder().proto(2).op(0x7d); // EMPTY_DICT
  let memo = 0;
  const put = () => p.put(memo++);
  put();
  // Objects CPython pickles once and then refers to (globals, interned strings, storage keys).
  const shared = new Map<string, number>();
  const once = (id: string, write: () => void) => {
    const at = shared.get(id);
    if (at !== undefined) return void p.get(at);
    write();
    shared.set(id, memo);
    put();
  };
  const intTuple = (xs: number[]) => {
    if (xs.length === 0) return void p.op(0x29); // EMPTY_TUPLE, never memoised
    if (xs.length > 3) p.op(0x28); // MARK
    for (const x of xs) p.int(x);
    p.op(xs.length > 3 ? 0x74 : 0x84 + xs.length); // TUPLE or TUPLE1..3
    put();
  };

  const storages: Storage[] = [];
  const byData = new Map<unknown, Storage[]>();
  const storageOf = (name: string, t: Tensor): Storage => {
    const same = byData.get(t.data) ?? [];
    const hit = same.find((s) => s.dtype === t.dtype);
    if (hit) return hit;
    const s = { key: String(storages.length), dtype: t.dtype, bytes: tensorBytesLE(name, t) };
    storages.push(s);
    byData.set(t.data, [...same, s]);
    return s;
  };

  const item = (name: string, t: Tensor) => {
    const storage = storageOf(name, t);
    p.str(name);
    put();
    once(
      "g:torch._utils._rebuild_tensor_v2",
      () => p.global("torch._utils", "_rebuild_tensor_v2"),
    );
    p.op(0x28, 0x28); // MARK (arguments), MARK (persistent id)
    once("s:storage", () => p.str("storage"));
    const cls = STORAGE_CLASS[t.dtype];
    once(`g:torch.${cls}`, () => p.global("torch", cls));
    once(`k:${storage.key}`, () => p.str(storage.key));
    once("s:cpu", () => p.str("cpu"));
    p.int(t.data.length).op(0x74); // numel, TUPLE
    put();
    p.op(0x51).int(0); // BINPERSID, storage offset 0
    intTuple([...t.dims]);
    intTuple(contiguousStrides(t.dims));
    p.op(0x89); // requires_grad = False
    once("g:collections.OrderedDict", () => p.global("collections", "OrderedDict"));
    p.op(0x29, 0x52); // (), REDUCE: backward hooks = OrderedDict()
    put();
    p.op(0x74); // TUPLE (arguments)
    put();
    p.op(0x52); // REDUCE
    put();
  };

  // CPython's C pickler (batch_dict_exact): one item is KEY VALUE SETITEM; more go in batches of
  // 1000 under MARK ... SETITEMS, and a full batch is always followed by another (maybe empty).
  const items = tensorEntries(tensors);
  if (items.length === 1) {
    item(...items[0]);
    p.op(0x73); // SETITEM
  } else if (items.length > 1) {
    let b = 0;
    let full: boolean;
    do {
      const batch = items.slice(b, b + BATCH);
      p.op(0x28); // MARK
      for (const [name, t] of batch) item(name, t);
      p.op(0x75); // SETITEMS
      b += BATCH;
      full = batch.length === BATCH;
    } while (full);
  }
  p.op(0x2e); // STOP

  const entries: ZipWriteEntry[] = [{ name: `${archive}/data.pkl`, data: p.build() }];
  // torch writes the storages sorted by key (as strings), then the format version.
  const sorted = [...storages].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  for (const s of sorted) entries.push({ name: `${archive}/data/${s.key}`, data: s.bytes });
  entries.push({ name: `${archive}/version`, data: new TextEncoder().encode("3\n") });
  return writeZip(entries);
}

/** The archive name torch gives a file: its base name without the last extension. */
export function torchArchiveName(path: string): string {
  const base = path.split(/[\\/]/).pop() ?? "";
  const dot = base.lastIndexOf(".");
  const stem = dot > 0 ? base.slice(0, dot) : base;
  return stem === "" ? "archive" : stem;
}

/**
 * Writes a PyTorch checkpoint file crash-safely (temporary sibling, synced, renamed), with the
 * archive named after the file as `torch.save(state_dict, path)` names it.
 *
 * @example
 * ```ts ignore
 * import { saveTorchCheckpointFile } from "./torch_save.ts";
 * import { Tensor } from "../tensor.ts";
 * await saveTorchCheckpointFile("out/pytorch_model.bin", { w: Tensor.from([1]) });
 * ```
 */
export async function saveTorchCheckpointFile(path: string, tensors: TensorDict): Promise<void> {
  await writeFileAtomic(
    path,
    writeTorchCheckpoint(tensors, { archiveName: torchArchiveName(path) }),
  );
}

/**
 * Orders dotted parameter keys as torch's `module.state_dict()` lists them: at every module its
 * own parameters (`a.bias`) come before its submodules' (`a.dense.weight`); submodules and
 * parameters otherwise keep the order of their first appearance in `keys`.
 *
 * @example
 * ```ts
 * import { stateDictOrder } from "./torch_save.ts";
 * stateDictOrder(["head.dense.weight", "head.decoder.weight", "head.bias"]);
 * // ["head.bias", "head.dense.weight", "head.decoder.weight"]
 * ```
 */
export function stateDictOrder(keys: readonly string[]): string[] {
  interface Node {
    own: string[];
    children: Map<string, Node>;
  }
  const root: Node = { own: [], children: new Map() };
  for (const key of keys) {
    const parts = key.split(".");
    let node = root;
    for (const part of parts.slice(0, -1)) {
      let next = node.children.get(part);
      if (!next) node.children.set(part, next = { own: [], children: new Map() });
      node = next;
    }
    node.own.push(key);
  }
  const out: string[] = [];
  const walk = (node: Node) => {
    out.push(...node.own);
    for (const child of node.children.values()) walk(child);
  };
  walk(root);
  return out;
}
