/**
 * `pipeline()`: Hugging Face's `pipeline("summarization" | "translation" | "text2text-generation")`
 * over the encdec packages: loads the tokenizer and the generation-enabled model once, then maps
 * texts to `[{ summary_text }]`, `[{ translation_text }]` or `[{ generated_text }]`.
 *
 * @module
 */
import { EncdecError, type EncoderDecoderConfig, type GenerationConfig } from "@encdec/config";
import { EncoderDecoderModel, type GenerateOptions, OnnxEncoderDecoder } from "@encdec/generation";
import type { DeviceSpec } from "@encdec/modeling";
import { AutoTokenizer, type PreTrainedTokenizer } from "@encdec/tokenization";
import type { DeviceChoice, Dtype } from "./device.ts";
import { truncateToTokens } from "./_truncate.ts";
import { fileURLToPath } from "node:url";

/** A task name `pipeline()` accepts. */
export type PipelineTask =
  | "summarization"
  | "translation"
  | `translation_${string}_to_${string}`
  | "text2text-generation";

/** A task name, a model that cannot serve it, or pipeline inputs of the wrong kind. */
export class PipelineError extends EncdecError {}

/**
 * A generation-enabled model a pipeline runs: `EncoderDecoderModel` (on any device) or
 * the deprecated `OnnxEncoderDecoder` alias. `pipeline()` always builds `EncoderDecoderModel`
 * (one class on every device).
 */
export type Text2TextModel = EncoderDecoderModel | OnnxEncoderDecoder;

/** Options of {@linkcode pipeline} (how the model is loaded). */
export interface PipelineOptions {
  /**
   * Where the model runs: `"auto"` (default: a hardware WebGPU adapter > onnxruntime-node >
   * onnxruntime-web > cpu), `"cpu"`, `"webgpu"`, `"onnx"` (onnxruntime-node with `--allow-ffi`,
   * else onnxruntime-web), `"onnx-node"`, `"onnx-web"`, a GPU as Python writes it (`0`,
   * `"cuda:1"`, `"gpu"`: WebGPU on a hardware adapter, else auto's CPU-side choice; `-1` = cpu)
   * or a backend. `pipeline.device` says what ran and why.
   */
  device?: DeviceSpec;
  /**
   * Weight dtype (default float32): `float16` / `bfloat16` on cpu and webgpu; on onnx `float16`
   * (half storage) or `int8` (per-channel int8 linear layers, onnx only).
   */
  dtype?: Dtype;
  /** onnx devices: onnxruntime's intra-op threads (default: the logical cores). */
  numThreads?: number;
  /** Hub revision (branch, tag or commit) of a Hub model id. */
  revision?: string;
  /** Tokenizer directory or Hub id, when it differs from the model's. */
  tokenizer?: string;
  /**
   * Longest input, in tokens (special tokens included); longer inputs are truncated. Default: the
   * tokenizer's `model_max_length`, else the encoder's usable `max_position_embeddings`.
   */
  maxInputLength?: number;
  /**
   * Called for every input that was cut to `maxInputLength`. Default: the first one is reported on
   * stderr (`encdec: input truncated from N to M tokens (the model's maximum)`), later ones are not.
   */
  onTruncate?: (info: TruncationInfo) => void;
}

/** An input that was cut to the pipeline's `maxInputLength`. */
export interface TruncationInfo {
  /** Position of the input in the call's batch. */
  index: number;
  /** Tokens of the whole input (special tokens included). */
  from: number;
  /** Whether `from` is a lower bound: inputs over 1 MB are not tokenized to the end. */
  fromAtLeast: boolean;
  /** Tokens kept (the pipeline's `maxInputLength`). */
  to: number;
  /** Whether `to` is the model's own maximum (`false`: the caller's `maxInputLength`). */
  modelMaximum: boolean;
}

/** Inputs longer than this many characters are counted only this far when cut. */
const COUNT_LIMIT_CHARS = 1 << 20;

