/**
 * A disk cache of the traced ONNX graphs of `OnnxEncoderDecoder` (onnxruntime-node), so a
 * second load of a checkpoint skips reading and converting it (`.bin` unpickling, half → float,
 * int8 quantization) and tracing the model code: it only creates the sessions.
 *
 * One entry per (checkpoint files, config, precision, encdec and onnxruntime version), in
 * `<cache>/<key>/` where `key` is the SHA-256 of those; the checkpoint files count by identity
 * (real path, size, modification time, inode), so replacing or editing a file changes the key.
 * The default cache is `$HF_HOME/encdec/graphs` (next to the Hub cache; `resolveHubPaths`).
 *
 * An entry holds `encoder.onnx`, `cross_kv.onnx`, `decoder.onnx` (graph structure and small
 * constants), `weights.bin` (every converted initializer of 1 KiB or more, 4 KiB aligned) and
 * `meta.json` (written last: key, sizes and digests of the other files, the decoder layout and
 * position limits). The float32 weights of a half checkpoint held in memory (`pytorch_model.bin`)
 * are converted piece by piece on their way into `weights.bin` (`TensorSpec.upcast`), never
 * whole in memory. Weights stored as they are in a safetensors checkpoint are not copied: the
 * graphs reference them in the checkpoint file, as the uncached graphs do. Since onnxruntime
 * resolves external data in one folder, the graphs name each file relative to the deepest
 * folder holding both the checkpoint and the cache.
 *
 * Entries are written in a temporary folder renamed into place (a crash or a concurrent writer
 * never leaves a partial entry under a key), and checked on every read: the meta's key and
 * format, the sizes of all files, a digest of each `.onnx` file and a sampled digest of
 * `weights.bin` (4 KiB of every MiB plus its end: reading it whole would cost as much as
 * reading the checkpoint), and the identity of the checkpoint files. An entry that fails is
 * moved aside and rebuilt. Writing a new entry removes the older entries of the same checkpoint
 * files and precision, and those whose checkpoint files are gone. A cache that cannot be read
 * or written (permissions, disk full) is skipped: the model loads without it. The cache never
 * asks for a permission: a program with scoped permissions uses it only when it granted read
 * and write access to the cache folder (and env access to the variables that locate it).
 *
 * What is trusted: an entry is only as safe as the cache folder (whoever can write it can make
 * onnxruntime read any file as weights, as with any model file), a weight changed without
 * changing its file's modification time is not noticed (as `make` would not), and a corrupted
 * byte of `weights.bin` outside the sampled blocks goes unnoticed.
 *
 * @module
 */
import { resolveGraphCacheFolder, resolveModelFile, type ResolveOptions } from "@encdec/config";
import { parseShardIndex, WEIGHTS_FILE_NAMES } from "../../weights/mod.ts";
import type { OnnxPrecision } from "./graph_builder.ts";
import type { TraceLimit } from "./recorder.ts";
import type { DecoderLayout } from "./traced_graphs.ts";

/** Format of an entry; bump when the layout of entries or of the traced graphs changes. */
export const GRAPH_CACHE_FORMAT = 7;

/** The encdec version the graphs were traced by (part of the key). */
const ENCDEC_VERSION = "0.1.0";

/** Alignment of each tensor in `weights.bin` (and the size of a sampled block). */
export const ALIGN = 4096;

/** The graphs of an entry, in session order. */
export const CACHED_GRAPHS = ["encoder", "cross_kv", "decoder"] as const;

/** One of {@linkcode CACHED_GRAPHS}. */
export type CachedGraphName = typeof CACHED_GRAPHS[number];

/** A checkpoint file as the key counts it. */
export interface FileIdentity {
  /** Real path (symbolic links resolved). */
  path: string;
  /** Bytes. */
  size: number;
  /** Modification time, ms since the epoch. */
  mtimeMs: number;
  /** Inode (0 where the platform has none). */
  ino: number;
}

