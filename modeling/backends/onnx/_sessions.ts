/**
 * The onnxruntime sessions of `OnnxEncoderDecoder`: the session options (threads; on
 * onnxruntime-node no CPU arena, no spinning, external initializers resolved in the checkpoint's
 * folder) and the three graphs (encoder, cross K/V, decoder step) traced from the model code
 * and handed to onnxruntime one at a time.
 *
 * @module
 */
import type { InferenceSession } from "onnxruntime-node";
import { encodeModel, type GraphSpec } from "./_onnx_proto.ts";
import { OnnxRuntimeError, type Ort, webSessionCreated } from "./runtime.ts";
import type { DecoderLayout, GraphTracer, TracedGraph } from "./traced_graphs.ts";
import type { TraceLimit } from "./recorder.ts";
import { releaseData } from "./_host.ts";
import { collectWeightsInto, WeightBuffers } from "./_weight_buffers.ts";
import { CACHED_GRAPHS, type CachedGraphName, type CachedGraphs } from "./graph_cache.ts";
import type { OnnxPrecision } from "./graph_builder.ts";
import { type GraphCacheWriter, traceIntoCache } from "./graph_cache_writer.ts";

/**
 * onnxruntime-node session config entries (`session.*` keys, written without the prefix) of
 * graph `graph` in `precision`: intra-op threads spin between ops or block (see
 * {@linkcode spins}); initializers stored as external data are resolved in (and memory-mapped
 * from) the checkpoint's folder, and stay mapped instead of copied where the graph is not
 * pre-packed (see {@linkcode prepacks}).
 */
function nodeSessionConfig(
  externalFolder: string | null,
  graph: CachedGraphName,
  precision: OnnxPrecision,
): Record<string, string> {
  return {
    "intra_op.allow_spinning": spins(graph) ? "1" : "0",
    ...(prepacks(graph, precision) ? {} : { disable_prepacking: "1" }),
    ...(externalFolder !== null
      ? { model_external_initializers_file_folder_path: externalFolder }
      : {}),
  };
}

/** Initializers of at least this many bytes go to onnxruntime-web as external data. */
const WEB_EXTERNAL_MIN_BYTES = 1024;

/** An in-memory external data file for onnxruntime-web's `externalData` session option. */
export interface WebExternalFile {
  /** The name the graph's initializers give as their `location`. */
  path: string;
  /** The file's bytes. */
  data: Uint8Array;
}

/**
 * `graph` with its larger initializers moved out of the protobuf into in-memory external data
 * files for onnxruntime-web's `externalData` session option (onnxruntime copies each straight
 * into its tensor in the wasm heap), one file per initializer: `buffer_<i>` for the `i`th buffer
 * of `weights`, `tensor_<its name>` for bytes held anywhere else.
 */
export function webExternalData(
  graph: GraphSpec,
  weights: WeightBuffers | null = null,
): { model: GraphSpec; files: WebExternalFile[] } {
  // By path: initializers that share a weight buffer share its file.
  const files = new Map<string, WebExternalFile>();
  const initializers = graph.initializers.map((t) => {
    if (t.external || t.raw.byteLength < WEB_EXTERNAL_MIN_BYTES) return t;
    const at = weights?.locate(t.raw) ?? null;
    const path = at === null ? `tensor_${t.name}` : `buffer_${at}`;
    const offset = at === null ? 0 : t.raw.byteOffset;
    if (!files.has(path)) {
      files.set(path, { path, data: at === null ? t.raw : weights!.buffers[at] });
    }
    return {
      ...t,
      raw: new Uint8Array(0),
      external: { location: path, offset, length: t.raw.byteLength },
    };
  });
  return { model: { ...graph, initializers }, files: [...files.values()] };
}

