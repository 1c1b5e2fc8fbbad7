/**
 * Device names of the CLI and `pipeline()` (`cpu`, `webgpu`, `onnx`, `auto`) turned into where the
 * model runs: a TypeScript backend (`cpu`, `webgpu`) or onnxruntime (`onnx`: onnxruntime-node when
 * `--allow-ffi` is granted, else onnxruntime-web), with one clear error when a device cannot be
 * used here and one line saying what `auto` picked.
 *
 * @module
 */
import { EncdecError } from "@encdec/config";
import {
  type DeviceSpec,
  ModelLoadError,
  onnxRuntimeStatus,
  resolveDevice,
  WebGpuBackend,
} from "@encdec/modeling";

/** A device that this build or this machine cannot provide. */
export class DeviceError extends EncdecError {}

/** Device names the CLI accepts. */
export const DEVICE_NAMES = ["cpu", "webgpu", "onnx", "auto"] as const;

/** Weight dtypes of `pipeline()` / `encdec run --dtype` (`int8`: onnx only). */
export const DTYPES = ["float32", "float16", "bfloat16", "int8"] as const;

/** A weight dtype: {@linkcode DTYPES}. */
export type Dtype = typeof DTYPES[number];

/** Where a model will run, as {@linkcode selectDevice} decided. */
export type DeviceChoice =
  | {
    /** `"cpu"`, `"webgpu"` or the backend's own name. */
    name: string;
    /** The TypeScript backend for `EncoderDecoderModel`. */
    backend: DeviceSpec;
    /** One line: what runs the model (and for `auto`, why). */
    reason: string;
  }
  | {
    /** onnxruntime runs the model's ONNX graphs (`OnnxEncoderDecoder`). */
    name: "onnx";
    /** Which onnxruntime package. */
    runtime: "node" | "web";
    /** One line: what runs the model (and for `auto`, why). */
    reason: string;
  };

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

/** The onnxruntime to use: node when it loads, else web when its wasm is readable, else why not. */
async function onnxRuntime(): Promise<{ runtime: "node" | "web" | null; why: string }> {
  const { node, web } = await onnxRuntimeStatus();
  if (node.available) return { runtime: "node", why: "onnxruntime-node, native" };
  if (web.available) {
    return { runtime: "web", why: `onnxruntime-web, wasm; onnxruntime-node ${node.detail}` };
  }
  // node.detail / web.detail say what to add (--allow-ffi, --allow-read=<wasm dir>).
  return { runtime: null, why: `onnxruntime-node ${node.detail}, and ${web.detail}` };
}

/**
 * Resolves `spec` to where the model runs:
 * - `"cpu"` always works; `"webgpu"` needs a WebGPU adapter (and `--unstable-webgpu`);
 * - `"onnx"`: onnxruntime-node when it loads (`--allow-ffi`), else onnxruntime-web (wasm, needs
 *   read access to its wasm files under `node_modules`); else a `DeviceError` naming both fixes;
 * - `"auto"`: WebGPU on a real (non-fallback) adapter, else onnx when a runtime is usable, else
 *   CPU. With `dtype: "int8"` only onnx qualifies; with `"bfloat16"` onnx does not.
 *
 * @example
 * ```ts
 * import { selectDevice } from "@encdec/cli";
 * const choice = await selectDevice("auto");
 * console.log(choice.name, choice.reason); // e.g. "onnx" "onnx (onnxruntime-node, native; ...)"
 * ```
 */
export async function selectDevice(
  spec: DeviceSpec | "auto",
  options: { dtype?: Dtype } = {},
): Promise<DeviceChoice> {
  if (typeof spec !== "string") return { name: spec.name, backend: spec, reason: spec.name };
  const int8 = options.dtype === "int8";
  if (int8 && spec !== "onnx" && spec !== "auto") {
    throw new DeviceError(`dtype "int8" needs device onnx (or auto); device "${spec}" has no int8`);
  }
  if (spec === "cpu") return { name: "cpu", backend: "cpu", reason: "cpu (TypeScript)" };
  if (spec === "onnx") {
    const { runtime, why } = await onnxRuntime();
    if (runtime === null) {
      throw new DeviceError(`device "onnx" cannot run here: ${why}; or use --device cpu`);
    }
    return { name: "onnx", runtime, reason: `onnx (${why})` };
  }
  if (spec === "auto") {
    // A software adapter (llvmpipe, SwiftShader) is slower than the CPU backend: skip it.
    const probe = int8 ? null : await WebGpuBackend.probe().catch(() => null);
    let gpuWhy = int8
      ? "int8 runs on onnx only"
      : !probe?.available
      ? "no WebGPU adapter"
      : probe.isFallbackAdapter
      ? `WebGPU adapter "${probe.description}" is a software fallback`
      : "";
    if (gpuWhy === "") {
      try {
        const gpu = await tryDevice("webgpu");
        if (gpu !== null) {
          return { name: "webgpu", backend: gpu, reason: `webgpu (${probe!.description})` };
        }
        gpuWhy = "webgpu not in this build";
      } catch (e) {
        gpuWhy = (e as Error).message;
      }
    }
    if (options.dtype === "bfloat16") {
      return { name: "cpu", backend: "cpu", reason: `cpu (${gpuWhy}; onnx has no bfloat16)` };
    }
    const { runtime, why } = await onnxRuntime();
    if (runtime !== null) return { name: "onnx", runtime, reason: `onnx (${why}; ${gpuWhy})` };
    if (int8) throw new DeviceError(`dtype "int8" needs onnx, which cannot run here: ${why}`);
    return { name: "cpu", backend: "cpu", reason: `cpu (${gpuWhy}; ${why})` };
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
  return { name: spec, backend, reason: spec };
}
