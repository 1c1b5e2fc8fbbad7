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
import { numel, Tensor } from "../../tensor.ts";
import { castHalfSource, WG } from "./_kernels.ts";
import { BufferPool, type PoolStats } from "./_pool.ts";
import { fmt } from "../cpu/_shape.ts";
import { hostMaskBias, hostPositionIds } from "../cpu/_masks.ts";
import {
  bytesFor,
  collectHandles,
  type GpuDType,
  GpuTensor,
  type Storage,
  uploadData,
  WebGpuError,
} from "./_tensor.ts";
import { probeAdapter, type WebGpuOptions, type WebGpuProbe } from "./_adapter.ts";
import { grid, type OpContext } from "./_context.ts";
import * as shapeOps from "./_shape_ops.ts";
import * as mathOps from "./_math_ops.ts";

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
  /** This backend as the op implementations (`_shape_ops.ts`, `_math_ops.ts`) see it. */
  #ctx: OpContext = {
    check: (t, op, what) => this.#check(t, op, what),
    float: (t, op, what) => this.#float(t, op, what),
    weight: (t, op, what) => this.#weight(t, op, what),
    alloc: (dims, dtype, hostInts) => this.#alloc(dims, dtype, hostInts),
    paramBuffer: (values, cache) => this.#paramBuffer(values, cache),
    dispatch: (key, source, params, buffers, groups) =>
      this.#dispatch(key, source, params, buffers, groups),
    reshape: (x, dims) => this.reshape(x, dims),
    dispose: (t) => this.dispose(t),
    softmax: (x) => this.softmax(x),
    matmul: (a, b, opts) => this.matmul(a, b, opts),
  };

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
  static probe(opts: WebGpuOptions = {}): Promise<WebGpuProbe> {
    return probeAdapter(opts);
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
        grid(Math.ceil(n / WG)),
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

  // ---- data movement ----------------------------------------------------------------------------

  /** HF's additive mask, built on the host from the host 0/1 mask and uploaded. */
  maskBias(mask: Tensor, causalQueries?: number): GpuTensor {
    return this.upload(hostMaskBias("webgpu", mask, causalQueries));
  }

  /** Position ids, built on the host and uploaded (see `Backend.positionIds`). */
  positionIds(
    start: number,
    length: number,
    padded?: { ids: Tensor; paddingIdx: number },
  ): GpuTensor {
    return this.upload(hostPositionIds("webgpu", start, length, padded));
  }

  /**
   * Host tensor → GPU: float16 kept as fp16 storage (unless `halfStorage` is off), bfloat16
   * widened to float32, int64 / bool narrowed to int32.
   */
  upload(t: Tensor): GpuTensor {
    const { data, dtype, hostInts } = uploadData(t, this.halfStorage);
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

  /** Axis permutation. */
  permute(x: GpuTensor, perm: readonly number[]): GpuTensor {
    return this.#op(() => shapeOps.permute(this.#ctx, this.#words(x, "permute"), perm));
  }

  /** `x[..., start:end, ...]` along `axis` (negative bounds count from the end). */
  slice(x: GpuTensor, axis: number, start: number, end: number): GpuTensor {
    return this.#op(() => shapeOps.slice(this.#ctx, this.#words(x, "slice"), axis, start, end));
  }

  /** Concatenation along `axis`. */
  concat(xs: readonly GpuTensor[], axis: number): GpuTensor {
    return this.#op(() =>
      shapeOps.concat(this.#ctx, xs.map((x, i) => this.#words(x, "concat", `input ${i}`)), axis)
    );
  }

  /** Rows `indices` of `x` along `axis`. */
  indexSelect(x: GpuTensor, axis: number, indices: readonly number[]): GpuTensor {
    return this.#op(() =>
      shapeOps.indexSelect(this.#ctx, this.#words(x, "indexSelect"), axis, indices)
    );
  }

  // ---- arithmetic -------------------------------------------------------------------------------

  /** Batched matmul with broadcast leading dims; `transposeB` reads b as `[..., n, k]`. */
  matmul(a: GpuTensor, b: GpuTensor, opts: { transposeB?: boolean } = {}): GpuTensor {
    return this.#op(() => mathOps.matmul(this.#ctx, a, b, opts));
  }

  /** `x [..., in] @ weight[out, in]^T + bias`, then `activation`, in one kernel. */
  linear(
    x: GpuTensor,
    weight: GpuTensor,
    bias?: GpuTensor,
    activation: Activation = "none",
  ): GpuTensor {
    return this.#op(() => mathOps.linear(this.#ctx, x, weight, bias, activation));
  }

  #binary(a: GpuTensor, b: GpuTensor, op: "add" | "mul"): GpuTensor {
    return this.#op(() => mathOps.binary(this.#ctx, a, b, op));
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
    return this.#op(() => mathOps.unary(this.#ctx, x, op, s));
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

  /** Layer norm over the last axis. */
  layerNorm(x: GpuTensor, weight: GpuTensor, bias: GpuTensor, eps: number): GpuTensor {
    return this.#op(() => mathOps.layerNorm(this.#ctx, x, weight, bias, eps));
  }

  #softmax(x: GpuTensor, log: boolean): GpuTensor {
    return this.#op(() => mathOps.softmax(this.#ctx, x, log));
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
    return this.#op(() => mathOps.embedding(this.#ctx, weight, ids));
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
    return this.#op(() => mathOps.attention(this.#ctx, q, k, v, opts));
  }

  /** Mean cross-entropy (PyTorch semantics: ignore index, label smoothing). Scalar `[]`. */
  crossEntropy(
    logits: GpuTensor,
    labels: GpuTensor,
    opts: { ignoreIndex?: number; labelSmoothing?: number } = {},
  ): GpuTensor {
    return this.#op(() => mathOps.crossEntropy(this.#ctx, logits, labels, opts));
  }

  /** The `k` largest values of the last axis, descending (ties: lower index first). */
  topk(x: GpuTensor, k: number): { values: GpuTensor; indices: GpuTensor } {
    return this.#op(() => mathOps.topk(this.#ctx, x, k));
  }
}
