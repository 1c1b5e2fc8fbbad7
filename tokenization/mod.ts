/**
 * `@encdec/tokenization`: the tokenizers encoder-decoder checkpoints ship with (WordPiece,
 * SentencePiece unigram, byte-level BPE, `tokenizer.json`) with Hugging Face semantics.
 *
 * @example
 * ```ts
 * import { AutoTokenizer } from "@encdec/tokenization";
 * const tok = await AutoTokenizer.fromPretrained("./my-model");
 * const { inputIds, attentionMask } = tok.call(["Hello world!", "Hi"], { padding: true });
 * ```
 *
 * @module
 */
export * from "./errors.ts";
export * from "./base.ts";
export * from "./bert.ts";
export * from "./bpe.ts";
export * from "./sentencepiece.ts";
export * from "./tokenizer_json.ts";
export * from "./auto.ts";
export type { EncdecError, ResolveOptions } from "@encdec/config";
