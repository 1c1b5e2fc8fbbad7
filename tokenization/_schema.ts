/**
 * The boundary check of `tokenizer.json`: one zod schema per section, so that a file with a
 * section of the wrong shape (a string where the model object belongs, an added token without
 * an integer id, a vocabulary entry that is not `[piece, score]`) is rejected with a
 * `TokenizerError` naming the JSON path, before any pipeline piece is built from it. The
 * pipeline builders (`_pipeline.ts`) then check only what is specific to a component type.
 *
 * @module
 */
import { z } from "zod";
import { summarizeZodError } from "@encdec/config";
import { TokenizerError } from "./errors.ts";

/** An object with a string `"type"`; the builders check the rest of each component. */
const component = z.looseObject({ type: z.string() }).nullish();

/** The fields of an HF `AddedToken`. */
const addedTokenFields = {
  content: z.string(),
  single_word: z.boolean().optional(),
  lstrip: z.boolean().optional(),
  rstrip: z.boolean().optional(),
  normalized: z.boolean().optional(),
  special: z.boolean().optional(),
};

/** An entry of `tokenizer.json`'s `added_tokens`: the token and its id. */
const addedTokenEntry = z.looseObject({ id: z.int().min(0), ...addedTokenFields });

const tokenToId = z.record(z.string(), z.int().min(0));

/** Model sections by `type` (HF `tokenizers` field names). */
const MODELS = {
  WordPiece: z.looseObject({
    vocab: tokenToId,
    unk_token: z.string().optional(),
    continuing_subword_prefix: z.string().optional(),
    max_input_chars_per_word: z.int().positive().optional(),
  }),
  WordLevel: z.looseObject({ vocab: tokenToId, unk_token: z.string().nullish() }),
  BPE: z.looseObject({
    vocab: tokenToId,
    merges: z.array(z.union([z.string(), z.tuple([z.string(), z.string()])])),
    unk_token: z.string().nullish(),
    continuing_subword_prefix: z.string().nullish(),
    end_of_word_suffix: z.string().nullish(),
    fuse_unk: z.boolean().optional(),
    byte_fallback: z.boolean().optional(),
    dropout: z.number().nullish(),
  }),
  Unigram: z.looseObject({
    vocab: z.array(z.tuple([z.string(), z.number()])),
    unk_id: z.int().min(0).nullish(),
    byte_fallback: z.boolean().optional(),
  }),
} as const;

/** The top level: every pipeline section is `null`/absent or an object with a `"type"`. */
const FILE = z.looseObject({
  added_tokens: z.array(addedTokenEntry).nullish(),
  normalizer: component,
  pre_tokenizer: component,
  post_processor: component,
  decoder: component,
  model: z.looseObject({ type: z.string().optional() }),
});

/** An HF `AddedToken` as the config files write it (`__type` and unknown fields kept). */
const addedTokenObject = z.looseObject(addedTokenFields);
const tokenValue = z.union([z.string(), addedTokenObject]);
const role = tokenValue.nullish();

/**
 * The keyword arguments of `tokenizer_config.json` and `special_tokens_map.json` (and of the
 * overrides given to `fromPretrained`) that the tokenizers of this package read; other fields
 * are kept unchecked, as HF passes them on.
 */
const TOKENIZER_KWARGS = z.looseObject({
  tokenizer_class: z.string().nullish(),
  bos_token: role,
  eos_token: role,
  unk_token: role,
  sep_token: role,
  pad_token: role,
  cls_token: role,
  mask_token: role,
  additional_special_tokens: z.array(tokenValue).nullish(),
  added_tokens_decoder: z.record(z.string().regex(/^\d+$/, "expected a token id"), addedTokenObject)
    .nullish(),
  model_max_length: z.number().positive().nullish(),
  clean_up_tokenization_spaces: z.boolean().optional(),
  chat_template: z.union([
    z.string(),
    z.array(z.looseObject({ name: z.string(), template: z.string() })),
  ]).nullish(),
  padding_side: z.enum(["right", "left"]).optional(),
  truncation_side: z.enum(["right", "left"]).optional(),
  model_input_names: z.array(z.string()).optional(),
  do_lower_case: z.boolean().optional(),
  do_basic_tokenize: z.boolean().optional(),
  never_split: z.array(z.string()).nullish(),
  tokenize_chinese_chars: z.boolean().optional(),
  strip_accents: z.boolean().nullish(),
  max_input_chars_per_word: z.int().positive().optional(),
  add_prefix_space: z.boolean().optional(),
  add_bos_token: z.boolean().optional(),
  errors: z.string().optional(),
});

/** `added_tokens.json`: token → id. */
const ADDED_TOKENS_FILE = z.record(z.string(), z.int().min(0));

/**
 * Checks the fields of `tokenizer_config.json` or `special_tokens_map.json` (or overrides) that
 * the tokenizers read; throws a `TokenizerError` naming `file` and the field.
 *
 * @example
 * ```ts ignore
 * validateTokenizerKwargs({ additional_special_tokens: "x" }, "tokenizer_config.json");
 * // TokenizerError: tokenizer_config.json: "additional_special_tokens" is string "x"; expected array
 * ```
 */
export function validateTokenizerKwargs(kw: Record<string, unknown>, file: string): void {
  check(TOKENIZER_KWARGS, kw, file);
}

/** Checks `added_tokens.json` (an object token → non-negative integer id). */
export function validateAddedTokensFile(json: Record<string, unknown>, file: string): void {
  check(ADDED_TOKENS_FILE, json, file);
}

/** Throws a `TokenizerError` naming `file`, the JSON path, the value found and what was expected. */
function check(schema: z.ZodType, value: unknown, file: string, prefix = ""): void {
  const r = schema.safeParse(value);
  if (r.success) return;
  const { field, found, expected, more } = summarizeZodError(r.error, value, prefix);
  throw new TokenizerError(
    `${file}: "${field || "(top level)"}" is ${found}; ${expected}${more}`,
    { cause: r.error },
  );
}

/**
 * The model type of a `tokenizer.json` model section: its `"type"`, or inferred from its fields
 * as `tokenizers` does for files written before the field existed.
 */
export function modelType(model: Record<string, unknown>): string | null {
  if (typeof model.type === "string") return model.type;
  if ("merges" in model) return "BPE";
  if (Array.isArray(model.vocab)) return "Unigram";
  if ("continuing_subword_prefix" in model) return "WordPiece";
  if ("unk_token" in model) return "WordLevel";
  return null;
}

/**
 * Checks the structure of a parsed `tokenizer.json` (top-level sections, added tokens and the
 * model section of a known type); throws a `TokenizerError` naming `file` and the JSON path of
 * the first problem. Component types this package does not know are left to the builders, which
 * name them.
 *
 * @example
 * ```ts ignore
 * validateTokenizerJSON({ model: "x" }, "tokenizer.json");
 * // TokenizerError: tokenizer.json: "model" is string "x"; expected object
 * ```
 */
export function validateTokenizerJSON(json: unknown, file: string): void {
  if (json === null || typeof json !== "object" || Array.isArray(json)) {
    throw new TokenizerError(
      `${file}: top level is ${
        Array.isArray(json) ? "an array" : json === null ? "null" : typeof json
      }; expected a JSON object`,
    );
  }
  check(FILE, json, file);
  const model = (json as { model: Record<string, unknown> }).model;
  const type = modelType(model);
  const schema = type === null ? undefined : MODELS[type as keyof typeof MODELS];
  if (schema) check(schema, model, file, "model");
}
