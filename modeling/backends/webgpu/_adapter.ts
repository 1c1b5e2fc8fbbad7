/**
 * Finding a WebGPU adapter without creating a device: the options of `WebGpuBackend.create` /
 * `probe` and what a probe reports (software fallback adapters included, which `device: "auto"`
 * skips).
 *
 * @module
 */

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

/** Looks for an adapter without creating a device (what `device: "auto"` should ask first). */
export async function probeAdapter(opts: WebGpuOptions = {}): Promise<WebGpuProbe> {
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
