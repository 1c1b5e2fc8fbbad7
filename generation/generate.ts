/**
 * `generate(model, inputIds, options)`: merges the generation config like HF 4.40, validates it,
 * bounds what the call may allocate, runs the encoder once and hands the decoding to the chosen
 * strategy, each in a file named for it: `greedy.ts` (greedy search), `sampling.ts`
 * (multinomial sampling), `beam_search_loop.ts` (beam search and beam sampling; the scorer is
 * `beam_search.ts`) and `group_beam_search.ts` (diverse group beam search). Their shared parts:
 * `_decoder.ts` (the model's decoder stepped against its cache; the one-token-per-row loop of
 * greedy and sampling) and `_beam_common.ts` (beam streaming and finishing).
 *
 * @module
 */
import { checkGenerationSize, type GenerationConfig } from "@encdec/config";
import { buildLogitsProcessor, buildLogitsWarper, buildStoppingCriteria } from "./build.ts";
import { GenerationError } from "./errors.ts";
import { StepGuard } from "./_step_guard.ts";
import type { LogitsProcessor, PrefixAllowedTokensFn } from "./logits_process.ts";
import type { Seq2SeqModel } from "./model.ts";
import {
  type GenerationParams,
  mergeGenerationParams,
  validateGenerationParams,
} from "./params.ts";
import { createRng, type Rng } from "./rng.ts";
import type { StoppingCriteria } from "./stopping.ts";
import type { DecodeFn, Streamer } from "./streamers.ts";
import { Decoder, type Run } from "./_decoder.ts";
import { greedySearch } from "./greedy.ts";
import { sample } from "./sampling.ts";
import { beamSearch } from "./beam_search_loop.ts";
import { groupBeamSearch } from "./group_beam_search.ts";

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

/** eos ids, pad (HF: falls back to the first eos id) and the decoder start id(s) of a call. */
function specialIds(
  p: GenerationParams,
  batch: number,
): { eos: number[] | undefined; pad: number | undefined; startIds: number | number[] } {
  const eos = p.eosTokenId === null
    ? undefined
    : typeof p.eosTokenId === "number"
    ? [p.eosTokenId]
    : p.eosTokenId;
  let pad = p.padTokenId ?? undefined;
  if (pad === undefined && eos) pad = eos[0];
  const startIds = p.decoderStartTokenId ?? p.bosTokenId;
  if (startIds === null) {
    throw new GenerationError(
      "generate: `decoderStartTokenId` (or `bosTokenId`) has to be set in the generation config or options",
    );
  }
  if (Array.isArray(startIds) && startIds.length !== batch) {
    throw new GenerationError(
      `generate: \`decoderStartTokenId\` holds ${startIds.length} ids, expected one per batch row (${batch})`,
    );
  }
  return { eos, pad, startIds };
}

/** HF's default encoder mask: `inputIds != pad` when pad occurs and is not an eos id, else 1s. */
function defaultMask(inputIds: number[][], pad?: number, eos?: number[]): number[][] {
  const masked = pad !== undefined && inputIds.some((r) => r.includes(pad)) &&
    !(eos ?? []).includes(pad);
  return inputIds.map((r) => r.map((t) => (masked && t === pad ? 0 : 1)));
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

  const { eos, pad, startIds } = specialIds(p, inputIds.length);
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
  const mask = attentionMask ?? defaultMask(inputIds, pad, eos);

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
    guard: new StepGuard(signal),
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
    if (p.numBeams === 1) {
      out = await (p.doSample ? sample : greedySearch)(run, dec, inputIds.length * expand);
    } else if (p.numBeamGroups > 1) out = await groupBeamSearch(run, dec, inputIds.length);
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
