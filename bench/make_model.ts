/**
 * The benchmark model: bert2bert built from two `BertConfig`s (HF's
 * `EncoderDecoderConfig.from_encoder_decoder_configs`, decoder with cross-attention), random
 * weights from a fixed seed, saved once as `model.safetensors` + `config.json` in
 * `bench/.cache/<size>/` and shared by every contender (encdec backends and PyTorch).
 *
 * Sizes: `base` is `BertConfig()` defaults (bert-base: 12 layers, 768 wide, vocab 30,522);
 * `tiny` (2 layers, 32 wide, vocab 1,000) is what the CI smoke test runs; `floor` has bert-base's
 * graph (12 layers, 12 heads, the same nodes per decode step) at 48 wide, vocab 1,000, so its steps
 * read next to no bytes: what the runtime spends per node (`decode_bound.ts`).
 *
 * Run: `deno run -A bench/make_model.ts [base|tiny|floor]` (a no-op when the files exist).
 *
 * @module
 */
import { BertConfig, EncoderDecoderConfig } from "@encdec/config";
import { EncoderDecoderModel } from "@encdec/modeling";

/** Model sizes the suite knows. */
export type ModelSize = "base" | "tiny" | "floor";

/** The shapes of the small sizes (vocab 1,000, 512 positions); `base` is `BertConfig()`. */
const SMALL_SIZES = {
  tiny: { hiddenSize: 32, numHiddenLayers: 2, numAttentionHeads: 4, intermediateSize: 64 },
  floor: { hiddenSize: 48, numHiddenLayers: 12, numAttentionHeads: 12, intermediateSize: 192 },
} as const;

/** Decoder start, pad and eos ids of the benchmark model (BERT's [CLS], [PAD], [SEP]). */
export const SPECIAL = { decoderStart: 101, pad: 0, eos: 102 } as const;

/** Seed of the random weights. */
export const WEIGHT_SEED = 1234;

/** Directory the model of `size` is cached in. */
export function modelDir(size: ModelSize, root = "bench/.cache"): string {
  return `${root}/bert2bert-${size}`;
}

/**
 * The bert2bert config of `size`.
 *
 * @example
 * ```ts
 * import { benchConfig } from "./make_model.ts";
 * benchConfig("tiny").decoder.addCrossAttention; // true
 * ```
 */
export function benchConfig(size: ModelSize): EncoderDecoderConfig {
  const bert = size === "base"
    ? new BertConfig()
    : new BertConfig({ vocabSize: 1000, maxPositionEmbeddings: 512, ...SMALL_SIZES[size] });
  return EncoderDecoderConfig.fromEncoderDecoderConfigs(bert, bert, {
    decoderStartTokenId: SPECIAL.decoderStart,
    padTokenId: SPECIAL.pad,
    eosTokenId: SPECIAL.eos,
  });
}

/** Bytes of `dir/model.safetensors`, or `null` when absent. */
async function fileSize(path: string): Promise<number | null> {
  try {
    return (await Deno.stat(path)).size;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

/**
 * Creates the model of `size` in `dir` unless `dir/model.safetensors` already exists; returns
 * the directory and the weight file's size in bytes.
 *
 * @example
 * ```ts ignore
 * import { ensureModel } from "./make_model.ts";
 * const { dir, weightBytes } = await ensureModel("tiny");
 * ```
 */
export async function ensureModel(
  size: ModelSize,
  dir: string = modelDir(size),
): Promise<{ dir: string; weightBytes: number; created: boolean }> {
  const existing = await fileSize(`${dir}/model.safetensors`);
  if (existing !== null) return { dir, weightBytes: existing, created: false };
  const model = new EncoderDecoderModel(benchConfig(size), { seed: WEIGHT_SEED });
  await Deno.mkdir(dir, { recursive: true });
  await model.savePretrained(dir);
  return { dir, weightBytes: (await fileSize(`${dir}/model.safetensors`))!, created: true };
}

if (import.meta.main) {
  const size = (Deno.args[0] ?? "base") as ModelSize;
  if (size !== "base" && size !== "tiny" && size !== "floor") {
    console.error(`make_model: size "${size}": expected "base", "tiny" or "floor"`);
    Deno.exit(2);
  }
  const t0 = performance.now();
  const r = await ensureModel(size);
  console.log(
    `${r.created ? "wrote" : "exists"} ${r.dir}/model.safetensors (${
      (r.weightBytes / 1e6).toFixed(1)
    } MB) in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
}
