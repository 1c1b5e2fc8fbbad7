/**
 * Device names of the CLI and `pipeline()` (`cpu`, `webgpu`, `onnx`, `auto`) turned into a
 * backend, with one clear error when a device is not part of this build.
 *
 * @module
 */
import { EncdecError } from "@encdec/config";
import { type DeviceSpec, ModelLoadError, resolveDevice, WebGpuBackend } from "@encdec/modeling";

/** A device that this build or this machine cannot provide. */
export class DeviceError extends EncdecError {}

/** Device names the CLI accepts. */
export const DEVICE_NAMES = ["cpu", "webgpu", "onnx", "auto"] as const;

/** Whether the modeling package has a backend registered under `name` (creating it). */
async function tryDevice(name: string): Promise<DeviceSpec | null> {
  try {
    return await resolveDevice(name);
  } catch (e) {
    if (e instanceof ModelLoadError && /not registered/.test(e.message)) return null;
    throw new DeviceError(`device "${name}" failed to start: ${(e as Error).message}`, {
      cause: e,
    });
  }
}

/**
 * Resolves `spec` to a backend: `"cpu"` always works; `"webgpu"` and `"onnx"` need their backend
 * registered in `@encdec/modeling` (else a `DeviceError` says the device is not available in this
 * build); `"auto"` picks WebGPU when it starts, else CPU.
 */
export async function selectDevice(spec: DeviceSpec | "auto"): Promise<DeviceSpec> {
  if (typeof spec !== "string") return spec;
  if (spec === "cpu") return "cpu";
  if (spec === "auto") {
    // A software adapter (llvmpipe, SwiftShader) is slower than the CPU backend: skip it.
    const probe = await WebGpuBackend.probe().catch(() => null);
    if (!probe?.available || probe.isFallbackAdapter) return "cpu";
    try {
      return (await tryDevice("webgpu")) ?? "cpu";
    } catch {
      return "cpu";
    }
  }
  if (!(DEVICE_NAMES as readonly string[]).includes(spec)) {
    throw new DeviceError(`unknown device "${spec}": expected one of ${DEVICE_NAMES.join(", ")}`);
  }
  const backend = await tryDevice(spec);
  if (backend === null) {
    throw new DeviceError(
      `device "${spec}" is not available in this build; use --device cpu (or auto)`,
    );
  }
  return backend;
}
