/**
 * The one device registry: every device registers once (its name, what it needs, the dtypes it
 * runs, how to probe it here and how to start it), and one policy turns what a user writes
 * (`"cpu"`, `"webgpu"`, `"onnx"`, `"auto"`, a GPU number as in Python: `0`, `"cuda:1"`, `"gpu"`,
 * `-1` for the CPU) into the device that runs the model, with one line saying why.
 *
 * `auto`: a real (hardware) WebGPU adapter > onnxruntime-node > onnxruntime-web > cpu.
 *
 * @module
 */
import { EncdecError } from "@encdec/config";
import type { Backend } from "../backend.ts";
import { cpu } from "../backends/cpu/cpu.ts";
import { AutogradBackend } from "../autograd/backend.ts";
import { OrtCpuBackend } from "../autograd/ort_cpu.ts";
import { WebGpuBackend } from "../backends/webgpu/mod.ts";
import { onnxRuntimeStatus } from "../backends/onnx/mod.ts";

/** A device spelling that is not a device, or a dtype the chosen device does not run. */
export class DeviceError extends EncdecError {}

/** A known device that cannot run here (no adapter, no `--allow-ffi`, unreadable wasm, ...). */
export class DeviceUnavailableError extends DeviceError {}

/** Weight dtypes (`int8`: per-channel int8 linear layers, onnxruntime devices only). */
export const DTYPES = ["float32", "float16", "bfloat16", "int8"] as const;

/** A weight dtype: {@linkcode DTYPES}. */
export type Dtype = typeof DTYPES[number];

/**
 * What a user passes as `device`: a registered name (`"cpu"`, `"webgpu"`, `"onnx-node"`, ...),
 * a policy (`"auto"`, `"onnx"`), a GPU as Python users write it (`0`, `"0"`, `"cuda"`,
 * `"cuda:1"`, `"gpu"`; `-1` is the CPU) or a backend instance.
 */
export type DeviceSpec = string | number | Backend<unknown>;

/** Whether a device can run here, and why not (or what it found). */
export interface DeviceAvailability {
  /** It can run here. */
  available: boolean;
  /** What was found (adapter, runtime version) or what is missing (the flag to add). */
  detail: string;
  /** For WebGPU: the adapter is real hardware (not a software fallback such as lavapipe). */
  hardware?: boolean;
}

/** One registered device. */
export interface DeviceDefinition {
  /** The name `device` takes. */
  name: string;
  /** One line: what it needs here (permissions, adapter, runtime). */
  needs: string;
  /** A few words on what runs the model (`"onnxruntime-node, native"`); default: the probe's detail. */
  label?: string;
  /** The weight dtypes it runs. */
  dtypes: readonly Dtype[];
  /** It records gradients (training devices). */
  trains?: boolean;
  /** For onnxruntime devices: which runtime runs the model's graphs (no `create`). */
  runtime?: "node" | "web";
  /** Starts the backend (backend devices). */
  create?: () => Backend<unknown> | Promise<Backend<unknown>>;
  /** Whether it can run here (never prompts for a permission). */
  probe: () => Promise<DeviceAvailability>;
  /** It can run exactly where this other device can (`autograd-ort`: `onnx-node`). */
  availableWith?: string;
}

/** Where a model runs, as {@linkcode selectDevice} decided. */
export interface DeviceChoice {
  /** The registered device that runs the model (`"cpu"`, `"webgpu"`, `"onnx-node"`, ...). */
  device: string;
  /** `"onnx"` for both onnxruntime devices, else `device`. */
  name: string;
  /** The backend, for backend devices. */
  backend?: Backend<unknown>;
  /** The onnxruntime package, for onnxruntime devices. */
  runtime?: "node" | "web";
  /** One line: what runs the model (and for `auto` or a GPU spelling, why). */
  reason: string;
  /** What was asked for, as written (`"auto"`, `"0"`, `"cuda:1"`, ...). */
  requested: string;
  /** Set when a GPU was asked for but none is here: one line saying so and what runs instead. */
  fallback?: string;
}