/**
 * Bytes of an external data file that free the file read before them when onnxruntime-web
 * reads them. onnxruntime-web (1.30, pinned in deno.json) reads a mounted file by checking the
 * range against `file.byteLength`, then copying `file.subarray(offset, offset + length)` into
 * its tensor in the wasm heap before it returns to JavaScript, so when a read comes the previous
 * one is complete and that file's buffer can go: a graph's host copy shrinks while its session
 * is created instead of lying next to the whole heap copy (the start-up peak, issue 18 goal 4).
 * A freed file reports 0 bytes, so a runtime that came back to one would fail its range check
 * (the session fails, never reads zeros); the access is counted. `subarray` returns plain
 * `Uint8Array` views.
 */
class TrackedFileBytes extends Uint8Array {
  static get [Symbol.species]() {
    return Uint8Array;
  }
  /** Set when the file's bytes are handed over. */
  declare reads: FreeAfterRead;

  override get byteLength(): number {
    if (this.buffer.detached && this.reads) this.reads.rereads++;
    return super.byteLength;
  }

  override subarray(begin?: number, end?: number): Uint8Array<ArrayBuffer> {
    if (this.reads.read(this)) return new Uint8Array(0);
    return super.subarray(begin, end) as Uint8Array<ArrayBuffer>;
  }
}

/**
 * The reads of one session's external data files (see `TrackedFileBytes`): frees each file
 * once the runtime moved on to the next, counts the files freed and the reads of a file
 * already freed (a runtime that reads a file twice, which would then fail the session).
 */
export class FreeAfterRead {
  private last: TrackedFileBytes | null = null;
  /** Files freed while the session was created. */
  freed = 0;
  /** Accesses to a file already freed (its size or bytes; 0 with onnxruntime-web 1.30). */
  rereads = 0;

  /** `file` with its bytes wrapped; they must be a whole buffer of their own (a `WeightBuffers` one). */
  wrap({ path, data }: WebExternalFile): WebExternalFile {
    const wrapped = new TrackedFileBytes(
      data.buffer as ArrayBuffer,
      data.byteOffset,
      data.byteLength,
    );
    wrapped.reads = this;
    return { path, data: wrapped };
  }

  /**
   * Called by a file's `subarray`: frees the file read before (another one); `true` when `file`
   * itself was freed already.
   */
  read(file: TrackedFileBytes): boolean {
    if (file.buffer.detached) {
      this.rereads++;
      return true;
    }
    const last = this.last;
    if (last !== null && last.buffer !== file.buffer && !last.buffer.detached) {
      releaseData([last]); // a whole weight buffer (`wrap`)
      this.freed++;
    }
    this.last = file;
    return false;
  }
}

/** The sessions of one model and what their tracing revealed. */
export interface OnnxSessions {
  /** Encoder graph session. */
  encoder: InferenceSession;
  /** Cross-K/V graph session. */
  crossKV: InferenceSession;
  /** Decoder-step graph session. */
  decoder: InferenceSession;
  /** The decoder's cache layout. */
  layout: DecoderLayout;
  /** Position limits of the encoder's inputs. */
  encoderLimits: TraceLimit[];
  /** Position limits of the decoder's inputs. */
  decoderLimits: TraceLimit[];
}

/**
 * Whether onnxruntime-node pre-packs the weights of graph `graph` in `precision`. Pre-packing
 * copies every matrix into onnxruntime's own layout while the session is created: at
 * bert2bert-base float32 that was ~3.4 of a cached load's 3.5 s (1 GB of fresh pages on this
 * VM; 0.33 s with no graph pre-packed). The decoder step, run once per token, repays it
 * (without it float32 beam-4 steps were 20-25 % slower); the encoder and the cross-K/V graph run
 * once per call (the float32 encoder ~10 % slower unpacked, ~40 ms for 400 tokens), so theirs
 * are left mapped: a cached float32 load 3.4 → 2.1 s. int8 matrices are small to pack, and int8
 * runs 10-60 % slower unpacked: always pre-packed.
 */
export function prepacks(graph: CachedGraphName, precision: OnnxPrecision): boolean {
  return precision === "int8" || graph === "decoder";
}

