/**
 * The one generation loop: `generate(model, inputIds, options)` merges the generation config
 * like HF 4.40, validates it, runs the encoder once and then decodes step by step against the
 * model's cache with the chosen strategy (greedy, sampling, beam search, beam sampling, diverse
 * group beam search), reordering the cache rows when beams are selected.
 *
 * @module
 */
import { checkGenerationSize, type GenerationConfig } from "@encdec/config";
import { argmax, logSoftmaxRows, softmaxRow, topKPlusRowScore } from "./_math.ts";
import { BeamSearchScorer } from "./beam_search.ts";
import { buildLogitsProcessor, buildLogitsWarper, buildStoppingCriteria } from "./build.ts";
import { GenerationError } from "./errors.ts";
import { StepGuard } from "./_step_guard.ts";
import type {
  InputIds,
  LogitsProcessor,
  LogitsProcessorList,
  PrefixAllowedTokensFn,
} from "./logits_process.ts";
import type { Seq2SeqModel } from "./model.ts";
import {
  type GenerationParams,
  mergeGenerationParams,
  validateGenerationParams,
} from "./params.ts";
import { createRng, type Rng } from "./rng.ts";
import type { StoppingCriteria, StoppingCriteriaList } from "./stopping.ts";
import type { DecodeFn, Streamer } from "./streamer.ts";

/** Options of {@link generate}: any `GenerationParams` field overrides the model's config. */
export interface GenerateOptions extends Partial<GenerationParams> {
  /** `[batch, srcLen]` 1/0 mask; defaults to `inputIds != padTokenId` (HF rule). */
  attentionMask?: number[][];
  /**
   * `[batch, srcLen]` 1/0: tokens with global attention, handed to the encoder (HF's
   * `global_attention_mask` of a Longformer encoder; other encoders reject it).
   */
  globalAttentionMask?: number[][];
  /**
   * The model's generation config: a `GenerationConfig`, or a plain object with its fields
   * (camelCase or `generation_config.json` snake_case). Call options are merged over it.
   */
  generationConfig?: GenerationConfig | Record<string, unknown> | null;
  /** Random source for sampling; defaults to `createRng(seed ?? 0)`. */
  rng?: Rng;
  /** Seed of the default random source. */
  seed?: number;
  /** Receives final tokens as they are generated. */
  streamer?: Streamer;
  /** Extra logits processors, applied after the configured ones. */
  logitsProcessor?: readonly LogitsProcessor[];
  /** Extra stopping criteria. */
  stoppingCriteria?: readonly StoppingCriteria[];
  /** `(batchId, ids) => allowed tokens` constraint. */
  prefixAllowedTokensFn?: PrefixAllowedTokensFn;
  /** Ids → text, needed for `stopStrings`. */
  decode?: DecodeFn;
  /**
   * Cancels the call: checked before the encoder and before and after every decode step (the
   * loop also yields one macrotask to the event loop between steps). On abort `generate` throws
   * a `GenerationAbortedError` and frees the cache.
   */
  signal?: AbortSignal;
}

/** What {@link generate} returns (`scores` etc. only with `returnDictInGenerate`). */
export interface GenerateOutput {
  /** `[batch * numReturnSequences, len]` decoder ids, decoder start included. */
  sequences: number[][];
  /** Per step, processed scores `[rows, vocab]` (with `outputScores`). */
  scores?: Float32Array[];
  /** Beam modes: final length-penalised score per sequence (with `outputScores`). */
  sequencesScores?: Float32Array;
  /** Beam modes: beam row of each generated token, `-1`-padded (with `outputScores`). */
  beamIndices?: number[][];
}

/** Resolved special ids and lengths for one call. */
interface Run {
  p: GenerationParams;
  eos: number[] | undefined;
  pad: number | undefined;
  /** Decoder start token of an (expanded) row. */
  start: (row: number) => number;
  model: Seq2SeqModel;
  processors: LogitsProcessorList;
  warpers: LogitsProcessor;
  stopping: StoppingCriteriaList;
  streamer?: Streamer;
  rng: Rng;
  promptLen: number;
  /** Abort checks and event-loop yields between steps. */
  guard: StepGuard;
}

