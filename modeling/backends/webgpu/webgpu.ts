/**
 * The WebGPU backend: every `Backend` op as a WGSL kernel on Deno's `navigator.gpu` (run Deno
 * with `--unstable-webgpu`). Ops only record work into one open command encoder; `read` submits
 * it and maps a staging buffer, so a whole forward pass is one submit and one readback.
 *
 * Storage is fp32 (`float32` and `int32` handles; int64 ids are narrowed to int32 on upload,
 * half-precision weights widened to fp32). Buffers come from a size-bucketed pool and go back to
 * it on `dispose`.
 *
 * @example
 * ```ts
 * import { WebGpuBackend } from "./mod.ts";
 * import { Tensor } from "../../tensor.ts";
 * const gpu = await WebGpuBackend.create();
 * const x = gpu.upload(Tensor.from([[1, 2], [3, 4]]));
 * const y = gpu.softmax(x);
 * (await gpu.read(y)).tolist(); // [[0.2689, 0.7311], [0.2689, 0.7311]]
 * gpu.destroy();
 * ```
 *
 * @module
 */
import type { Activation, AttentionOptions, Backend } from "../../backend.ts";
import { BackendError } from "../../backend.ts";
import { numel, Tensor } from "../../tensor.ts";
import {
  binarySource,
  castHalfSource,
  copySource,
  crossEntropyMeanSource,
  crossEntropyRowsSource,
  gatherSource,
  layerNormSource,
  matmulSource,
  type MatmulVariant,
  MAX_BATCH_RANK,
  MAX_RANK,
  SKINNY_M,
  SKINNY_N,
  softmaxSource,
  TILE_M,
  TILE_N,
  topkSource,
  unarySource,
  WG,
} from "./_kernels.ts";
import { BufferPool, type PoolStats } from "./_pool.ts";
import { broadcastShapes, broadcastStrides, fmt, stridesOf } from "../cpu/_shape.ts";

/**
 * Thrown when WebGPU is unavailable, a handle is misused, or an op gets impossible shapes (a
 * `BackendError`, so callers can catch CPU and GPU misuse alike).
 */
export class WebGpuError extends BackendError {}

/**
 * Element types a `GpuTensor` holds: 4-byte `float32` / `int32`, and `float16` storage (two
 * halves per 32-bit word) for weights uploaded as float16, widened to f32 inside the kernels.
 */
export type GpuDType = "float32" | "int32" | "float16";

/** Bytes of a buffer holding `n` elements of `dtype` (a whole number of 32-bit words). */
function bytesFor(n: number, dtype: GpuDType): number {
  return dtype === "float16" ? Math.ceil(n / 2) * 4 : n * 4;
}

/** A reference-counted GPU buffer shared by a tensor and its reshaped views. */
interface Storage {
  buffer: GPUBuffer;
  refs: number;
}

/**
 * A tensor living in a GPU storage buffer: the `Backend<GpuTensor>` handle. `reshape` views share
 * the buffer; the buffer returns to the pool when the last view is disposed.
 */
export class GpuTensor {
  /** Shape, outermost first. */
  readonly dims: readonly number[];
  /** Element type (4 bytes per element). */
  readonly dtype: GpuDType;
  /** Host copy of small uploaded id tensors, used for range checks (never of GPU results). */
  readonly hostInts: Int32Array | undefined;
  #storage: Storage;
  #disposed = false;

  /** Wraps `storage` (internal: tensors are made by `WebGpuBackend`). */
  constructor(storage: Storage, dims: readonly number[], dtype: GpuDType, hostInts?: Int32Array) {
    this.#storage = storage;
    this.dims = Object.freeze([...dims]);
    this.dtype = dtype;
    this.hostInts = hostInts;
  }

  /** The GPU buffer (its size is a pool bucket, at least `byteSize`). */
  get buffer(): GPUBuffer {
    return this.#storage.buffer;
  }

  /** Bytes of data: `numel(dims) * 4` (`float16`: 2 per element, rounded up to a word). */
  get byteSize(): number {
    return bytesFor(numel(this.dims), this.dtype);
  }

  /** Number of elements. */
  get size(): number {
    return numel(this.dims);
  }

  /** Whether `dispose` was called on this handle. */
  get disposed(): boolean {
    return this.#disposed;
  }

  /** @internal The shared storage (for views). */
  _storage(): Storage {
    return this.#storage;
  }

