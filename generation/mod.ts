/**
 * `@encdec/generation`: Hugging Face-exact generation (greedy, sampling, beam search, group beam
 * search), logits processors, stopping criteria and streaming.
 *
 * @module
 */
export type * from "./model.ts";
