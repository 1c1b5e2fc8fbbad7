/**
 * Test helpers of the onnx backend: typed fixture goldens (paths and models shared with the model
 * tests), the golden forward's logits, and a plain greedy loop over the `Seq2SeqModel` methods
 * (argmax per step, first index on ties as `torch.argmax`).
 *
 * @module
 */
import type { Tensor } from "../../tensor.ts";
import { FIXTURES, goldens } from "../../models/_test_util.ts";
import type { OnnxEncoderDecoder } from "./onnx_model.ts";

export { FAMILY_MODELS, FIXTURES, MODELS } from "../../models/_test_util.ts";

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
export function readGoldens(model: string): Promise<Goldens> {
  return goldens(model);
}

/** Logits `[batch, tgt, V]` of the goldens' teacher-forced `forward` inputs. */
export function forwardLogits(model: OnnxEncoderDecoder, g: Goldens): Promise<Tensor<"float32">> {
  return model.logits(
    g.inputs.input_ids,
    g.inputs.attention_mask,
    g.forward.decoder_input_ids,
    g.forward.decoder_attention_mask,
  );
}

/** Reads `generation_config.json` ids of a fixture model. */
async function readGenerationIds(
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
 * Greedy decoding as HF `generate(max_new_tokens)` of fixture `name` on the goldens' inputs: start
 * token, argmax per step through the cache, finished rows padded with `pad`, stop when every row
 * has produced `eos` (ids from the fixture's `generation_config.json`).
 */
export async function greedy(
  model: OnnxEncoderDecoder,
  name: string,
  g: Goldens,
  maxNewTokens = 20,
): Promise<number[][]> {
  const ids = await readGenerationIds(name);
  const inputIds = g.inputs.input_ids;
  const state = await model.encode(inputIds, g.inputs.attention_mask);
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
