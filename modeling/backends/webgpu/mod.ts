/**
 * `@encdec/modeling` WebGPU backend: `WebGpuBackend` implements `Backend<GpuTensor>` with WGSL
 * kernels on Deno's `navigator.gpu` (run with `--unstable-webgpu`).
 *
 * @example
 * ```ts
 * import { WebGpuBackend } from "./mod.ts";
 * const probe = await WebGpuBackend.probe();
 * if (probe.available && !probe.isFallbackAdapter) {
 *   const gpu = await WebGpuBackend.create();
 *   gpu.destroy();
 * }
 * ```
 *
 * @module
 */
export { WebGpuBackend, type WebGpuStats } from "./webgpu.ts";
export { type GpuDType, GpuTensor, WebGpuError } from "./_tensor.ts";
export type { WebGpuOptions, WebGpuProbe } from "./_adapter.ts";
export type { PoolStats } from "./_pool.ts";
