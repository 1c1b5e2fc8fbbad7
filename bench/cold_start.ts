/**
 * Cold start of `OnnxEncoderDecoder` on onnxruntime-node (issue 18, goal 2): load + convert +
 * graph build of a checkpoint, split into phases, in a fresh process per measurement.
 *
 * Phases (`phases` mode, the steps of `fromPretrained` replayed here with a clock around each):
 * - `read`: reading the weight file once from the page cache (the baseline the goal excludes;
 *   the file is read once untimed before, so it is in the page cache);
 * - `config`: `config.json` + `generation_config.json`;
 * - `open`: safetensors headers, or the whole `.bin` (unzip + unpickle into memory);
 * - `trace` / `serialize` / `session` per graph: tracing the model code, encoding the
 *   `ModelProto` (converting weights: half → float, int8 quantization happen here, lazily),
 *   `InferenceSession.create` (parse, optimize, pre-pack).
 *
 * `miss-phases` mode replays a first load with the graph cache on (what a user's first call
 * pays): `open`, `trace`, `write` (the cache entry), `commit`, `session` (from the entry's files),
 * each with its wall and CPU seconds and its minor page faults (`<phase>Faults`, from
 * `/proc/self/stat`: first touches of fresh memory, which `bench/first_touch.ts` prices).
 *
 * `load` mode times `OnnxEncoderDecoder.fromPretrained` as users call it (graph cache included),
 * then the time to the first token (encode 400 tokens + one decode step).
 *
 * Usage: `deno run -A bench/cold_start.ts <phases|miss-phases|load> <model dir> <fp32|int8|fp16>`; prints
 * one JSON line. `deno run -A bench/cold_start.ts suite [hits] [filter]` runs every combination
 * in fresh processes (see `suite`) and writes `bench/results/cold-start.json`.
 *
 * @module
 */
import { AutoConfig, type EncoderDecoderConfig, GenerationConfig } from "@encdec/config";
import { loadStateDict } from "../modeling/weights/mod.ts";
import { readFileOrThrow } from "../modeling/weights/_file_io.ts";
import {
  type CheckpointEntry,
  openSafetensorsCheckpoint,
} from "../modeling/backends/onnx/checkpoint.ts";
import { GraphTracer } from "../modeling/backends/onnx/traced_graphs.ts";
import { encodeModel, type GraphSpec } from "../modeling/backends/onnx/_onnx_proto.ts";
import { loadRuntime } from "../modeling/backends/onnx/runtime.ts";
import { OnnxEncoderDecoder } from "../modeling/backends/onnx/onnx_model.ts";
import {
  checkpointFiles,
  GraphCacheEntry,
  graphCacheStats,
} from "../modeling/backends/onnx/graph_cache.ts";
import { openGraphCacheWriter } from "../modeling/backends/onnx/graph_cache_writer.ts";
import { createCachedSessions } from "../modeling/backends/onnx/_sessions.ts";
import {
  type OnnxPrecision,
  withDeferredUpcasts,
} from "../modeling/backends/onnx/graph_builder.ts";
import { ensureSeedReplica } from "./make_seed_replica.ts";
import { minorFaults as faults } from "./_stats.ts";

const now = () => performance.now();

/**
 * CPU seconds (user + system, all threads) of this process so far: on a loaded machine the
 * wall clock counts the time other processes ran, the CPU time does not.
 */
function cpu(): number {
  const f = Deno.readTextFileSync("/proc/self/stat").split(") ")[1].split(" ");
  return (Number(f[11]) + Number(f[12])) / 100; // utime, stime (fields 14, 15) in ticks
}

async function weightFile(dir: string): Promise<string> {
  for (const f of ["model.safetensors", "pytorch_model.bin"]) {
    try {
      return await Deno.realPath(`${dir}/${f}`);
    } catch { /* next */ }
  }
  throw new Error(`${dir}: no weight file`);
}