  /** @internal Marks the handle disposed; true if it was live. */
  _markDisposed(): boolean {
    if (this.#disposed) return false;
    this.#disposed = true;
    return true;
  }
}

/** Options of `WebGpuBackend.create` and `WebGpuBackend.probe`. */
export interface WebGpuOptions {
  /** Passed to `navigator.gpu.requestAdapter`. */
  powerPreference?: GPUPowerPreference;
  /** Accept a software (fallback) adapter such as Mesa lavapipe. Default `true`. */
  allowFallback?: boolean;
  /**
   * Keep `float16` uploads in fp16 storage (half the memory and bandwidth; matmul / linear
   * weights and embedding tables are read as fp16 and computed in f32). Default `true`; `false`
   * widens them to float32 on upload.
   */
  halfStorage?: boolean;
}

/** What `WebGpuBackend.probe` found. */
export interface WebGpuProbe {
  /** An adapter exists (and is acceptable under `allowFallback`). */
  available: boolean;
  /** The adapter is a software / fallback one (lavapipe, SwiftShader): `"auto"` should skip it. */
  isFallbackAdapter: boolean;
  /** Adapter description, e.g. `"llvmpipe (LLVM 15.0.6, 256 bits)"`. */
  description: string;
  /** Why it is unavailable, when it is. */
  reason?: string;
}

/** Counters of a `WebGpuBackend`, for tests and benchmarks. */
export interface WebGpuStats {
  /** Buffer pool counters. */
  pool: PoolStats;
  /** Compute dispatches recorded. */
  dispatches: number;
  /** Queue submits. */
  submits: number;
  /** `read` calls (each maps one staging buffer). */
  readbacks: number;
  /** Compiled pipelines. */
  pipelines: number;
}

const PARAM_CACHE_LIMIT = 4096;
const MAX_GROUPS = 65535;
const f32b = new Float32Array(1);
const u32b = new Uint32Array(f32b.buffer);

/** The bits of `x` as a float32, as a u32. */
function fbits(x: number): number {
  f32b[0] = x;
  return u32b[0];
}

/** Merges adjacent axes that are contiguous in every stride set (drops size-1 axes). */
function coalesce(dims: readonly number[], strides: number[][]): [number[], number[][]] {
  const od: number[] = [];
  const os: number[][] = strides.map(() => []);
  for (let i = 0; i < dims.length; i++) {
    if (dims[i] === 1) continue;
    const last = od.length - 1;
    if (last >= 0 && strides.every((s, j) => os[j][last] === s[i] * dims[i])) {
      od[last] *= dims[i];
      strides.forEach((s, j) => (os[j][last] = s[i]));
    } else {
      od.push(dims[i]);
      strides.forEach((s, j) => os[j].push(s[i]));
    }
  }
  return [od, os];
}

function pad(values: readonly number[], n: number): number[] {
  const out = [...values];
  while (out.length < n) out.push(0);
  return out;
}

/** Adds the `GpuTensor`s reachable from `value` through arrays and plain objects to `into`. */
function collectHandles(value: unknown, into: Set<GpuTensor>): void {
  if (value instanceof GpuTensor) {
    into.add(value);
  } else if (Array.isArray(value)) {
    for (const v of value) collectHandles(v, into);
  } else if (value !== null && typeof value === "object") {
    const proto = Object.getPrototypeOf(value);
    if (proto === Object.prototype || proto === null) {
      for (const v of Object.values(value)) collectHandles(v, into);
    }
  }
}

/**
 * `Backend<GpuTensor>` on WebGPU. Create it with `WebGpuBackend.create()`; free it with
 * `destroy()`.
 */
export class WebGpuBackend implements Backend<GpuTensor> {
  /** Backend name. */
  readonly name = "webgpu";
  /** The GPU device. */
  readonly device: GPUDevice;
  /** True on a software adapter (lavapipe): fine for tests, not what `"auto"` should pick. */
  readonly isFallbackAdapter: boolean;
  /** Adapter description. */
  readonly adapterDescription: string;
  /**
   * The adapter offers `shader-f16`. (fp16 storage does not need it: halves are unpacked with
   * `unpack2x16float`; compute is f32 everywhere.)
   */
  readonly hasShaderF16: boolean;
  /** `float16` uploads stay fp16 on the device (see `WebGpuOptions.halfStorage`). */
  readonly halfStorage: boolean;

  #pool: BufferPool;
  #pipelines = new Map<string, GPUComputePipeline>();
  #params = new Map<string, GPUBuffer>();
  #transient: GPUBuffer[] = [];
  #retired: GPUBuffer[] = [];
  #encoder: GPUCommandEncoder | undefined;
  #pass: GPUComputePassEncoder | undefined;
  #error: string | undefined;
  #counts = { dispatches: 0, submits: 0, readbacks: 0 };
  #maxBinding: number;
  #scratch: GpuTensor[] = [];
  #depth = 0;
  /** Handles created inside each open `scope`, innermost last. */
  #scopes: GpuTensor[][] = [];
  #destroyed = false;
  #finalizer = new FinalizationRegistry<Storage>((s) => this.#unref(s));

  private constructor(device: GPUDevice, info: WebGpuProbe, f16: boolean, half: boolean) {
    this.device = device;
    this.halfStorage = half;
    this.isFallbackAdapter = info.isFallbackAdapter;
    this.adapterDescription = info.description;
    this.hasShaderF16 = f16;
    this.#pool = new BufferPool(device);
    this.#maxBinding = device.limits.maxStorageBufferBindingSize;
    device.addEventListener("uncapturederror", (e) => {
      const msg = (e as GPUUncapturedErrorEvent).error.message;
      this.#error ??= msg;
    });
  }

  /** Looks for an adapter without creating a device (what `device: "auto"` should ask first). */
  static async probe(opts: WebGpuOptions = {}): Promise<WebGpuProbe> {
    const gpu = (navigator as { gpu?: GPU }).gpu;
    if (!gpu) {
      return {
        available: false,
        isFallbackAdapter: false,
        description: "",
        reason: "navigator.gpu is not available: run Deno with --unstable-webgpu",
      };
    }
    const adapter = await gpu.requestAdapter({ powerPreference: opts.powerPreference });
    if (!adapter) {
      return {
        available: false,
        isFallbackAdapter: false,
        description: "",
        reason: "no WebGPU adapter found (on Linux without a GPU, install mesa-vulkan-drivers " +
          "and libvulkan1 for the lavapipe software adapter)",
      };
    }
    const info = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean };
    const isFallbackAdapter = Boolean(
      info.isFallbackAdapter ?? (adapter as { isFallbackAdapter?: boolean }).isFallbackAdapter,
    );
    const description = info.description || info.vendor || "unknown adapter";
    if (isFallbackAdapter && opts.allowFallback === false) {
      return {
        available: false,
        isFallbackAdapter,
        description,
        reason: `only a fallback (software) WebGPU adapter was found (${description}) and ` +
          `allowFallback is false`,
      };
    }
    return { available: true, isFallbackAdapter, description };
  }

  /**
   * Opens the default adapter and a device with its storage limits.
   *
   * @throws {WebGpuError} when `navigator.gpu` is missing (run with `--unstable-webgpu`), no
   * adapter exists, or only a fallback adapter exists and `allowFallback` is false.
   */
  static async create(opts: WebGpuOptions = {}): Promise<WebGpuBackend> {
    const probe = await WebGpuBackend.probe(opts);
    if (!probe.available) throw new WebGpuError(`WebGPU backend: ${probe.reason}`);
    const adapter = (await navigator.gpu.requestAdapter({
      powerPreference: opts.powerPreference,
    }))!;
    const l = adapter.limits;
    const f16 = adapter.features.has("shader-f16");
    const device = await adapter.requestDevice({
      requiredLimits: {
        maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
        maxBufferSize: l.maxBufferSize,
        maxStorageBuffersPerShaderStage: Math.min(8, l.maxStorageBuffersPerShaderStage),
      },
    });
    return new WebGpuBackend(device, probe, f16, opts.halfStorage ?? true);
  }

  // ---- bookkeeping ------------------------------------------------------------------------------

