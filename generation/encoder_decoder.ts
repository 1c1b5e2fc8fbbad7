/**
 * `EncoderDecoderModel` with `generate()`: the modeling package's model plus Hugging Face's
 * `GenerationMixin` methods, using the model's own generation config (call options win).
 *
 * @module
 */
import { EncoderDecoderModel as ModelingEncoderDecoderModel } from "@encdec/modeling";
import { generate, type GenerateOptions, type GenerateOutput } from "./generate.ts";
import { generateStream, type GenerateStreamOptions, type StreamedText } from "./stream.ts";

/**
 * HF's `EncoderDecoderModel` (from `@encdec/modeling`) with `generate` and `generateStream`;
 * `fromPretrained` and the other static factories build this class.
 *
 * @example
 * ```ts
 * import { EncoderDecoderModel } from "@encdec/generation";
 * const model = await EncoderDecoderModel.fromPretrained("tests/testdata/fixtures/bert2bert");
 * const { sequences } = await model.generate([[2, 65, 53, 3]], { numBeams: 4, earlyStopping: true });
 * console.log(sequences[0]);
 * ```
 */
export class EncoderDecoderModel extends ModelingEncoderDecoderModel {
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