/** Options of {@linkcode selectDevice}. */
export interface SelectDeviceOptions {
  /** The weight dtype: only devices that run it qualify. */
  dtype?: Dtype;
  /** Pick among training devices (`auto` → `autograd-ort` when onnxruntime-node loads, else `autograd`). */
  training?: boolean;
  /** Pick among backend devices only (`auto` never picks onnxruntime). */
  backendOnly?: boolean;
  /** Availability overrides by device name (tests inject what a machine has). */
  probes?: Record<string, () => Promise<DeviceAvailability>>;
}

const FLOATS = ["float32", "float16", "bfloat16"] as const;
const ONNX_DTYPES = ["float32", "float16", "int8"] as const;

async function onnxProbe(which: "node" | "web"): Promise<DeviceAvailability> {
  const s = (await onnxRuntimeStatus())[which];
  return { available: s.available, detail: s.detail };
}

async function webgpuProbe(): Promise<DeviceAvailability> {
  const p = await WebGpuBackend.probe().catch((e) => ({
    available: false as const,
    isFallbackAdapter: false,
    reason: (e as Error).message,
    description: "",
  }));
  if (!p.available) return { available: false, detail: p.reason ?? "no WebGPU adapter" };
  return {
    available: true,
    hardware: !p.isFallbackAdapter,
    detail: p.isFallbackAdapter
      ? `adapter "${p.description}" is a software fallback`
      : `adapter "${p.description}"`,
  };
}

let gpu: Promise<WebGpuBackend> | undefined;
/** The process's one WebGPU backend, opened on first use (a failed open is not cached). */
function webgpu(): Promise<Backend<unknown>> {
  gpu ??= WebGpuBackend.create();
  gpu.catch(() => (gpu = undefined));
  return gpu as Promise<Backend<unknown>>;
}

const ready = (detail: string) => () => Promise.resolve({ available: true, detail });

const DEVICES = new Map<string, DeviceDefinition>();

/**
 * Registers a device for the `device` option of `EncoderDecoderModel.fromPretrained`,
 * `pipeline()` and the CLI's `--device`: a name, a backend factory and (optionally) what it
 * needs, the dtypes it runs and a probe. Registering a name again replaces it.
 *
 * @example
 * ```ts
 * import { cpu, registerDevice } from "@encdec/modeling";
 * registerDevice("my-cpu", () => cpu, { needs: "nothing", dtypes: ["float32"] });
 * ```
 */
export function registerDevice(
  name: string,
  create: () => Backend<unknown> | Promise<Backend<unknown>>,
  info: Partial<Omit<DeviceDefinition, "name" | "create">> = {},
): void {
  DEVICES.set(name, {
    name,
    create,
    needs: info.needs ?? "nothing",
    dtypes: info.dtypes ?? FLOATS,
    trains: info.trains,
    label: info.label,
    probe: info.probe ?? ready(name),
    availableWith: info.availableWith,
  });
}

/** Registers an onnxruntime device (the model's graphs run whole on that runtime). */
function registerOnnx(name: string, runtime: "node" | "web", needs: string, label: string): void {
  DEVICES.set(name, {
    name,
    runtime,
    needs,
    label,
    dtypes: ONNX_DTYPES,
    probe: () => onnxProbe(runtime),
  });
}

registerDevice("cpu", () => cpu as Backend<unknown>, {
  needs: "nothing (TypeScript kernels)",
  label: "TypeScript",
});
registerDevice("webgpu", webgpu, {
  needs: "--unstable-webgpu and a WebGPU adapter (lavapipe counts: software)",
  probe: webgpuProbe,
});
registerDevice("autograd", () => new AutogradBackend(cpu) as Backend<unknown>, {
  needs: "nothing (the CPU backend with a gradient tape, for training)",
  label: "cpu with a gradient tape",
  dtypes: ["float32"],
  trains: true,
});
registerDevice(
  "autograd-ort",
  async () => new AutogradBackend(await OrtCpuBackend.create()) as Backend<unknown>,
  {
    needs: "--allow-ffi (the large matmuls on onnxruntime-node)",
    label: "cpu with a gradient tape, large matmuls on onnxruntime-node",
    dtypes: ["float32"],
    trains: true,
    probe: () => onnxProbe("node"),
    availableWith: "onnx-node",
  },
);
registerOnnx(
  "onnx-node",
  "node",
  "--allow-ffi (onnxruntime-node, a native add-on)",
  "onnxruntime-node, native",
);
registerOnnx(
  "onnx-web",
  "web",
  "read access to onnxruntime-web's wasm files (node_modules)",
  "onnxruntime-web, wasm",
);

