/**
 * `@encdec/config`: Hugging Face-compatible configuration objects (BERT, RoBERTa,
 * BertGeneration, GPT-2, EncoderDecoder, Generation) and the shared error root.
 *
 * @module
 */
export * from "./errors.ts";
export * from "./resolve.ts";