/**
 * Seconds to read `path` whole into a buffer of its size, as the weight readers do (page cache:
 * it is read once before, untimed). `Deno.readFile`, which grows its buffer, took 2.5× this.
 */
async function readTime(
  path: string,
): Promise<{ seconds: number; cpu: number; bytes: number; faults: number }> {
  await readFileOrThrow(path);
  const t = now(), c = cpu(), f = faults();
  const b = await readFileOrThrow(path);
  return { seconds: (now() - t) / 1000, cpu: cpu() - c, bytes: b.length, faults: faults() - f };
}

function rssMiB(): number {
  const m = Deno.readTextFileSync("/proc/self/status").match(/VmHWM:\s+(\d+) kB/);
  return m ? Math.round(Number(m[1]) / 1024) : 0;
}

async function phases(dir: string, precision: OnnxPrecision): Promise<Record<string, unknown>> {
  const file = await weightFile(dir);
  const read = await readTime(file);
  const t: Record<string, number> = {};
  const clock = async <R>(name: string, f: () => R | Promise<R>): Promise<R> => {
    const s = now(), c = cpu();
    const r = await f();
    t[name] = (t[name] ?? 0) + (now() - s) / 1000;
    t[`${name}Cpu`] = (t[`${name}Cpu`] ?? 0) + cpu() - c;
    return r;
  };
  const t0 = now(), c0 = cpu();
  const config = await clock("config", async () => {
    const c = await AutoConfig.fromPretrained(dir);
    await GenerationConfig.fromPretrained(dir);
    return c as EncoderDecoderConfig;
  });
  const tensors: ReadonlyMap<string, CheckpointEntry> = await clock(
    "open",
    async () => (await openSafetensorsCheckpoint(dir)) ?? (await loadStateDict(dir)).tensors,
  );
  const { ort } = await clock("runtime", () => loadRuntime("node", 2));
  const tracer = new GraphTracer(config, tensors, dir, precision, true);
  const opts = {
    graphOptimizationLevel: "all" as const,
    executionMode: "sequential" as const,
    intraOpNumThreads: 2,
    interOpNumThreads: 1,
    enableCpuMemArena: false,
    extra: {
      session: {
        "intra_op.allow_spinning": "0",
        ...(tracer.weights.externalFolder !== null
          ? { model_external_initializers_file_folder_path: tracer.weights.externalFolder }
          : {}),
      },
    },
  };
  const sessions = [];
  let modelBytes = 0;
  const graph = async (what: string, make: () => { graph: GraphSpec }) => {
    const g = await clock(`trace`, make);
    const bytes = await clock(`serialize`, () => encodeModel(g.graph));
    modelBytes += bytes.length;
    sessions.push(await clock(`session`, () => ort.InferenceSession.create(bytes, opts)));
    t[`${what}_total`] = 0;
    return g;
  };
  const enc = await graph("encoder", () => tracer.encoder());
  void enc;
  const cross = await graph("cross", () => tracer.crossKV());
  await graph(
    "decoder",
    () => tracer.decoderStep((cross as ReturnType<GraphTracer["crossKV"]>).layout),
  );
  const total = (now() - t0) / 1000, totalCpu = cpu() - c0;
  for (const k of Object.keys(t)) if (k.endsWith("_total")) delete t[k];
  return {
    mode: "phases",
    dir,
    precision,
    file,
    weightBytes: read.bytes,
    read: read.seconds,
    readCpu: read.cpu,
    ...t,
    total,
    totalCpu,
    beyondRead: total - read.seconds,
    modelProtoBytes: modelBytes,
    peakRssMiB: rssMiB(),
  };
}

/**
 * The phases of a first load with the graph cache on (`fromPretrained` on a miss, replayed with
 * a clock around each): `open`, then per graph `trace` (tracing + converting the weights) and
 * `write` (its large initializers appended to the entry's `weights.bin`, the graph encoded),
 * `commit` (sync, digests, rename, read back) and `session` (the three sessions created from
 * the entry's files, as every later load does). The entry is written to a fresh temporary cache
 * folder, removed at the end.
 */
