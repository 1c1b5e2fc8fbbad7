/**
 * Test helpers of the onnx backend: fixture goldens and a plain greedy loop over the
 * `Seq2SeqModel` methods (argmax per step, first index on ties as `torch.argmax`).
 *
 * @module
 */
import type { OnnxEncoderDecoder } from "./onnx_model.ts";

/** Root of the golden fixtures (the repo copy). */
export const FIXTURES: string = new URL("../../../tests/testdata/fixtures/", import.meta.url)
  .pathname;

/** The fixture models with goldens. */
export const FIXTURE_MODELS: readonly string[] = [
  "bert2bert",
  "bert2bert-fp16",
  "bert2bert-bin",
  "bert2gpt2",
  "roberta2roberta",
  "bertgeneration",
];

/** The parts of a `goldens.json` these tests read. */
export interface Goldens {
  inputs: { input_ids: number[][]; attention_mask: number[][] };
  forward: {
    decoder_input_ids: number[][];
    decoder_attention_mask: number[][];
    logits: number[][][];
    encoder_last_hidden_state: number[][][];
  };
  incremental: { decoder_input_ids: number[][]; step_last_logits: number[][][] };
  generate: { greedy: { sequences: number[][] } };
}

/** Reads `goldens.json` of a fixture model. */
export async function readGoldens(model: string): Promise<Goldens> {
  return JSON.parse(await Deno.readTextFile(`${FIXTURES}${model}/goldens.json`));
}

/** Reads `generation_config.json` ids of a fixture model. */
export async function readGenerationIds(
  model: string,
): Promise<{ start: number; eos: number; pad: number }> {
  const j = JSON.parse(await Deno.readTextFile(`${FIXTURES}${model}/generation_config.json`));
  return { start: j.decoder_start_token_id, eos: j.eos_token_id, pad: j.pad_token_id };
}

/** Largest absolute difference between a flat array and a nested golden list. */
export function maxAbsDiff(actual: ArrayLike<number>, expected: unknown[]): number {
  const flat = (expected as number[]).flat(Infinity as 1) as number[];
  if (flat.length !== actual.length) {
    throw new Error(`length ${actual.length} vs golden ${flat.length}`);
  }
  let m = 0;
  for (let i = 0; i < flat.length; i++) m = Math.max(m, Math.abs(actual[i] - flat[i]));
  return m;
}

/** Index of the largest value of `row` (first on ties). */
export function argmax(row: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}

/**
 * Greedy decoding as HF `generate(max_new_tokens)`: start token, argmax per step through the
 * cache, finished rows padded with `pad`, stop when every row has produced `eos`.
 */
export async function greedy(
  model: OnnxEncoderDecoder,
  inputIds: number[][],
  attentionMask: number[][],
  ids: { start: number; eos: number; pad: number },
  maxNewTokens = 20,
): Promise<number[][]> {
  const state = await model.encode(inputIds, attentionMask);
  const seqs = inputIds.map(() => [ids.start]);
  const done = inputIds.map(() => false);
  let cache = null;
  let next = seqs.map((s) => [s[0]]);
  for (let step = 0; step < maxNewTokens && !done.every((d) => d); step++) {
    const out = await model.decodeStep(state, next, cache);
    cache = out.cache;
    const V = model.vocabSize;
    next = seqs.map((s, b) => {
      const tok = done[b] ? ids.pad : argmax(out.logits.subarray(b * V, (b + 1) * V));
      s.push(tok);
      if (tok === ids.eos) done[b] = true;
      return [tok];
    });
  }
  return seqs;
}

/** Fails unless `value < bound`, with both numbers in the message. */
export function assertBelow(value: number, bound: number, what = "value"): void {
  if (!(value < bound)) throw new Error(`${what} = ${value}; expected < ${bound}`);
}
