/**
 * Checked access to checkpoint tensors by HF key, with tie aliases (`tie_encoder_decoder`
 * stores `encoder.*` once under `decoder.<base>.*`). Linear layers are returned as stored
 * (`nn.Linear` `[out, in]`, flagged `transB`; GPT-2 `Conv1D` `[in, out]`), so the graph can use
 * them without a host copy.
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
import type { ExternalDataRef } from "./_onnx_proto.ts";
import { type HostMatrix, OnnxModelError } from "./_graph.ts";

/** A linear layer as `x @ w + b` (`transB`: `x @ wᵀ + b`). */
export interface LinearWeights {
  /** `[in, out]`, or `[out, in]` when `transB`. */
  w: HostMatrix;
  /** Whether `w` is `[out, in]` (`nn.Linear`). */
  transB: boolean;
  /** `[out]`, or `null` for a bias-free layer. */
  b: Tensor | Float32Array | null;
}

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

/**
 * The state dict of one model with checked getters.
 *
 * @example
 * ```ts ignore
 * import { Checkpoint } from "./_checkpoint.ts";
 * const ck = new Checkpoint(tensors, "model.safetensors", [{ from: "encoder.", to: "decoder.bert." }]);
 * const { w, transB } = ck.linear("encoder.encoder.layer.0.attention.self.query", 768, 768);
 * w.dims; // [768, 768] ([out, in], transB = true)
 * ```
 */
export class Checkpoint {
  /**
   * The folder whose files external-data references name (`model_external_initializers_file_
   * folder_path`), or `null` when every tensor is in memory.
   */
  readonly externalFolder: string | null;

  /**
   * Wraps a state dict.
   *
   * @param tensors tensors by checkpoint key, in memory or left in their safetensors file
   * @param source where they came from (for error messages)
   * @param aliases key-prefix fallbacks: a missing key starting with `from` is looked up with
   *   `to` instead (tied encoder/decoder weights)
   * @param mapFiles whether file tensors may be handed to onnxruntime as external data (else
   *   they are read into the graph: onnxruntime-web cannot map files)
   */
  constructor(
    readonly tensors: ReadonlyMap<string, CheckpointEntry>,
    readonly source: string,
    readonly aliases: readonly { from: string; to: string }[] = [],
    mapFiles = true,
  ) {
    let folder: string | null = null;
    for (const t of mapFiles ? tensors.values() : []) {
      if (!(t instanceof Tensor)) {
        folder = dirname(t.path);
        break;
      }
    }
    this.externalFolder = folder;
  }

  /** Whether `key` (or its alias) is present. */
  has(key: string): boolean {
    return this.find(key) !== undefined;
  }

  /** The entry at `key`, else at its first matching alias. */
  private find(key: string): CheckpointEntry | undefined {
    const t = this.tensors.get(key);
    if (t) return t;
    for (const { from, to } of this.aliases) {
      if (key.startsWith(from)) {
        const a = this.tensors.get(to + key.slice(from.length));
        if (a) return a;
      }
    }
    return undefined;
  }

  /** The first present key of `keys` (alternatives) and its entry, checked against `shape`. */
  private entry(
    keys: string | readonly string[],
    shape: readonly number[],
  ): { key: string; t: CheckpointEntry } {
    const list = typeof keys === "string" ? [keys] : keys;
    for (const k of list) {
      const t = this.find(k);
      if (!t) continue;
      if (t.dims.length !== shape.length || t.dims.some((d, i) => d !== shape[i])) {
        throw new OnnxModelError(
          `${this.source}: "${k}" has shape [${t.dims}]; expected [${shape}] from the config`,
        );
      }
      if (t.dtype !== "float32" && t.dtype !== "float16" && t.dtype !== "bfloat16") {
        throw new OnnxModelError(`${this.source}: "${k}" has dtype ${t.dtype}; expected a float`);
      }
      return { key: k, t };
    }
    throw new OnnxModelError(
      `${this.source}: missing weight "${list[0]}"` +
        (list.length > 1
          ? ` (also looked for ${list.slice(1).map((k) => `"${k}"`).join(", ")})`
          : ""),
    );
  }

  /** The first present key of `keys` (alternatives), checked against `shape`, in memory. */
  get(keys: string | readonly string[], shape: readonly number[]): Tensor {
    const { t } = this.entry(keys, shape);
    return t instanceof Tensor ? t : readFileTensor(t);
  }

  /**
   * A 2-D tensor as a host matrix, as stored. A file tensor is read each time `data` is
   * accessed (and not kept), and carries its `external` location for onnxruntime.
   */
  matrix(keys: string | readonly string[], rows: number, cols: number): HostMatrix {
    const { key, t } = this.entry(keys, [rows, cols]);
    const dtype = t.dtype as HostMatrix["dtype"];
    if (t instanceof Tensor) {
      return { dims: [rows, cols], dtype, key, data: t.data as Float32Array | Uint16Array };
    }
    const file = t;
    const folder = this.externalFolder;
    const external: ExternalDataRef | undefined = folder !== null && dirname(file.path) === folder
      ? { location: file.path.slice(folder.length), offset: file.offset, length: file.length }
      : undefined;
    return {
      dims: [rows, cols],
      dtype,
      key,
      external,
      get data() {
        return readFileTensor(file).data as Float32Array | Uint16Array;
      },
    };
  }

  /** `nn.Linear` at `prefix` (`weight` `[out, in]`, `bias` `[out]`), as stored (`transB`). */
  linear(prefix: string, inDim: number, outDim: number, bias = true): LinearWeights {
    return {
      w: this.matrix(`${prefix}.weight`, outDim, inDim),
      transB: true,
      b: bias ? this.get(`${prefix}.bias`, [outDim]) : null,
    };
  }

  /** GPT-2 `Conv1D` at `prefix` (`weight` `[in, out]`, `bias` `[out]`). */
  conv1d(prefix: string, inDim: number, outDim: number): LinearWeights {
    return {
      w: this.matrix(`${prefix}.weight`, inDim, outDim),
      transB: false,
      b: this.get(`${prefix}.bias`, [outDim]),
    };
  }
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
 * import { openSafetensorsCheckpoint } from "./_checkpoint.ts";
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
