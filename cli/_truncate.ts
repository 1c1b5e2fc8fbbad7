/**
 * Bounded-cost truncation of very long inputs: tokenizing a 10 MB document only to keep its
 * first 512 tokens would take seconds, so the text is cut (at whitespace) to a prefix that already
 * yields more tokens than the limit, which gives the same tokens as truncating the whole text.
 *
 * @module
 */
import type { PreTrainedTokenizer } from "@encdec/tokenization";

/** Characters tried first; doubled until the prefix holds more tokens than needed. */
const FIRST_GUESS_CHARS_PER_TOKEN = 8;

/** The end of a prefix of `text` near `n` that ends before whitespace (or at `n`, code-point safe). */
function cutPoint(text: string, n: number): number {
  const ws = text.slice(n >> 1, n).search(/\s\S*$/);
  if (ws >= 0) return (n >> 1) + ws;
  // No whitespace in the second half: cut at n, but never between a surrogate pair.
  const c = text.charCodeAt(n - 1);
  return c >= 0xd800 && c <= 0xdbff ? n - 1 : n;
}

/**
 * Returns a prefix of `text` that tokenizes to the same first `maxTokens` tokens as `text` itself
 * (the whole text when it is short). The tokenizers here split words at whitespace, so a prefix
 * that ends before a whitespace character and already gives more than `maxTokens` tokens keeps
 * the truncated encoding unchanged.
 */
export function truncateToTokens(
  tokenizer: PreTrainedTokenizer,
  text: string,
  maxTokens: number,
): string {
  if (!Number.isFinite(maxTokens)) return text;
  let n = Math.max(256, maxTokens * FIRST_GUESS_CHARS_PER_TOKEN);
  while (n < text.length) {
    const prefix = text.slice(0, cutPoint(text, n));
    if (tokenizer.tokenize(prefix).length > maxTokens) return prefix;
    n *= 2;
  }
  return text;
}