/** `meta.json` of an entry. */
export interface GraphCacheMeta {
  /** {@linkcode GRAPH_CACHE_FORMAT}. */
  format: number;
  /** The entry's key (its folder name). */
  key: string;
  /** Precision of the weights. */
  precision: OnnxPrecision;
  /** Embedding tables int8 too (absent: false). */
  int8Tables?: boolean;
  /** Checkpoint files the graphs were traced from. */
  checkpoint: FileIdentity[];
  /** Folder the external-data locations are relative to. */
  folder: string;
  /** The decoder's cache layout. */
  layout: DecoderLayout;
  /** Position limits of the encoder's and decoder's inputs. */
  limits: { encoder: TraceLimit[]; decoder: TraceLimit[] };
  /** Each graph file: size and digest. */
  graphs: Record<CachedGraphName, { bytes: number; digest: string }>;
  /** `weights.bin`: size and sampled digest. */
  weights: { bytes: number; digest: string };
}

/** The graphs of a cache entry, ready for `InferenceSession.create`. */
export interface CachedGraphs {
  /** `ModelProto` bytes per graph. */
  models: Record<CachedGraphName, Uint8Array>;
  /** The external-data folder to create the sessions with. */
  folder: string;
  /** The decoder's cache layout. */
  layout: DecoderLayout;
  /** Position limits of the encoder's and decoder's inputs. */
  limits: { encoder: TraceLimit[]; decoder: TraceLimit[] };
}

/** Where a cache is: a folder, `false` for none, `undefined` for the default. */
export type GraphCacheSetting = string | false | undefined;

/** Environment variables that locate the cache (`resolveGraphCacheFolder`). */
const LOCATING_ENV = [
  "ENCDEC_GRAPH_CACHE",
  "HOME",
  "USERPROFILE",
  "HF_HUB_CACHE",
  "HUGGINGFACE_HUB_CACHE",
  "HF_HOME",
]
  .concat(["XDG_CACHE_HOME", "HF_TOKEN_PATH", "HF_ENDPOINT", "HF_HUB_OFFLINE"]);

/** Variable `name` when reading it is granted (never prompts); else undefined. */
function grantedEnv(name: string): string | undefined {
  if (Deno.permissions.querySync({ name: "env", variable: name }).state !== "granted") {
    return undefined;
  }
  return Deno.env.get(name);
}

/**
 * The cache folder for `setting`: the folder given, none for `false`, else
 * `$ENCDEC_GRAPH_CACHE` when set (`0` or `off`: none), else `<hfHome>/encdec/graphs`. None when
 * the process may not both read and write it: the cache never prompts for a permission, so a
 * program run with scoped permissions uses it only where it granted the folder.
 */
export function graphCacheDir(setting: GraphCacheSetting): string | null {
  if (setting === false) return null;
  let dir: string;
  if (typeof setting === "string") {
    dir = setting;
  } else {
    const vars = Object.fromEntries(LOCATING_ENV.map((n) => [n, grantedEnv(n)]));
    const found = resolveGraphCacheFolder(vars);
    if (found === null) return null;
    dir = found;
  }
  for (const name of ["read", "write"] as const) {
    if (Deno.permissions.querySync({ name, path: dir }).state !== "granted") return null;
  }
  return dir;
}

/** 64-bit FNV-1a (two 32-bit lanes over 32-bit words) of `bytes`, as hex. */
export function digest(bytes: Uint8Array): string {
  let a = 0x811c9dc5, b = 0x01000193 ^ bytes.length;
  const words = Math.floor(bytes.length / 4);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let i = 0; i < words; i++) {
    const w = dv.getUint32(i * 4, true);
    a = Math.imul(a ^ w, 0x01000193);
    b = Math.imul(b ^ (w >>> 16 | w << 16), 0x01000193) ^ (a >>> 7);
  }
  for (let i = words * 4; i < bytes.length; i++) {
    a = Math.imul(a ^ bytes[i], 0x01000193);
    b = Math.imul(b ^ a, 0x01000193);
  }
  return (a >>> 0).toString(16).padStart(8, "0") + (b >>> 0).toString(16).padStart(8, "0");
}

