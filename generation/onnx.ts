/**
 * `OnnxEncoderDecoder` with `generate()`: the modeling package's onnxruntime model plus Hugging
 * Face's `GenerationMixin` methods, using the model's own generation config (call options win),
 * exactly as {@linkcode EncoderDecoderModel} does for the TypeScript backends.
 *
 * @module
 */
import { OnnxEncoderDecoder as ModelingOnnxEncoderDecoder } from "@encdec/modeling";
import { generate, type GenerateOptions, type GenerateOutput } from "./generate.ts";
import { generateStream, type GenerateStreamOptions, type StreamedText } from "./stream.ts";

/**
 * `OnnxEncoderDecoder` (from `@encdec/modeling`: the checkpoint's ONNX graphs run by
 * onnxruntime-node or onnxruntime-web) with `generate` and `generateStream`; `fromPretrained`
 * and `create` build this class, and `generationConfig` comes from `generation_config.json`.
 *
 * @example
 * ```ts ignore
 * import { OnnxEncoderDecoder } from "@encdec/generation";
 * const model = await OnnxEncoderDecoder.fromPretrained("tests/testdata/fixtures/bert2bert", {
 *   runtime: "auto", // onnxruntime-node with --allow-ffi, else onnxruntime-web (wasm)
 *   precision: "fp32",
 * });
 * const { sequences } = await model.generate([[2, 65, 53, 3]], { numBeams: 4, earlyStopping: true });
 * await model.release();
 * ```
 */
export class OnnxEncoderDecoder extends ModelingOnnxEncoderDecoder {
  /**
   * Generates with the model's generation config merged with `options` (see `generate`).
   * `inputIds` `[batch, srcLen]`; `attentionMask` defaults to `inputIds != padTokenId`.
   */
  generate(inputIds: number[][], options: GenerateOptions = {}): Promise<GenerateOutput> {
    return generate(this, inputIds, { generationConfig: this.generationConfig, ...options });
  }

  /** Streams `{ row, text }` pieces as they become final (see `generateStream`). */
  generateStream(
    inputIds: number[][],
    options: GenerateStreamOptions,
  ): AsyncGenerator<StreamedText, GenerateOutput, undefined> {
    return generateStream(this, inputIds, { generationConfig: this.generationConfig, ...options });
  }
}
