/**
 * `@encdec/generation`: Hugging Face-exact generation (greedy, sampling, beam search, beam
 * sampling, diverse group beam search), logits processors and warpers, stopping criteria and
 * streaming, over the small {@link Seq2SeqModel} interface.
 *
 * @example
 * ```ts
 * import { EncoderDecoderModel } from "@encdec/generation";
 * // device: "cpu" (default), "webgpu", "onnx", "auto", 0 (a GPU, as in Python), ...
 * const model = await EncoderDecoderModel.fromPretrained("tests/testdata/fixtures/bert2bert");
 * const out = await model.generate([[2, 65, 53, 3]], { numBeams: 4, earlyStopping: true, maxLength: 20 });
 * console.log(out.sequences);
 * ```
 *
 * @module
 */
export type * from "./model.ts";
export * from "./errors.ts";
export * from "./rng.ts";
export * from "./logits_process.ts";
export * from "./logits_warp.ts";
export * from "./stopping.ts";
export * from "./beam_search.ts";
export * from "./params.ts";
export * from "./build.ts";
export * from "./streamers.ts";
export * from "./generate.ts";
export * from "./generate_stream.ts";
export * from "./encoder_decoder.ts";
export * from "./onnx.ts";
