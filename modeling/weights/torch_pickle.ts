/**
 * PyTorch checkpoints (`pytorch_model.bin`, written by `torch.save` since torch 1.6: a zip
 * archive holding `<name>/data.pkl` plus one `<name>/data/<key>` entry per storage).
 *
 * The pickle is read by a RESTRICTED unpickler: it understands the opcodes torch writes for a
 * state dict and only an allow-list of globals (`collections.OrderedDict`,
 * `torch._utils._rebuild_tensor_v2`, `torch._utils._rebuild_parameter`, the typed storage
 * classes, `torch.<dtype>`). Any other global (`os.system`, `builtins.eval`, ...) is refused with
 * a `WeightsError` naming it. Nothing is ever executed: the allow-listed "functions" are
 * implemented here in TypeScript. The opcode machine is `_unpickler.ts`, the allow-list and the
 * torch rebuild functions `_torch_globals.ts`, the stack values `_pickle_values.ts`.
 *
 * @module
 */
import { allocate, Tensor } from "../tensor.ts";
import { WeightsError } from "./errors.ts";
import { readFileOrThrow } from "./_file_io.ts";
import { LITTLE_ENDIAN_HOST } from "./_bytes.ts";
import { RAW_COPY, STORAGES, toStateDict } from "./_torch_globals.ts";
import { runUnpickler } from "./_unpickler.ts";
import { readZip, type ZipArchive } from "./zip.ts";

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
  return toStateDict(ctx.file, runUnpickler(data, ctx.file, ctx.rebuild));
}

// ---- the checkpoint ----------------------------------------------------------------------------

/** Options of `readTorchCheckpoint`. */
export interface ReadTorchOptions {
  /** File name used in error messages (default `"<bytes>"`). */
  file?: string;
  /**
   * Whether tensors may view `bytes` instead of copying out of it (default `false`): the caller
   * hands the buffer over and must not change it. The first contiguous view of each storage
   * stored uncompressed and aligned then costs no copy; further views of a storage (tied
   * weights) are still copies, so no two tensors share data.
   */
  shareBytes?: boolean;
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
  // Storages a tensor views already (a later view of one is copied out).
  const viewed = new Set<string>();
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
      const rawCopy = LITTLE_ENDIAN_HOST && RAW_COPY.has(type.name);
      if (rawCopy && opts.shareBytes && b.byteOffset % type.size === 0) {
        // The storage's bytes where they lie (the file buffer, or the inflated entry).
        flat = new Tensor(type.dtype, typedView(type.dtype, b, storage.numel), [storage.numel]);
      } else if (rawCopy) {
        flat = Tensor.zeros([storage.numel], type.dtype);
        new Uint8Array(flat.data.buffer, flat.data.byteOffset, flat.data.byteLength).set(b);
      } else {
        flat = Tensor.zeros([storage.numel], type.dtype);
        const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
        const d = flat.data as unknown as { [i: number]: number | bigint };
        for (let i = 0; i < storage.numel; i++) d[i] = type.read(view, i);
      }
      decoded.set(storage.key, flat);
    } else if (flat.dtype !== type.dtype || flat.size !== storage.numel) {
      throw new WeightsError(`${where}: referenced with two different types or sizes`);
    }
    const share = opts.shareBytes === true && !viewed.has(storage.key);
    viewed.add(storage.key);
    return viewOf(flat, offset, size, stride, where, share);
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

/** A typed array of `dtype` over `n` elements of `bytes` (aligned for the type). */
function typedView(dtype: Tensor["dtype"], bytes: Uint8Array, n: number): Tensor["data"] {
  const ctor = allocate(dtype, 0).constructor as new (
    buffer: ArrayBufferLike,
    byteOffset: number,
    length: number,
  ) => Tensor["data"];
  return new ctor(bytes.buffer, bytes.byteOffset, n);
}

/**
 * The strided view (`offset`, `size`, `stride`) of a flat storage as a new tensor: copied out,
 * or, with `share` and a contiguous view, a tensor over the storage's data.
 */
function viewOf(
  flat: Tensor,
  offset: number,
  size: number[],
  stride: number[],
  where: string,
  share = false,
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
  // Contiguous row-major view: one slice (or none).
  let contiguous = true;
  for (let i = size.length - 1, expect = 1; i >= 0; i--) {
    if (size[i] !== 1 && stride[i] !== expect) contiguous = false;
    expect *= size[i];
  }
  if (share && contiguous) {
    return new Tensor(flat.dtype, flat.data.subarray(offset, offset + n), size);
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
  return await readTorchCheckpoint(await readFileOrThrow(path), { file: path, shareBytes: true });
}