async function missPhases(
  dir: string,
  precision: OnnxPrecision,
): Promise<Record<string, unknown>> {
  const file = await weightFile(dir);
  const read = await readTime(file);
  const t: Record<string, number> = {};
  const clock = async <R>(name: string, f: () => R | Promise<R>): Promise<R> => {
    const s = now(), c = cpu(), pf = faults();
    const r = await f();
    t[name] = (t[name] ?? 0) + (now() - s) / 1000;
    t[`${name}Cpu`] = (t[`${name}Cpu`] ?? 0) + cpu() - c;
    t[`${name}Faults`] = (t[`${name}Faults`] ?? 0) + faults() - pf;
    return r;
  };
  const root = await Deno.makeTempDir({ prefix: "encdec-graphs-" });
  try {
    const t0 = now(), c0 = cpu(), f0 = faults();
    const config = await clock("config", async () => {
      const c = await AutoConfig.fromPretrained(dir);
      await GenerationConfig.fromPretrained(dir);
      return c as EncoderDecoderConfig;
    });
    const { ort, version } = await clock("runtime", async () => {
      const { ort } = await loadRuntime("node", 2);
      return { ort, version: ort.env.versions?.node ?? ort.env.versions?.common ?? "?" };
    });
    const files = (await checkpointFiles(dir))!;
    const entry = (await GraphCacheEntry.open(root, files, config.toDict(), precision, version))!;
    if ((await entry.read()) !== null) throw new Error(`${root}: a fresh cache holds an entry`);
    const tensors: ReadonlyMap<string, CheckpointEntry> = await clock(
      "open",
      async () => (await openSafetensorsCheckpoint(dir)) ?? (await loadStateDict(dir)).tensors,
    );
    const tracer = new GraphTracer(config, tensors, dir, precision, true);
    const writer = (await openGraphCacheWriter(entry))!;
    const folder = tracer.weights.externalFolder;
    // As `traceIntoCache` does: half weights are converted on their way into the entry.
    const enc = await clock("trace", () => withDeferredUpcasts(() => tracer.encoder()));
    await clock("write", () => writer.add("encoder", enc.graph, folder));
    const cross = await clock("trace", () => withDeferredUpcasts(() => tracer.crossKV()));
    await clock("write", () => writer.add("cross_kv", cross.graph, folder));
    const dec = await clock(
      "trace",
      () => withDeferredUpcasts(() => tracer.decoderStep(cross.layout)),
    );
    await clock("write", () => writer.add("decoder", dec.graph, folder));
    const cached = await clock(
      "commit",
      () => writer.commit(cross.layout, { encoder: enc.limits, decoder: dec.limits }),
    );
    if (cached === null) throw new Error(`${root}: the entry could not be written`);
    const sessions = await clock(
      "session",
      () => createCachedSessions(ort, 2, cached, dir, precision),
    );
    const total = (now() - t0) / 1000, totalCpu = cpu() - c0;
    await Promise.all(
      [sessions.encoder, sessions.crossKV, sessions.decoder].map((x) => x.release()),
    );
    return {
      mode: "miss-phases",
      dir,
      precision,
      file,
      weightBytes: read.bytes,
      read: read.seconds,
      readCpu: read.cpu,
      readFaults: read.faults,
      ...t,
      total,
      totalCpu,
      totalFaults: faults() - f0,
      beyondRead: total - read.seconds,
      upcastBytes: graphCacheStats.upcastBytes,
      peakRssMiB: rssMiB(),
    };
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

async function load(dir: string, precision: OnnxPrecision): Promise<Record<string, unknown>> {
  const file = await weightFile(dir);
  const read = await readTime(file);
  const t0 = now(), c0 = cpu();
  const model = await OnnxEncoderDecoder.fromPretrained(dir, { runtime: "node", precision });
  const loaded = (now() - t0) / 1000, loadedCpu = cpu() - c0;
  const ids = [[101, ...Array.from({ length: 398 }, (_, i) => 1000 + ((i * 7919) % 20000)), 102]];
  const t1 = now();
  const state = await model.encode(ids, [ids[0].map(() => 1)]);
  const step = await model.decodeStep(state, [[101]], null);
  const first = (now() - t1) / 1000;
  let argmax = 0;
  for (let i = 1; i < model.vocabSize; i++) if (step.logits[i] > step.logits[argmax]) argmax = i;
  const checksum = step.logits.slice(0, 64).reduce((a, v) => a + v, 0);
  await model.release();
  return {
    mode: "load",
    dir,
    precision,
    weightBytes: read.bytes,
    read: read.seconds,
    readCpu: read.cpu,
    load: loaded,
    loadCpu: loadedCpu,
    beyondRead: loaded - read.seconds,
    firstToken: first,
    loadToFirstToken: loaded + first,
    argmax,
    checksum,
    graphCache: { ...graphCacheStats },
    peakRssMiB: rssMiB(),
  };
}

async function uptime(): Promise<string> {
  return (await Deno.readTextFile("/proc/loadavg")).trim();
}

async function child(
  args: string[],
  env: Record<string, string> = {},
): Promise<Record<string, unknown>> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", import.meta.filename!, ...args],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout).trim().split("\n").at(-1) ?? "";
  if (!out.success) {
    return { args, error: new TextDecoder().decode(out.stderr).slice(-2000) };
  }
  return JSON.parse(text);
}

/**
 * Every checkpoint × precision in fresh processes: the phases (no cache), then
 * `fromPretrained` with the graph cache off, with an empty cache (miss: traced and written)
 * and `hits` times with the entry in place. The cache lives in `bench/.cache/graphs`.
 */
async function suite(hits: number, only?: string): Promise<void> {
  const { bin, safetensors } = await ensureSeedReplica();
  const cacheDir = `${Deno.cwd()}/bench/.cache/graphs`;
  const runs: Record<string, unknown>[] = [];
  const run = async (args: string[], cache: string, label: string) => {
    const before = await uptime();
    const res = await child(args, { ENCDEC_GRAPH_CACHE: cache });
    Object.assign(res, { cache: label, loadavg: before });
    runs.push(res);
    console.error(JSON.stringify(res));
  };
  for (const dir of [safetensors, bin]) {
    for (const p of ["fp32", "int8"] as OnnxPrecision[]) {
      if (only && !`${dir} ${p}`.includes(only)) continue;
      await run(["phases", dir, p], "off", "off");
      await run(["load", dir, p], "off", "off");
      await Deno.remove(cacheDir, { recursive: true }).catch(() => {});
      await run(["load", dir, p], cacheDir, "miss");
      for (let i = 0; i < hits; i++) await run(["load", dir, p], cacheDir, "hit");
    }
  }
  await Deno.mkdir("bench/results", { recursive: true });
  await Deno.writeTextFile(
    "bench/results/cold-start.json",
    JSON.stringify({ date: new Date().toISOString(), runs }, null, 2) + "\n",
  );
}

if (import.meta.main) {
  const [mode, a, b] = Deno.args;
  if (mode === "suite") {
    await suite(Number(a ?? 2), b);
  } else if (mode === "phases" || mode === "miss-phases" || mode === "load") {
    const p = (b ?? "fp32") as OnnxPrecision;
    const r = mode === "phases"
      ? await phases(a, p)
      : mode === "miss-phases"
      ? await missPhases(a, p)
      : await load(a, p);
    console.log(JSON.stringify(r));
  } else {
    console.error(
      "usage: cold_start.ts <phases|miss-phases|load> <dir> <fp32|int8|fp16> | suite [reps] [filter]",
    );
    Deno.exit(2);
  }
}