/**
 * The stderr line for a cut input, the same words the CLI and the edge example use:
 * `encdec: input truncated from 913 to 64 tokens (the model's maximum)`.
 *
 * @example
 * ```ts
 * import { truncationMessage } from "@encdec/cli";
 * truncationMessage({ index: 0, from: 913, fromAtLeast: false, to: 64, modelMaximum: true });
 * // "encdec: input truncated from 913 to 64 tokens (the model's maximum)"
 * ```
 */
export function truncationMessage(info: TruncationInfo, option = "maxInputLength"): string {
  const from = `${info.fromAtLeast ? "more than " : ""}${info.from}`;
  return `encdec: input truncated from ${from} to ${info.to} tokens ` +
    `(${info.modelMaximum ? "the model's maximum" : option})`;
}

/** Token count of `text` with special tokens, or a lower bound for texts over 1 MB. */
function countTokens(
  tokenizer: PreTrainedTokenizer,
  text: string,
): { count: number; atLeast: boolean } {
  const atLeast = text.length > COUNT_LIMIT_CHARS;
  const counted = atLeast ? text.slice(0, COUNT_LIMIT_CHARS).replace(/\S*$/, "") : text;
  const ids = tokenizer.call(counted, { truncation: false }).inputIds as number[];
  return { count: ids.length, atLeast };
}

/** Options of one pipeline call: HF `generate` keywords (camelCase) plus decoding options. */
export interface PipelineCallOptions extends GenerateOptions {
  /** Texts encoded and generated together (padded); default 1, as in HF. */
  batchSize?: number;
  /** Apply HF's `clean_up_tokenization` when decoding (default: the tokenizer's setting). */
  cleanUpTokenizationSpaces?: boolean;
}

/** One generated text, keyed like HF (`summary_text`, `translation_text` or `generated_text`). */
export type PipelineOutput =
  | { summary_text: string }
  | { translation_text: string }
  | { generated_text: string };

/** What a {@linkcode Text2TextPipeline} call returns for one input or for a batch. */
export type PipelineResult = PipelineOutput[] | PipelineOutput[][];

const DEFAULT_MODEL = "models/default";

/**
 * The path of the model that ships inside the repository (`models/default/`), used when no model
 * is named. It is resolved next to this module, so it works from any working directory.
 *
 * @example
 * ```ts
 * import { defaultModelPath } from "@encdec/cli";
 * console.log(defaultModelPath()); // /path/to/encdec/models/default
 * ```
 */
export function defaultModelPath(): string {
  const url = new URL(`../${DEFAULT_MODEL}`, import.meta.url);
  if (url.protocol !== "file:") {
    throw new PipelineError(
      `the built-in model is only available from a local checkout (this module was loaded from ${url.origin}); pass a model id or directory`,
    );
  }
  return fileURLToPath(url).replace(/[\\/]+$/, "");
}

/** The output key of each task family (`summary_text`, ...). */
function returnKey(task: string): "summary_text" | "translation_text" | "generated_text" {
  if (task === "summarization") return "summary_text";
  if (task === "translation" || /^translation_.+_to_.+$/.test(task)) return "translation_text";
  if (task === "text2text-generation") return "generated_text";
  throw new PipelineError(
    `unknown task "${task}": expected summarization, translation, translation_xx_to_yy or text2text-generation`,
  );
}

/**
 * The usable encoder length in tokens: the smaller of the tokenizer's `model_max_length` (when
 * set) and the encoder's `max_position_embeddings` (minus RoBERTa's padding offset).
 */
function modelMaxInputLength(tok: PreTrainedTokenizer, config: EncoderDecoderConfig): number {
  const fromTokenizer = tok.modelMaxLength < 1e29 ? tok.modelMaxLength : Infinity;
  return Math.min(fromTokenizer, encoderPositions(config));
}

/** Token positions the encoder has (`Infinity` when the config does not say). */
function encoderPositions(config: EncoderDecoderConfig): number {
  const enc = config.encoder as unknown as {
    modelType: string;
    maxPositionEmbeddings?: number;
    padTokenId?: number | null;
  };
  const maxPos = enc.maxPositionEmbeddings;
  if (typeof maxPos !== "number") return Infinity;
  // RoBERTa positions start at padding_idx + 1, so two positions are never used by tokens.
  if (enc.modelType === "roberta") return maxPos - ((enc.padTokenId ?? 1) + 1);
  return maxPos;
}

