/**
 * The trainer behind `encdec train` (the command line is `../commands/train.ts`): fine-tunes (or
 * trains from a config) an `EncoderDecoderModel` on a `.jsonl` of `{"text", "summary"}` rows
 * with HF's recipe: AdamW (weight decay except biases and LayerNorm weights), linear warm-up
 * then decay, gradient clipping, gradient accumulation, dropout from a seeded generator. Prints a progress line on stderr (step, loss, tokens/s, ETA), evaluates the
 * loss on `eval` periodically, and writes checkpoints (`output/checkpoint-<step>/`: the model via
 * `savePretrained`, tokenizer files, `optimizer.safetensors`, `trainer_state.json`) so `resume`
 * continues a stopped run exactly where the last checkpoint left it. The final model goes to
 * `output/` itself.
 *
 * Runs on the autograd device (the CPU backend with a gradient tape), with its large matrix
 * products on onnxruntime-node when it loads (`device: "auto"`, the default).
 *
 * Targets: `summary` is tokenized like HF's `text_target`; a leading token equal to
 * `decoder_start_token_id` (BERT's `[CLS]`) is dropped from the labels, since the model shifts
 * labels right and inserts it itself; padding becomes -100.
 *
 * @module
 */
import { EncdecError, resolveModelFile } from "@encdec/config";
import {
  AdamW,
  type AdamWState,
  type AutogradBackend,
  clipGradNorm,
  decayGroups,
  EncoderDecoderModel,
  getLinearScheduleWithWarmup,
  loadSafetensorsFile,
  saveSafetensorsFile,
  seededRandom,
  selectDevice,
  Tensor,
} from "@encdec/modeling";
import { AutoTokenizer, type PreTrainedTokenizer } from "@encdec/tokenization";
import { readJsonl } from "../_jsonl.ts";

/** Bad training arguments, or a checkpoint that cannot be resumed. */
export class TrainError extends EncdecError {}

/** Options of {@linkcode train} (the `encdec train` flags, camelCased). */
export interface TrainOptions {
  /** Start from this model (directory or Hub id). One of `model` / `config`. */
  model?: string;
  /** Start from random weights of this `config.json` (an encoder-decoder config). */
  config?: string;
  /** Tokenizer directory or id (default: `model`, or the directory of `config`). */
  tokenizer?: string;
  /** Training rows, `.jsonl` with `text` and `summary`. */
  data: string;
  /** Evaluation rows (same format); its mean loss is logged every `evalSteps` and at the end. */
  eval?: string;
  /** Output directory (checkpoints and the final model). */
  output: string;
  /** Passes over the data (default 1). */
  epochs?: number;
  /** Rows per forward pass (default 8). */
  batchSize?: number;
  /** Forward passes per optimizer step (default 1). */
  gradientAccumulationSteps?: number;
  /** Peak learning rate (default 5e-5, HF's). */
  lr?: number;
  /** Linear warm-up steps (default 0). */
  warmup?: number;
  /** AdamW weight decay (default 0.01; never on biases / LayerNorm weights). */
  weightDecay?: number;
  /** Gradient clipping norm (default 1.0, HF's). */
  maxGradNorm?: number;
  /** Seed of initialisation, shuffling and dropout (default 42, HF's). */
  seed?: number;
  /** Source tokens kept (default 128). */
  maxSourceLength?: number;
  /** Target tokens kept (default 64). */
  maxTargetLength?: number;
  /**
   * Batch rows of similar length (as HF's `group_by_length`): each epoch's shuffled rows are cut
   * into mega-batches of 50 batches, each sorted by target then source token count, and the full
   * batches are shuffled again. Less padding, so fewer positions through the LM head; the order
   * still depends only on (seed, epoch), so `resume` repeats it. Default false.
   */
  groupByLength?: boolean;
  /** Steps between progress lines (default 10). */
  logSteps?: number;
  /** Steps between eval-loss passes (default: once per epoch). */
  evalSteps?: number;
  /** Steps between checkpoints (default: once per epoch). */
  saveSteps?: number;
  /** Continue from the newest `output/checkpoint-*` (or this checkpoint directory). */
  resume?: boolean | string;
  /**
   * `"autograd-ort"` (large matmuls on onnxruntime-node, ~15× the plain kernels), `"autograd"`
   * (plain TypeScript), or `"auto"` (default: onnxruntime when it loads, else plain).
   */
  device?: "auto" | "autograd" | "autograd-ort";
  /** Where progress lines go (default: stderr). */
  log?: (line: string) => void;
}

