/**
 * The argument, output and option types of `EncoderDecoderModel` (HF's names, camelCased).
 *
 * @module
 */
import type { EncoderDecoderConfig, GenerationConfig } from "@encdec/config";
import type { GradTensor } from "../autograd/backend.ts";
import type { Tensor } from "../tensor.ts";
import type { EncoderDecoderCache } from "./cache.ts";
import type { DeviceChoice, DeviceSpec, Dtype } from "./device.ts";
import type { OnnxEncoderDecoder } from "../backends/onnx/mod.ts";
import type { LoadingInfo } from "./key_table.ts";

/** A composite config: an `EncoderDecoderConfig`, or HF's `config.json` dict for one. */
export type EncoderDecoderConfigInput = EncoderDecoderConfig | Record<string, unknown>;

/** Token ids as nested lists or a tensor `[batch, len]`. */
export type IdsInput = number[][] | Tensor;

/** Encoder outputs handed back in (`encoderOutputs`), host tensors. */
export interface EncoderOutputs {
  /** `[batch, srcLen, encoderHidden]`. */
  lastHiddenState: Tensor;
  /** Embeddings + each layer. */
  hiddenStates?: Tensor[];
  /** Per layer `[batch, heads, srcLen, srcLen]`. */
  attentions?: Tensor[];
}

/** Arguments of `EncoderDecoderModel.forward` (HF's names, camelCased). */
export interface Seq2SeqForwardArgs {
  /** Encoder ids `[batch, srcLen]`. */
  inputIds?: IdsInput;
  /** Encoder 0/1 mask `[batch, srcLen]`. */
  attentionMask?: IdsInput;
  /**
   * Encoder 0/1 `[batch, srcLen]`: tokens with global attention (HF's `global_attention_mask`,
   * handed to a Longformer encoder as Python's `EncoderDecoderModel` hands encoder kwargs).
   */
  globalAttentionMask?: IdsInput;
  /** Decoder ids `[batch, tgtLen]` (made from `labels` when absent). */
  decoderInputIds?: IdsInput;
  /** Decoder 0/1 mask `[batch, past + tgtLen]`. */
  decoderAttentionMask?: IdsInput;
  /** Precomputed encoder outputs (skip the encoder). */
  encoderOutputs?: EncoderOutputs;
  /** Cache from an earlier call (`useCache`). */
  pastKeyValues?: EncoderDecoderCache;
  /** Encoder input embeddings `[batch, srcLen, hidden]` instead of ids. */
  inputsEmbeds?: Tensor;
  /** Decoder input embeddings `[batch, tgtLen, hidden]` instead of ids. */
  decoderInputsEmbeds?: Tensor;
  /** Targets `[batch, tgtLen]`, `-100` ignored by the loss. */
  labels?: IdsInput;
  /** Return `pastKeyValues` (default true, as HF's `use_cache`). */
  useCache?: boolean;
  /** Return attention probabilities. */
  outputAttentions?: boolean;
  /** Return hidden states. */
  outputHiddenStates?: boolean;
}

/** HF's `Seq2SeqLMOutput` with host tensors. */
export interface Seq2SeqLMOutput {
  /**
   * Mean cross-entropy over non-ignored labels (scalar), when `labels` were given. On the
   * autograd device, `await loss.backward()` fills every parameter's `grad`.
   */
  loss?: GradTensor;
  /** `[batch, tgtLen, vocab]`. */
  logits: Tensor;
  /** The decoder cache, unless `useCache` is false. */
  pastKeyValues?: EncoderDecoderCache;
  /** Decoder embeddings + each layer `[batch, tgtLen, hidden]`. */
  decoderHiddenStates?: Tensor[];
  /** Per layer `[batch, heads, tgtLen, past + tgtLen]`. */
  decoderAttentions?: Tensor[];
  /** Per layer `[batch, heads, tgtLen, srcLen]`. */
  crossAttentions?: Tensor[];
  /** `[batch, srcLen, encoderHidden]` (before `enc_to_dec_proj`). */
  encoderLastHiddenState?: Tensor;
  /** Encoder embeddings + each layer. */
  encoderHiddenStates?: Tensor[];
  /** Per layer `[batch, heads, srcLen, srcLen]`. */
  encoderAttentions?: Tensor[];
}

