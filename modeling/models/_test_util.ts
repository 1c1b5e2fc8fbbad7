/**
 * Helpers shared by the model tests: fixture paths, golden loading, max-abs-diff, cached decoding.
 *
 * @module
 */
import { assertEquals } from "@std/assert";
import type { Tensor } from "../tensor.ts";
import type { EncoderDecoderCache } from "./cache.ts";
import type { EncoderDecoderModel } from "./encoder_decoder.ts";

/** A nested golden list (`"-inf"` strings allowed). */
export type Nested = number | string | Nested[];

/** The repo copy of the Python reference fixtures. */
export const FIXTURES = new URL("../../tests/testdata/fixtures/", import.meta.url).pathname;
/** Every fixture model directory. */
export const MODELS = [
  "bert2bert",
  "bert2bert-fp16",
  "bert2bert-bin",
  "bert2gpt2",
  "roberta2roberta",
  "bertgeneration",
];
/**
 * The fixture models of the families added later (issue 16): XLM-R, ELECTRA, DistilBERT and
 * Longformer encoders, a shared-weights (`tie_encoder_decoder`) and a bf16 bert2bert. The onnx
 * golden tests take {@linkcode MODELS} only until the ONNX graphs are recorded from the model code.
 */
export const FAMILY_MODELS = [
  "xlmr2xlmr",
  "electra2electra",
  "distilbert2bert",
  "longformer2roberta",
  "bert2bert-shared",
  "bert2bert-bf16",
];
/** Every fixture model with goldens (cpu and webgpu golden tests). */
export const GOLDEN_MODELS = [...MODELS, ...FAMILY_MODELS];

/** A fixture's goldens.json. */
// deno-lint-ignore no-explicit-any
export async function goldens(name: string): Promise<any> {
  return JSON.parse(await Deno.readTextFile(`${FIXTURES}${name}/goldens.json`));
}

/** The inputs of the goldens' `forward` call: input ids, attention mask and labels. */
export function forwardArgs(
  // deno-lint-ignore no-explicit-any
  g: any,
): { inputIds: number[][]; attentionMask: number[][]; labels: number[][] } {
  return {
    inputIds: g.inputs.input_ids,
    attentionMask: g.inputs.attention_mask,
    labels: g.inputs.labels,
  };
}

function flat(x: Nested): number[] {
  if (Array.isArray(x)) return x.flatMap(flat);
  return [x === "-inf" ? -Infinity : Number(x)];
}

/** Max |a - b| over a tensor and a nested golden list of the same shape. */
export function maxDiff(t: Tensor | Float32Array, golden: Nested, what: string): number {
  const want = flat(golden);
  const got = t instanceof Float32Array
    ? t
    : Float32Array.from({ length: t.size }, (_, i) => t.get(i));
  assertEquals(got.length, want.length, `${what}: element count`);
  let m = 0;
  for (let i = 0; i < want.length; i++) {
    if (want[i] === -Infinity && got[i] === -Infinity) continue;
    m = Math.max(m, Math.abs(got[i] - want[i]));
  }
  return m;
}

/**
 * The goldens' `incremental.decoder_input_ids` fed one token per step through the cache; each
 * step's logits laid out as HF's `step_last_logits` `[batch, steps, V]`. Asserts the cache grows
 * by one position per step.
 */
export async function cachedStepLogits(
  model: EncoderDecoderModel,
  // deno-lint-ignore no-explicit-any
  g: any,
): Promise<Float32Array> {
  const dec: number[][] = g.incremental.decoder_input_ids;
  const state = await model.encode(g.inputs.input_ids, g.inputs.attention_mask);
  let cache: EncoderDecoderCache | null = null;
  const V = model.vocabSize;
  const steps = new Float32Array(dec.length * dec[0].length * V);
  for (let i = 0; i < dec[0].length; i++) {
    const r = await model.decodeStep(state, dec.map((row) => [row[i]]), cache);
    cache = r.cache;
    assertEquals(cache.length, i + 1);
    for (let b = 0; b < dec.length; b++) {
      steps.set(r.logits.subarray(b * V, (b + 1) * V), (b * dec[0].length + i) * V);
    }
  }
  return steps;
}
