/**
 * Writing an entry of the graph cache (`graph_cache.ts` describes the cache and reads entries):
 * {@linkcode openGraphCacheWriter} opens a temporary folder, {@linkcode GraphCacheWriter} adds
 * each traced graph (large initializers into `weights.bin`) and commits the entry by renaming
 * it into place, then removes the entries it makes stale; {@linkcode traceIntoCache} does all of
 * it for a {@linkcode GraphTracer}, one graph alive at a time.
 *
 * @module
 */
import { encodeModel, type GraphSpec, type HalfWords, type TensorSpec } from "./_onnx_proto.ts";
import { bytesOf, withDeferredUpcasts } from "./graph_builder.ts";
import { halfWordsToFloat32 } from "../../tensor.ts";
import type { DecoderLayout, GraphTracer } from "./traced_graphs.ts";
import {
  ALIGN,
  type CachedGraphName,
  type CachedGraphs,
  digest,
  type FileIdentity,
  GRAPH_CACHE_FORMAT,
  type GraphCacheEntry,
  type GraphCacheMeta,
  graphCacheStats,
  relativeTo,
  sampledDigest,
} from "./graph_cache.ts";

/** Initializers of this many bytes or more go to `weights.bin`. */
const EXTERNAL_MIN_BYTES = 1024;

/** A writer of entry `entry`, or `null` when the cache folder cannot be written. */
export async function openGraphCacheWriter(
  entry: GraphCacheEntry,
): Promise<GraphCacheWriter | null> {
  const tmp = `${entry.root}/.tmp-${entry.key}-${Deno.pid}-${Date.now()}`;
  try {
    await Deno.mkdir(tmp, { recursive: true });
    const file = await Deno.open(`${tmp}/weights.bin`, { write: true, createNew: true });
    return new GraphCacheWriter(entry, tmp, file);
  } catch {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    return null;
  }
}

/**
 * Writes one cache entry: `add` each traced graph (its large initializers go to `weights.bin`,
 * its references into the checkpoint are rewritten relative to the entry's folder), then
 * `commit` with the layout and limits; `abort` on failure.
 */
export class GraphCacheWriter {
  private offset = 0;
  private readonly graphs = {} as GraphCacheMeta["graphs"];
  /** Where half words are converted on their way to `weights.bin` (1 MiB, reused). */
  private scratch: Float32Array | null = null;

  /** Built by {@linkcode openGraphCacheWriter}. */
  constructor(
    /** The entry written. */
    readonly entry: GraphCacheEntry,
    private readonly tmp: string,
    private readonly weights: Deno.FsFile,
  ) {}

  private async append(raw: Uint8Array): Promise<number> {
    const pad = (ALIGN - (this.offset % ALIGN)) % ALIGN;
    if (pad > 0) await this.write(new Uint8Array(pad));
    const at = this.offset;
    await this.write(raw);
    return at;
  }

  /**
   * Appends the float32 upcast of half words `parts`, one after another (as `TensorSpec.raw`
   * would hold it), converted a piece at a time into a reused buffer: no float32 copy of the
   * tensor is made.
   */
  private async appendUpcast(parts: readonly HalfWords[]): Promise<number> {
    const pad = (ALIGN - (this.offset % ALIGN)) % ALIGN;
    if (pad > 0) await this.write(new Uint8Array(pad));
    const at = this.offset;
    const scratch = (this.scratch ??= new Float32Array(1 << 18));
    for (const h of parts) {
      for (let i = 0; i < h.words.length; i += scratch.length) {
        const part = h.words.subarray(i, Math.min(h.words.length, i + scratch.length));
        await this.write(
          bytesOf(halfWordsToFloat32(h.dtype, part, scratch.subarray(0, part.length))),
        );
      }
      graphCacheStats.upcastBytes += 4 * h.words.length;
    }
    return at;
  }

  private async write(bytes: Uint8Array): Promise<void> {
    let n = 0;
    while (n < bytes.length) n += await this.weights.write(bytes.subarray(n));
    this.offset += bytes.length;
  }

  /**
   * Stores `graph` as `<name>.onnx`; `checkpointFolder` is the folder its external-data
   * locations are relative to (the checkpoint's), or `null` when it has none.
   */
  async add(
    name: CachedGraphName,
    graph: GraphSpec,
    checkpointFolder: string | null,
  ): Promise<void> {
    const folder = this.entry.folder;
    const weightsLoc = relativeTo(folder, `${this.entry.dir}/weights.bin`);
    const initializers: TensorSpec[] = [];
    for (const t of graph.initializers) {
      const upcastBytes = 4 * (t.upcast ?? []).reduce((n, h) => n + h.words.length, 0);
      if (t.upcast && !t.external && upcastBytes >= EXTERNAL_MIN_BYTES) {
        // Converted on the way to the file; `t.raw` (which would convert it whole) is not read.
        const offset = await this.appendUpcast(t.upcast);
        initializers.push({
          name: t.name,
          dtype: t.dtype,
          dims: t.dims,
          raw: new Uint8Array(0),
          external: { location: weightsLoc, offset, length: upcastBytes },
        });
      } else if (t.external) {
        if (checkpointFolder === null) throw new Error(`${t.name}: external data without a folder`);
        const path = `${checkpointFolder.replace(/\/$/, "")}/${t.external.location}`;
        initializers.push({
          ...t,
          external: { ...t.external, location: relativeTo(folder, path) },
        });
      } else if (t.raw.length >= EXTERNAL_MIN_BYTES) {
        const raw = t.raw;
        const offset = await this.append(raw);
        initializers.push({
          name: t.name,
          dtype: t.dtype,
          dims: t.dims,
          raw: new Uint8Array(0),
          external: { location: weightsLoc, offset, length: raw.length },
        });
      } else {
        initializers.push(t);
      }
    }
    const bytes = encodeModel({ ...graph, initializers });
    await Deno.writeFile(`${this.tmp}/${name}.onnx`, bytes);
    this.graphs[name] = { bytes: bytes.length, digest: digest(bytes) };
  }

