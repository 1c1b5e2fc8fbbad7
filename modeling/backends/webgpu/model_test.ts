/**
 * Golden parity of `EncoderDecoderModel` running on the WebGPU backend with Python
 * `transformers` 4.40.2 (the goldens in `tests/testdata/fixtures/`, made by its `generate.py`):
 * forward loss / logits / encoder output, and cached step-by-step decoding, on every fixture
 * model. Tolerance 1e-4 absolute, as the CPU golden tests (goldens carry 7 significant digits).
 *
 * Ignored, with the reason printed, when no WebGPU adapter exists.
 */
import { assert } from "@std/assert";
import { EncoderDecoderModel } from "../../models/encoder_decoder.ts";
import type { Tensor } from "../../tensor.ts";
import {
  cachedStepLogits,
  FIXTURES,
  forwardArgs,
  GOLDEN_MODELS,
  goldens,
  maxDiff,
  type Nested,
} from "../../models/_test_util.ts";
import { WebGpuBackend } from "./mod.ts";
import { webgpuForTests } from "../../../testing/webgpu.ts";

const TOL = 1e-4;
const ignore = !(await webgpuForTests("webgpu model_test")).available;
const gpu: WebGpuBackend | undefined = ignore ? undefined : await WebGpuBackend.create();

function assertClose(t: Tensor | Float32Array, golden: Nested, what: string): void {
  const d = maxDiff(t, golden, what);
  assert(d <= TOL, `${what}: max abs diff ${d} > ${TOL} (webgpu)`);
}

Deno.test({
  name: "webgpu bert2bert-fp16: fp16 weight storage (dtype float16) gives the HF logits (1e-4)",
  ignore,
  fn: async () => {
    const g = await goldens("bert2bert-fp16");
    const model = await EncoderDecoderModel.fromPretrained(`${FIXTURES}bert2bert-fp16`, {
      device: gpu,
      dtype: "float16",
    });
    const out = await model.forward(forwardArgs(g));
    assert(Math.abs(out.loss!.item() - g.forward.loss) <= TOL, `loss ${out.loss!.item()}`);
    assertClose(out.logits, g.forward.logits, "logits");
  },
});

for (const name of GOLDEN_MODELS) {
  Deno.test({
    name:
      `webgpu ${name}: forward loss, logits, encoder output and cached decode steps match HF (1e-4)`,
    ignore,
    fn: async () => {
      const g = await goldens(name);
      const model = await EncoderDecoderModel.fromPretrained(`${FIXTURES}${name}`, { device: gpu });
      const out = await model.forward(forwardArgs(g));
      assert(
        Math.abs(out.loss!.item() - g.forward.loss) <= TOL,
        `loss ${out.loss!.item()} vs ${g.forward.loss}`,
      );
      assertClose(out.logits, g.forward.logits, "logits");
      assertClose(
        out.encoderLastHiddenState!,
        g.forward.encoder_last_hidden_state,
        "encoder_last_hidden_state",
      );
      const steps = await cachedStepLogits(model, g); // [2, 5, V]
      assertClose(steps, g.incremental.step_last_logits, "step_last_logits");
    },
  });
}
