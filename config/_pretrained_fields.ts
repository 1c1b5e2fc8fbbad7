/**
 * The `PretrainedConfig` attributes as data: HF 4.40.2's attribute names and defaults as the zod
 * shape every model schema extends, HF's default labels, and the hidden-size / heads check the
 * model configs share.
 *
 * @module
 */
import { z } from "zod";
import { ConfigError } from "./errors.ts";
import { joinPath } from "./_util.ts";

const int = () => z.int();
const nullableInt = () => z.int().nullable().default(null);
const tokenIds = () => z.union([z.int(), z.array(z.int())]).nullable().default(null);
const intList = () => z.array(z.int()).nullable().default(null);

/**
 * HF's `PretrainedConfig` attributes (snake_case JSON names) with their defaults, in HF's order.
 * Model schemas extend this shape.
 */
export const pretrainedConfigShape = {
  return_dict: z.boolean().default(true),
  output_hidden_states: z.boolean().default(false),
  output_attentions: z.boolean().default(false),
  torchscript: z.boolean().default(false),
  torch_dtype: z.string().nullable().default(null),
  use_bfloat16: z.boolean().default(false),
  tf_legacy_loss: z.boolean().default(false),
  pruned_heads: z.record(z.string(), z.array(z.int())).default(() => ({})),
  tie_word_embeddings: z.boolean().default(true),
  chunk_size_feed_forward: int().min(0).default(0),
  is_encoder_decoder: z.boolean().default(false),
  is_decoder: z.boolean().default(false),
  cross_attention_hidden_size: nullableInt(),
  add_cross_attention: z.boolean().default(false),
  tie_encoder_decoder: z.boolean().default(false),
  // legacy generation parameters (PretrainedConfig._get_generation_defaults)
  max_length: int().default(20),
  min_length: int().default(0),
  do_sample: z.boolean().default(false),
  early_stopping: z.union([z.boolean(), z.literal("never")]).default(false),
  num_beams: int().default(1),
  num_beam_groups: int().default(1),
  diversity_penalty: z.number().default(0),
  temperature: z.number().default(1),
  top_k: int().default(50),
  top_p: z.number().default(1),
  typical_p: z.number().default(1),
  repetition_penalty: z.number().default(1),
  length_penalty: z.number().default(1),
  no_repeat_ngram_size: int().default(0),
  encoder_no_repeat_ngram_size: int().default(0),
  bad_words_ids: z.array(z.array(z.int())).nullable().default(null),
  num_return_sequences: int().default(1),
  output_scores: z.boolean().default(false),
  return_dict_in_generate: z.boolean().default(false),
  forced_bos_token_id: nullableInt(),
  forced_eos_token_id: tokenIds(),
  remove_invalid_values: z.boolean().default(false),
  exponential_decay_length_penalty: z.tuple([z.int(), z.number()]).nullable().default(null),
  suppress_tokens: intList(),
  begin_suppress_tokens: intList(),
  // fine-tuning task
  architectures: z.array(z.string()).nullable().default(null),
  finetuning_task: z.string().nullable().default(null),
  id2label: z.record(z.string().regex(/^-?\d+$/, "expected integer keys"), z.string()).nullable()
    .default(null),
  label2id: z.record(z.string(), z.int()).nullable().default(null),
  // tokenizer
  tokenizer_class: z.string().nullable().default(null),
  prefix: z.string().nullable().default(null),
  bos_token_id: nullableInt(),
  pad_token_id: nullableInt(),
  eos_token_id: tokenIds(),
  sep_token_id: nullableInt(),
  decoder_start_token_id: nullableInt(),
  task_specific_params: z.record(z.string(), z.unknown()).nullable().default(null),
  problem_type: z.enum(["regression", "single_label_classification", "multi_label_classification"])
    .nullable().default(null),
  _name_or_path: z.string().default(""),
  transformers_version: z.string().nullable().default(null),
};

/** The zod shape type of a config schema (snake_case keys, each with its default). */
export type ConfigShape = Record<string, z.ZodType>;

/** HF's default `id2label` / `label2id` for `n` labels (`LABEL_0`, `LABEL_1`, ...). */
export function defaultLabels(n: number): [Record<string, string>, Record<string, number>] {
  const id2label: Record<string, string> = {};
  const label2id: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    id2label[String(i)] = `LABEL_${i}`;
    label2id[`LABEL_${i}`] = i;
  }
  return [id2label, label2id];
}

/** Throws a ConfigError when `hidden` is not a multiple of `heads` (HF raises at model build). */
export function checkHeads(
  file: string,
  prefix: string,
  names: [string, string],
  hidden: number,
  heads: number,
): void {
  if (heads <= 0 || hidden % heads !== 0) {
    throw new ConfigError(
      `${file}: field "${joinPath(prefix, [names[0]])}" = ${hidden} is not a multiple of "${
        joinPath(prefix, [names[1]])
      }" = ${heads}; expected ${names[0]} % ${names[1]} == 0`,
    );
  }
}
