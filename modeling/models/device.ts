/**
 * The `device` option of `EncoderDecoderModel`: a registry of backend factories by name
 * (`"cpu"` built in; the WebGPU / onnx backends register theirs) or a `Backend` instance.
 *
 * @module
 */
import type { Backend } from "../backend.ts";
import { cpu } from "../backends/cpu/cpu.ts";
import { ModelLoadError } from "./_params.ts";

/** A device by registered name (`"cpu"`, `"webgpu"`, ...) or a backend instance. */
export type DeviceSpec = string | Backend<unknown>;

const DEVICES = new Map<string, () => Backend<unknown> | Promise<Backend<unknown>>>([
  ["cpu", () => cpu as Backend<unknown>],
]);

/**
 * Registers a device name for the `device` option (the WebGPU / onnx backends call this).
 *
 * @example
 * ```ts
 * import { cpu, registerDevice } from "@encdec/modeling";
 * registerDevice("my-cpu", () => cpu);
 * ```
 */
export function registerDevice(
  name: string,
  factory: () => Backend<unknown> | Promise<Backend<unknown>>,
): void {
  DEVICES.set(name, factory);
}

/** Turns a device name (or instance) into a backend. */
export async function resolveDevice(device: DeviceSpec = "cpu"): Promise<Backend<unknown>> {
  if (typeof device !== "string") return device;
  const f = DEVICES.get(device);
  if (!f) {
    throw new ModelLoadError(
      `device "${device}" is not registered (expected one of ${[...DEVICES.keys()].join(", ")})`,
    );
  }
  return await f();
}

/** The backend of a device given synchronously (the constructor's case). */
export function deviceSync(device: DeviceSpec = "cpu"): Backend<unknown> {
  if (typeof device !== "string") return device;
  const b = DEVICES.get(device)?.();
  if (!b || b instanceof Promise) {
    throw new ModelLoadError(
      `device "${device}" is ${
        b ? "asynchronous" : "not registered"
      }: pass a Backend instance or use EncoderDecoderModel.fromPretrained`,
    );
  }
  return b;
}