  /** Submits recorded work (ops call this as needed; `read` always does). */
  flush(): void {
    if (this.#pass) {
      this.#pass.end();
      this.#pass = undefined;
    }
    if (this.#encoder) {
      this.device.queue.submit([this.#encoder.finish()]);
      this.#encoder = undefined;
      this.#counts.submits++;
    }
    // One-shot parameter buffers are destroyed by the next `read`, once the GPU is done.
    this.#retired.push(...this.#transient);
    this.#transient = [];
  }

  /** Pool and dispatch counters. */
  stats(): WebGpuStats {
    return { pool: this.#pool.stats(), ...this.#counts, pipelines: this.#pipelines.size };
  }

  /**
   * Runs `fn`, then disposes every handle created inside it that its result does not hold
   * (handles reachable through arrays and plain objects of the result). Handles kept by a nested
   * scope belong to the enclosing one; when `fn` throws, every handle made inside is freed.
   *
   * @example
   * ```ts
   * import { WebGpuBackend } from "./mod.ts";
   * import { Tensor } from "../../tensor.ts";
   * const gpu = await WebGpuBackend.create();
   * const x = gpu.upload(Tensor.from([[1, 2], [3, 4]]));
   * const y = gpu.scope(() => gpu.softmax(gpu.scale(x, 2))); // the scaled copy is freed
   * gpu.stats().pool.live; // 2: x and y
   * ```
   */
  scope<R>(fn: () => R): R {
    const made: GpuTensor[] = [];
    this.#scopes.push(made);
    let result: R;
    try {
      result = fn();
    } catch (e) {
      this.#scopes.pop();
      for (const t of made) this.dispose(t);
      throw e;
    }
    this.#scopes.pop();
    const kept = new Set<GpuTensor>();
    collectHandles(result, kept);
    const outer = this.#scopes.at(-1);
    for (const t of made) {
      if (!kept.has(t)) this.dispose(t);
      else outer?.push(t);
    }
    return result;
  }

  /** Destroys the free pooled buffers (live tensors stay valid). */
  trim(): void {
    this.flush();
    this.#pool.trim();
  }

  /** Releases the device; every tensor of this backend becomes invalid. */
  destroy(): void {
    this.flush();
    this.#destroyed = true;
    this.#pool.trim();
    for (const b of this.#retired) b.destroy();
    this.#retired = [];
    for (const b of this.#params.values()) b.destroy();
    this.#params.clear();
    this.device.destroy();
  }

  #check(t: GpuTensor, op: string, what = "input"): GpuTensor {
    if (!(t instanceof GpuTensor)) {
      throw new WebGpuError(`${op}: ${what} is not a GpuTensor (upload host tensors first)`);
    }
    if (t.disposed) throw new WebGpuError(`${op}: ${what} ${fmt(t.dims)} was already disposed`);
    return t;
  }

  /**
   * `t` as float32: fp16 storage is widened into a scratch tensor that lives until the outermost
   * op (see `#op`) returns; int32 is an error.
   */
  #float(t: GpuTensor, op: string, what = "input"): GpuTensor {
    this.#check(t, op, what);
    if (t.dtype === "float16") {
      const out = this.#alloc(t.dims);
      const n = t.size;
      this.#dispatch(
        "castHalf",
        castHalfSource,
        this.#paramBuffer([n], true),
        [t.buffer, out.buffer],
        this.#grid(Math.ceil(n / WG)),
      );
      this.#scratch.push(out);
      return out;
    }
    if (t.dtype !== "float32") {
      throw new WebGpuError(`${op}: ${what} must be float32, got ${t.dtype} ${fmt(t.dims)}`);
    }
    return t;
  }

  /** A weight operand: fp16 storage is read natively by the kernel, otherwise float32. */
  #weight(t: GpuTensor, op: string, what: string): GpuTensor {
    this.#check(t, op, what);
    return t.dtype === "float16" ? t : this.#float(t, op, what);
  }

  /** A shape-op operand: any 32-bit dtype as is; fp16 storage widened to float32. */
  #words(t: GpuTensor, op: string, what = "input"): GpuTensor {
    this.#check(t, op, what);
    return t.dtype === "float16" ? this.#float(t, op, what) : t;
  }

