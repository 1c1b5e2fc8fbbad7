/**
 * `@encdec/modeling`: the one `Tensor` type, the `Backend` op interface and its devices (the CPU
 * backend, WebGPU, the ONNX graph recorder and the onnxruntime engine behind `device: "onnx"`),
 * the one device registry (`registerDevice`, `selectDevice`, the dtype × device table), weight
 * files (safetensors with F16/BF16, the restricted torch `.bin` reader and writer, sharded
 * indexes), the models — BERT, RoBERTa, XLM-RoBERTa, CamemBERT, ELECTRA, DistilBERT, Longformer,
 * BertGeneration, GPT-2 and `EncoderDecoderModel` (one class on every device) with its
 * `EncoderDecoderCache` and loading report (`loadingInfo`, `formatLoadingInfo`) — the seeded
 * generator, and training: the autograd backend, AdamW, schedules and clipping.
 *
 * @example
 * ```ts
 * import { EncoderDecoderModel } from "@encdec/modeling";
 * const model = await EncoderDecoderModel.fromPretrained("tests/testdata/fixtures/bert2bert");
 * const out = await model.forward({ inputIds: [[2, 65, 3]], labels: [[88, 3]] });
 * out.logits.dims; // [1, 2, 99]
 * ```
 *
 * @module
 */
export * from "./tensor.ts";
export * from "./backend.ts";
export { cpu, CpuBackend, erf } from "./backends/cpu/cpu.ts";
export * from "./weights/mod.ts";
export * from "./models/encoder_decoder.ts";
export * from "./models/outputs.ts";
export * from "./models/device.ts";
export * from "./models/cache.ts";
export * from "./models/bert.ts";
export * from "./models/roberta.ts";
export * from "./models/bert_generation.ts";
export * from "./models/gpt2.ts";
export * from "./models/xlm_roberta.ts";
export * from "./models/camembert.ts";
export * from "./models/electra.ts";
export * from "./models/distilbert.ts";
export * from "./models/longformer.ts";
export * from "./autograd/mod.ts";
export { NormalRng, seededRandom } from "./random.ts";
export * from "./training/mod.ts";
export { ModelInputError, ModelLoadError } from "./models/errors.ts";
export { type InitKind, type LoadingInfo, type ParamSpec, ParamView } from "./models/key_table.ts";
export { formatLoadingInfo, type LoadingPlanInput, planLoading } from "./models/loading_info.ts";
export type {
  DecoderArgs,
  DecoderOutput,
  DecoderStack,
  EncoderArgs,
  EncoderOutput,
  EncoderStack,
  Ids,
  Mask,
  StackOutput,
} from "./models/stacks.ts";
export * from "./backends/webgpu/mod.ts";
export * from "./backends/onnx/mod.ts";