function checkInputs(inputIds: number[][], mask: number[][] | undefined): void {
  if (!Array.isArray(inputIds) || inputIds.length === 0 || !Array.isArray(inputIds[0])) {
    throw new GenerationError(
      `generate: \`inputIds\` has to be a non-empty [batch, srcLen] array of ids`,
    );
  }
  const len = inputIds[0].length;
  inputIds.forEach((row, i) => {
    if (!Array.isArray(row) || row.length !== len) {
      throw new GenerationError(
        `generate: \`inputIds\` row ${i} has length ${row?.length}, expected ${len} (pad rows to one length)`,
      );
    }
    for (const t of row) {
      if (!Number.isInteger(t) || t < 0) {
        throw new GenerationError(
          `generate: \`inputIds\` row ${i} holds ${t}, expected non-negative integer ids`,
        );
      }
    }
  });
  if (mask) {
    if (
      mask.length !== inputIds.length || mask.some((r) => !Array.isArray(r) || r.length !== len)
    ) {
      throw new GenerationError(
        `generate: \`attentionMask\` has to have the shape of \`inputIds\` [${inputIds.length}, ${len}]`,
      );
    }
  }
}

/** Runs the decoder step by step with a cache. */
class Decoder<S, C> {
  private cache: C | null = null;
  private buf = new Float32Array(0);
  constructor(
    private readonly model: Seq2SeqModel<S, C>,
    readonly state: S,
    private readonly guard: StepGuard,
  ) {}
  /**
   * Decodes `tokens` `[rows, n]` and returns the `[rows, vocab]` logits, copied into a buffer
   * generation owns (processors work in place; it is reused by the next step).
   */
  async step(tokens: number[][]): Promise<Float32Array> {
    const out = await this.model.decodeStep(this.state, tokens, this.cache);
    this.cache = out.cache;
    this.guard.check();
    const n = tokens.length * this.model.vocabSize;
    if (out.logits.length !== n) {
      throw new GenerationError(
        `model.decodeStep returned ${out.logits.length} logits, expected [${tokens.length}, ${this.model.vocabSize}] = ${n}`,
      );
    }
    if (this.buf.length !== n) this.buf = new Float32Array(n);
    this.buf.set(out.logits);
    return this.buf;
  }
  /**
   * Decodes `tokens` `[rows, n]` with the model's `decodeStepTopK` and returns the `[rows, vocab]`
   * log-probabilities with only each row's `k` best entries filled in, the rest `-inf`.
   */
  async stepTopK(tokens: number[][], k: number): Promise<Float32Array> {
    const out = await this.model.decodeStepTopK!(this.state, tokens, this.cache, k);
    this.cache = out.cache;
    this.guard.check();
    const v = this.model.vocabSize;
    if (out.values.length !== tokens.length * k || out.indices.length !== tokens.length * k) {
      throw new GenerationError(
        `model.decodeStepTopK returned ${out.values.length} values and ${out.indices.length} ids, expected [${tokens.length}, ${k}]`,
      );
    }
    if (this.buf.length !== tokens.length * v) this.buf = new Float32Array(tokens.length * v);
    this.buf.fill(-Infinity);
    for (let i = 0; i < out.values.length; i++) {
      this.buf[Math.floor(i / k) * v + out.indices[i]] = out.values[i];
    }
    return this.buf;
  }
  /** New row i = old row rows[i]; skipped when the order is unchanged. */
  reorder(rows: readonly number[]): void {
    if (this.cache === null || rows.every((r, i) => r === i)) return;
    this.cache = this.model.reorderCache(this.cache, rows);
  }
  dispose(): void {
    if (this.cache !== null) this.model.dispose?.(this.cache);
    this.model.dispose?.(this.state);
  }
}

/**
 * Generates decoder ids for `inputIds` `[batch, srcLen]` with HF 4.40 semantics.
 *
 * Mode: greedy (`numBeams` 1), sampling (`doSample`), beam search (`numBeams` > 1), beam
 * sampling (both), diverse group beam search (`numBeamGroups` > 1 + `diversityPenalty`).
 *
 * @example
 * ```ts ignore
 * import { generate } from "@encdec/generation";
 * const out = await generate(model, [[2, 65, 53, 3]], {
 *   generationConfig: model.generationConfig,
 *   numBeams: 4,
 *   earlyStopping: true,
 *   maxLength: 60,
 * });
 * console.log(out.sequences);
 * ```
 */
