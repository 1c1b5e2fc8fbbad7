/**
 * Test helper: whether the WebGPU tests can run here. Outside CI, a machine without an adapter
 * ignores them with the reason printed once; in CI (`CI=true`) a missing adapter is an error, so
 * WebGPU tests can never be skipped silently there (`.ci/run` installs Mesa's lavapipe).
 *
 * @module
 */
import { WebGpuBackend } from "../modeling/backends/webgpu/mod.ts";

/** What {@linkcode webgpuForTests} found. */
export interface WebGpuTestProbe {
  /** An adapter exists: run the WebGPU tests. */
  available: boolean;
  /** Why not, when not. */
  reason: string;
}

let probed: Promise<WebGpuTestProbe> | undefined;

/**
 * Probes for a WebGPU adapter once per process. Throws under `CI=true` when there is none.
 *
 * @example
 * ```ts
 * import { webgpuForTests } from "./webgpu.ts";
 * const gpu = await webgpuForTests();
 * Deno.test({ name: "a WebGPU test", ignore: !gpu.available, fn() {} });
 * ```
 */
export function webgpuForTests(who = "WebGPU tests"): Promise<WebGpuTestProbe> {
  probed ??= (async () => {
    try {
      const p = await WebGpuBackend.probe();
      return { available: p.available, reason: p.available ? "" : p.reason ?? "no adapter" };
    } catch (e) {
      return { available: false, reason: (e as Error).message };
    }
  })();
  return probed.then((p) => {
    if (!p.available) {
      if (Deno.env.get("CI") === "true") {
        throw new Error(
          `${who}: no WebGPU adapter in CI (${p.reason}); install mesa-vulkan-drivers and run ` +
            `with --unstable-webgpu — CI must not skip WebGPU tests`,
        );
      }
      console.log(`${who} ignored: ${p.reason}`);
    }
    return p;
  });
}