/** What {@linkcode train} reports. */
export interface TrainResult {
  /** Optimizer steps taken in total (including those before a resume). */
  steps: number;
  /** Mean training loss of the last logging window. */
  trainLoss: number;
  /** Final eval loss, when `eval` was given. */
  evalLoss?: number;
  /** The directory the final model was written to (`output`). */
  output: string;
}

interface Row {
  text: string;
  summary: string;
}

/** A model-ready batch. */
export interface TrainBatch {
  /** `[batch, srcLen]`. */
  inputIds: number[][];
  /** `[batch, srcLen]`. */
  attentionMask: number[][];
  /** `[batch, tgtLen]`, -100 on padding. */
  labels: number[][];
  /** Non-padding source + target tokens. */
  tokens: number;
}

/** Tokenizes rows into a batch (sources truncated/padded; targets as labels, see module docs). */
export function makeBatch(
  tok: PreTrainedTokenizer,
  rows: readonly Row[],
  opts: { maxSourceLength: number; maxTargetLength: number; decoderStartTokenId: number | null },
): TrainBatch {
  const src = tok.encodeBatch(rows.map((r) => r.text), {
    padding: "longest",
    truncation: true,
    maxLength: opts.maxSourceLength,
  });
  const targets = rows.map((r) => {
    const ids = tok.encode(r.summary, { truncation: true, maxLength: opts.maxTargetLength + 1 });
    const body = ids[0] === opts.decoderStartTokenId ? ids.slice(1) : ids;
    return body.slice(0, opts.maxTargetLength);
  });
  const len = Math.max(1, ...targets.map((t) => t.length));
  const labels = targets.map((t) => [...t, ...Array(len - t.length).fill(-100)]);
  const mask = src.attentionMask ?? src.inputIds.map((r) => r.map(() => 1));
  let tokens = 0;
  for (const r of mask) for (const v of r) tokens += v;
  for (const t of targets) tokens += t.length;
  return { inputIds: src.inputIds, attentionMask: mask, labels, tokens };
}