export async function generate<S, C>(
  model: Seq2SeqModel<S, C>,
  inputIds: number[][],
  options: GenerateOptions = {},
): Promise<GenerateOutput> {
  const {
    generationConfig,
    attentionMask,
    globalAttentionMask,
    rng,
    seed,
    streamer,
    logitsProcessor,
    stoppingCriteria,
    prefixAllowedTokensFn,
    decode,
    signal,
    ...call
  } = options;
  const p = mergeGenerationParams(generationConfig, call);
  validateGenerationParams(p);
  checkInputs(inputIds, attentionMask);

  const eos = p.eosTokenId === null
    ? undefined
    : typeof p.eosTokenId === "number"
    ? [p.eosTokenId]
    : p.eosTokenId;
  let pad = p.padTokenId ?? undefined;
  if (pad === undefined && eos) pad = eos[0]; // HF: pad falls back to the first eos id
  const startIds = p.decoderStartTokenId ?? p.bosTokenId;
  if (startIds === null) {
    throw new GenerationError(
      "generate: `decoderStartTokenId` (or `bosTokenId`) has to be set in the generation config or options",
    );
  }
  if (Array.isArray(startIds) && startIds.length !== inputIds.length) {
    throw new GenerationError(
      `generate: \`decoderStartTokenId\` holds ${startIds.length} ids, expected one per batch row (${inputIds.length})`,
    );
  }
  const expand = p.numBeams > 1 ? p.numBeams : p.numReturnSequences;
  // Bound what this one call allocates (rows × vocab scores per step, encoder input) up front.
  checkGenerationSize(
    { batch: inputIds.length, srcLen: inputIds[0].length, expand, vocabSize: model.vocabSize },
    "generate",
  );
  const start = (row: number): number =>
    typeof startIds === "number" ? startIds : startIds[Math.floor(row / expand)];
  const promptLen = 1;
  if (p.maxNewTokens !== null) p.maxLength = p.maxNewTokens + promptLen;

  const mask = attentionMask ??
    (pad !== undefined && inputIds.some((r) => r.includes(pad!)) && !(eos ?? []).includes(pad)
      ? inputIds.map((r) => r.map((t) => (t === pad ? 0 : 1)))
      : inputIds.map((r) => r.map(() => 1)));

  const run: Run = {
    p,
    eos,
    pad,
    start,
    model,
    promptLen,
    processors: buildLogitsProcessor(p, {
      inputIdsSeqLength: promptLen,
      encoderInputIds: inputIds,
      prefixAllowedTokensFn,
      extra: logitsProcessor,
    }),
    warpers: buildLogitsWarper(p),
    stopping: buildStoppingCriteria(p, {
      promptLength: promptLen,
      decode,
      extra: stoppingCriteria,
    }),
    streamer,
    rng: rng ?? createRng(seed ?? 0),
    guard: new StepGuard(signal, p.maxTime),
  };

  const guard = run.guard;
  let dec: Decoder<S, C> | null = null;
  try {
    guard.check();
    const state = globalAttentionMask
      ? await model.encode(inputIds, mask, { globalAttentionMask })
      : await model.encode(inputIds, mask);
    const expanded = expand > 1 ? model.expandEncoderState(state, expand) : state;
    if (expanded !== state) model.dispose?.(state);
    dec = new Decoder(model, expanded, guard);
    guard.check();
    let out: GenerateOutput;
    if (p.numBeams === 1) out = await greedyOrSample(run, dec, inputIds.length * expand);
    else if (p.numBeamGroups > 1) out = await groupBeamSearch(run, dec, inputIds.length);
    else out = await beamSearch(run, dec, inputIds.length);
    streamer?.end();
    if (!p.returnDictInGenerate) return { sequences: out.sequences };
    if (!p.outputScores) return { sequences: out.sequences };
    return out;
  } finally {
    dec?.dispose();
    guard.close();
  }
}

