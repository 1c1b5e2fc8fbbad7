/**
 * Loading side of `OnnxEncoderDecoder` (`onnx_model.ts` runs the model): the options checked,
 * the runtime loaded, the graph-cache entry of a checkpoint looked up (onnxruntime-node), the
 * weights opened (safetensors left in their files, else the whole state dict) and the three
 * sessions built, as the constructor's arguments.
 *
 * @module
 */
import type { InferenceSession } from "onnxruntime-node";
import { AutoConfig, EncoderDecoderConfig, GenerationConfig } from "@encdec/config";
import { loadStateDict } from "../../weights/mod.ts";
import { type CheckpointEntry, openSafetensorsCheckpoint } from "./checkpoint.ts";
import { OnnxModelError, type OnnxPrecision } from "./graph_builder.ts";
import { defaultThreads, loadRuntime, type Ort } from "./runtime.ts";
import { createCachedSessions, createSessions } from "./_sessions.ts";
import { checkpointFiles, graphCacheDir, GraphCacheEntry } from "./graph_cache.ts";
import { openGraphCacheWriter } from "./graph_cache_writer.ts";
import type { TraceLimit } from "./recorder.ts";
import { type DecoderLayout, GraphTracer } from "./traced_graphs.ts";
import { type HeapTrimmer, heapTrimmer } from "./_heap.ts";
import type { OnnxModelOptions } from "./onnx_model.ts";

/** What the `OnnxEncoderDecoder` constructor takes, as loaded. */
export interface LoadedEngine {
  /** The model's config. */
  config: EncoderDecoderConfig;
  /** Which onnxruntime runs it. */
  runtime: "node" | "web";
  /** Weight storage precision. */
  precision: OnnxPrecision;
  /** Generation defaults. */
  generationConfig: GenerationConfig;
  /** The loaded onnxruntime module. */
  ort: Ort;
  /** The decoder's cache layout. */
  layout: DecoderLayout;
  /** Encoder graph session. */
  encoder: InferenceSession;
  /** Cross-K/V graph session. */
  crossKV: InferenceSession;
  /** Decoder-step graph session. */
  decoder: InferenceSession;
  /** Called after each decode step, or null. */
  trimHeap: HeapTrimmer | null;
  /** Position limits of the encoder and decoder inputs. */
  limits: { encoder: TraceLimit[]; decoder: TraceLimit[] };
}

/**
 * `OnnxEncoderDecoder.fromPretrained`: `config.json`, the generation config and the weights of
 * `dirOrId`; sessions from the graph cache when it holds them (onnxruntime-node), else traced.
 */
export async function loadPretrainedEngine(
  dirOrId: string,
  options: OnnxModelOptions,
): Promise<LoadedEngine> {
  const config = await AutoConfig.fromPretrained(dirOrId, { ...options.resolve });
  if (!(config instanceof EncoderDecoderConfig)) {
    throw new OnnxModelError(
      `${dirOrId}/config.json: a ${config.constructor.name}; expected an EncoderDecoderConfig`,
    );
  }
  const generationConfig = options.generationConfig ??
    await GenerationConfig.fromPretrained(dirOrId, { ...options.resolve });
  const entry = await cacheEntry(dirOrId, config, options);
  const cached = await entry?.read();
  if (entry && cached) {
    const { ort } = await loadRuntime("node", entry.threads);
    const s = await createCachedSessions(ort, entry.threads, cached, dirOrId, entry.precision);
    return {
      config,
      runtime: "node",
      precision: entry.precision,
      generationConfig,
      ort,
      layout: s.layout,
      encoder: s.encoder,
      crossKV: s.crossKV,
      decoder: s.decoder,
      trimHeap: options.trimHeap ?? true ? heapTrimmer() : null,
      limits: { encoder: s.encoderLimits, decoder: s.decoderLimits },
    };
  }
  // Safetensors tensors stay in their files: onnxruntime-node maps them, and for
  // onnxruntime-web each is read, converted and freed one at a time while tracing.
  const tensors = (await openSafetensorsCheckpoint(dirOrId, options.resolve)) ??
    (await loadStateDict(dirOrId, options.resolve)).tensors;
  return await buildEngine(config, tensors, { ...options, generationConfig }, dirOrId, entry);
}

