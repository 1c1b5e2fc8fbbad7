/**
 * Speed of a model family other than BERT on every device, side by side in one process:
 * electra2electra at ELECTRA-small's shape (`ElectraConfig()` defaults: embedding 128 projected
 * to 256, 12 layers, 4 heads, vocab 30,522; decoder = `ElectraForCausalLM` with cross-attention),
 * random weights from a fixed seed. The same model file runs on cpu, webgpu and onnx (recorded
 * graphs): this measures what issue 16 promises, one definition on every device.
 *
 * Workloads: `forward` of one 128-token input with one decoder position (encoder + decoder,
 * logits read back); greedy generation of 32 new tokens from it (no early stop). Each is run once to warm up, then `--reps` times; the median is reported.
 *
 * Run: `deno run -A --unstable-webgpu bench/family_bench.ts [--devices cpu,onnx-node,onnx-web,webgpu] [--reps 3]`
 *
 * @module
 */
import { ElectraConfig, EncoderDecoderConfig } from "@encdec/config";
import { EncoderDecoderModel } from "@encdec/generation";
import { median } from "./_stats.ts";

const DIR = "bench/.cache/electra2electra-small";
const SRC_LEN = 128;
const NEW_TOKENS = 32;

async function ensureModel(): Promise<number> {
  try {
    return (await Deno.stat(`${DIR}/model.safetensors`)).size;
  } catch {
    const enc = new ElectraConfig();
    const dec = new ElectraConfig({ isDecoder: true, addCrossAttention: true });
    const config = EncoderDecoderConfig.fromEncoderDecoderConfigs(enc, dec, {
      decoderStartTokenId: 101,
      padTokenId: 0,
      eosTokenId: 102,
    });
    const model = new EncoderDecoderModel(config, { seed: 1234 });
    await Deno.mkdir(DIR, { recursive: true });
    await model.savePretrained(DIR);
    return (await Deno.stat(`${DIR}/model.safetensors`)).size;
  }
}

async function timeIt(reps: number, fn: () => Promise<unknown>): Promise<number> {
  await fn(); // warm-up
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  return median(times);
}

if (import.meta.main) {
  const arg = (name: string, dflt: string) => {
    const i = Deno.args.indexOf(name);
    return i >= 0 ? Deno.args[i + 1] : dflt;
  };
  const devices = arg("--devices", "cpu,onnx-node,onnx-web,webgpu").split(",");
  const reps = Number(arg("--reps", "3"));
  const bytes = await ensureModel();
  // Ids 1000..1127 (ordinary WordPiece rows), one row.
  const ids = [Array.from({ length: SRC_LEN }, (_, i) => 1000 + i)];
  const mask = [ids[0].map(() => 1)];
  const rows: Record<string, unknown>[] = [];
  let reference: number[][] | null = null;
  for (const device of devices) {
    const t0 = performance.now();
    const model = await EncoderDecoderModel.fromPretrained(DIR, { device });
    const loadMs = performance.now() - t0;
    // forward = encoder + one decoder position, logits read back to the host (so a device that
    // queues work, WebGPU, is timed to completion).
    const forwardMs = await timeIt(reps, async () => {
      const out = await model.forward({
        inputIds: ids,
        attentionMask: mask,
        decoderInputIds: [[101]],
      });
      if (out.logits.dims[2] !== 30522) throw new Error(`logits ${out.logits.dims}`);
    });
    let seq: number[][] = [];
    const greedyMs = await timeIt(reps, async () => {
      const out = await model.generate(ids, {
        attentionMask: mask,
        maxNewTokens: NEW_TOKENS,
        minNewTokens: NEW_TOKENS,
        numBeams: 1,
      });
      seq = out.sequences;
    });
    reference ??= seq;
    const row = {
      device,
      runs: model.device.name,
      loadMs: Math.round(loadMs),
      forwardMs: Math.round(forwardMs * 10) / 10,
      greedyMs: Math.round(greedyMs),
      msPerToken: Math.round((greedyMs / NEW_TOKENS) * 10) / 10,
      sameIdsAsFirst: JSON.stringify(seq) === JSON.stringify(reference),
    };
    rows.push(row);
    console.log(JSON.stringify(row));
    await model.dispose();
  }
  const result = {
    model: "electra2electra-small (random, seed 1234)",
    weightBytes: bytes,
    srcLen: SRC_LEN,
    newTokens: NEW_TOKENS,
    reps,
    loadavg: Deno.loadavg(),
    rows,
  };
  await Deno.mkdir("bench/results", { recursive: true });
  await Deno.writeTextFile("bench/results/family-electra.json", JSON.stringify(result, null, 2));
}