/** The encoder's output as generation carries it. */
export interface EncoderState {
  /** Encoder output in the decoder's width `[batch, srcLen, decoderHidden]` (backend handle). */
  hidden: unknown;
  /** 0/1 `[batch, srcLen]`. */
  mask: Tensor<"float32">;
}

/** Options of `new EncoderDecoderModel(config, options)`. */
export interface EncoderDecoderModelOptions {
  /** Seed of HF-style initialisation of every weight not in `stateDict`. */
  seed?: number;
  /**
   * Where to compute (default `"cpu"`): a device that starts synchronously (`"cpu"`, `-1`,
   * `"autograd"`) or a `Backend` instance; other devices go through `fromPretrained`.
   */
  device?: DeviceSpec;
  /**
   * The onnxruntime engine that runs the whole model (set by `fromPretrained` on an onnx
   * device): no weights are put on a backend, and every method delegates to it.
   */
  engine?: OnnxEncoderDecoder;
  /** What `selectDevice` decided (`model.device`); derived from the device when absent. */
  deviceChoice?: DeviceChoice;
  /**
   * Reads the checkpoint's tensors again (onnx engine only: what `stateDict()` and
   * `savePretrained` write, since the weights live in onnxruntime).
   */
  reloadWeights?: () => Promise<ReadonlyMap<string, Tensor>>;
  /** Weight dtype on the device (default float32: half checkpoints are upcast). */
  dtype?: "float32" | "float16" | "bfloat16";
  /** Checkpoint tensors by key (HF's layout); absent keys are initialised. */
  stateDict?: ReadonlyMap<string, Tensor>;
  /** Generation defaults (default: `GenerationConfig.fromModelConfig(config)`). */
  generationConfig?: GenerationConfig;
  /** Where the weights came from, for error messages. */
  source?: string;
  /**
   * Refuse a `stateDict` that lacks model keys or holds unexpected ones (a `ModelLoadError`
   * listing them) instead of initialising the missing weights (reported in `loadingInfo`).
   */
  strict?: boolean;
}

/** Options of `fromPretrained`. */
export interface FromPretrainedOptions {
  /**
   * Weight dtype on the device (default float32): `float16` / `bfloat16` on cpu and webgpu;
   * `float16` (half storage) and `int8` (per-channel int8 linear layers) on onnx devices.
   */
  dtype?: Dtype;
  /**
   * onnx devices with dtype `int8`: store the embedding tables int8 too, one scale per row (a
   * tied LM head reads the same int8 matrix). Default: true on onnxruntime-web, false on
   * onnxruntime-node (less memory; logits move by the tables' int8 rounding).
   */
  int8Embeddings?: boolean;
  /**
   * Where the model runs (default `"cpu"`): `"cpu"`, `"webgpu"`, `"onnx"` (onnxruntime-node
   * when `--allow-ffi` is granted, else onnxruntime-web), `"onnx-node"`, `"onnx-web"`,
   * `"autograd"`, `"autograd-ort"`, `"auto"` (a hardware WebGPU adapter > onnxruntime-node >
   * onnxruntime-web > cpu), a GPU as Python writes it (`0`, `"cuda:1"`, `"gpu"`; `-1` = cpu),
   * or a `Backend` instance.
   */
  device?: DeviceSpec;
  /** onnx devices: intra-op threads (default: the logical cores). */
  numThreads?: number;
  /** Hub revision. */
  revision?: string;
  /**
   * Refuse a checkpoint that lacks model weights or holds unexpected keys (`ModelLoadError`
   * listing them). Default false: missing weights are initialised and listed in
   * `model.loadingInfo` (`missingKeys`, `newlyInitialized`), as HF does.
   */
  strict?: boolean;
}

/** Per-part loading report of `fromEncoderDecoderPretrained`, in HF's per-model key names. */
export interface PartLoadingInfo {
  /** What `AutoModel.from_pretrained(encoder)` would report. */
  encoder: LoadingInfo;
  /** What `AutoModelForCausalLM.from_pretrained(decoder, is_decoder=True, add_cross_attention=True)` would report. */
  decoder: LoadingInfo;
}

/** Constructor type the static factories build with (`new this(...)`), subclass-friendly. */
export type EncoderDecoderModelClass<M> = new (
  config: EncoderDecoderConfigInput,
  options?: EncoderDecoderModelOptions,
) => M;
