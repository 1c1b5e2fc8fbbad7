/**
 * A full-size replica of the seed's model (`patrickvonplaten/bert2bert-cnn_dailymail-fp16`):
 * bert-base × 2 with the bench's random weights (`make_model.ts`, seed 1234), stored as fp16
 * `pytorch_model.bin` like the seed's checkpoint, with its generation settings (beam 4, max
 * length 142, min length 56, no-repeat 3, length penalty 2, early stopping) and the default
 * model's BERT uncased vocabulary. Saved once in `bench/.cache/bert2bert-seed-bin/` (fp16
 * `.bin`) and `bench/.cache/bert2bert-seed-st/` (the same config over the fp32 safetensors of
 * `bert2bert-base`, hard-linked).
 *
 * Run: `deno run -A bench/make_seed_replica.ts` (a no-op when the files exist).
 *
 * @module
 */
import { floatToHalf, Tensor } from "../modeling/tensor.ts";
import { loadStateDict, saveTorchCheckpointFile } from "../modeling/weights/mod.ts";
import { ensureModel, modelDir } from "./make_model.ts";

/** The seed checkpoint's generation settings (its `config.json` / `generation_config.json`). */
export const SEED_GENERATION = {
  decoder_start_token_id: 101,
  bos_token_id: 101,
  eos_token_id: 102,
  pad_token_id: 0,
  num_beams: 4,
  max_length: 142,
  min_length: 56,
  no_repeat_ngram_size: 3,
  length_penalty: 2.0,
  early_stopping: true,
} as const;

/** Tokenizer files copied from the default model (BERT uncased vocabulary, 30,522 tokens). */
const TOKENIZER_FILES = ["vocab.txt", "tokenizer_config.json", "special_tokens_map.json"];

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

async function writeMeta(src: string, dir: string): Promise<void> {
  const config = JSON.parse(await Deno.readTextFile(`${src}/config.json`));
  Object.assign(config, SEED_GENERATION);
  await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(config, null, 2));
  await Deno.writeTextFile(
    `${dir}/generation_config.json`,
    JSON.stringify(SEED_GENERATION, null, 2),
  );
  for (const f of TOKENIZER_FILES) {
    const text = await Deno.readTextFile(`models/default/${f}`);
    // The seed's tokenizer reads up to 512 tokens; the default model's config says 64.
    await Deno.writeTextFile(
      `${dir}/${f}`,
      f === "tokenizer_config.json"
        ? JSON.stringify({ ...JSON.parse(text), model_max_length: 512 }, null, 2)
        : text,
    );
  }
}

/**
 * Creates both replica directories (fp16 `.bin`, fp32 safetensors) unless present; returns
 * their paths.
 */
export async function ensureSeedReplica(
  root = "bench/.cache",
): Promise<{ bin: string; safetensors: string }> {
  const base = (await ensureModel("base", modelDir("base", root))).dir;
  const bin = `${root}/bert2bert-seed-bin`;
  const st = `${root}/bert2bert-seed-st`;
  if (!(await exists(`${bin}/pytorch_model.bin`))) {
    await Deno.mkdir(bin, { recursive: true });
    const { tensors } = await loadStateDict(base);
    const half: Record<string, Tensor> = {};
    for (const [k, t] of tensors) {
      const src = t.data as Float32Array;
      const h = new Uint16Array(src.length);
      for (let i = 0; i < src.length; i++) h[i] = floatToHalf(src[i]);
      half[k] = new Tensor("float16", h, [...t.dims]);
    }
    await saveTorchCheckpointFile(`${bin}/pytorch_model.bin`, half);
    await writeMeta(base, bin);
  }
  if (!(await exists(`${st}/model.safetensors`))) {
    await Deno.mkdir(st, { recursive: true });
    // A hard link: a local model directory may not link outside itself (ResolveError).
    await Deno.link(`${base}/model.safetensors`, `${st}/model.safetensors`);
    await writeMeta(base, st);
  }
  return { bin, safetensors: st };
}

if (import.meta.main) {
  const t0 = performance.now();
  const r = await ensureSeedReplica();
  console.log(`${r.bin}, ${r.safetensors} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}