/**
 * The graph-cache entry of checkpoint `dirOrId` (see `graph_cache.ts`), or `null` when the
 * cache is off, the runtime is not onnxruntime-node or the checkpoint files are not found.
 */
async function cacheEntry(
  dirOrId: string,
  config: EncoderDecoderConfig,
  options: OnnxModelOptions,
): Promise<(GraphCacheEntry & { threads: number }) | null> {
  const root = graphCacheDir(options.graphCache);
  if (root === null || options.runtime === "web") return null;
  let checked: CheckedOptions;
  try {
    checked = checkOptions(options);
  } catch {
    return null; // bad options: no cache, so `buildEngine` reports them
  }
  const { precision, threads } = checked;
  let version: string;
  try {
    const { ort, name } = await loadRuntime(options.runtime ?? "auto", threads);
    if (name !== "node") return null;
    version = ort.env.versions?.node ?? ort.env.versions?.common ?? "?";
  } catch {
    return null; // `buildEngine` reports why no runtime loads
  }
  const files = await checkpointFiles(dirOrId, options.resolve).catch(() => null);
  if (files === null) return null;
  const entry = await GraphCacheEntry.open(
    root,
    files,
    config.toDict(),
    precision,
    version,
    storesInt8Tables(checked, "node"),
  );
  return entry && Object.assign(entry, { threads });
}

/** The options `buildEngine` reads, checked, defaults filled in. */
interface CheckedOptions {
  precision: OnnxPrecision;
  threads: number;
  int8Embeddings: boolean | undefined;
}

/** `options` checked (`OnnxModelError` naming a bad one), defaults filled in. */
function checkOptions(options: OnnxModelOptions): CheckedOptions {
  const precision = options.precision ?? "fp32";
  if (!["fp32", "fp16", "int8"].includes(precision)) {
    throw new OnnxModelError(`precision "${precision}"; expected "fp32", "fp16" or "int8"`);
  }
  const threads = options.numThreads ?? defaultThreads();
  if (!Number.isInteger(threads) || threads < 1) {
    throw new OnnxModelError(`numThreads = ${threads}; expected a positive integer`);
  }
  const int8Embeddings = options.int8Embeddings;
  if (int8Embeddings !== undefined && typeof int8Embeddings !== "boolean") {
    throw new OnnxModelError(`int8Embeddings = ${int8Embeddings}; expected true or false`);
  }
  if (int8Embeddings && precision !== "int8") {
    throw new OnnxModelError(
      `int8Embeddings needs precision "int8"; precision is "${precision}"`,
    );
  }
  return { precision, threads, int8Embeddings };
}

/**
 * Whether the embedding tables are stored int8 on `runtime`: with precision int8, as
 * `int8Embeddings` says, by default on onnxruntime-web only (the graph cache keys on it).
 */
function storesInt8Tables(o: CheckedOptions, runtime: "node" | "web"): boolean {
  return o.precision === "int8" && (o.int8Embeddings ?? runtime === "web");
}

/**
 * `OnnxEncoderDecoder.create`: checks the options (`OnnxModelError` naming a bad one), loads
 * the runtime, traces the graphs over `tensors` and builds the sessions (writing the graphs to
 * `cache` on onnxruntime-node).
 */
export async function buildEngine(
  config: EncoderDecoderConfig,
  tensors: ReadonlyMap<string, CheckpointEntry>,
  options: OnnxModelOptions,
  source: string,
  cache: GraphCacheEntry | null,
): Promise<LoadedEngine> {
  const checked = checkOptions(options);
  const { precision, threads } = checked;
  const { ort, name } = await loadRuntime(options.runtime ?? "auto", threads);
  const tracer = new GraphTracer(config, tensors, source, precision, name === "node");
  tracer.int8Embeddings = storesInt8Tables(checked, name);
  const writer = cache && name === "node" ? await openGraphCacheWriter(cache) : null;
  const s = await createSessions(ort, name, threads, tracer, source, writer);
  return {
    config,
    runtime: name,
    precision,
    generationConfig: options.generationConfig ?? GenerationConfig.fromModelConfig(config),
    ort,
    layout: s.layout,
    encoder: s.encoder,
    crossKV: s.crossKV,
    decoder: s.decoder,
    trimHeap: name === "node" && (options.trimHeap ?? true) ? heapTrimmer() : null,
    limits: { encoder: s.encoderLimits, decoder: s.decoderLimits },
  };
}
