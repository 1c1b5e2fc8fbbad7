/**
 * The `device` option of `EncoderDecoderModel`: a registry of backend factories by name
 * (`"cpu"` built in; the WebGPU / onnx backends register theirs) or a `Backend` instance.
 *
 * @module
 */
import type { Backend } from "../backend.ts";
import { cpu } from "../backends/cpu/cpu.ts";
import { AutogradBackend } from "../autograd/backend.ts";
import { OrtCpuBackend } from "../autograd/ort_cpu.ts";
import { WebGpuBackend } from "../backends/webgpu/mod.ts";
import { ModelLoadError } from "./errors.ts";

/**
 * A device by registered name (`"cpu"`, `"autograd"` = CPU with a gradient tape for training,
 * `"autograd-ort"` = the same with onnxruntime-node matmuls, `"webgpu"`, ...) or a backend
 * instance.
 */
export type DeviceSpec = string | Backend<unknown>;

const DEVICES = new Map<string, () => Backend<unknown> | Promise<Backend<unknown>>>([
  ["cpu", () => cpu as Backend<unknown>],
  // Training: the CPU backend with a tape (a fresh one per model).
  ["autograd", () => new AutogradBackend(cpu) as Backend<unknown>],
  // Training with the large matmuls on onnxruntime-node (async: loads the native add-on).
  [
    "autograd-ort",
    async () => new AutogradBackend(await OrtCpuBackend.create()) as Backend<unknown>,
  ],
  // WebGPU: one device per process, opened on first use (needs --unstable-webgpu).
  ["webgpu", () => webgpu()],
  // "auto": WebGPU only on a real (non-fallback) adapter, else the CPU.
  ["auto", async () => {
    const probe = await WebGpuBackend.probe();
    return probe.available && !probe.isFallbackAdapter ? await webgpu() : cpu as Backend<unknown>;
  }],
]);

let gpu: Promise<WebGpuBackend> | undefined;
function webgpu(): Promise<Backend<unknown>> {
  gpu ??= WebGpuBackend.create();
  // A failed open is not cached: a later call may find the adapter.
  gpu.catch(() => (gpu = undefined));
  return gpu as Promise<Backend<unknown>>;
}

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