/** The registered devices, in registration order (for `encdec env` and error messages). */
export function listDevices(): DeviceDefinition[] {
  return [...DEVICES.values()];
}

/** Every spelling `device` accepts, for messages. */
function accepted(): string {
  return `${[...DEVICES.keys(), "onnx", "auto"].join(", ")}, a GPU number N ≥ 0 ` +
    `(or cuda, cuda:N, gpu, gpu:N) or -1 for the CPU`;
}

/** A device spelling read: a device or policy name, or a GPU (`gpuIndex`). */
export interface ParsedDevice {
  /** A registered name, `"onnx"`, `"auto"`, or `"gpu"` for a GPU spelling. */
  name: string;
  /** The GPU number of a GPU spelling (`cuda` and `gpu` are 0). */
  gpuIndex?: number;
}

/**
 * Reads a device as Python users write it: `N ≥ 0` (number or string), `"cuda"`, `"cuda:N"`,
 * `"gpu"`, `"gpu:N"` are GPU N; `-1` is the CPU; names are registered devices or `"onnx"` /
 * `"auto"`. Anything else throws a {@linkcode DeviceError} listing what is accepted.
 *
 * @example
 * ```ts
 * import { parseDevice } from "@encdec/modeling";
 * parseDevice("cuda:1"); // { name: "gpu", gpuIndex: 1 }
 * parseDevice(-1); // { name: "cpu" }
 * ```
 */
export function parseDevice(spec: string | number): ParsedDevice {
  if (typeof spec === "number") {
    if (spec === -1) return { name: "cpu" };
    if (Number.isInteger(spec) && spec >= 0) return { name: "gpu", gpuIndex: spec };
    throw new DeviceError(`unknown device ${spec}: expected one of ${accepted()}`);
  }
  const s = String(spec).trim().toLowerCase();
  if (s === "-1") return { name: "cpu" };
  if (/^\d+$/.test(s)) return { name: "gpu", gpuIndex: Number(s) };
  const m = s.match(/^(cuda|gpu)(?::(\d+))?$/);
  if (m) return { name: "gpu", gpuIndex: m[2] === undefined ? 0 : Number(m[2]) };
  if (s === "onnx" || s === "auto" || DEVICES.has(s)) return { name: s };
  throw new DeviceError(`unknown device "${spec}": expected one of ${accepted()}`);
}

/** Throws unless device `def` runs `dtype` (`asked`: the device as the user wrote it). */
function checkDtype(def: DeviceDefinition, dtype: Dtype | undefined, asked: string): void {
  if (dtype === undefined || def.dtypes.includes(dtype)) return;
  if (dtype === "int8") {
    throw new DeviceError(
      `dtype "int8" needs device onnx (or auto); device "${asked}" has no int8`,
    );
  }
  throw new DeviceError(
    `dtype "${dtype}" is not supported on device ${asked}; it runs ${def.dtypes.join(", ")}`,
  );
}

/**
 * Checks `dtype` against a device named as the user wrote it, before anything loads: a
 * registered device's dtypes, `onnx`'s (both runtimes run the same); `auto` and GPU spellings
 * choose among devices, so they are checked when the choice is made.
 *
 * @example
 * ```ts
 * import { checkDeviceDtype } from "@encdec/modeling";
 * checkDeviceDtype("onnx", "int8"); // fine
 * // checkDeviceDtype("cpu", "int8") throws DeviceError: dtype "int8" needs device onnx ...
 * ```
 */