/**
 * Whether onnxruntime-node's intra-op threads spin between the ops of graph `graph`'s session
 * instead of blocking: only the decoder step's. A step is ~500 small ops (10-30 µs each at
 * bert2bert-base), and waking a blocked thread for each costs more than spinning: with it int8
 * generation ran 10-15 % faster (greedy steps 11-12 → 8.8-9.2 ms), float32 3-8 %
 * (`deno task bench --contenders onnx-node-fp32,onnx-node-int8 --workloads greedy,beam4`,
 * alternated). The encoder's and cross-K/V graph's ops are large: spinning there, the threads
 * starved each other on 2 shared vCPUs (the int8 encoder 1.7× slower, fp32 1.4×).
 */
export function spins(graph: CachedGraphName): boolean {
  return graph === "decoder";
}

/**
 * Session options of graph `graph` in `precision` on runtime `name` (external data resolved in
 * `folder`; threads, spinning and pre-packing on node only).
 */
function sessionOptionsFor(
  name: "node" | "web",
  threads: number,
  folder: string | null,
  graph: CachedGraphName,
  precision: OnnxPrecision,
): InferenceSession.SessionOptions {
  return {
    graphOptimizationLevel: "all",
    executionMode: "sequential",
    // onnxruntime's CPU arena on node: it keeps the largest activations of a run (~16-50 MiB
    // at base size). Measured with `bench/decoder_ab.ts` and `deno task bench`: int8 encoders
    // and steps 10-20 % faster with it, fp32 steps as fast; the fp32 encoder's peak ~50 MiB lower
    // and the fp32 greedy peak ~16-30 MiB higher (bench/README.md, the arena variants).
    ...(name === "node"
      ? { intraOpNumThreads: threads, interOpNumThreads: 1, enableCpuMemArena: true }
      : {}),
    ...(name === "node" ? { extra: { session: nodeSessionConfig(folder, graph, precision) } } : {}),
  };
}

/** How errors name each graph. */
const GRAPH_LABELS: Readonly<Record<CachedGraphName, string>> = {
  encoder: "encoder",
  cross_kv: "cross K/V",
  decoder: "decoder",
};

/** The session of graph `graph`'s `model`, onnxruntime's failure wrapped in `OnnxRuntimeError`. */
async function createOne(
  ort: Ort,
  model: Uint8Array,
  options: InferenceSession.SessionOptions,
  graph: CachedGraphName,
  source: string,
): Promise<InferenceSession> {
  try {
    return await ort.InferenceSession.create(model, options);
  } catch (e) {
    const what = GRAPH_LABELS[graph];
    throw new OnnxRuntimeError(`${source}: onnxruntime rejected the ${what} graph: ${e}`, {
      cause: e,
    });
  }
}

/**
 * The sessions of graphs read from the graph cache (`graph_cache.ts`; onnxruntime-node),
 * created one at a time; a failure releases those already built.
 */
export async function createCachedSessions(
  ort: Ort,
  threads: number,
  cached: CachedGraphs,
  source: string,
  precision: OnnxPrecision,
): Promise<OnnxSessions> {
  const sessions: InferenceSession[] = [];
  try {
    for (const name of CACHED_GRAPHS) {
      const options = sessionOptionsFor("node", threads, cached.folder, name, precision);
      sessions.push(await createOne(ort, cached.models[name], options, name, source));
    }
  } catch (e) {
    await Promise.all(sessions.map((s) => s.release()));
    throw e;
  }
  const [encoder, crossKV, decoder] = sessions;
  return {
    encoder,
    crossKV,
    decoder,
    layout: cached.layout,
    encoderLimits: cached.limits.encoder,
    decoderLimits: cached.limits.decoder,
  };
}

/**
 * Traces the encoder, cross-K/V and decoder-step graphs with `tracer` and creates their
 * sessions on the loaded runtime `ort` (`name`), in that order, one graph alive at a time.
 * With `cache` (a graph-cache writer, onnxruntime-node) the graphs are written to the cache
 * entry and the sessions created from it. `source` names the checkpoint in errors
 * (`OnnxRuntimeError` when onnxruntime rejects a graph).
 */
