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
import { OnnxRuntimeError, type Ort } from "./runtime.ts";
import type { DecoderLayout, GraphTracer } from "./traced_graphs.ts";
import type { TraceLimit } from "./recorder.ts";
import {
  CACHED_GRAPHS,
  type CachedGraphs,
  type GraphCacheWriter,
  traceIntoCache,
} from "./graph_cache.ts";

/**
 * onnxruntime-node session config entries (`session.*` keys). Intra-op threads block instead
 * of spinning between ops: on 2 shared vCPUs spinning threads starve each other and the
 * int8 encoder ran 1.7× slower (fp32 1.4×). Initializers stored as external data are resolved
 * in (and memory-mapped from) the checkpoint's folder.
 */
function nodeSessionConfig(externalFolder: string | null): Record<string, string> {
  return {
    "intra_op.allow_spinning": "0",
    ...(externalFolder !== null
      ? { model_external_initializers_file_folder_path: externalFolder }
      : {}),
  };
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

/** Session options of runtime `name` (external data resolved in `folder`). */
function sessionOptionsFor(
  name: "node" | "web",
  threads: number,
  folder: string | null,
): InferenceSession.SessionOptions {
  return {
    graphOptimizationLevel: "all",
    executionMode: "sequential",
    // The CPU arena on node: it keeps the largest activations of a run (~50 MiB at 512 tokens
    // on a base-size model), and without it every step's buffers are fresh pages: decode steps
    // of bert2bert-base beam 4 took 2-3x as long (page faults; `bench/decoder_ab.ts`).
    ...(name === "node"
      ? { intraOpNumThreads: threads, interOpNumThreads: 1, enableCpuMemArena: true }
      : {}),
    ...(name === "node" ? { extra: { session: nodeSessionConfig(folder) } } : {}),
  };
}

/** One session of `model`, onnxruntime's failure wrapped in `OnnxRuntimeError`. */
async function createOne(
  ort: Ort,
  model: Uint8Array,
  options: InferenceSession.SessionOptions,
  what: string,
  source: string,
): Promise<InferenceSession> {
  try {
    return await ort.InferenceSession.create(model, options);
  } catch (e) {
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
): Promise<OnnxSessions> {
  const options = sessionOptionsFor("node", threads, cached.folder);
  const sessions: InferenceSession[] = [];
  try {
    for (const name of CACHED_GRAPHS) {
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
    if (cached) return await createCachedSessions(ort, threads, cached, source);
  }
  const sessionOptions = sessionOptionsFor(name, threads, tracer.weights.externalFolder);
  const make = (graph: GraphSpec, what: string) =>
    createOne(ort, encodeModel(graph), sessionOptions, what, source);
  // One graph at a time, so only one serialized model is alive at once; a failure releases
  // the sessions already built.
  const sessions: InferenceSession[] = [];
  try {
    // Each traced graph is dropped once its session exists.
    const add = async <R extends { graph: GraphSpec }>(r: R, what: string) => {
      sessions.push(await make(r.graph, what));
      (r as { graph: GraphSpec | null }).graph = null;
      return r;
    };
    const enc = await add(tracer.encoder(), "encoder");
    const cross = await add(tracer.crossKV(), "cross K/V");
    const dec = await add(tracer.decoderStep(cross.layout), "decoder");
    const [encoder, crossKV, decoder] = sessions;
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
