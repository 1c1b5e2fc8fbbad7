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

/**
 * Traces the encoder, cross-K/V and decoder-step graphs with `tracer` and creates their
 * sessions on the loaded runtime `ort` (`name`), in that order, one graph alive at a time.
 * `source` names the checkpoint in errors (`OnnxRuntimeError` when onnxruntime rejects a graph).
 */
export async function createSessions(
  ort: Ort,
  name: "node" | "web",
  threads: number,
  tracer: GraphTracer,
  source: string,
): Promise<OnnxSessions> {
  const sessionOptions: InferenceSession.SessionOptions = {
    graphOptimizationLevel: "all",
    executionMode: "sequential",
    // No CPU arena on node: it keeps the largest activations of every run (~50 MiB at 512
    // tokens on bert-base) for no measured speed gain over malloc.
    ...(name === "node"
      ? { intraOpNumThreads: threads, interOpNumThreads: 1, enableCpuMemArena: false }
      : {}),
    ...(name === "node"
      ? { extra: { session: nodeSessionConfig(tracer.weights.externalFolder) } }
      : {}),
  };
  const make = async (graph: GraphSpec, what: string) => {
    try {
      return await ort.InferenceSession.create(encodeModel(graph), sessionOptions);
    } catch (e) {
      throw new OnnxRuntimeError(`${source}: onnxruntime rejected the ${what} graph: ${e}`, {
        cause: e,
      });
    }
  };
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
