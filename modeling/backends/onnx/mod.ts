/**
 * `@encdec/modeling` onnxruntime backend: ONNX graphs built in TypeScript from any supported
 * Hugging Face encoder-decoder checkpoint (BERT / RoBERTa / BertGeneration encoders; BERT /
 * RoBERTa / BertGeneration / GPT-2 decoders with cross-attention), run by onnxruntime-node
 * (native) or onnxruntime-web (wasm). `OnnxEncoderDecoder` implements generation's
 * `Seq2SeqModel` interface.
 *
 * @example
 * ```ts ignore
 * import { OnnxEncoderDecoder } from "./mod.ts";
 * const model = await OnnxEncoderDecoder.fromPretrained("tests/testdata/fixtures/bert2bert", {
 *   runtime: "auto",
 *   precision: "fp32",
 * });
 * const state = await model.encode([[2, 65, 53, 3]], [[1, 1, 1, 1]]);
 * const { logits } = await model.decodeStep(state, [[2]], null);
 * logits.length; // 99 (= vocabSize)
 * await model.release();
 * ```
 *
 * @module
 */
export {
  type OnnxCrossKV,
  type OnnxDecoderCache,
  OnnxEncoderDecoder,
  type OnnxEncoderDecoderClass,
  type OnnxEncoderState,
  type OnnxModelOptions,
} from "./onnx_model.ts";
export { type HostMatrix, OnnxModelError, type OnnxPrecision } from "./_graph.ts";
export {
  Checkpoint,
  type CheckpointEntry,
  type FileTensor,
  type LinearWeights,
  openSafetensorsCheckpoint,
} from "./_checkpoint.ts";
export {
  OnnxRuntimeError,
  type OnnxRuntimeName,
  type OnnxRuntimeStatus,
  onnxRuntimeStatus,
} from "./_runtime.ts";
export { buildEncoderGraph } from "./encoder_graph.ts";
export {
  buildCrossKVGraph,
  buildDecoderStepGraph,
  type DecoderLayout,
  decoderLayout,
} from "./decoder_graph.ts";
export {
  type AttrValue,
  encodeModel,
  type GraphSpec,
  type NodeSpec,
  type OnnxDType,
  OnnxProtoError,
  type TensorSpec,
  type ValueInfoSpec,
} from "./_onnx_proto.ts";
