/**
 * `@encdec/tokenization`: the tokenizers encoder-decoder checkpoints ship with (WordPiece,
 * SentencePiece unigram and BPE, byte-level BPE, `tokenizer.json`) with Hugging Face semantics:
 * BERT, ELECTRA, DistilBERT, GPT-2, RoBERTa, Longformer, BertGeneration, XLM-RoBERTa and
 * CamemBERT, picked by `AutoTokenizer`.
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
export * from "./added_tokens.ts";
export * from "./encoding.ts";
export * from "./chat_template.ts";
export * from "./clean_up.ts";
export * from "./base.ts";
export * from "./callable.ts";
export * from "./wordpiece.ts";
export * from "./bert.ts";
export * from "./bpe.ts";
export * from "./sentencepiece_proto.ts";
export * from "./unigram.ts";
export * from "./sentencepiece_bpe.ts";
export * from "./sentencepiece.ts";
export * from "./fairseq_sentencepiece.ts";
export * from "./tokenizer_json.ts";
export * from "./tokenizer_json_writer.ts";
export * from "./auto.ts";
export type { EncdecError, ResolveOptions } from "@encdec/config";