export async function createSessions(
  ort: Ort,
  name: "node" | "web",
  threads: number,
  tracer: GraphTracer,
  source: string,
  cache: GraphCacheWriter | null = null,
): Promise<OnnxSessions> {
  if (cache) {
    // Traced into the graph cache, then loaded from it (null: it could not be written).
    const cached = await traceIntoCache(tracer, cache);
    if (cached) {
      return await createCachedSessions(ort, threads, cached, source, tracer.precision);
    }
  }
  const folder = tracer.weights.externalFolder;
  const optionsFor = (graph: CachedGraphName) =>
    sessionOptionsFor(name, threads, folder, graph, tracer.precision);
  // One graph at a time, so only one serialized model is alive at once; a failure releases
  // the sessions already built.
  const sessions: InferenceSession[] = [];
  try {
    // Each traced graph is dropped once its session exists.
    const add = async <R extends { graph: GraphSpec }>(trace: () => R, graph: CachedGraphName) => {
      const sessionOptions = optionsFor(graph);
      if (name === "node") {
        const r = trace();
        sessions.push(await createOne(ort, encodeModel(r.graph), sessionOptions, graph, source));
        (r as { graph: GraphSpec | null }).graph = null;
        return r;
      }
      // onnxruntime-web: the weights the graph makes go into buffers of their own
      // (`_weight_buffers.ts`) and in as in-memory external data, copied once into the wasm heap
      // rather than inside the protobuf (which onnxruntime would parse into a second copy
      // there); each buffer is freed once onnxruntime has copied it (`FreeAfterRead`), the
      // protobuf and every other host copy as soon as the session exists.
      const weights = new WeightBuffers();
      try {
        const r = collectWeightsInto(weights, trace);
        const { model, files } = webExternalData(r.graph, weights);
        (r as { graph: GraphSpec | null }).graph = null;
        const bytes = encodeModel(model);
        const reads = new FreeAfterRead();
        const externalData = files.map((f) => weights.locate(f.data) === null ? f : reads.wrap(f));
        try {
          sessions.push(
            await createOne(ort, bytes, { ...sessionOptions, externalData }, graph, source),
          );
          webSessionCreated();
        } catch (e) {
          if (reads.rereads === 0) throw e;
          throw new OnnxRuntimeError(
            `${source}: onnxruntime-web read an external data file of the ${
              GRAPH_LABELS[graph]
            } graph again after it was freed; this onnxruntime-web is not the version ` +
              `deno.json pins (1.30.0)`,
            { cause: e },
          );
        } finally {
          releaseData([bytes]);
        }
        return r;
      } finally {
        weights.release();
      }
    };
    let encoder: InferenceSession, crossKV: InferenceSession, decoder: InferenceSession;
    let enc: TracedGraph, cross: TracedGraph & { layout: DecoderLayout }, dec: TracedGraph;
    if (name === "node") {
      enc = await add(() => tracer.encoder(), "encoder");
      cross = await add(() => tracer.crossKV(), "cross_kv");
      dec = await add(() => tracer.decoderStep(cross.layout), "decoder");
      [encoder, crossKV, decoder] = sessions;
    } else {
      // The largest graph last but one: onnxruntime-web's heap only grows, and the start-up
      // peak is that heap plus the host copy of the graph being loaded, so the last graph
      // loaded (the encoder: no LM head) should be the smaller of the two large ones.
      cross = await add(() => tracer.crossKV(), "cross_kv");
      dec = await add(() => tracer.decoderStep(cross.layout), "decoder");
      enc = await add(() => tracer.encoder(), "encoder");
      [crossKV, decoder, encoder] = sessions;
    }
    return {
      encoder,
      crossKV,
      decoder,
      layout: cross.layout,
      encoderLimits: enc.limits,
      decoderLimits: dec.limits,
    };
  } catch (e) {
    await Promise.all(sessions.map((s) => s.release()));
    throw e;
  }
}
