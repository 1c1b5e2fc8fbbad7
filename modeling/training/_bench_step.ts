/**
 * Benchmark: one training step (forward + backward) of a 23M-parameter bert2bert (hidden 256,
 * 4 + 4 layers, 4 heads, vocab 30522; batch 8, source 64, target 16 tokens) on the plain
 * autograd device and with onnxruntime-node matmuls.
 * Run: `deno run -A modeling/training/_bench_step.ts`.
 *
 * @module
 */
import { AutogradBackend } from "../autograd/backend.ts";
import { OrtCpuBackend } from "../autograd/ort_cpu.ts";
import { cpu } from "../backends/cpu/cpu.ts";
import { EncoderDecoderModel } from "../models/encoder_decoder.ts";

const bert = (dec: boolean) => ({
  model_type: "bert",
  vocab_size: 30522,
  hidden_size: 256,
  num_hidden_layers: 4,
  num_attention_heads: 4,
  intermediate_size: 1024,
  max_position_embeddings: 128,
  is_decoder: dec,
  add_cross_attention: dec,
});
const config = {
  model_type: "encoder-decoder",
  is_encoder_decoder: true,
  decoder_start_token_id: 2,
  pad_token_id: 0,
  encoder: bert(false),
  decoder: bert(true),
};
const B = 8, S = 64, T = 16;
const inputIds = Array.from(
  { length: B },
  (_, r) => Array.from({ length: S }, (_, c) => 5 + (r * 31 + c * 7) % 30000),
);
const labels = Array.from(
  { length: B },
  (_, r) => Array.from({ length: T }, (_, c) => 5 + (r * 13 + c * 11) % 30000),
);
const attentionMask = inputIds.map((r) => r.map(() => 1));

if (import.meta.main) {
  const devices: [string, AutogradBackend][] = [
    ["plain TypeScript", new AutogradBackend(cpu)],
    ["onnxruntime-node matmuls", new AutogradBackend(await OrtCpuBackend.create())],
  ];
  for (const [name, device] of devices) {
    const model = new EncoderDecoderModel(config, { device, seed: 1 }).train();
    const ms: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t = performance.now();
      const out = await model.forward({ inputIds, attentionMask, labels, useCache: false });
      await out.loss!.backward();
      model.zeroGrad();
      ms.push(performance.now() - t);
    }
    console.log(`${name}: step ms ${ms.map((x) => x.toFixed(0)).join(", ")}`);
  }
}
