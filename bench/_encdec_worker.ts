/**
 * One encdec contender on one workload, in its own process (so its peak RSS is its own):
 * loads the plan's model on the contender's backend, warms up with a short call of the same
 * kind, runs the timed repetitions and prints one JSON line (`WorkerResult`).
 *
 * Generate workloads go through `generate()` with a model wrapper that times `encode` and
 * `decodeStep`, so the time generation spends outside the model (processors, log-softmax,
 * top-k, beam bookkeeping, cache reorder) is measured in place.
 *
 * Usage: `deno run -A bench/_encdec_worker.ts <plan.json> <contender> <workload|check> [out]`
 *
 * @module
 */
import { generate, type Seq2SeqModel } from "@encdec/generation";
import { EncoderDecoderModel } from "@encdec/modeling";
import { peakRss, type Plan, type WorkerResult, type Workload } from "./_workloads.ts";

/** Contenders this worker can run. */
export const ENCDEC_CONTENDERS = [
  "encdec-cpu",
  "encdec-webgpu",
  "onnx-node-fp32",
  "onnx-node-int8",
  "onnx-web-fp32",
  "onnx-web-int8",
] as const;

/** A loaded contender: the model generation drives, plus what the worker needs around it. */
interface Loaded {
  model: Seq2SeqModel<unknown, unknown>;
  /** Waits until an encoder state is computed (device backends enqueue work). */
  sync(state: unknown): Promise<void>;
  /** Logits `[1, decLen, vocab]` of a forward pass, flattened. */
  logits(inputIds: number[][], decoderInputIds: number[][]): Promise<Float32Array>;
}

function fromEncdec(model: EncoderDecoderModel): Loaded {
  return {
    model: model as unknown as Seq2SeqModel<unknown, unknown>,
    sync: async (state) => {
      await model.backend.read((state as { hidden: unknown }).hidden);
    },
    logits: async (inputIds, decoderInputIds) => {
      const out = await model.forward({ inputIds, decoderInputIds });
      return out.logits.toFloat32().data as Float32Array;
    },
  };
}

/** Loads the model on the contender's backend. */
async function load(contender: string, dir: string): Promise<Loaded> {
  if (contender === "encdec-cpu") return fromEncdec(await EncoderDecoderModel.fromPretrained(dir));
  if (contender === "encdec-webgpu") {
    const { WebGpuBackend } = await import("../modeling/backends/webgpu/mod.ts");
    const probe = await WebGpuBackend.probe();
    if (!probe.available) throw new Error(`webgpu unavailable: ${probe.reason}`);
    const gpu = await WebGpuBackend.create();
    return fromEncdec(await EncoderDecoderModel.fromPretrained(dir, { device: gpu }));
  }
  const onnx = contender.match(/^onnx-(node|web)-(fp32|int8)$/);
  if (onnx) {
    const { OnnxEncoderDecoder } = await import("../modeling/backends/onnx/mod.ts");
    const model = await OnnxEncoderDecoder.fromPretrained(dir, {
      runtime: onnx[1] as "node" | "web",
      precision: onnx[2] as "fp32" | "int8",
    });
    return {
      model: model as unknown as Seq2SeqModel<unknown, unknown>,
      sync: () => Promise.resolve(),
      logits: async (inputIds, decoderInputIds) =>
        (await model.logits(inputIds, inputIds.map((r) => r.map(() => 1)), decoderInputIds)).data,
    };
  }
  throw new Error(`unknown contender "${contender}"`);
}

/** Times `encode` and `decodeStep` of the wrapped model. */
class Timed<S, C> implements Seq2SeqModel<S, C> {
  encodeMs = 0;
  decodeMs = 0;
  /** The first decode step (it also projects the cross-attention K/V). */
  firstStepMs = 0;
  steps = 0;
  constructor(private readonly m: Seq2SeqModel<S, C>) {}
  get vocabSize(): number {
    return this.m.vocabSize;
  }
  async encode(ids: number[][], mask: number[][]): Promise<S> {
    const t0 = performance.now();
    const s = await this.m.encode(ids, mask);
    this.encodeMs += performance.now() - t0;
    return s;
  }
  expandEncoderState(s: S, n: number): S {
    return this.m.expandEncoderState(s, n);
  }
  async decodeStep(s: S, tokens: number[][], cache: C | null) {
    const t0 = performance.now();
    const out = await this.m.decodeStep(s, tokens, cache);
    const ms = performance.now() - t0;
    this.decodeMs += ms;
    if (this.steps++ === 0) this.firstStepMs = ms;
    return out;
  }
  reorderCache(cache: C, rows: readonly number[]): C {
    return this.m.reorderCache(cache, rows);
  }
  dispose(v: S | C): void {
    this.m.dispose?.(v);
  }
}