/** Draws one index from probabilities `p` (need not sum to 1). */
function drawOne(p: Float64Array, rng: Rng, where: string): number {
  let total = 0;
  for (let j = 0; j < p.length; j++) {
    if (!(p[j] >= 0) || p[j] === Infinity) {
      throw new GenerationError(`${where}: probabilities contain inf, nan or a value < 0`);
    }
    total += p[j];
  }
  if (!(total > 0)) {
    throw new GenerationError(`${where}: every token has probability 0 (all scores are -inf)`);
  }
  let u = rng.random() * total;
  let last = -1;
  for (let j = 0; j < p.length; j++) {
    if (p[j] <= 0) continue;
    last = j;
    u -= p[j];
    if (u < 0) return j;
  }
  return last;
}

async function greedyOrSample(
  run: Run,
  dec: Decoder<unknown, unknown>,
  rows: number,
): Promise<GenerateOutput> {
  const { p, pad, eos } = run;
  const v = run.model.vocabSize;
  const ids: number[][] = Array.from({ length: rows }, (_, r) => [run.start(r)]);
  const unfinished = new Array<boolean>(rows).fill(true);
  const scores: Float32Array[] = [];
  let next: number[][] = ids.map((r) => [...r]);
  while (true) {
    const logits = await dec.step(next);
    let s = run.processors.process(ids, logits);
    if (p.doSample) s = run.warpers.process(ids, s);
    if (p.outputScores) scores.push(new Float32Array(s));
    const chosen = new Array<number>(rows);
    for (let r = 0; r < rows; r++) {
      chosen[r] = p.doSample
        ? drawOne(softmaxRow(s, r * v, v), run.rng, "sampling")
        : argmax(s, r * v, v);
      if (eos && !unfinished[r]) chosen[r] = pad!;
    }
    for (let r = 0; r < rows; r++) {
      ids[r].push(chosen[r]);
      if (unfinished[r]) run.streamer?.put(r, [chosen[r]]);
    }
    const done = run.stopping.isDone(ids);
    for (let r = 0; r < rows; r++) if (done[r]) unfinished[r] = false;
    if (!unfinished.some((u) => u)) break;
    await run.guard.between();
    next = chosen.map((t) => [t]);
  }
  return { sequences: ids, scores };
}

/** Streams, per batch row, the prefix shared by all live beams and kept hypotheses. */
class BeamStreamer {
  private readonly sent: number[];
  constructor(private readonly run: Run, batch: number) {
    this.sent = new Array(batch).fill(0);
  }
  step(scorer: BeamSearchScorer, ids: InputIds): void {
    const s = this.run.streamer;
    if (!s) return;
    const nb = scorer.numBeams;
    const groups = scorer.numBeamGroups;
    for (let b = 0; b < this.sent.length; b++) {
      const cands: (readonly number[])[] = [];
      let allDone = true;
      for (let g = 0; g < groups; g++) {
        const bg = b * groups + g;
        cands.push(...scorer.beamHyps[bg].beams.map((h) => h.tokens));
        if (!scorer.done[bg]) {
          allDone = false;
          for (let i = 0; i < scorer.groupSize; i++) {
            cands.push(ids[b * nb + g * scorer.groupSize + i]);
          }
        }
      }
      if (allDone || cands.length === 0) continue;
      let common = Math.min(...cands.map((c) => c.length));
      for (let i = this.run.promptLen + this.sent[b]; i < common; i++) {
        if (cands.some((c) => c[i] !== cands[0][i])) {
          common = i;
          break;
        }
      }
      const from = this.run.promptLen + this.sent[b];
      if (common > from) {
        s.put(b, cands[0].slice(from, common));
        this.sent[b] = common - this.run.promptLen;
      }
    }
  }
  finish(sequences: number[][], perRow: number): void {
    const s = this.run.streamer;
    if (!s) return;
    for (let b = 0; b < this.sent.length; b++) {
      const seq = sequences[b * perRow];
      let end = seq.length;
      const eos = this.run.eos ?? [];
      for (let i = this.run.promptLen; i < seq.length; i++) {
        if (eos.includes(seq[i])) {
          end = i + 1;
          break;
        }
      }
      const from = this.run.promptLen + this.sent[b];
      if (end > from) s.put(b, seq.slice(from, end));
    }
  }
}