export function checkDeviceDtype(spec: string | number, dtype: Dtype | undefined): void {
  const p = parseDevice(spec);
  const def = DEVICES.get(p.name === "onnx" ? "onnx-node" : p.name);
  if (def) checkDtype(def, dtype, String(spec));
}

/** Starts a device that was checked (or is known) to run here. */
async function start(
  def: DeviceDefinition,
  requested: string,
  reason: string,
): Promise<DeviceChoice> {
  if (def.runtime) {
    return { device: def.name, name: "onnx", runtime: def.runtime, reason, requested };
  }
  let backend: Backend<unknown>;
  try {
    backend = await def.create!();
  } catch (e) {
    throw new DeviceUnavailableError(
      `device "${def.name}" cannot run here: ${(e as Error).message} (it needs ${def.needs})`,
      { cause: e },
    );
  }
  return { device: def.name, name: def.name, backend, reason, requested };
}

/** Probes `name`, honouring injected probes. */
function probe(name: string, opts: SelectDeviceOptions): Promise<DeviceAvailability> {
  const def = DEVICES.get(name)!;
  const injected = opts.probes?.[name] ?? opts.probes?.[def.availableWith ?? ""];
  if (injected) return injected();
  return def.probe();
}

/**
 * The `auto` policy: a real WebGPU adapter > onnxruntime-node > onnxruntime-web > cpu, keeping
 * only devices that run `dtype` (training: `autograd-ort` > `autograd`). `skipGpu`: the caller
 * already knows there is no hardware adapter (a GPU spelling falling back).
 */
async function auto(
  requested: string,
  opts: SelectDeviceOptions,
  skipGpu?: string,
): Promise<DeviceChoice> {
  const order = opts.training
    ? ["autograd-ort", "autograd"]
    : opts.backendOnly
    ? ["webgpu", "cpu"]
    : ["webgpu", "onnx-node", "onnx-web", "cpu"];
  const skipped: string[] = [];
  for (const name of order) {
    const def = DEVICES.get(name)!;
    if (opts.dtype && !def.dtypes.includes(opts.dtype)) {
      skipped.push(`${name} has no ${opts.dtype}`);
      continue;
    }
    if (name === "webgpu" && skipGpu) {
      skipped.push(skipGpu);
      continue;
    }
    const a = await probe(name, opts);
    if (name === "webgpu" && a.available && !a.hardware) {
      skipped.push(`webgpu skipped: ${a.detail}`);
      continue;
    }
    if (!a.available) {
      skipped.push(`${name}: ${a.detail}`);
      continue;
    }
    const why = [def.label ?? a.detail, ...skipped].join("; ");
    return await start(def, requested, `${name} (${why})`);
  }
  throw new DeviceUnavailableError(
    `device "${requested}"${opts.dtype ? ` with dtype "${opts.dtype}"` : ""}: no device can ` +
      `run here (${skipped.join("; ")})`,
  );
}

/**
 * Decides where a model runs, and starts its backend:
 * - a registered name runs there or throws {@linkcode DeviceUnavailableError} (what it needs);
 * - `"onnx"`: onnxruntime-node when it loads (`--allow-ffi`), else onnxruntime-web;
 * - `"auto"`: a real WebGPU adapter > onnxruntime-node > onnxruntime-web > cpu;
 * - a GPU (`0`, `"cuda:1"`, `"gpu"`): WebGPU on a hardware adapter, else auto's choice without
 *   WebGPU, with `fallback` set to one line saying so; `-1`: the CPU.
 *
 * Every choice checks `dtype` against the device's dtypes (`int8`: onnxruntime only).
 *
 * @example
 * ```ts
 * import { selectDevice } from "@encdec/modeling";
 * const choice = await selectDevice("auto");
 * console.log(choice.device, choice.reason); // e.g. "onnx-node" "onnx-node (onnxruntime-node ...)"
 * ```
 */
