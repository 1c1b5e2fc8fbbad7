/**
 * `@encdec/cli`: `pipeline()` and the `encdec` command line, assembled from the other packages.
 * One import serves scripts: it re-exports `AutoTokenizer`, the generation-enabled
 * `EncoderDecoderModel` (one class on every device: `fromPretrained(dir, { device })` with cpu,
 * webgpu, onnx, auto, a GPU number, ...), `AutoModelForSeq2SeqLM`, the device registry
 * (`selectDevice`), `AutoConfig` and `EncoderDecoderConfig`. `OnnxEncoderDecoder` is a deprecated
 * alias (use `device: "onnx"`).
 *
 * @example
 * ```ts
 * import { pipeline } from "@encdec/cli";
 * const summarizer = await pipeline("summarization", "tests/testdata/fixtures/bert2bert");
 * console.log(await summarizer("The quick brown fox sat on the old mat.", { numBeams: 4 }));
 * ```
 *
 * @module
 */
export {
  createText2TextPipeline,
  defaultModelPath,
  pipeline,
  type PipelineCallOptions,
  PipelineError,
  type PipelineOptions,
  type PipelineOutput,
  type PipelineResult,
  type PipelineTask,
  type Text2TextModel,
  type Text2TextPipeline,
  type TruncationInfo,
  truncationMessage,
} from "./pipeline.ts";
export {
  checkDeviceDtype,
  checkDeviceSpelling,
  DEVICE_NAMES,
  type DeviceAvailability,
  type DeviceChoice,
  type DeviceDefinition,
  DeviceError,
  deviceLine,
  type DeviceSpec,
  DeviceUnavailableError,
  type Dtype,
  DTYPES,
  listDevices,
  type ParsedDevice,
  parseDevice,
  selectDevice,
  type SelectDeviceOptions,
} from "./device.ts";
export {
  ENV_VARS,
  HUB_HOSTS,
  looksLikeLocalModel,
  permissionFlags,
  type PermissionScope,
} from "./permissions.ts";
export {
  type LaunchContext,
  LAUNCHER_ENV,
  LAUNCHER_PERMISSIONS,
  type LaunchPlan,
  planLaunch,
} from "./launch.ts";
export {
  rougeCorpus,
  type RougeOptions,
  type RougeResult,
  type RougeScore,
  rougeScores,
} from "./metrics/rouge.ts";
export { AutoTokenizer, type PreTrainedTokenizer } from "@encdec/tokenization";
export {
  AutoModelError,
  AutoModelForCausalLM,
  AutoModelForSeq2SeqLM,
  EncoderDecoderModel,
  type GenerateOptions,
  type GenerateOutput,
  OnnxEncoderDecoder,
} from "@encdec/generation";
export { AutoConfig, EncdecError, EncoderDecoderConfig, GenerationConfig } from "@encdec/config";