/** Ends a beam search: finalizes the hypotheses, streams what is left, builds the output. */
function finishBeams(
  run: Run,
  scorer: BeamSearchScorer,
  bs: BeamStreamer,
  ids: number[][],
  beamScores: Float32Array,
  hist: number[][],
  scores: Float32Array[],
): GenerateOutput {
  const { p, eos, pad } = run;
  const final = scorer.finalize(
    ids,
    beamScores,
    run.stopping.maxLength,
    pad,
    eos,
    hist,
    run.promptLen,
  );
  bs.finish(final.sequences, p.numReturnSequences);
  const out: GenerateOutput = {
    sequences: final.sequences,
    scores,
    sequencesScores: final.sequenceScores,
  };
  if (final.beamIndices) out.beamIndices = final.beamIndices;
  return out;
}

function newScorer(p: GenerationParams, batch: number): BeamSearchScorer {
  return new BeamSearchScorer({
    batchSize: batch,
    numBeams: p.numBeams,
    lengthPenalty: p.lengthPenalty,
    doEarlyStopping: p.earlyStopping,
    numBeamHypsToKeep: p.numReturnSequences,
    numBeamGroups: p.numBeamGroups,
    maxLength: p.maxLength,
  });
}

/** Beam search and beam sampling (`doSample`). */
async function beamSearch(
  run: Run,
  dec: Decoder<unknown, unknown>,
  batch: number,
): Promise<GenerateOutput> {
  const { p, eos, pad } = run;
  const v = run.model.vocabSize;
  const nb = p.numBeams;
  const rows = batch * nb;
  const scorer = newScorer(p, batch);
  let beamScores: Float32Array = new Float32Array(rows);
  if (!p.doSample) { for (let r = 0; r < rows; r++) if (r % nb !== 0) beamScores[r] = -1e9; }
  let ids: number[][] = Array.from({ length: rows }, (_, r) => [run.start(r)]);
  let hist: number[][] = Array.from({ length: rows }, () => []);
  const scores: Float32Array[] = [];
  const nCand = p.doSample ? 2 * nb : Math.max(2, 1 + (eos?.length ?? 0)) * nb;
  const bs = new BeamStreamer(run, batch);
  let next: number[][] = ids.map((r) => [...r]);
  // Plain beam search reads only each row's best nCand log-probabilities from the model when it
  // can: the merged best nCand of a batch entry are among its rows' best nCand, and no processor
  // or score output needs the rest of the row.
  const topKOnly = !p.doSample && !p.outputScores && run.processors.length === 0 &&
    run.model.decodeStepTopK !== undefined;
  while (true) {
    const processed = topKOnly
      ? await dec.stepTopK(next, nCand) // [rows, V], -inf outside each row's best nCand
      : run.processors.process(ids, logSoftmaxRows(await dec.step(next), v));
    // [rows, V]: processed + running beam score (materialised only for beam sampling)
    let total: Float32Array = processed;
    if (p.doSample) {
      total = new Float32Array(rows * v);
      for (let r = 0; r < rows; r++) {
        const b = beamScores[r];
        for (let j = 0; j < v; j++) total[r * v + j] = processed[r * v + j] + b;
      }
      // HF applies the warpers after adding the running beam scores.
      if (p.outputScores) scores.push(run.warpers.process(ids, new Float32Array(processed)));
      total = run.warpers.process(ids, total);
    } else if (p.outputScores) scores.push(new Float32Array(processed));
    const cs: number[][] = [], ct: number[][] = [], ci: number[][] = [];
    for (let b = 0; b < batch; b++) {
      let vals: number[], idx: number[];
      if (p.doSample) {
        const probs = softmaxRow(total, b * nb * v, nb * v);
        idx = [];
        for (let k = 0; k < nCand; k++) {
          const j = drawOne(probs, run.rng, "beam sampling");
          idx.push(j);
          probs[j] = 0;
        }
        const pairs = idx.map((j) => [total[b * nb * v + j], j] as const).sort((x, y) =>
          y[0] - x[0]
        );
        vals = pairs.map((x) => x[0]);
        idx = pairs.map((x) => x[1]);
      } else {
        ({ values: vals, indices: idx } = topKPlusRowScore(
          processed,
          b * nb * v,
          nb,
          v,
          beamScores,
          b * nb,
          nCand,
        ));
      }
      cs.push(vals);
      ct.push(idx.map((j) => j % v));
      ci.push(idx.map((j) => Math.floor(j / v)));
    }
    const st = scorer.process(ids, cs, ct, ci, pad, eos, hist, 0, run.promptLen);
    beamScores = st.nextBeamScores;
    const sel = st.nextBeamIndices;
    ids = sel.map((r, i) => [...ids[r], st.nextBeamTokens[i]]);
    hist = sel.map((r) => [...hist[r], r]);
    bs.step(scorer, ids);
    if (scorer.isDone || run.stopping.isDone(ids).every((d) => d)) break;
    await run.guard.between();
    dec.reorder(sel);
    next = st.nextBeamTokens.map((t) => [t]);
  }
  return finishBeams(run, scorer, bs, ids, beamScores, hist, scores);
}

