/**
 * The checkpoint tensors behind a model's key table, for the ONNX graphs: looked up by the
 * table's keys (tie roots and aliases as `materialize` resolves them) and handed over as
 * stored (`nn.Linear` `[out, in]`; `Conv1D` `[in, out]`), so a graph can use them without a
 * host copy.
 *
 * A tensor may be in memory (`Tensor`) or left in its safetensors file (`FileTensor`): then it is
 * read only when a host copy is needed (small vectors, int8 quantization, dtype casts) and is
 * otherwise handed to onnxruntime as external data, which memory-maps it.
 *
 * @module
 */
import { resolveModelFile, type ResolveOptions } from "@encdec/config";
import { Tensor } from "../../tensor.ts";
import { parseSafetensorsHeader, parseShardIndex } from "../../weights/mod.ts";
import type { ParamSpec } from "../../models/key_table.ts";
import type { ExternalDataRef, HalfWords } from "./_onnx_proto.ts";
import { OnnxModelError } from "./graph_builder.ts";

/** A float tensor left in a safetensors file: `length` bytes at `offset` of file `path`. */
export interface FileTensor {
  /** Stored dtype (half types as 16-bit words). */
  dtype: "float32" | "float16" | "bfloat16";
  /** Shape. */
  dims: readonly number[];
  /** Absolute path of the file (symbolic links resolved). */
  path: string;
  /** Byte offset of the tensor in the file. */
  offset: number;
  /** Byte length. */
  length: number;
}

/** A checkpoint entry: loaded, or left in its file. */
export type CheckpointEntry = Tensor | FileTensor;

/** Reads a file tensor into memory. */
export function readFileTensor(t: FileTensor): Tensor {
  const bytes = new Uint8Array(t.length);
  const f = Deno.openSync(t.path);
  try {
    f.seekSync(t.offset, Deno.SeekMode.Start);
    let n = 0;
    while (n < bytes.length) {
      const r = f.readSync(bytes.subarray(n));
      if (r === null || r === 0) {
        throw new OnnxModelError(
          `${t.path}: file ends ${bytes.length - n} bytes early reading a tensor at ${t.offset}`,
        );
      }
      n += r;
    }
  } finally {
    f.close();
  }
  const data = t.dtype === "float32"
    ? new Float32Array(bytes.buffer)
    : new Uint16Array(bytes.buffer);
  return new Tensor(t.dtype, data, t.dims);
}

function dirname(path: string): string {
  return path.slice(0, path.lastIndexOf("/") + 1);
}

/** A weight of the key table found in the checkpoint. */
export interface CheckpointWeight {
  /** The checkpoint key it was found under (the tie root, or the alias stored instead). */
  key: string;
  /** The tensor, in memory or left in its file. */
  entry: CheckpointEntry;
  /** Where its bytes lie for onnxruntime to map (a file tensor under the external folder). */
  external?: ExternalDataRef;
  /** `Conv1D` layout (the key table's `conv1d`): stored `[in, out]`, used as `[out, in]`. */
  conv1d: boolean;
}

/**
 * The checkpoint tensors behind a model's key table (`ParamSpec`s: key, stored shape, tie
 * target, Conv1D layout), found as `materialize` finds them: a tied key reads its tie root, or
 * an alias stored in its place. Looked up on use, so keys the graphs never read (a pooler) may
 * be absent; a missing key that is read throws `OnnxModelError` naming it.
 *
 * @example
 * ```ts ignore
 * import { CheckpointWeights } from "./checkpoint.ts";
 * const weights = new CheckpointWeights(table, tensors, "model.safetensors", true);
 * weights.get(table[0].key).entry.dims;
 * ```
 */
export class CheckpointWeights {
  /**
   * The folder whose files external-data references name (`model_external_initializers_file_
   * folder_path`), or `null` when every tensor is in memory or mapping is off.
   */
  readonly externalFolder: string | null;
  private readonly specs: Map<string, ParamSpec>;
  private readonly members = new Map<string, string[]>();

  /**
   * The tensors behind `table`.
   *
   * @param table the model's key table
   * @param tensors tensors by checkpoint key, in memory or left in their safetensors file
   * @param source where they came from (for error messages)
   * @param mapFiles whether file tensors may be handed to onnxruntime as external data (else
   *   they are read into the graph: onnxruntime-web cannot map files)
   */
  constructor(
    table: readonly ParamSpec[],
    readonly tensors: ReadonlyMap<string, CheckpointEntry>,
    readonly source: string,
    mapFiles: boolean,
  ) {
    this.specs = new Map(table.map((s) => [s.key, s]));
    for (const s of table) {
      const r = this.root(s.key);
      this.members.set(r, [...(this.members.get(r) ?? []), s.key]);
    }
    let folder: string | null = null;
    for (const t of mapFiles ? tensors.values() : []) {
      if (!(t instanceof Tensor)) {
        folder = dirname(t.path);
        break;
      }
    }
    this.externalFolder = folder;
  }

  /** The tie root of `key` (the key it is stored under). */
  private root(key: string): string {
    let k = key;
    for (let i = 0; i < 8; i++) {
      const t = this.specs.get(k)?.tiedTo;
      if (t === undefined) return k;
      k = t;
    }
    throw new OnnxModelError(`${this.source}: the tie chain of "${key}" does not end`);
  }

  /** The keys of the table. */
  keys(): IterableIterator<string> {
    return this.specs.keys();
  }