/** One call of workload `w` (inputs cut to `srcLen`/`newTokens` for the warm-up). */
async function once(
  { model, sync }: Loaded,
  w: Workload,
  plan: Plan,
  cut?: { srcLen: number; newTokens: number },
): Promise<{ ms: number; timed?: Timed<unknown, unknown>; sequences?: number[][] }> {
  const ids = cut ? w.inputIds.map((r) => [...r.slice(0, cut.srcLen - 1), r.at(-1)!]) : w.inputIds;
  const mask = ids.map((r) => r.map(() => 1));
  const t0 = performance.now();
  if (w.kind === "encoder") {
    const state = await model.encode(ids, mask);
    await sync(state);
    const ms = performance.now() - t0;
    model.dispose?.(state);
    return { ms };
  }
  const n = cut ? cut.newTokens : w.newTokens;
  const timed = new Timed(model);
  const out = await generate(timed, ids, {
    numBeams: w.numBeams,
    earlyStopping: w.numBeams > 1 ? true : undefined,
    maxNewTokens: n,
    minNewTokens: n,
    decoderStartTokenId: plan.special.decoderStart,
    eosTokenId: plan.special.eos,
    padTokenId: plan.special.pad,
  });
  return { ms: performance.now() - t0, timed, sequences: out.sequences };
}

/** Runs `workload` for `contender` as the plan says. */
export async function runWorker(
  plan: Plan,
  contender: string,
  workload: string,
): Promise<WorkerResult> {
  const w = plan.workloads.find((x) => x.name === workload);
  if (!w) throw new Error(`workload "${workload}" is not in the plan`);
  const t0 = performance.now();
  const model = await load(contender, plan.modelDir);
  const loadMs = performance.now() - t0;
  await once(model, w, plan, { srcLen: 16, newTokens: 2 }); // warm-up: JIT, pools, pipelines
  const res: WorkerResult = {
    contender,
    workload: w.name,
    timesMs: [],
    peakRssBytes: 0,
    loadMs,
  };
  const start = performance.now();
  for (let i = 0; i < plan.settings.reps; i++) {
    if (i > 0 && performance.now() - start > plan.settings.budgetS * 1000) break;
    const r = await once(model, w, plan);
    res.timesMs.push(r.ms);
    if (r.timed) {
      (res.encodeMs ??= []).push(r.timed.encodeMs);
      (res.decodeMs ??= []).push(r.timed.decodeMs);
      (res.firstStepMs ??= []).push(r.timed.firstStepMs);
      res.steps = r.timed.steps;
      res.sequences = r.sequences;
    }
  }
  res.peakRssBytes = peakRss();
  return res;
}

/** Logits `[1, decLen, vocab]` of the plan's check input, as float32 bytes. */
async function checkLogits(plan: Plan, contender: string): Promise<Float32Array> {
  const loaded = await load(contender, plan.modelDir);
  return await loaded.logits(plan.check.inputIds, plan.check.decoderInputIds);
}

if (import.meta.main) {
  const [planPath, contender, workload, outPath] = Deno.args;
  const plan: Plan = JSON.parse(await Deno.readTextFile(planPath));
  if (workload === "check") {
    const logits = await checkLogits(plan, contender);
    await Deno.writeFile(
      outPath,
      new Uint8Array(logits.buffer, logits.byteOffset, logits.byteLength),
    );
    console.log(JSON.stringify({ contender, values: logits.length, peakRssBytes: peakRss() }));
  } else {
    console.log(JSON.stringify(await runWorker(plan, contender, workload)));
  }
  Deno.exit(0); // device backends may hold the event loop open
}