/** Diverse (group) beam search, HF's `_group_beam_search`. */
async function groupBeamSearch(
  run: Run,
  dec: Decoder<unknown, unknown>,
  batch: number,
): Promise<GenerateOutput> {
  const { p, eos, pad } = run;
  const v = run.model.vocabSize;
  const nb = p.numBeams;
  const groups = p.numBeamGroups;
  const sub = nb / groups;
  const rows = batch * nb;
  const scorer = newScorer(p, batch);
  const beamScores = new Float32Array(rows).fill(-1e9);
  for (let r = 0; r < rows; r += sub) beamScores[r] = 0;
  let ids: number[][] = Array.from({ length: rows }, (_, r) => [run.start(r)]);
  // HF keeps one history list per group (rows of that group, batch-major).
  const hist: number[][][] = Array.from(
    { length: groups },
    () => Array.from({ length: batch * sub }, () => []),
  );
  const scores: Float32Array[] = [];
  const nCand = Math.max(2, 1 + (eos?.length ?? 0)) * sub;
  const bs = new BeamStreamer(run, batch);
  let next: number[][] = ids.map((r) => [...r]);
  while (true) {
    const logits = await dec.step(next); // [rows, V]
    const current = new Int32Array(rows);
    const reorder = new Array<number>(rows).fill(0);
    const processedAll = p.outputScores ? new Float32Array(rows * v) : null;
    const newIds: number[][] = ids.slice();
    for (let g = 0; g < groups; g++) {
      const gs = g * sub;
      const groupRows: number[] = [];
      for (let b = 0; b < batch; b++) for (let i = 0; i < sub; i++) groupRows.push(b * nb + gs + i);
      const groupIds = groupRows.map((r) => ids[r]);
      const s = new Float32Array(groupRows.length * v);
      groupRows.forEach((r, k) => s.set(logits.subarray(r * v, (r + 1) * v), k * v));
      logSoftmaxRows(s, v);
      const processed = run.processors.process(groupIds, s, {
        currentTokens: current,
        beamGroupIdx: g,
      });
      if (processedAll) {
        groupRows.forEach((r, k) =>
          processedAll.set(processed.subarray(k * v, (k + 1) * v), r * v)
        );
      }
      const groupScores = Float32Array.from(groupRows, (r) => beamScores[r]);
      const cs: number[][] = [], ct: number[][] = [], ci: number[][] = [];
      for (let b = 0; b < batch; b++) {
        const { values, indices } = topKPlusRowScore(
          processed,
          b * sub * v,
          sub,
          v,
          groupScores,
          b * sub,
          nCand,
        );
        cs.push(values);
        ct.push(indices.map((j) => j % v));
        ci.push(indices.map((j) => Math.floor(j / v)));
      }
      const st = scorer.process(groupIds, cs, ct, ci, pad, eos, hist.flat(), g, run.promptLen);
      const sel = st.nextBeamIndices; // within the group's rows
      hist[g] = sel.map((bi) => [...hist[g][bi], bi]);
      groupRows.forEach((r, k) => {
        beamScores[r] = st.nextBeamScores[k];
        newIds[r] = groupIds[sel[k]];
        current[r] = st.nextBeamTokens[k];
        reorder[r] = nb * Math.floor(sel[k] / sub) + gs + (sel[k] % sub);
      });
    }
    if (processedAll) scores.push(processedAll);
    ids = newIds.map((r, i) => [...r, current[i]]);
    bs.step(scorer, ids);
    if (scorer.isDone || run.stopping.isDone(ids).every((d) => d)) break;
    await run.guard.between();
    dec.reorder(reorder);
    next = Array.from(current, (t) => [t]);
  }
  return finishBeams(run, scorer, bs, ids, beamScores, hist.flat(), scores);
}