/**
 * A loaded text-to-text pipeline (HF's `SummarizationPipeline`, `TranslationPipeline`,
 * `Text2TextGenerationPipeline`): call it with a text or a batch and generation options. Built
 * by {@linkcode pipeline} (or {@linkcode createText2TextPipeline} from loaded parts).
 */
export interface Text2TextPipeline {
  /** One text → `[{ summary_text }]` (one entry per returned sequence). */
  (inputs: string, options?: PipelineCallOptions): Promise<PipelineOutput[]>;
  /** A batch → one entry per text, or one array per text with `numReturnSequences > 1`. */
  (inputs: string[], options?: PipelineCallOptions): Promise<PipelineResult>;
  /** The task key of `task_specific_params` this pipeline applied (e.g. `translation_en_to_de`). */
  readonly task: string;
  /** The tokenizer. */
  readonly tokenizer: PreTrainedTokenizer;
  /** The model (with `generate`). */
  readonly model: Text2TextModel;
  /** Where the model runs (`name`: cpu, webgpu, onnx, ...) and, for `auto`, why. */
  readonly device: DeviceChoice;
  /** The model's generation config with the task's `task_specific_params` applied. */
  readonly generationConfig: GenerationConfig;
  /** Text put in front of every input (`prefix` of the task's params or of the config). */
  readonly prefix: string;
  /** Inputs are truncated to this many tokens (special tokens included). */
  readonly maxInputLength: number;
}

/**
 * Builds a {@linkcode Text2TextPipeline} from an already loaded tokenizer and model (what
 * {@linkcode pipeline} does after loading): applies `task_specific_params[task]` and the input
 * length limit.
 *
 * @example
 * ```ts
 * import { createText2TextPipeline, EncoderDecoderModel, AutoTokenizer } from "@encdec/cli";
 * const dir = "tests/testdata/fixtures/bert2bert";
 * const summarize = createText2TextPipeline(
 *   "summarization",
 *   await AutoTokenizer.fromPretrained(dir),
 *   await EncoderDecoderModel.fromPretrained(dir),
 * );
 * const [{ summary_text }] = await summarize("Hello world!") as { summary_text: string }[];
 * ```
 */
