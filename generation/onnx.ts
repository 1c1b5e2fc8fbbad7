/**
 * Deprecated: `OnnxEncoderDecoder` with `generate()`. Use the one model class,
 * `EncoderDecoderModel.fromPretrained(dir, { device: "onnx" })` (or `"onnx-node"` /
 * `"onnx-web"`, `dtype: "float16" | "int8"`), which runs this same onnxruntime engine and also
 * has `forward` and `savePretrained`. Kept as a thin alias for code written against it.
 *
 * @module
 */
import {
  type OnnxDecoderCache,
  OnnxEncoderDecoder as ModelingOnnxEncoderDecoder,
  type OnnxEncoderState,
} from "@encdec/modeling";
import { generate, type GenerateOptions, type GenerateOutput } from "./generate.ts";
import {
  generateStream,
  type GenerateStreamOptions,
  type StreamedText,
} from "./generate_stream.ts";

/**
 * @deprecated Use `EncoderDecoderModel.fromPretrained(dir, { device: "onnx" })`: the one model
 * class runs this engine (`runtime: "node"` → `device: "onnx-node"`, `"web"` → `"onnx-web"`,
 * `precision: "fp16" | "int8"` → `dtype: "float16" | "int8"`, `release()` → `dispose()`).
 *
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
 * await model.dispose();
 * ```
 */
export class OnnxEncoderDecoder extends ModelingOnnxEncoderDecoder {
  /** Frees the onnxruntime sessions (no argument), or a cache or encoder state. */
  override dispose(): Promise<void>;
  /** Frees a cache or encoder state now (see the engine's `dispose`). */
  override dispose(value: OnnxDecoderCache | OnnxEncoderState): void;
  override dispose(value?: OnnxDecoderCache | OnnxEncoderState): Promise<void> | void {
    return value === undefined ? this.release() : super.dispose(value);
  }

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