/** Digest of 4 KiB at every MiB of the file at `path` plus its last 4 KiB, and its size. */
export async function sampledDigest(path: string): Promise<{ bytes: number; digest: string }> {
  const f = await Deno.open(path);
  try {
    const size = (await f.stat()).size;
    const offsets: number[] = [];
    for (let o = 0; o < size; o += 1 << 20) offsets.push(o);
    if (size > ALIGN) offsets.push(size - ALIGN);
    const out = new Uint8Array(offsets.length * ALIGN);
    let n = 0;
    for (const o of offsets) {
      await f.seek(o, Deno.SeekMode.Start);
      const want = Math.min(ALIGN, size - o);
      let got = 0;
      while (got < want) {
        const r = await f.read(out.subarray(n + got, n + want));
        if (r === null) break;
        got += r;
      }
      n += got;
    }
    return { bytes: size, digest: digest(out.subarray(0, n)) };
  } finally {
    f.close();
  }
}

async function identity(path: string): Promise<FileIdentity> {
  const real = await Deno.realPath(path);
  const st = await Deno.stat(real);
  return { path: real, size: st.size, mtimeMs: st.mtime?.getTime() ?? 0, ino: st.ino ?? 0 };
}

/**
 * The checkpoint files `fromPretrained` reads for `dirOrId`, as `loadStateDict` picks them
 * (the first of `WEIGHTS_FILE_NAMES` found; an index with its shards); `null` when none is
 * found (the load then fails with its own error).
 */
export async function checkpointFiles(
  dirOrId: string,
  resolve: Omit<ResolveOptions, "optional"> = {},
): Promise<FileIdentity[] | null> {
  for (const name of WEIGHTS_FILE_NAMES) {
    const path = await resolveModelFile(dirOrId, name, { ...resolve, optional: true });
    if (path === null) continue;
    const files = [await identity(path)];
    if (name.endsWith(".index.json")) {
      const index = parseShardIndex(await Deno.readTextFile(path), path);
      for (const shard of new Set(index.weightMap.values())) {
        const p = await resolveModelFile(dirOrId, shard, { ...resolve, optional: true });
        if (p === null) return null;
        files.push(await identity(p));
      }
    }
    return files;
  }
  return null;
}

/** SHA-256 hex of a string. */
async function sha256(text: string): Promise<string> {
  const h = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(h)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

function parentOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i <= 0 ? "/" : path.slice(0, i);
}

/** The deepest folder holding every path (absolute paths). */
function commonFolder(paths: readonly string[]): string {
  const parts = paths.map((p) => parentOf(p).split("/").filter((s) => s !== ""));
  const first = parts[0] ?? [];
  let n = 0;
  while (n < first.length && parts.every((p) => p[n] === first[n])) n++;
  return "/" + first.slice(0, n).join("/");
}

/** `path` relative to `folder` (an ancestor of it). */
export function relativeTo(folder: string, path: string): string {
  return folder === "/" ? path.slice(1) : path.slice(folder.length + 1);
}

function isMeta(v: unknown): v is GraphCacheMeta {
  const m = v as GraphCacheMeta;
  return typeof m === "object" && m !== null && typeof m.key === "string" &&
    typeof m.folder === "string" && Array.isArray(m.checkpoint) && typeof m.layout === "object" &&
    m.layout !== null && typeof m.graphs === "object" && m.graphs !== null &&
    typeof m.weights === "object" && m.weights !== null && typeof m.limits === "object" &&
    m.limits !== null && Array.isArray(m.limits.encoder) && Array.isArray(m.limits.decoder);
}

/**
 * What the cache did in this process: entries read (`hits`), looked up and absent (`misses`),
 * found broken and moved aside (`invalid`), written (`writes`), and float32 bytes converted from
 * half words straight into `weights.bin` (`upcastBytes`). For tests and benchmarks.
 */
export const graphCacheStats = { hits: 0, misses: 0, invalid: 0, writes: 0, upcastBytes: 0 };

/** Why an entry was not used (for tests and diagnostics). */
export type GraphCacheMiss = "absent" | "invalid";

/**
 * The cache entry of one checkpoint in one precision: look it up with {@linkcode read}, or
 * write it graph by graph with `openGraphCacheWriter` (`graph_cache_writer.ts`).
 *
 * @example
 * ```ts ignore
 * import { GraphCacheEntry } from "./graph_cache.ts";
 * const entry = await GraphCacheEntry.open("/tmp/graphs", files, config.toDict(), "int8", "1.30.0");
 * const cached = entry && await entry.read();
 * ```
 */