/** A permutation of `0..n-1` from a seeded Fisher-Yates shuffle. */
function shuffled(n: number, seed: number): number[] {
  const rng = seededRandom(seed);
  const order = [...Array(n).keys()];
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng.random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

/** Rows per mega-batch of {@linkcode groupedOrder}, in batches (HF's `LengthGroupedSampler`). */
const MEGABATCH = 50;

/**
 * The epoch order of `groupByLength`: `order` cut into mega-batches of `MEGABATCH` batches, each
 * sorted by `key` descending (ties keep the shuffled order), then the full batches shuffled with
 * `seed`; a last partial batch stays last.
 */
export function groupedOrder(
  order: readonly number[],
  key: (i: number) => number,
  batchSize: number,
  seed: number,
): number[] {
  const sorted: number[] = [];
  const mega = batchSize * MEGABATCH;
  for (let m = 0; m < order.length; m += mega) {
    sorted.push(...order.slice(m, m + mega).sort((a, b) => key(b) - key(a)));
  }
  const full = Math.floor(sorted.length / batchSize);
  const out: number[] = [];
  for (const b of shuffled(full, seed)) {
    out.push(...sorted.slice(b * batchSize, (b + 1) * batchSize));
  }
  out.push(...sorted.slice(full * batchSize));
  return out;
}

const TOKENIZER_FILES = [
  "tokenizer_config.json",
  "special_tokens_map.json",
  "tokenizer.json",
  "vocab.txt",
  "vocab.json",
  "merges.txt",
  "spiece.model",
  "added_tokens.json",
];

async function copyTokenizerFiles(from: string, to: string): Promise<void> {
  for (const f of TOKENIZER_FILES) {
    const p = await resolveModelFile(from, f, { optional: true });
    if (p !== null) await Deno.copyFile(p, `${to}/${f}`);
  }
}

/** Writes `optimizer.safetensors`: the moments of parameter `i` as `state.<i>.exp_avg` / `exp_avg_sq`. */
async function saveOptimizer(path: string, st: AdamWState): Promise<void> {
  const tensors = new Map<string, Tensor>();
  const steps: (number | null)[] = [];
  st.state.forEach((s, i) => {
    steps.push(s?.step ?? null);
    if (!s) return;
    tensors.set(`state.${i}.exp_avg`, new Tensor("float32", s.expAvg, [s.expAvg.length]));
    tensors.set(`state.${i}.exp_avg_sq`, new Tensor("float32", s.expAvgSq, [s.expAvgSq.length]));
  });
  await saveSafetensorsFile(path, tensors, {
    format: "encdec-adamw",
    steps: JSON.stringify(steps),
    groups: JSON.stringify(st.groups),
  });
}

async function loadOptimizer(path: string): Promise<AdamWState> {
  const { tensors, metadata } = await loadSafetensorsFile(path);
  if (metadata.format !== "encdec-adamw") {
    throw new TrainError(`${path}: not an encdec optimizer state (format "${metadata.format}")`);
  }
  const steps = JSON.parse(metadata.steps) as (number | null)[];
  const data = (k: string) => {
    const t = tensors.get(k);
    if (!t) throw new TrainError(`${path}: tensor "${k}" is missing`);
    return t.toFloat32().data;
  };
  return {
    state: steps.map((s, i) =>
      s === null
        ? null
        : { step: s, expAvg: data(`state.${i}.exp_avg`), expAvgSq: data(`state.${i}.exp_avg_sq`) }
    ),
    groups: JSON.parse(metadata.groups),
  };
}

/** Training progress saved beside each checkpoint. */
interface TrainerState {
  globalStep: number;
  epoch: number;
  /** Forward passes done in `epoch` (batches to skip on resume). */
  batchesInEpoch: number;
  logHistory: Record<string, number>[];
}

async function newestCheckpoint(output: string): Promise<string | null> {
  let best: [number, string] | null = null;
  try {
    for await (const e of Deno.readDir(output)) {
      const m = /^checkpoint-(\d+)$/.exec(e.name);
      if (e.isDirectory && m && (!best || Number(m[1]) > best[0])) {
        best = [Number(m[1]), `${output}/${e.name}`];
      }
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return best?.[1] ?? null;
}

/** Removes `checkpoint-<step>.tmp-<pid>` folders that killed runs left in `output`. */
async function removeStaleCheckpointTemps(output: string): Promise<void> {
  try {
    for await (const e of Deno.readDir(output)) {
      if (e.isDirectory && /^checkpoint-\d+\.tmp-\d+$/.test(e.name)) {
        await Deno.remove(`${output}/${e.name}`, { recursive: true }).catch(() => {});
      }
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
}

function fmtDuration(s: number): string {
  if (!Number.isFinite(s)) return "?";
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = Math.floor(s % 60);
  return h > 0 ? `${h}h${String(m).padStart(2, "0")}m` : `${m}m${String(sec).padStart(2, "0")}s`;
}

function positiveInt(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 1) {
    throw new TrainError(`train: ${name} = ${v}, expected an integer >= 1`);
  }
  return v;
}

/** The training backend from the one device registry (`auto`: autograd-ort > autograd). */
async function trainingDevice(
  name: "auto" | "autograd" | "autograd-ort",
  log: (line: string) => void,
): Promise<AutogradBackend> {
  const choice = await selectDevice(name, { training: true });
  if (name === "auto" && choice.device !== "autograd-ort") {
    log(`train: device auto → ${choice.reason}`);
  }
  return choice.backend as AutogradBackend;
}

/**
 * Mean cross-entropy of `model` over `rows`, weighted by label tokens (eval mode, no dropout).
 */
export async function evalLoss(
  model: EncoderDecoderModel,
  tok: PreTrainedTokenizer,
  rows: readonly Row[],
  opts: { batchSize: number; maxSourceLength: number; maxTargetLength: number },
): Promise<number> {
  const wasTraining = model.training;
  model.eval();
  let sum = 0, count = 0;
  for (let i = 0; i < rows.length; i += opts.batchSize) {
    const b = makeBatch(tok, rows.slice(i, i + opts.batchSize), {
      ...opts,
      decoderStartTokenId: model.decoderStartTokenId,
    });
    const n = b.labels.flat().filter((v) => v !== -100).length;
    if (n === 0) continue;
    const out = await model.forward({ ...b, useCache: false });
    sum += out.loss!.item() * n;
    count += n;
  }
  model.train(wasTraining);
  return sum / count;
}

/**
 * Trains and writes the model; see the module docs.
 *
 * @example
 * ```ts ignore
 * import { train } from "./trainer.ts";
 * await train({
 *   model: "tests/testdata/fixtures/bert2bert",
 *   data: "train.jsonl",
 *   eval: "validation.jsonl",
 *   output: "runs/b2b",
 *   epochs: 3,
 *   batchSize: 16,
 *   lr: 5e-4,
 *   warmup: 100,
 * });
 * ```
 */
export async function train(opts: TrainOptions): Promise<TrainResult> {
  const log = opts.log ?? ((l: string) => console.error(l));
  if ((opts.model === undefined) === (opts.config === undefined)) {
    throw new TrainError(
      "train: give exactly one of model (a checkpoint) or config (a config.json)",
    );
  }
  const epochs = positiveInt("epochs", opts.epochs ?? 1);
  const batchSize = positiveInt("batchSize", opts.batchSize ?? 8);
  const accum = positiveInt("gradientAccumulationSteps", opts.gradientAccumulationSteps ?? 1);
  const maxSourceLength = positiveInt("maxSourceLength", opts.maxSourceLength ?? 128);
  const maxTargetLength = positiveInt("maxTargetLength", opts.maxTargetLength ?? 64);
  const seed = opts.seed ?? 42;
  const lr = opts.lr ?? 5e-5;
  const logSteps = positiveInt("logSteps", opts.logSteps ?? 10);

  // -- data and tokenizer
  const rows = await readJsonl(opts.data, { text: ["text"], summary: ["summary"] });
  const evalRows = opts.eval
    ? await readJsonl(opts.eval, { text: ["text"], summary: ["summary"] })
    : undefined;
  const tokSource = opts.tokenizer ?? opts.model ??
    opts.config!.replace(/[\\/][^\\/]*$/, "").replace(/^$/, ".");
  const tok = await AutoTokenizer.fromPretrained(tokSource);

  // -- model, optimizer, schedule (restored from a checkpoint on resume)
  let resumeDir: string | null = null;
  if (opts.resume) {
    resumeDir = typeof opts.resume === "string" ? opts.resume : await newestCheckpoint(opts.output);
    if (resumeDir === null) log(`train: no checkpoint in ${opts.output}; starting from scratch`);
  }
  const device = await trainingDevice(opts.device ?? "auto", log);
  let model: EncoderDecoderModel;
  if (resumeDir) {
    model = await EncoderDecoderModel.fromPretrained(resumeDir, { device });
  } else if (opts.model) {
    model = await EncoderDecoderModel.fromPretrained(opts.model, { device });
  } else {
    let cfg: Record<string, unknown>;
    try {
      cfg = JSON.parse(await Deno.readTextFile(opts.config!));
    } catch (e) {
      throw new TrainError(`${opts.config}: cannot read the config (${(e as Error).message})`);
    }
    model = new EncoderDecoderModel(cfg, { device, seed });
  }
  model.train();
  const opt = new AdamW(decayGroups(model.namedParameters(), opts.weightDecay ?? 0.01), { lr });
  const params = model.parameters();
  const batchesPerEpoch = Math.ceil(rows.length / batchSize);
  const stepsPerEpoch = Math.ceil(batchesPerEpoch / accum);
  const totalSteps = stepsPerEpoch * epochs;
  const sched = getLinearScheduleWithWarmup(opt, opts.warmup ?? 0, totalSteps);
  const evalSteps = opts.evalSteps ?? stepsPerEpoch;
  const saveSteps = opts.saveSteps ?? stepsPerEpoch;
  let state: TrainerState = { globalStep: 0, epoch: 0, batchesInEpoch: 0, logHistory: [] };
  if (resumeDir) {
    state = JSON.parse(await Deno.readTextFile(`${resumeDir}/trainer_state.json`));
    opt.loadStateDict(await loadOptimizer(`${resumeDir}/optimizer.safetensors`));
    sched.setStep(state.globalStep);
    log(`train: resumed from ${resumeDir} at step ${state.globalStep}`);
  }

  // A checkpoint is written whole into a temporary sibling and renamed into place: a run killed
  // while saving leaves only `checkpoint-<step>.tmp-<pid>` (which resume ignores and the next
  // save removes), never a partial `checkpoint-<step>`.
  const saveCheckpoint = async (st: TrainerState) => {
    const dir = `${opts.output}/checkpoint-${st.globalStep}`;
    await removeStaleCheckpointTemps(opts.output);
    const tmp = `${dir}.tmp-${Deno.pid}`;
    await model.savePretrained(tmp);
    await copyTokenizerFiles(tokSource, tmp);
    await saveOptimizer(`${tmp}/optimizer.safetensors`, opt.stateDict());
    await Deno.writeTextFile(`${tmp}/trainer_state.json`, JSON.stringify(st, null, 1) + "\n");
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    await Deno.rename(tmp, dir);
  };
  const batchOpts = { maxSourceLength, maxTargetLength, batchSize };
  let lastEval: number | undefined;
  const runEval = async (st: TrainerState) => {
    if (!evalRows) return;
    lastEval = await evalLoss(model, tok, evalRows, batchOpts);
    st.logHistory.push({ step: st.globalStep, evalLoss: lastEval });
    log(`eval  step ${st.globalStep}/${totalSteps} | eval loss ${lastEval.toFixed(4)}`);
  };

  // Sort key of groupByLength: target tokens first (each costs a pass through the vocab-wide LM
  // head), then source tokens; computed once.
  let lengthKey: ((i: number) => number) | undefined;
  if (opts.groupByLength) {
    const keys = rows.map((r) =>
      Math.min(tok.encode(r.summary).length, maxTargetLength + 1) * 4096 +
      Math.min(tok.encode(r.text).length, maxSourceLength)
    );
    lengthKey = (i) => keys[i];
  }

  // -- the loop
  const t0 = performance.now();
  const stepsAtStart = state.globalStep;
  let tokens = 0, windowLoss = 0, windowN = 0, lastLoss = NaN;
  for (let epoch = state.epoch; epoch < epochs; epoch++) {
    let order = shuffled(rows.length, seed + epoch);
    if (lengthKey) {
      order = groupedOrder(order, lengthKey, batchSize, ((seed + epoch) ^ 0x9e3779b9) >>> 0);
    }
    const skip = epoch === state.epoch ? state.batchesInEpoch : 0;
    for (let bi = skip; bi < batchesPerEpoch; bi++) {
      const batchRows = order.slice(bi * batchSize, (bi + 1) * batchSize).map((i) => rows[i]);
      const batch = makeBatch(tok, batchRows, {
        maxSourceLength,
        maxTargetLength,
        decoderStartTokenId: model.decoderStartTokenId,
      });
      // Dropout draws depend only on (seed, epoch, batch): a resumed run repeats them exactly.
      model.dropoutRng = seededRandom((seed * 1000003 + epoch * 7919 + bi) >>> 0);
      const out = await model.forward({ ...batch, useCache: false });
      const loss = out.loss!;
      const inGroup = bi % accum;
      const groupSize = Math.min(accum, batchesPerEpoch - (bi - inGroup));
      await loss.backward(Tensor.from(1 / groupSize));
      tokens += batch.tokens;
      windowLoss += loss.item();
      windowN++;
      if (inGroup !== groupSize - 1) continue;

      const norm = clipGradNorm(params, opts.maxGradNorm ?? 1.0);
      const stepLr = opt.paramGroups[0].lr;
      opt.step();
      sched.step();
      opt.zeroGrad();
      state.globalStep++;
      state.epoch = bi + 1 === batchesPerEpoch ? epoch + 1 : epoch;
      state.batchesInEpoch = bi + 1 === batchesPerEpoch ? 0 : bi + 1;
      const step = state.globalStep;
      if (step % logSteps === 0 || step === totalSteps) {
        lastLoss = windowLoss / windowN;
        const secs = (performance.now() - t0) / 1000;
        const rate = (step - stepsAtStart) / secs;
        log(
          `step ${step}/${totalSteps} | epoch ${epoch + 1}/${epochs} | loss ${
            lastLoss.toFixed(4)
          } | ` +
            `lr ${stepLr.toExponential(2)} | grad norm ${norm.toFixed(3)} | ` +
            `${Math.round(tokens / secs)} tok/s | ETA ${fmtDuration((totalSteps - step) / rate)}`,
        );
        state.logHistory.push({ step, loss: lastLoss, lr: stepLr, gradNorm: norm });
        windowLoss = 0;
        windowN = 0;
      }
      if (step % evalSteps === 0 || step === totalSteps) await runEval(state);
      if (step % saveSteps === 0 || step === totalSteps) await saveCheckpoint(state);
    }
  }
  if (windowN > 0) lastLoss = windowLoss / windowN;
  await model.savePretrained(opts.output);
  await copyTokenizerFiles(tokSource, opts.output);
  return { steps: state.globalStep, trainLoss: lastLoss, evalLoss: lastEval, output: opts.output };
}
