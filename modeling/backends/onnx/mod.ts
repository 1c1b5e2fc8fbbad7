/**
 * `@encdec/modeling` onnxruntime backend: ONNX graphs traced from the model code of any
 * supported Hugging Face encoder-decoder checkpoint by a graph-recording backend
 * (`OnnxRecorder`), run by onnxruntime-node (native) or onnxruntime-web (wasm).
 * `OnnxEncoderDecoder` implements generation's `Seq2SeqModel` interface.
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
export {
  GraphBuilder,
  type LazyInitializer,
  OnnxModelError,
  type OnnxPrecision,
} from "./graph_builder.ts";
export { WeightInitializers, type WeightUse } from "./weight_initializers.ts";
export {
  type CheckpointEntry,
  type CheckpointWeight,
  CheckpointWeights,
  type FileTensor,
  openSafetensorsCheckpoint,
} from "./checkpoint.ts";
export {
  OnnxRuntimeError,
  type OnnxRuntimeName,
  type OnnxRuntimeStatus,
  onnxRuntimeStatus,
} from "./runtime.ts";
export { OnnxRecorder } from "./recorder.ts";
export { AttentionRecorder } from "./recorded_attention.ts";
export {
  type AppendedKV,
  type SizeTerm,
  Sym,
  SymbolicGraph,
  type SymDType,
  type SymTags,
  type TraceLimit,
} from "./symbolic_graph.ts";
export {
  checkLimits,
  type DecoderLayout,
  GraphTracer,
  SENTINELS,
  sentinelsAvoiding,
  type TracedGraph,
} from "./traced_graphs.ts";
export {
  type AttrValue,
  encodeModel,
  type ExternalDataRef,
  type GraphSpec,
  type HalfWords,
  type NodeSpec,
  type OnnxDType,
  OnnxProtoError,
  type TensorSpec,
  type ValueInfoSpec,
} from "./_onnx_proto.ts";
