/**
 * Devices as the CLI and `pipeline()` take them: the modeling package's one registry
 * (`selectDevice`, `parseDevice`, the dtype × device table, `DeviceError` /
 * `DeviceUnavailableError`), the spellings `--device` accepts, and the one line the CLI writes
 * on stderr about where a model runs.
 *
 * @module
 */
import { type DeviceChoice, DeviceError, parseDevice } from "@encdec/modeling";

export {
  checkDeviceDtype,
  type DeviceAvailability,
  type DeviceChoice,
  type DeviceDefinition,
  DeviceError,
  type DeviceSpec,
  DeviceUnavailableError,
  type Dtype,
  DTYPES,
  listDevices,
  type ParsedDevice,
  parseDevice,
  selectDevice,
  type SelectDeviceOptions,
} from "@encdec/modeling";

/**
 * The device names `--device` and `pipeline({ device })` accept: the registered devices and the
 * `onnx` / `auto` policies. GPUs as Python users write them (`0`, `"cuda"`, `"cuda:N"`, `"gpu"`,
 * `-1` for the CPU) are accepted too ({@linkcode parseDevice}).
 */
export const DEVICE_NAMES = [
  "auto",
  "cpu",
  "webgpu",
  "onnx",
  "onnx-node",
  "onnx-web",
  "autograd",
  "autograd-ort",
] as const;

/**
 * Checks a `--device` value (`"auto"`, `"cpu"`, `"0"`, `"cuda:1"`, `"-1"`, ...) and returns it
 * unchanged; a spelling that names no device throws {@linkcode DeviceError} listing them.
 *
 * @example
 * ```ts
 * import { checkDeviceSpelling } from "@encdec/cli";
 * checkDeviceSpelling("cuda:0"); // "cuda:0"
 * ```
 */
export function checkDeviceSpelling(value: string): string {
  parseDevice(value);
  return value;
}

/**
 * The one stderr line about where a model runs, or `null` when the user named the device that
 * runs it: a GPU spelling that fell back to the CPU path says so; `auto` and `onnx` say what
 * they picked and why.
 *
 * @example
 * ```ts
 * import { deviceLine, selectDevice } from "@encdec/cli";
 * console.error(deviceLine(await selectDevice("auto"))); // "encdec: --device auto → ..."
 * ```
 */
export function deviceLine(choice: DeviceChoice): string | null {
  // `fallback` reads "device 0: ...": the CLI names its option.
  if (choice.fallback) return `encdec: --${choice.fallback}`;
  let asked: string;
  try {
    asked = parseDevice(choice.requested).name;
  } catch (e) {
    if (e instanceof DeviceError) return null; // a Backend instance named by its own name
    throw e;
  }
  if (asked === "auto" || asked === "onnx" || asked === "gpu") {
    return `encdec: --device ${choice.requested} → ${choice.reason}`;
  }
  return null;
}
