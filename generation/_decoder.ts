// Private: what one generate() call hands its decoding loop: the resolved settings (`Run`) and
// the model's decoder stepped against its cache (`Decoder`), plus the one-token-per-row loop
// that greedy search and sampling share.
import type { GenerateOutput } from "./generate.ts";
import type { LogitsProcessor, LogitsProcessorList } from "./logits_process.ts";
import type { Seq2SeqModel } from "./model.ts";
import type { GenerationParams } from "./params.ts";
import type { Rng } from "./rng.ts";
import type { StoppingCriteriaList } from "./stopping.ts";
import type { Streamer } from "./streamers.ts";
import { GenerationError } from "./errors.ts";
import type { StepGuard } from "./_step_guard.ts";

/** Resolved special ids and lengths for one call. */
export interface Run {
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

/** Runs the decoder step by step with a cache. */
export class Decoder<S, C> {
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
 * The loop of greedy search and multinomial sampling: every row decodes one token per step;
 * `pick(scores, row)` chooses it from the processed (and, when sampling, warped) scores `[rows, V]`.
 */
export async function decodeTokenByToken(
  run: Run,
  dec: Decoder<unknown, unknown>,
  rows: number,
  pick: (scores: Float32Array, row: number) => number,
): Promise<GenerateOutput> {
  const { p, pad, eos } = run;
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
      chosen[r] = pick(s, r);
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