  /** Runs an op body; scratch tensors made inside are disposed when the outermost op returns. */
  #op<R>(body: () => R): R {
    this.#depth++;
    try {
      return body();
    } finally {
      if (--this.#depth === 0 && this.#scratch.length) {
        const list = this.#scratch;
        this.#scratch = [];
        for (const t of list) this.dispose(t);
      }
    }
  }

  #alloc(dims: readonly number[], dtype: GpuDType = "float32", hostInts?: Int32Array): GpuTensor {
    const bytes = bytesFor(numel(dims), dtype);
    if (bytes > this.#maxBinding) {
      throw new WebGpuError(
        `tensor ${fmt(dims)} needs ${bytes} bytes, above this adapter's ` +
          `maxStorageBufferBindingSize (${this.#maxBinding})`,
      );
    }
    return this.#track(
      new GpuTensor({ buffer: this.#pool.acquire(bytes), refs: 1 }, dims, dtype, hostInts),
    );
  }

  /**
   * Safety net for handles dropped without `dispose`: once the garbage collector finds a handle
   * unreachable, its reference goes back as if disposed. No op can use the handle any more and
   * recorded work runs before any later reuse, so this is safe; `dispose` stays the way to free
   * memory promptly (the collector does not see GPU memory pressure).
   */
  #track(t: GpuTensor): GpuTensor {
    this.#finalizer.register(t, t._storage(), t);
    this.#scopes.at(-1)?.push(t);
    return t;
  }

  #unref(s: Storage): void {
    if (--s.refs === 0 && !this.#destroyed) this.#pool.release(s.buffer);
  }

  #paramBuffer(values: readonly number[], cache: boolean): GPUBuffer {
    const key = values.join(",");
    if (cache) {
      const hit = this.#params.get(key);
      if (hit) return hit;
    }
    const buffer = this.device.createBuffer({
      size: Math.max(16, values.length * 4),
      usage: GPUBufferUsage.STORAGE,
      mappedAtCreation: true,
    });
    const view = new Uint32Array(buffer.getMappedRange());
    for (let i = 0; i < values.length; i++) view[i] = values[i] >>> 0;
    buffer.unmap();
    if (!cache) {
      this.#transient.push(buffer);
      return buffer;
    }
    if (this.#params.size >= PARAM_CACHE_LIMIT) {
      this.flush();
      this.#retired.push(...this.#params.values());
      this.#params.clear();
    }
    this.#params.set(key, buffer);
    return buffer;
  }

  #pipeline(key: string, source: () => string): GPUComputePipeline {
    let p = this.#pipelines.get(key);
    if (!p) {
      const module = this.device.createShaderModule({ code: source(), label: key });
      p = this.device.createComputePipeline({
        label: key,
        layout: "auto",
        compute: { module, entryPoint: "main" },
      });
      this.#pipelines.set(key, p);
    }
    return p;
  }

  /** Records one dispatch: binding 0 is the parameter buffer, then `buffers` in order. */
  #dispatch(
    key: string,
    source: () => string,
    params: GPUBuffer,
    buffers: readonly GPUBuffer[],
    groups: readonly [number, number, number],
  ): void {
    if (groups[0] === 0 || groups[1] === 0 || groups[2] === 0) return;
    const pipeline = this.#pipeline(key, source);
    const bindGroup = this.device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: [params, ...buffers].map((buffer, binding) => ({ binding, resource: { buffer } })),
    });
    this.#encoder ??= this.device.createCommandEncoder();
    this.#pass ??= this.#encoder.beginComputePass();
    this.#pass.setPipeline(pipeline);
    this.#pass.setBindGroup(0, bindGroup);
    this.#pass.dispatchWorkgroups(groups[0], groups[1], groups[2]);
    this.#counts.dispatches++;
  }

  /** A 2-D grid of `n` workgroups within the per-dimension limit. */
  #grid(n: number): [number, number, number] {
    if (n <= MAX_GROUPS) return [n, 1, 1];
    const y = Math.ceil(n / MAX_GROUPS);
    return [Math.ceil(n / y), y, 1];
  }

  // ---- data movement ----------------------------------------------------------------------------

  /**
   * Host tensor → GPU: float16 kept as fp16 storage (unless `halfStorage` is off), bfloat16
   * widened to float32, int64 / bool narrowed to int32.
   */
  upload(t: Tensor): GpuTensor {
    if (!(t instanceof Tensor)) throw new WebGpuError("upload: expected a host Tensor");
    let data: Float32Array | Int32Array | Uint16Array;
    let dtype: GpuDType;
    let hostInts: Int32Array | undefined;
    switch (t.dtype) {
      case "float32":
        data = t.data as Float32Array;
        dtype = "float32";
        break;
      case "float16":
        if (this.halfStorage) {
          // Pad to a whole 32-bit word.
          data = new Uint16Array(t.size + (t.size & 1));
          data.set(t.data as Uint16Array);
          dtype = "float16";
          break;
        }
        data = t.toFloat32().data;
        dtype = "float32";
        break;
      case "bfloat16":
        data = t.toFloat32().data;
        dtype = "float32";
        break;
      case "int32":
        data = t.data as Int32Array;
        dtype = "int32";
        break;
      case "int64": {
        const src = t.data as BigInt64Array;
        const out = new Int32Array(src.length);
        for (let i = 0; i < src.length; i++) {
          const v = src[i];
          if (v > 2147483647n || v < -2147483648n) {
            throw new WebGpuError(
              `upload: int64 value ${v} at flat index ${i} of ${fmt(t.dims)} does not fit int32`,
            );
          }
          out[i] = Number(v);
        }
        data = out;
        dtype = "int32";
        break;
      }
      case "bool":
        data = Int32Array.from(t.data as Uint8Array);
        dtype = "int32";
        break;
      default:
        throw new WebGpuError(`upload: unsupported dtype "${t.dtype}"`);
    }
    if (dtype === "int32" && data.length <= 1 << 16) hostInts = (data as Int32Array).slice();
    const out = this.#alloc(t.dims, dtype, hostInts);
    if (data.length && this.#encoder) {
      // Recorded, unsubmitted work may still read this recycled buffer: a queue write would land
      // before it, so copy from a staging buffer recorded after it instead (no extra submit).
      const staging = this.device.createBuffer({
        size: data.byteLength,
        usage: GPUBufferUsage.COPY_SRC,
        mappedAtCreation: true,
      });
      new Uint8Array(staging.getMappedRange()).set(
        new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
      );
      staging.unmap();
      if (this.#pass) {
        this.#pass.end();
        this.#pass = undefined;
      }
      this.#encoder.copyBufferToBuffer(staging, 0, out.buffer, 0, data.byteLength);
      this.#transient.push(staging);
    } else if (data.length) {
      this.device.queue.writeBuffer(out.buffer, 0, data as Float32Array<ArrayBuffer>);
    }
    return out;
  }

  /** GPU → host tensor (`float32`, `int32` or `float16`); submits all recorded work first. */
  async read(t: GpuTensor): Promise<Tensor> {
    this.#check(t, "read");
    const n = t.size;
    const used = t.byteSize;
    const bytes = Math.max(4, used);
    const staging = this.device.createBuffer({
      size: bytes,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    if (this.#pass) {
      this.#pass.end();
      this.#pass = undefined;
    }
    this.#encoder ??= this.device.createCommandEncoder();
    if (n) this.#encoder.copyBufferToBuffer(t.buffer, 0, staging, 0, used);
    this.flush();
    const retired = this.#retired;
    this.#retired = [];
    this.#counts.readbacks++;
    await staging.mapAsync(GPUMapMode.READ);
    for (const b of retired) b.destroy();
    const raw = staging.getMappedRange().slice(0, used);
    staging.unmap();
    staging.destroy();
    if (this.#error) {
      const msg = this.#error;
      this.#error = undefined;
      throw new WebGpuError(`WebGPU device error: ${msg}`);
    }
    switch (t.dtype) {
      case "float32":
        return new Tensor("float32", new Float32Array(raw), t.dims);
      case "float16":
        return new Tensor("float16", new Uint16Array(raw, 0, n), t.dims);
      case "int32":
        return new Tensor("int32", new Int32Array(raw), t.dims);
    }
  }

  /** Shape of a handle. */
  dims(t: GpuTensor): readonly number[] {
    return t.dims;
  }

  /** Returns the buffer to the pool once no view uses it (idempotent per handle). */
  dispose(t: GpuTensor): void {
    if (!(t instanceof GpuTensor) || !t._markDisposed()) return;
    this.#finalizer.unregister(t);
    this.#unref(t._storage());
  }

  // ---- shape ops --------------------------------------------------------------------------------

  /** Same buffer, new shape (one `-1` allowed); dispose the view and the original separately. */
  reshape(x: GpuTensor, dims: readonly number[]): GpuTensor {
    this.#check(x, "reshape");
    const out = [...dims];
    const inf = out.indexOf(-1);
    if (inf >= 0) {
      const rest = numel(out.filter((_, i) => i !== inf));
      out[inf] = rest === 0 ? 0 : x.size / rest;
    }
    if (
      out.some((d) => !Number.isInteger(d) || d < 0) || numel(out) !== x.size ||
      out.filter((d) => d === -1).length > 0
    ) {
      throw new WebGpuError(`reshape: cannot reshape ${fmt(x.dims)} to ${fmt(dims)}`);
    }
    const s = x._storage();
    s.refs++;
    return this.#track(new GpuTensor(s, out, x.dtype, x.hostInts));
  }

  #copy(
    src: GpuTensor,
    dst: GpuTensor,
    dims: readonly number[],
    srcStrides: number[],
    dstStrides: number[],
    srcBase: number,
    dstBase: number,
  ): void {
    const n = numel(dims);
    if (n === 0) return;
    const [cd, [ss, ds]] = coalesce(dims, [srcStrides, dstStrides]);
    if (cd.length > MAX_RANK) {
      throw new WebGpuError(`copy: ${dims.length}-d layout ${fmt(dims)} exceeds rank ${MAX_RANK}`);
    }
    const params = this.#paramBuffer([
      n,
      cd.length,
      ...pad(cd, MAX_RANK),
      ...pad(ss, MAX_RANK),
      ...pad(ds, MAX_RANK),
      srcBase,
      dstBase,
    ], true);
    this.#dispatch(
      "copy",
      copySource,
      params,
      [src.buffer, dst.buffer],
      this.#grid(Math.ceil(n / WG)),
    );
  }

  /** Axis permutation. */
  permute(x: GpuTensor, perm: readonly number[]): GpuTensor {
    return this.#op(() => this.#permuteImpl(this.#words(x, "permute"), perm));
  }

  #permuteImpl(x: GpuTensor, perm: readonly number[]): GpuTensor {
    this.#check(x, "permute");
    const r = x.dims.length;
    if (perm.length !== r || [...perm].sort((a, b) => a - b).some((p, i) => p !== i)) {
      throw new WebGpuError(`permute: ${fmt(perm)} is not a permutation of ${r} axes`);
    }
    const dims = perm.map((p) => x.dims[p]);
    const s = stridesOf(x.dims);
    const out = this.#alloc(dims, x.dtype);
    this.#copy(x, out, dims, perm.map((p) => s[p]), stridesOf(dims), 0, 0);
    return out;
  }

  #axis(x: GpuTensor, axis: number, op: string): number {
    const r = x.dims.length;
    const a = axis < 0 ? axis + r : axis;
    if (!Number.isInteger(a) || a < 0 || a >= r) {
      throw new WebGpuError(`${op}: axis ${axis} out of range for shape ${fmt(x.dims)}`);
    }
    return a;
  }

  /** `x[..., start:end, ...]` along `axis` (negative bounds count from the end). */
  slice(x: GpuTensor, axis: number, start: number, end: number): GpuTensor {
    return this.#op(() => this.#sliceImpl(this.#words(x, "slice"), axis, start, end));
  }

  #sliceImpl(x: GpuTensor, axis: number, start: number, end: number): GpuTensor {
    this.#check(x, "slice");
    const a = this.#axis(x, axis, "slice");
    const len = x.dims[a];
    const s = start < 0 ? start + len : start;
    const e = Math.min(end < 0 ? end + len : end, len);
    if (!Number.isInteger(s) || !Number.isInteger(e) || s < 0 || s > e) {
      throw new WebGpuError(
        `slice: range ${start}:${end} is invalid for axis ${axis} of size ${len} in ${fmt(x.dims)}`,
      );
    }
    const dims = [...x.dims];
    dims[a] = e - s;
    const st = stridesOf(x.dims);
    const out = this.#alloc(dims, x.dtype);
    this.#copy(x, out, dims, st, stridesOf(dims), s * st[a], 0);
    return out;
  }

  /** Concatenation along `axis`. */
  concat(xs: readonly GpuTensor[], axis: number): GpuTensor {
    return this.#op(() =>
      this.#concatImpl(xs.map((x, i) => this.#words(x, "concat", `input ${i}`)), axis)
    );
  }

  #concatImpl(xs: readonly GpuTensor[], axis: number): GpuTensor {
    if (xs.length === 0) throw new WebGpuError("concat: needs at least one tensor");
    xs.forEach((x, i) => this.#check(x, "concat", `input ${i}`));
    const first = xs[0];
    const a = this.#axis(first, axis, "concat");
    let total = 0;
    for (const [i, x] of xs.entries()) {
      const ok = x.dtype === first.dtype && x.dims.length === first.dims.length &&
        x.dims.every((d, j) => j === a || d === first.dims[j]);
      if (!ok) {
        throw new WebGpuError(
          `concat: input ${i} ${x.dtype} ${fmt(x.dims)} does not match input 0 ${first.dtype} ` +
            `${fmt(first.dims)} outside axis ${axis}`,
        );
      }
      total += x.dims[a];
    }
    const dims = [...first.dims];
    dims[a] = total;
    const out = this.#alloc(dims, first.dtype);
    const os = stridesOf(dims);
    let offset = 0;
    for (const x of xs) {
      this.#copy(x, out, x.dims, stridesOf(x.dims), os, 0, offset * os[a]);
      offset += x.dims[a];
    }
    return out;
  }

  #gather(
    x: GpuTensor,
    idx: GPUBuffer,
    outer: number,
    axisLen: number,
    inner: number,
    k: number,
    dims: readonly number[],
    hostInts?: Int32Array,
  ): GpuTensor {
    const half = x.dtype === "float16";
    const out = this.#alloc(dims, half ? "float32" : x.dtype, hostInts);
    const n = outer * k * inner;
    const params = this.#paramBuffer([n, inner, k, axisLen], true);
    this.#dispatch(
      half ? "gatherHalf" : "gather",
      () => gatherSource(half),
      params,
      [x.buffer, out.buffer, idx],
      this.#grid(Math.ceil(n / WG)),
    );
    return out;
  }

  /** Rows `indices` of `x` along `axis`. */
  indexSelect(x: GpuTensor, axis: number, indices: readonly number[]): GpuTensor {
    return this.#op(() => this.#indexSelectImpl(this.#words(x, "indexSelect"), axis, indices));
  }

  #indexSelectImpl(x: GpuTensor, axis: number, indices: readonly number[]): GpuTensor {
    this.#check(x, "indexSelect");
    const a = this.#axis(x, axis, "indexSelect");
    const len = x.dims[a];
    indices.forEach((v, i) => {
      if (!Number.isInteger(v) || v < 0 || v >= len) {
        throw new WebGpuError(
          `indexSelect: index ${v} (position ${i}) out of range for axis ${axis} of size ${len}`,
        );
      }
    });
    const dims = [...x.dims];
    dims[a] = indices.length;
    const idx = this.#paramBuffer(indices.length ? indices : [0], false);
    return this.#gather(
      x,
      idx,
      numel(x.dims.slice(0, a)),
      len,
      numel(x.dims.slice(a + 1)),
      indices.length,
      dims,
    );
  }

  // ---- arithmetic -------------------------------------------------------------------------------

  #matmul(
    a: GpuTensor,
    b: GpuTensor,
    variant: Omit<MatmulVariant, "skinny" | "halfB">,
    op: string,
    extra?: { bias?: GpuTensor; mask?: GpuTensor; scale?: number; causalOffset?: number },
  ): GpuTensor {
    const ra = a.dims.length;
    const rb = b.dims.length;
    if (ra < 2 || rb < 2) {
      throw new WebGpuError(`${op}: needs rank >= 2, got ${fmt(a.dims)} and ${fmt(b.dims)}`);
    }
    const [M, K] = a.dims.slice(-2);
    const [bk, bn] = b.dims.slice(-2);
    const [Kb, N] = variant.transposeB ? [bn, bk] : [bk, bn];
    if (K !== Kb) {
      throw new WebGpuError(
        `${op}: inner sizes differ: ${fmt(a.dims)} @ ${fmt(b.dims)}` +
          (variant.transposeB ? " (b transposed)" : ""),
      );
    }
    const batch = broadcastShapes(a.dims.slice(0, -2), b.dims.slice(0, -2));
    if (!batch) {
      throw new WebGpuError(
        `${op}: batch dims of ${fmt(a.dims)} and ${fmt(b.dims)} do not broadcast`,
      );
    }
    const aStr = broadcastStrides(a.dims.slice(0, -2), batch).map((s) => s * M * K);
    const bStr = broadcastStrides(b.dims.slice(0, -2), batch).map((s) => s * K * N);
    let mStr = batch.map(() => 0);
    let maskRow = 0;
    let maskCol = 0;
    if (extra?.mask) {
      const md = extra.mask.dims;
      const full = [...batch, M, N];
      if (md.length > full.length || !broadcastShapes(md, full)?.every((d, i) => d === full[i])) {
        throw new WebGpuError(
          `${op}: mask ${fmt(md)} does not broadcast to scores ${fmt(full)}`,
        );
      }
      const ms = broadcastStrides(md, full);
      mStr = ms.slice(0, -2);
      [maskRow, maskCol] = ms.slice(-2);
    }
    const [bd, [as, bs, mks]] = coalesce(batch, [aStr, bStr, mStr]);
    if (bd.length > MAX_BATCH_RANK) {
      throw new WebGpuError(`${op}: more than ${MAX_BATCH_RANK} batch dims in ${fmt(batch)}`);
    }
    const count = numel(batch);
    if (count > MAX_GROUPS) throw new WebGpuError(`${op}: batch ${count} exceeds ${MAX_GROUPS}`);
    const out = this.#alloc([...batch, M, N]);
    const R = MAX_BATCH_RANK;
    const params = this.#paramBuffer([
      M,
      N,
      K,
      bd.length,
      ...pad(bd, R),
      ...pad(as, R),
      ...pad(bs, R),
      fbits(extra?.scale ?? 1),
      ...pad(mks, R),
      maskRow,
      maskCol,
      (extra?.causalOffset ?? 0) | 0,
    ], true);
    const buffers = [a.buffer, b.buffer, out.buffer];
    if (extra?.bias) buffers.push(extra.bias.buffer);
    if (extra?.mask) buffers.push(extra.mask.buffer);
    const skinny = M <= SKINNY_M; // decode steps: split k instead of tiling m
    const full: MatmulVariant = { ...variant, skinny, halfB: b.dtype === "float16" };
    this.#dispatch(
      `matmul:${JSON.stringify(full)}`,
      () => matmulSource(full),
      params,
      buffers,
      skinny
        ? [Math.ceil(N / SKINNY_N), 1, count]
        : [Math.ceil(N / TILE_N), Math.ceil(M / TILE_M), count],
    );
    return out;
  }

  /** Batched matmul with broadcast leading dims; `transposeB` reads b as `[..., n, k]`. */
  matmul(a: GpuTensor, b: GpuTensor, opts: { transposeB?: boolean } = {}): GpuTensor {
    return this.#op(() => this.#matmulImpl(a, b, opts));
  }

  #matmulImpl(a: GpuTensor, b: GpuTensor, opts: { transposeB?: boolean } = {}): GpuTensor {
    a = this.#float(a, "matmul", "a");
    b = this.#weight(b, "matmul", "b");
    return this.#matmul(a, b, {
      transposeB: opts.transposeB ?? false,
      bias: false,
      activation: "none",
      attention: false,
    }, "matmul");
  }

  /** `x [..., in] @ weight[out, in]^T + bias`, then `activation`, in one kernel. */
  linear(
    x: GpuTensor,
    weight: GpuTensor,
    bias?: GpuTensor,
    activation: Activation = "none",
  ): GpuTensor {
    return this.#op(() => this.#linearImpl(x, weight, bias, activation));
  }

  #linearImpl(
    x: GpuTensor,
    weight: GpuTensor,
    bias?: GpuTensor,
    activation: Activation = "none",
  ): GpuTensor {
    x = this.#float(x, "linear", "x");
    weight = this.#weight(weight, "linear", "weight");
    if (weight.dims.length !== 2) {
      throw new WebGpuError(`linear: weight must be [out, in], got ${fmt(weight.dims)}`);
    }
    const [outF, inF] = weight.dims;
    const lead = x.dims.slice(0, -1);
    if (x.dims.length === 0 || x.dims[x.dims.length - 1] !== inF) {
      throw new WebGpuError(
        `linear: x ${fmt(x.dims)} does not end in ${inF} (weight ${fmt(weight.dims)})`,
      );
    }
    if (bias) {
      bias = this.#float(bias, "linear", "bias");
      if (bias.size !== outF) {
        throw new WebGpuError(`linear: bias ${fmt(bias.dims)} must have ${outF} elements`);
      }
    }
    const x2 = this.reshape(x, [numel(lead), inF]);
    const y = this.#matmul(
      x2,
      weight,
      {
        transposeB: true,
        bias: !!bias,
        activation,
        attention: false,
      },
      "linear",
      { bias },
    );
    this.dispose(x2);
    const out = this.reshape(y, [...lead, outF]);
    this.dispose(y);
    return out;
  }

  #binary(a: GpuTensor, b: GpuTensor, op: "add" | "mul"): GpuTensor {
    return this.#op(() => this.#binaryImpl(a, b, op));
  }

  #binaryImpl(a: GpuTensor, b: GpuTensor, op: "add" | "mul"): GpuTensor {
    a = this.#float(a, op, "a");
    b = this.#float(b, op, "b");
    const dims = broadcastShapes(a.dims, b.dims);
    if (!dims) {
      throw new WebGpuError(`${op}: shapes ${fmt(a.dims)} and ${fmt(b.dims)} do not broadcast`);
    }
    const out = this.#alloc(dims);
    const n = numel(dims);
    if (n === 0) return out;
    const [cd, [as, bs]] = coalesce(dims, [
      broadcastStrides(a.dims, dims),
      broadcastStrides(b.dims, dims),
    ]);
    if (cd.length > MAX_RANK) {
      throw new WebGpuError(`${op}: rank of ${fmt(dims)} above ${MAX_RANK}`);
    }
    const params = this.#paramBuffer([
      n,
      cd.length,
      ...pad(cd, MAX_RANK),
      ...pad(as, MAX_RANK),
      ...pad(bs, MAX_RANK),
    ], true);
    this.#dispatch(
      op,
      () => binarySource(op),
      params,
      [a.buffer, b.buffer, out.buffer],
      this.#grid(Math.ceil(n / WG)),
    );
    return out;
  }

  /** Elementwise sum with NumPy broadcasting. */
  add(a: GpuTensor, b: GpuTensor): GpuTensor {
    return this.#binary(a, b, "add");
  }

  /** Elementwise product with NumPy broadcasting. */
  mul(a: GpuTensor, b: GpuTensor): GpuTensor {
    return this.#binary(a, b, "mul");
  }

  #unary(x: GpuTensor, op: Activation | "scale", s = 1): GpuTensor {
    return this.#op(() => this.#unaryImpl(x, op, s));
  }

  #unaryImpl(x: GpuTensor, op: Activation | "scale", s = 1): GpuTensor {
    x = this.#float(x, op);
    const out = this.#alloc(x.dims);
    const n = x.size;
    const params = this.#paramBuffer([n, fbits(s)], true);
    this.#dispatch(
      `unary:${op}`,
      () => unarySource(op),
      params,
      [x.buffer, out.buffer],
      this.#grid(Math.ceil(n / WG)),
    );
    return out;
  }

  /** `x * s`. */
  scale(x: GpuTensor, s: number): GpuTensor {
    return this.#unary(x, "scale", s);
  }

  /** Elementwise activation (`gelu` is the exact erf form, `gelu_new` the tanh form). */
  activation(x: GpuTensor, kind: Activation): GpuTensor {
    if (!["gelu", "gelu_new", "gelu_pytorch_tanh", "relu", "tanh", "none"].includes(kind)) {
      throw new WebGpuError(`activation: unknown activation "${kind}"`);
    }
    return this.#unary(x, kind);
  }

  #rows(x: GpuTensor, op: string): [number, number, GpuTensor] {
    x = this.#float(x, op);
    if (x.dims.length === 0) throw new WebGpuError(`${op}: needs at least one axis`);
    const H = x.dims[x.dims.length - 1];
    return [H === 0 ? 0 : x.size / H, H, x];
  }

  /** Layer norm over the last axis. */
  layerNorm(x: GpuTensor, weight: GpuTensor, bias: GpuTensor, eps: number): GpuTensor {
    return this.#op(() => this.#layerNormImpl(x, weight, bias, eps));
  }

  #layerNormImpl(x: GpuTensor, weight: GpuTensor, bias: GpuTensor, eps: number): GpuTensor {
    const [rows, H, xf] = this.#rows(x, "layerNorm");
    x = xf;
    weight = this.#float(weight, "layerNorm", "weight");
    bias = this.#float(bias, "layerNorm", "bias");
    if (weight.size !== H || bias.size !== H) {
      throw new WebGpuError(
        `layerNorm: weight ${fmt(weight.dims)} and bias ${fmt(bias.dims)} must have ${H} ` +
          `elements (last axis of ${fmt(x.dims)})`,
      );
    }
    const out = this.#alloc(x.dims);
    const params = this.#paramBuffer([rows, H, fbits(eps)], true);
    this.#dispatch(
      "layerNorm",
      layerNormSource,
      params,
      [x.buffer, weight.buffer, bias.buffer, out.buffer],
      this.#grid(rows),
    );
    return out;
  }

  #softmax(x: GpuTensor, log: boolean): GpuTensor {
    return this.#op(() => this.#softmaxImpl(x, log));
  }

  #softmaxImpl(x: GpuTensor, log: boolean): GpuTensor {
    const op = log ? "logSoftmax" : "softmax";
    const [rows, H, xf] = this.#rows(x, op);
    x = xf;
    const out = this.#alloc(x.dims);
    const params = this.#paramBuffer([rows, H], true);
    this.#dispatch(op, () => softmaxSource(log), params, [x.buffer, out.buffer], this.#grid(rows));
    return out;
  }

  /** Softmax over the last axis. */
  softmax(x: GpuTensor): GpuTensor {
    return this.#softmax(x, false);
  }

  /** Log-softmax over the last axis. */
  logSoftmax(x: GpuTensor): GpuTensor {
    return this.#softmax(x, true);
  }

  /** `weight[ids]`: int32 ids `[...]` → `[..., hidden]` (ids checked on the host when uploaded). */
  embedding(weight: GpuTensor, ids: GpuTensor): GpuTensor {
    return this.#op(() => this.#embeddingImpl(weight, ids));
  }

  #embeddingImpl(weight: GpuTensor, ids: GpuTensor): GpuTensor {
    weight = this.#weight(weight, "embedding", "weight");
    this.#check(ids, "embedding", "ids");
    if (ids.dtype !== "int32") {
      throw new WebGpuError(
        `embedding: ids must be int32/int64, got ${ids.dtype} ${fmt(ids.dims)}`,
      );
    }
    if (weight.dims.length !== 2) {
      throw new WebGpuError(`embedding: weight must be [vocab, hidden], got ${fmt(weight.dims)}`);
    }
    const [V, H] = weight.dims;
    if (ids.hostInts) {
      const bad = ids.hostInts.findIndex((v) => v < 0 || v >= V);
      if (bad >= 0) {
        throw new WebGpuError(
          `embedding: id ${ids.hostInts[bad]} at flat index ${bad} is outside the table of ` +
            `${V} rows`,
        );
      }
    }
    return this.#gather(weight, ids.buffer, 1, V, H, ids.size, [...ids.dims, H]);
  }

  /**
   * Scaled dot-product attention in three dispatches: scores `[b, h, tq, tk]` (scale, mask and
   * causal fill fused into the matmul), row softmax, probs @ v.
   */
  attention(
    q: GpuTensor,
    k: GpuTensor,
    v: GpuTensor,
    opts: AttentionOptions<GpuTensor>,
  ): { output: GpuTensor; probs?: GpuTensor } {
    return this.#op(() => this.#attentionImpl(q, k, v, opts));
  }

  #attentionImpl(
    q: GpuTensor,
    k: GpuTensor,
    v: GpuTensor,
    opts: AttentionOptions<GpuTensor>,
  ): { output: GpuTensor; probs?: GpuTensor } {
    q = this.#float(q, "attention", "q");
    k = this.#float(k, "attention", "k");
    v = this.#float(v, "attention", "v");
    const mask = opts.mask && this.#float(opts.mask, "attention", "mask");
    const tq = q.dims[q.dims.length - 2];
    const tk = k.dims[k.dims.length - 2];
    if (v.dims[v.dims.length - 2] !== tk) {
      throw new WebGpuError(`attention: k ${fmt(k.dims)} and v ${fmt(v.dims)} differ in length`);
    }
    const scores = this.#matmul(
      q,
      k,
      {
        transposeB: true,
        bias: false,
        activation: "none",
        attention: { mask: !!mask, causal: !!opts.causal },
      },
      "attention",
      { mask, scale: opts.scale, causalOffset: tk - tq },
    );
    const probs = this.softmax(scores); // [b, h, tq, tk]
    this.dispose(scores);
    const output = this.matmul(probs, v); // [b, h, tq, dv]
    if (opts.returnProbs) return { output, probs };
    this.dispose(probs);
    return { output };
  }

  /** Mean cross-entropy (PyTorch semantics: ignore index, label smoothing). Scalar `[]`. */
  crossEntropy(
    logits: GpuTensor,
    labels: GpuTensor,
    opts: { ignoreIndex?: number; labelSmoothing?: number } = {},
  ): GpuTensor {
    return this.#op(() => this.#crossEntropyImpl(logits, labels, opts));
  }

  #crossEntropyImpl(
    logits: GpuTensor,
    labels: GpuTensor,
    opts: { ignoreIndex?: number; labelSmoothing?: number } = {},
  ): GpuTensor {
    const [rows, V, lf] = this.#rows(logits, "crossEntropy");
    logits = lf;
    this.#check(labels, "crossEntropy", "labels");
    if (labels.dtype !== "int32" || labels.size !== rows) {
      throw new WebGpuError(
        `crossEntropy: labels must be ${rows} int ids (rows of logits ${fmt(logits.dims)}), got ` +
          `${labels.dtype} ${fmt(labels.dims)}`,
      );
    }
    const ignore = opts.ignoreIndex ?? -100;
    const eps = opts.labelSmoothing ?? 0;
    if (labels.hostInts) {
      const bad = labels.hostInts.findIndex((v) => v !== ignore && (v < 0 || v >= V));
      if (bad >= 0) {
        throw new WebGpuError(
          `crossEntropy: label ${labels.hostInts[bad]} at index ${bad} is outside the ` +
            `vocabulary of ${V} (ignoreIndex ${ignore})`,
        );
      }
    }
    const perRow = this.#alloc([rows, 2]);
    this.#dispatch(
      "ceRows",
      crossEntropyRowsSource,
      this.#paramBuffer([rows, V, ignore | 0, fbits(eps)], true),
      [logits.buffer, labels.buffer, perRow.buffer],
      this.#grid(rows),
    );
    const out = this.#alloc([]);
    this.#dispatch(
      "ceMean",
      crossEntropyMeanSource,
      this.#paramBuffer([rows], true),
      [perRow.buffer, out.buffer],
      [1, 1, 1],
    );
    this.dispose(perRow);
    return out;
  }

  /** The `k` largest values of the last axis, descending (ties: lower index first). */
  topk(x: GpuTensor, k: number): { values: GpuTensor; indices: GpuTensor } {
    return this.#op(() => this.#topkImpl(x, k));
  }

  #topkImpl(x: GpuTensor, k: number): { values: GpuTensor; indices: GpuTensor } {
    const [rows, H, xf] = this.#rows(x, "topk");
    x = xf;
    if (!Number.isInteger(k) || k < 0 || k > H) {
      throw new WebGpuError(`topk: k = ${k} must be an integer in 0..${H} for ${fmt(x.dims)}`);
    }
    const dims = [...x.dims.slice(0, -1), k];
    const values = this.#alloc(dims);
    const indices = this.#alloc(dims, "int32");
    if (k === 0) return { values, indices };
    this.#dispatch(
      "topk",
      topkSource,
      this.#paramBuffer([rows, H, k], true),
      [x.buffer, values.buffer, indices.buffer],
      this.#grid(rows),
    );
    return { values, indices };
  }
}