export class GraphCacheEntry {
  /** Why the last `read` found nothing usable (`null` after a hit). */
  miss: GraphCacheMiss | null = null;

  private constructor(
    /** Cache folder. */
    readonly root: string,
    /** Key (folder name). */
    readonly key: string,
    /** The checkpoint files. */
    readonly checkpoint: FileIdentity[],
    /** Precision. */
    readonly precision: OnnxPrecision,
    /** Whether the embedding tables are int8 too (`int8Embeddings`). */
    readonly int8Tables: boolean,
  ) {}

  /** The entry's folder. */
  get dir(): string {
    return `${this.root}/${this.key}`;
  }

  /** The folder external-data locations are relative to (checkpoint and cache). */
  get folder(): string {
    return commonFolder([...this.checkpoint.map((f) => f.path), `${this.dir}/x`]);
  }

  /**
   * The entry for checkpoint `files` with `config` (its dict) in `precision` (`int8Tables`:
   * embedding tables int8 too) under `root`, or `null` when `root` cannot be made absolute (no
   * read access to the working directory).
   */
  static async open(
    root: string,
    files: FileIdentity[],
    config: unknown,
    precision: OnnxPrecision,
    runtimeVersion: string,
    int8Tables = false,
  ): Promise<GraphCacheEntry | null> {
    let abs = root;
    if (!abs.startsWith("/")) {
      try {
        abs = `${Deno.cwd()}/${root}`;
      } catch {
        return null;
      }
    }
    abs = abs.replace(/\/+$/, "").replace(/\/\.\//g, "/") || "/";
    const key = await sha256(JSON.stringify({
      format: GRAPH_CACHE_FORMAT,
      encdec: ENCDEC_VERSION,
      ort: runtimeVersion,
      precision,
      ...(int8Tables ? { int8Tables } : {}),
      files,
      config,
    }));
    return new GraphCacheEntry(abs, key, files, precision, int8Tables);
  }

  /** The entry's graphs when it exists and passes every check; else `null` (see `miss`). */
  async read(): Promise<CachedGraphs | null> {
    let text: string;
    try {
      text = await Deno.readTextFile(`${this.dir}/meta.json`);
    } catch {
      this.miss = "absent";
      graphCacheStats.misses++;
      return null;
    }
    const got = await this.check(text).catch(() => null);
    if (got === null) {
      this.miss = "invalid";
      graphCacheStats.invalid++;
      await this.discard();
      return null;
    }
    this.miss = null;
    graphCacheStats.hits++;
    return got;
  }

  private async check(text: string): Promise<CachedGraphs | null> {
    const meta: unknown = JSON.parse(text);
    if (!isMeta(meta) || meta.format !== GRAPH_CACHE_FORMAT || meta.key !== this.key) return null;
    if (meta.precision !== this.precision || meta.folder !== this.folder) return null;
    if ((meta.int8Tables ?? false) !== this.int8Tables) return null;
    if (JSON.stringify(meta.checkpoint) !== JSON.stringify(this.checkpoint)) return null;
    const w = await sampledDigest(`${this.dir}/weights.bin`);
    if (w.bytes !== meta.weights.bytes || w.digest !== meta.weights.digest) return null;
    const models = {} as Record<CachedGraphName, Uint8Array>;
    for (const name of CACHED_GRAPHS) {
      const bytes = await Deno.readFile(`${this.dir}/${name}.onnx`);
      const want = meta.graphs[name];
      if (!want || bytes.length !== want.bytes || digest(bytes) !== want.digest) return null;
      models[name] = bytes;
    }
    return { models, folder: meta.folder, layout: meta.layout, limits: meta.limits };
  }

  /** Moves the entry aside and removes it (a broken entry, before it is rebuilt). */
  async discard(): Promise<void> {
    const trash = `${this.root}/.trash-${this.key}-${Deno.pid}-${Date.now()}`;
    try {
      await Deno.rename(this.dir, trash);
      await Deno.remove(trash, { recursive: true });
    } catch { /* gone already, or not ours to remove */ }
  }
}