export async function selectDevice(
  spec: DeviceSpec = "cpu",
  options: SelectDeviceOptions = {},
): Promise<DeviceChoice> {
  if (typeof spec === "object") {
    if (options.dtype === "int8") {
      throw new DeviceError(
        `dtype "int8" needs device onnx (or auto); device "${spec.name}" has no int8`,
      );
    }
    return {
      device: spec.name,
      name: spec.name,
      backend: spec,
      reason: spec.name,
      requested: spec.name,
    };
  }
  const requested = String(spec);
  const p = parseDevice(spec);
  if (p.name === "auto") return await auto(requested, options);
  if (p.name === "gpu") {
    const a = options.training ? null : await probe("webgpu", options);
    if (a?.available && a.hardware) {
      const def = DEVICES.get("webgpu")!;
      checkDtype(def, options.dtype, requested);
      const one = p.gpuIndex! > 0 ? `; GPU ${p.gpuIndex} is the one adapter WebGPU offers` : "";
      return await start(def, requested, `webgpu (${a.detail}${one})`);
    }
    const why = options.training
      ? "training runs on the CPU"
      : a?.available
      ? `no hardware GPU: WebGPU's only ${a.detail}`
      : `no GPU: ${a?.detail ?? "no WebGPU adapter"}`;
    const c = await auto(requested, options, why);
    return { ...c, fallback: `device ${requested}: ${why}; running on ${c.device} instead` };
  }
  if (p.name === "onnx") {
    const node = DEVICES.get("onnx-node")!;
    checkDtype(node, options.dtype, requested);
    const n = await probe("onnx-node", options);
    if (n.available) return await start(node, requested, `onnx-node (${node.label})`);
    const w = await probe("onnx-web", options);
    const web = DEVICES.get("onnx-web")!;
    if (w.available) {
      return await start(web, requested, `onnx-web (${web.label}; onnx-node: ${n.detail})`);
    }
    throw new DeviceUnavailableError(
      `device "onnx" cannot run here: onnxruntime-node ${n.detail}, and ${w.detail}; or use ` +
        `device cpu`,
    );
  }
  const def = DEVICES.get(p.name)!;
  checkDtype(def, options.dtype, requested);
  if (options.training && !def.trains) {
    throw new DeviceError(
      `device "${requested}" records no gradients; training runs on autograd, autograd-ort or auto`,
    );
  }
  if (def.runtime) {
    if (options.backendOnly) {
      throw new DeviceError(
        `device "${requested}" runs whole graphs on onnxruntime, not a Backend; load the model ` +
          `with EncoderDecoderModel.fromPretrained(dir, { device: "${requested}" })`,
      );
    }
    const a = await probe(p.name, options);
    if (!a.available) {
      throw new DeviceUnavailableError(
        `device "${requested}" cannot run here: ${a.detail} (it needs ${def.needs})`,
      );
    }
    return await start(def, requested, `${def.name} (${def.label ?? a.detail})`);
  }
  return await start(def, requested, def.label ? `${def.name} (${def.label})` : def.name);
}

/**
 * The backend of a backend device (`"cpu"`, `"webgpu"`, `"autograd"`, a GPU spelling, `"auto"`
 * among backend devices, ...). onnxruntime devices have none: use
 * `EncoderDecoderModel.fromPretrained(dir, { device })`.
 *
 * @example
 * ```ts
 * import { resolveDevice } from "@encdec/modeling";
 * const backend = await resolveDevice("cpu");
 * backend.name; // "cpu"
 * ```
 */
export async function resolveDevice(device: DeviceSpec = "cpu"): Promise<Backend<unknown>> {
  return (await selectDevice(device, { backendOnly: true })).backend!;
}

/** The backend of a device that starts synchronously (the constructor's case: cpu, autograd). */
export function deviceSync(device: DeviceSpec = "cpu"): Backend<unknown> {
  if (typeof device === "object") return device;
  const p = parseDevice(device);
  const def = DEVICES.get(p.name);
  const b = def?.create?.();
  if (!b || b instanceof Promise) {
    throw new DeviceError(
      `device "${device}" starts asynchronously (or is not a backend device): pass a Backend ` +
        `instance or use EncoderDecoderModel.fromPretrained(dir, { device })`,
    );
  }
  return b;
}
