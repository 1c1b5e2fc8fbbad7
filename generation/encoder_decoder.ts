/**
 * `EncoderDecoderModel` with `generate()`: the modeling package's one model class (every device:
 * cpu, webgpu, onnx, auto, ...) plus Hugging Face's `GenerationMixin` methods, using the model's
 * own generation config (call options win); and the `AutoModel*` entry points Python users type.
 *
 * @module
 */
import { AutoConfig, EncdecError, EncoderDecoderConfig } from "@encdec/config";
import {
  EncoderDecoderModel as ModelingEncoderDecoderModel,
  type FromPretrainedOptions,
} from "@encdec/modeling";
import { generate, type GenerateOptions, type GenerateOutput } from "./generate.ts";
import {
  generateStream,
  type GenerateStreamOptions,
  type StreamedText,
} from "./generate_stream.ts";

/**
 * HF's `EncoderDecoderModel` (from `@encdec/modeling`) with `generate` and `generateStream`;
 * `fromPretrained(idOrDir, { device, dtype })` and the other static factories build this class,
 * on any device (`"cpu"`, `"webgpu"`, `"onnx"`, `"onnx-node"`, `"onnx-web"`, `"auto"`, a GPU
 * number as in Python, ...).
 *
 * @example
 * ```ts
 * import { EncoderDecoderModel } from "@encdec/generation";
 * const model = await EncoderDecoderModel.fromPretrained("tests/testdata/fixtures/bert2bert");
 * const { sequences } = await model.generate([[2, 65, 53, 3]], { numBeams: 4, earlyStopping: true });
 * console.log(sequences[0]);
 * await model.dispose();
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

/** An `AutoModel*` class asked for a checkpoint of a kind it does not load. */
export class AutoModelError extends EncdecError {}

/** `model_type` of a loaded config (`"encoder-decoder"`, `"bert"`, ...). */
function modelType(config: unknown): string {
  return (config as { modelType?: string }).modelType ??
    (config as { constructor: { modelType?: string } }).constructor.modelType ?? "?";
}

/**
 * HF's `AutoModelForSeq2SeqLM`: the name Python users type for an encoder-decoder checkpoint.
 * `fromPretrained` loads it as {@linkcode EncoderDecoderModel} (with `generate`), on
 * `options.device`.
 *
 * @example
 * ```ts
 * import { AutoModelForSeq2SeqLM } from "@encdec/generation";
 * const model = await AutoModelForSeq2SeqLM.fromPretrained("tests/testdata/fixtures/bert2bert");
 * const { sequences } = await model.generate([[2, 65, 53, 3]], { maxNewTokens: 5 });
 * ```
 */
export class AutoModelForSeq2SeqLM {
  private constructor() {}

  /** Loads an encoder-decoder checkpoint (`model_type: "encoder-decoder"`); others throw. */
  static async fromPretrained(
    idOrDir: string,
    options: FromPretrainedOptions = {},
  ): Promise<EncoderDecoderModel> {
    const resolve = options.revision ? { revision: options.revision } : {};
    const config = await AutoConfig.fromPretrained(idOrDir, resolve);
    if (!(config instanceof EncoderDecoderConfig)) {
      throw new AutoModelError(
        `AutoModelForSeq2SeqLM: "${idOrDir}" has model_type "${modelType(config)}", not ` +
          `"encoder-decoder"; compose one from an encoder and a decoder checkpoint with ` +
          `EncoderDecoderModel.fromEncoderDecoderPretrained(encoder, decoder)`,
      );
    }
    return await EncoderDecoderModel.fromPretrained(idOrDir, options);
  }
}

/**
 * HF's `AutoModelForCausalLM`, for the one case a user reaches it here: an encoder-decoder
 * checkpoint loaded under the decoder-only name (as a snippet written for GPT-style models
 * does). It fails with one line naming the classes that load it: `AutoModelForSeq2SeqLM` and
 * `EncoderDecoderModel`. encdec runs encoder-decoder models only, so a decoder-only checkpoint
 * fails too, naming `fromEncoderDecoderPretrained`.
 *
 * @example
 * ```ts
 * import { AutoModelForCausalLM } from "@encdec/generation";
 * await AutoModelForCausalLM.fromPretrained("tests/testdata/fixtures/bert2bert").catch((e) =>
 *   console.log(e.message) // ... load it with AutoModelForSeq2SeqLM.fromPretrained ...
 * );
 * ```
 */
export class AutoModelForCausalLM {
  private constructor() {}

  /** Always throws {@linkcode AutoModelError}, saying which class loads `idOrDir`. */
  static async fromPretrained(
    idOrDir: string,
    options: Pick<FromPretrainedOptions, "revision"> = {},
  ): Promise<never> {
    const resolve = options.revision ? { revision: options.revision } : {};
    const config = await AutoConfig.fromPretrained(idOrDir, resolve);
    if (config instanceof EncoderDecoderConfig) {
      throw new AutoModelError(
        `AutoModelForCausalLM: "${idOrDir}" is an encoder-decoder checkpoint (model_type ` +
          `"encoder-decoder"); load it with AutoModelForSeq2SeqLM.fromPretrained or ` +
          `EncoderDecoderModel.fromPretrained`,
      );
    }
    throw new AutoModelError(
      `AutoModelForCausalLM: "${idOrDir}" (model_type "${modelType(config)}") is not an ` +
        `encoder-decoder checkpoint, and encdec runs encoder-decoder models only; use it as ` +
        `the decoder of EncoderDecoderModel.fromEncoderDecoderPretrained(encoder, decoder)`,
    );
  }
}