  /** The checkpoint tensor behind table key `key`, checked against the table's shape. */
  get(key: string): CheckpointWeight {
    const spec = this.specs.get(key);
    if (!spec) throw new OnnxModelError(`${this.source}: "${key}" is not in the model's key table`);
    const r = this.root(key);
    const found = this.tensors.has(r) ? r : this.members.get(r)?.find((k) => this.tensors.has(k));
    if (found === undefined) throw new OnnxModelError(`${this.source}: missing weight "${r}"`);
    const entry = this.tensors.get(found)!;
    const shape = this.specs.get(r)!.shape;
    if (entry.dims.length !== shape.length || entry.dims.some((d, i) => d !== shape[i])) {
      throw new OnnxModelError(
        `${this.source}: "${found}" has shape [${entry.dims}]; expected [${shape}] from the config`,
      );
    }
    if (entry.dtype !== "float32" && entry.dtype !== "float16" && entry.dtype !== "bfloat16") {
      throw new OnnxModelError(
        `${this.source}: "${found}" has dtype ${entry.dtype}; expected a float`,
      );
    }
    const folder = this.externalFolder;
    const external: ExternalDataRef | undefined =
      !(entry instanceof Tensor) && folder !== null && dirname(entry.path) === folder
        ? { location: entry.path.slice(folder.length), offset: entry.offset, length: entry.length }
        : undefined;
    return { key: found, entry, external, conv1d: !!this.specs.get(r)!.conv1d };
  }
}

/**
 * The half words of weights `ws` when each is a float16 / bfloat16 tensor in memory: what the
 * float32 initializer of `ws` stored one after another upcasts (`LazyInitializer.upcast`: a
 * matrix, or `nn.Linear` weights fused along their outputs). `undefined` otherwise: a float32
 * weight, one left in its file, or several `Conv1D` weights (fused column-wise, not end to end).
 */
export function halfWordsOf(...ws: CheckpointWeight[]): HalfWords[] | undefined {
  if (ws.length === 0 || (ws.length > 1 && ws.some((w) => w.conv1d))) return undefined;
  const parts: HalfWords[] = [];
  for (const { entry: e } of ws) {
    if (!(e instanceof Tensor) || (e.dtype !== "float16" && e.dtype !== "bfloat16")) {
      return undefined;
    }
    parts.push({ dtype: e.dtype, words: e.data as Uint16Array });
  }
  return parts;
}

/** The dtypes a file tensor can have, by safetensors name. */
const FILE_DTYPES = { F32: "float32", F16: "float16", BF16: "bfloat16" } as const;

/** Reads a safetensors file's header into file tensors (other dtypes are read into memory). */
async function safetensorsEntries(path: string, into: Map<string, CheckpointEntry>): Promise<void> {
  const real = await Deno.realPath(path);
  const f = await Deno.open(real);
  try {
    const size = (await f.stat()).size;
    const head = new Uint8Array(Math.min(size, 8));
    await f.read(head);
    const headerLen = head.length === 8
      ? Number(new DataView(head.buffer).getBigUint64(0, true))
      : 0;
    // `parseSafetensorsHeader` checks every offset against the file size, so it gets a buffer of
    // that size holding only the header: the untouched zero pages of a fresh buffer are never
    // made resident.
    const view = new Uint8Array(size);
    view.set(head);
    if (8 + headerLen <= size) {
      let n = 8;
      while (n < 8 + headerLen) {
        const r = await f.read(view.subarray(n, 8 + headerLen));
        if (r === null) break;
        n += r;
      }
    }
    const header = parseSafetensorsHeader(view, { file: path });
    for (const e of header.entries) {
      const dtype = FILE_DTYPES[e.dtype as keyof typeof FILE_DTYPES];
      const ft = {
        path: real,
        offset: header.dataStart + e.begin,
        length: e.end - e.begin,
        dims: e.shape,
      };
      if (dtype && ft.offset % (dtype === "float32" ? 4 : 2) === 0) {
        into.set(e.name, { ...ft, dtype });
      } else if (dtype) {
        into.set(e.name, readFileTensor({ ...ft, dtype }));
      }
    }
  } finally {
    f.close();
  }
}

/**
 * The tensors of a safetensors checkpoint (`model.safetensors`, or the shards of
 * `model.safetensors.index.json`) left in their files: only the headers are read. `null` when
 * the model has no safetensors weights.
 *
 * @example
 * ```ts ignore
 * import { openSafetensorsCheckpoint } from "./checkpoint.ts";
 * const tensors = await openSafetensorsCheckpoint("tests/testdata/fixtures/bert2bert");
 * ```
 */
export async function openSafetensorsCheckpoint(
  dirOrId: string,
  resolve: Omit<ResolveOptions, "optional"> = {},
): Promise<Map<string, CheckpointEntry> | null> {
  const out = new Map<string, CheckpointEntry>();
  const single = await resolveModelFile(dirOrId, "model.safetensors", {
    ...resolve,
    optional: true,
  });
  if (single !== null) {
    await safetensorsEntries(single, out);
    return out;
  }
  const indexPath = await resolveModelFile(dirOrId, "model.safetensors.index.json", {
    ...resolve,
    optional: true,
  });
  if (indexPath === null) return null;
  const index = parseShardIndex(await Deno.readTextFile(indexPath), indexPath);
  for (const shard of new Set(index.weightMap.values())) {
    const path = await resolveModelFile(dirOrId, shard, { ...resolve, optional: true });
    if (path === null) {
      throw new OnnxModelError(`${indexPath}: shard "${shard}" named in weight_map is missing`);
    }
    await safetensorsEntries(path, out);
  }
  return out;
}
