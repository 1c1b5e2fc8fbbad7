// In CI (`CI=true`) a WebGPU adapter must exist, so that the WebGPU tests run instead of being
// ignored: `.ci/run` installs Mesa's lavapipe and fails when it cannot.
import { assert } from "@std/assert";
import { WebGpuBackend } from "../modeling/backends/webgpu/mod.ts";

Deno.test({
  name: "CI: a WebGPU adapter is found (WebGPU tests cannot be skipped in CI)",
  ignore: Deno.env.get("CI") !== "true",
  async fn() {
    const probe = await WebGpuBackend.probe();
    assert(probe.available, `no WebGPU adapter in CI: ${probe.reason ?? ""}`);
  },
});
