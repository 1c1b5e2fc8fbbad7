/**
 * The one `EncoderDecoderModel` on every device against Python `transformers` 4.40.2 (the
 * `forward` goldens of tests/testdata/fixtures/<model>/goldens.json, made by its generate.py):
 * loss, logits and encoder_last_hidden_state within 1e-4 absolute on onnxruntime-node (every
 * fixture model), onnxruntime-web and WebGPU (bert2bert: they are slower). Also what an onnx
 * device cannot do (hidden states, the backend) as typed errors, `savePretrained` from an onnx
 * device, and `dispose()` with its `release()` alias.
 */
import { assert, assertEquals, assertRejects, assertThrows } from "@std/assert";
import { EncoderDecoderModel } from "./encoder_decoder.ts";
import { DeviceError, selectDevice } from "./device.ts";
import { ModelInputError } from "./errors.ts";
import { FIXTURES, forwardArgs, goldens, maxDiff, MODELS, type Nested } from "./_test_util.ts";
import type { Tensor } from "../tensor.ts";
import { WebGpuBackend } from "../backends/webgpu/mod.ts";

const TOL = 1e-4;
const ffi = (await Deno.permissions.query({ name: "ffi" })).state === "granted";
const gpu = "gpu" in navigator && (await WebGpuBackend.probe()).available;

function assertClose(t: Tensor, golden: Nested, what: string): void {
  const d = maxDiff(t, golden, what);
  assert(d <= TOL, `${what}: max abs diff ${d} > ${TOL}`);
}

/** forward(labels) on `device` equals the goldens: loss, logits, encoder_last_hidden_state. */
async function forwardMatches(name: string, device: string): Promise<EncoderDecoderModel> {
  const g = await goldens(name);
  const model = await EncoderDecoderModel.fromPretrained(`${FIXTURES}${name}`, { device });
  assertEquals(model.device.device, device);
  const out = await model.forward(forwardArgs(g));
  const loss = out.loss!.item();
  assert(
    Math.abs(loss - g.forward.loss) <= TOL,
    `${device} ${name} loss ${loss} vs ${g.forward.loss}`,
  );
  assertEquals(out.logits.dims, [2, 7, model.vocabSize]);
  assertClose(out.logits, g.forward.logits, `${device} ${name} logits`);
  assertClose(
    out.encoderLastHiddenState!,
    g.forward.encoder_last_hidden_state,
    `${device} ${name} encoder_last_hidden_state`,
  );
  out.pastKeyValues?.dispose(); // the cache HF's use_cache returns (device K/V)
  return model;
}

for (const name of MODELS) {
  Deno.test({
    name:
      `onnx-node ${name}: the one class's forward(labels) loss, logits, encoder state = HF (1e-4)`,
    ignore: !ffi,
    async fn() {
      const model = await forwardMatches(name, "onnx-node");
      assertEquals([model.device.name, model.device.runtime], ["onnx", "node"]);
      await model.dispose();
    },
  });
}

Deno.test("onnx-web bert2bert: the one class's forward(labels) = HF (1e-4)", async () => {
  const model = await forwardMatches("bert2bert", "onnx-web");
  assertEquals(model.device.runtime, "web");
  await model.dispose();
});

Deno.test({
  name:
    "webgpu bert2bert: the one class's forward(labels) = HF (1e-4); dispose() frees the weights",
  ignore: !gpu,
  async fn() {
    const gpu = (await selectDevice("webgpu")).backend as WebGpuBackend;
    const before = gpu.stats().pool.live;
    const model = await forwardMatches("bert2bert", "webgpu");
    assertEquals(model.backend.name, "webgpu");
    assert(gpu.stats().pool.live > before, "the weights live on the GPU");
    await model.dispose(); // frees every weight buffer: back to what was live before loading
    assertEquals(gpu.stats().pool.live, before);
  },
});

Deno.test("onnx device: explicit decoder inputs give HF's full-forward logits; what it cannot return throws", async () => {
  const g = await goldens("bert2bert");
  const model = await EncoderDecoderModel.fromPretrained(`${FIXTURES}bert2bert`, {
    device: "onnx",
  });
  try {
    const full = await model.forward({
      inputIds: g.inputs.input_ids,
      attentionMask: g.inputs.attention_mask,
      decoderInputIds: g.incremental.decoder_input_ids,
    });
    assertEquals(full.loss, undefined);
    assertEquals(full.pastKeyValues, undefined);
    assertClose(full.logits, g.incremental.full_forward_logits, "full_forward_logits");
    await assertRejects(
      () => model.forward({ ...forwardArgs(g), outputHiddenStates: true }),
      ModelInputError,
      `forward: outputHiddenStates is not available on device ${model.device.device}`,
    );
    assertThrows(() => model.backend, DeviceError, "where onnxruntime runs the whole graph");
    // No top-k fast path on this engine: generation reads full logits.
    assertEquals(model.decodeStepTopK, undefined);
  } finally {
    await model.release(); // the deprecated alias of dispose()
  }
});

Deno.test("savePretrained from an onnx device writes the checkpoint: the cpu model loaded from it gives the same logits", async () => {
  const g = await goldens("bert2bert");
  const onnx = await EncoderDecoderModel.fromPretrained(`${FIXTURES}bert2bert`, {
    device: "onnx",
  });
  const dir = await Deno.makeTempDir({ prefix: "encdec_onnx_save_" });
  try {
    await onnx.savePretrained(dir);
    const saved = await EncoderDecoderModel.fromPretrained(dir);
    const original = await EncoderDecoderModel.fromPretrained(`${FIXTURES}bert2bert`);
    const a = await saved.forward(forwardArgs(g));
    const b = await original.forward(forwardArgs(g));
    assertEquals(a.logits.data, b.logits.data);
    assertEquals(saved.generationConfig.toDict(), onnx.generationConfig.toDict());
  } finally {
    await onnx.dispose();
    await Deno.remove(dir, { recursive: true });
  }
});
