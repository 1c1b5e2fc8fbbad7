/**
 * The onnxruntime sessions of `OnnxEncoderDecoder`: the session options (threads; on
 * onnxruntime-node no CPU arena, no spinning, external initializers resolved in the checkpoint's
 * folder) and the three graphs (encoder, cross K/V, decoder step) built from a checkpoint and
 * handed to onnxruntime one at a time.
 *
 * @module
 */
import type { InferenceSession } from "onnxruntime-node";
import type { EncoderDecoderConfig } from "@encdec/config";
import type { Checkpoint } from "./_checkpoint.ts";
import type { OnnxPrecision } from "./_graph.ts";
import { encodeModel } from "./_onnx_proto.ts";
import { OnnxRuntimeError, type Ort } from "./_runtime.ts";
import { buildEncoderGraph } from "./encoder_graph.ts";
import { buildCrossKVGraph, buildDecoderStepGraph } from "./decoder_graph.ts";

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

/**
 * Builds the encoder, cross-K/V and decoder-step graphs of `config` from the checkpoint `ck`
 * and creates their sessions on the loaded runtime `ort` (`name`), in that order. `source`
 * names the checkpoint in errors (`OnnxRuntimeError` when onnxruntime rejects a graph).
 */
export async function createSessions(
  ort: Ort,
  name: "node" | "web",
  threads: number,
  config: EncoderDecoderConfig,
  ck: Checkpoint,
  precision: OnnxPrecision,
  source: string,
): Promise<[encoder: InferenceSession, crossKV: InferenceSession, decoder: InferenceSession]> {
  const sessionOptions: InferenceSession.SessionOptions = {
    graphOptimizationLevel: "all",
    executionMode: "sequential",
    // No CPU arena on node: it keeps the largest activations of every run (~50 MiB at 512
    // tokens on bert-base) for no measured speed gain over malloc.
    ...(name === "node"
      ? { intraOpNumThreads: threads, interOpNumThreads: 1, enableCpuMemArena: false }
      : {}),
    ...(name === "node" ? { extra: { session: nodeSessionConfig(ck.externalFolder) } } : {}),
  };
  const make = async (bytes: Uint8Array, what: string) => {
    try {
      return await ort.InferenceSession.create(bytes, sessionOptions);
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
    for (
      const [build, what] of [
        [buildEncoderGraph, "encoder"],
        [buildCrossKVGraph, "cross K/V"],
        [buildDecoderStepGraph, "decoder"],
      ] as const
    ) {
      sessions.push(await make(encodeModel(build(config, ck, precision)), what));
    }
  } catch (e) {
    await Promise.all(sessions.map((s) => s.release()));
    throw e;
  }
  const [encoder, crossKV, decoder] = sessions;
  return [encoder, crossKV, decoder];
}