export function createText2TextPipeline(
  task: PipelineTask | string,
  tokenizer: PreTrainedTokenizer,
  model: Text2TextModel,
  options: {
    maxInputLength?: number;
    device?: DeviceChoice;
    onTruncate?: (info: TruncationInfo) => void;
  } = {},
): Text2TextPipeline {
  const key = returnKey(task);
  const params = model.config.taskSpecificParams ?? {};
  // HF: plain "translation" picks the first translation_* entry of task_specific_params.
  if (task === "translation") {
    task = Object.keys(params).find((k) => k.startsWith("translation")) ?? task;
  }
  const own = params[task];
  const taskParams = own && typeof own === "object" ? own as Record<string, unknown> : {};
  // HF updates config and generation_config with the task's params; unknown keys are ignored.
  const known = model.generationConfig.toDict();
  const genUpdate: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(taskParams)) if (k in known) genUpdate[k] = v;
  const generationConfig = model.generationConfig.update(genUpdate);
  const rawPrefix = "prefix" in taskParams ? taskParams.prefix : model.config.prefix;
  const prefix = typeof rawPrefix === "string" ? rawPrefix : "";
  const maxInputLength = options.maxInputLength ?? modelMaxInputLength(tokenizer, model.config);
  const modelMaximum = options.maxInputLength === undefined;
  let reported = false;
  const onTruncate = options.onTruncate ?? ((info: TruncationInfo) => {
    if (reported) return;
    reported = true;
    console.error(truncationMessage(info));
  });
  if (!(Number.isInteger(maxInputLength) || maxInputLength === Infinity) || maxInputLength < 2) {
    throw new PipelineError(
      `maxInputLength is ${maxInputLength}; expected an integer ≥ 2 (room for the special tokens)`,
    );
  }

  async function run(
    inputs: string | string[],
    options: PipelineCallOptions = {},
  ): Promise<PipelineResult> {
    const single = typeof inputs === "string";
    const texts = single ? [inputs] : inputs;
    if (!Array.isArray(texts) || texts.some((t) => typeof t !== "string")) {
      throw new PipelineError("pipeline inputs: expected a string or an array of strings");
    }
    const { batchSize = 1, cleanUpTokenizationSpaces, ...generateOptions } = options;
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new PipelineError(`batchSize is ${batchSize}; expected a positive integer`);
    }
    const perInput: PipelineOutput[][] = [];
    for (let start = 0; start < texts.length; start += batchSize) {
      const chunk = texts.slice(start, start + batchSize).map((t, i) => {
        const full = prefix + t;
        if (maxInputLength === Infinity) return full;
        const cut = truncateToTokens(tokenizer, full, maxInputLength);
        const { count, atLeast } = countTokens(tokenizer, full);
        if (count > maxInputLength) {
          onTruncate({
            index: start + i,
            from: count,
            fromAtLeast: atLeast,
            to: maxInputLength,
            modelMaximum,
          });
        }
        return cut;
      });
      const enc = tokenizer.call(chunk, {
        padding: chunk.length > 1,
        truncation: maxInputLength !== Infinity,
        maxLength: maxInputLength === Infinity ? undefined : maxInputLength,
      });
      // generate() merges the call options over this config, as HF does.
      const out = await model.generate(enc.inputIds, {
        ...generateOptions,
        attentionMask: enc.attentionMask,
        generationConfig,
      });
      const decoded = tokenizer.batchDecode(out.sequences, {
        skipSpecialTokens: true,
        cleanUpTokenizationSpaces,
      });
      const perRow = decoded.length / chunk.length;
      for (let i = 0; i < chunk.length; i++) {
        perInput.push(
          decoded.slice(i * perRow, (i + 1) * perRow).map((text) =>
            ({ [key]: text }) as PipelineOutput
          ),
        );
      }
    }
    if (single) return perInput[0];
    return perInput.every((r) => r.length === 1) ? perInput.map((r) => r[0]) : perInput;
  }

  const device: DeviceChoice = options.device ??
    (model instanceof OnnxEncoderDecoder
      ? {
        device: `onnx-${model.runtime}`,
        name: "onnx",
        runtime: model.runtime,
        reason: `onnx-${model.runtime}`,
        requested: `onnx-${model.runtime}`,
      }
      : model.device);
  return Object.assign(run, {
    task,
    tokenizer,
    model,
    device,
    generationConfig,
    prefix,
    maxInputLength,
  }) as Text2TextPipeline;
}

/**
 * HF's `pipeline(task, model)` for encoder-decoder text generation: loads `AutoTokenizer` and the
 * generation-enabled model of `model` (a local directory or a Hub id; default: the model in the
 * repository's `models/default/`) as `EncoderDecoderModel` on `options.device` (default
 * `"auto"`), applies the config's `task_specific_params[task]` (generation
 * defaults and `prefix`) and truncates inputs to the model's maximum length.
 *
 * @example
 * ```ts
 * import { pipeline } from "@encdec/cli";
 * const summarizer = await pipeline("summarization", "tests/testdata/fixtures/bert2bert");
 * const out = await summarizer("The quick brown fox sat on the old mat.", {
 *   maxLength: 60,
 *   numBeams: 4,
 *   earlyStopping: true,
 * });
 * console.log(out); // [{ summary_text: "..." }]
 * ```
 */
export async function pipeline(
  task: PipelineTask | string,
  model?: string,
  options: PipelineOptions = {},
): Promise<Text2TextPipeline> {
  returnKey(task);
  const id = model ?? defaultModelPath();
  const resolve = options.revision ? { revision: options.revision } : {};
  const load = EncoderDecoderModel.fromPretrained(id, {
    ...resolve,
    device: options.device ?? "auto",
    dtype: options.dtype,
    numThreads: options.numThreads,
  });
  const [tokenizer, loaded] = await Promise.all([
    AutoTokenizer.fromPretrained(options.tokenizer ?? id, {}, resolve),
    load,
  ]);
  return createText2TextPipeline(task, tokenizer, loaded, {
    maxInputLength: options.maxInputLength,
    device: loaded.device,
    onTruncate: options.onTruncate,
  });
}