  /**
   * Finishes the entry and renames it into place (when a concurrent writer got there first,
   * its entry is kept). Returns the entry's graphs as read
   * back, or `null` when it could not be written.
   */
  async commit(
    layout: DecoderLayout,
    limits: GraphCacheMeta["limits"],
  ): Promise<CachedGraphs | null> {
    const e = this.entry;
    try {
      await this.weights.sync();
      this.weights.close();
      const weights = await sampledDigest(`${this.tmp}/weights.bin`);
      const meta: GraphCacheMeta = {
        format: GRAPH_CACHE_FORMAT,
        key: e.key,
        precision: e.precision,
        int8Tables: e.int8Tables,
        checkpoint: e.checkpoint,
        folder: e.folder,
        layout,
        limits,
        graphs: this.graphs,
        weights,
      };
      await Deno.writeTextFile(`${this.tmp}/meta.json`, JSON.stringify(meta, null, 1));
      try {
        await Deno.rename(this.tmp, e.dir);
      } catch {
        // A concurrent writer got there first (a broken entry was moved aside by `read`).
        await Deno.remove(this.tmp, { recursive: true }).catch(() => {});
      }
      await pruneSiblings(e);
      graphCacheStats.writes++;
      return await e.read();
    } catch {
      await this.abort();
      return null;
    }
  }

  /** Drops the unfinished entry. */
  async abort(): Promise<void> {
    try {
      this.weights.close();
    } catch { /* closed */ }
    await Deno.remove(this.tmp, { recursive: true }).catch(() => {});
  }
}

/**
 * Removes the entries made stale by `e`: those of the same checkpoint paths, precision and
 * tables (an edited checkpoint), and those whose checkpoint files no longer exist.
 */
async function pruneSiblings(e: GraphCacheEntry): Promise<void> {
  const paths = JSON.stringify(e.checkpoint.map((f) => f.path));
  const gone = async (files: FileIdentity[]) => {
    for (const f of files) {
      try {
        await Deno.stat(f.path);
      } catch (err) {
        if (err instanceof Deno.errors.NotFound) return true;
      }
    }
    return false;
  };
  for await (const d of Deno.readDir(e.root)) {
    if (!d.isDirectory || d.name === e.key || d.name.startsWith(".")) continue;
    try {
      const m = JSON.parse(await Deno.readTextFile(`${e.root}/${d.name}/meta.json`));
      const files: FileIdentity[] = Array.isArray(m?.checkpoint) ? m.checkpoint : [];
      if (
        (m?.precision === e.precision && (m?.int8Tables ?? false) === e.int8Tables &&
          JSON.stringify(files.map((f) => f.path)) === paths) ||
        await gone(files)
      ) {
        const trash = `${e.root}/.trash-${d.name}-${Deno.pid}`;
        await Deno.rename(`${e.root}/${d.name}`, trash);
        await Deno.remove(trash, { recursive: true });
      }
    } catch { /* not an entry, or gone */ }
  }
}

/**
 * Traces the three graphs with `tracer` into the entry `writer` writes (one graph alive at a
 * time) and commits it; returns the entry's graphs as read back, or `null` when the entry could
 * not be written (the writer is aborted; tracing errors propagate).
 */
export async function traceIntoCache(
  tracer: GraphTracer,
  writer: GraphCacheWriter,
): Promise<CachedGraphs | null> {
  const folder = tracer.weights.externalFolder;
  // Failures of the cache (disk full, permissions) give `null`; tracing errors propagate.
  const failed = Symbol("cache write failed");
  const put = async (name: CachedGraphName, graph: GraphSpec) => {
    try {
      await writer.add(name, graph, folder);
    } catch {
      throw failed;
    }
  };
  let committed = false;
  try {
    // Half weights are converted on their way into `weights.bin`, not whole while tracing.
    const enc = withDeferredUpcasts(() => tracer.encoder());
    await put("encoder", enc.graph);
    const limits: GraphCacheMeta["limits"] = { encoder: enc.limits, decoder: [] };
    (enc as { graph: GraphSpec | null }).graph = null;
    const cross = withDeferredUpcasts(() => tracer.crossKV());
    await put("cross_kv", cross.graph);
    (cross as { graph: GraphSpec | null }).graph = null;
    const dec = withDeferredUpcasts(() => tracer.decoderStep(cross.layout));
    limits.decoder = dec.limits;
    await put("decoder", dec.graph);
    (dec as { graph: GraphSpec | null }).graph = null;
    committed = true;
    return await writer.commit(cross.layout, limits);
  } catch (e) {
    if (e === failed) return null;
    throw e;
  } finally {
    if (!committed) await writer.abort();
  }
}
