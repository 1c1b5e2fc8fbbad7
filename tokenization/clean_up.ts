/**
 * HF's `clean_up_tokenization`, the one clean-up of decoded text used by the slow tokenizers and
 * by the `tokenizer.json` WordPiece decoder (which adds `" do not"` → `" don't"`).
 *
 * @module
 */

/** Options of {@linkcode cleanUpTokenization}. */
export interface CleanUpOptions {
  /** Also contract `" do not"` to `" don't"`, as the `tokenizers` WordPiece decoder does. */
  contractDoNot?: boolean;
}

/**
 * HF's `clean_up_tokenization`: removes the spaces a word-level join leaves before punctuation
 * and English contractions.
 *
 * @example
 * ```ts
 * import { cleanUpTokenization } from "@encdec/tokenization";
 * cleanUpTokenization("hello , world !"); // "hello, world!"
 * ```
 */
export function cleanUpTokenization(text: string, opts: CleanUpOptions = {}): string {
  text = text
    .replaceAll(" .", ".")
    .replaceAll(" ?", "?")
    .replaceAll(" !", "!")
    .replaceAll(" ,", ",")
    .replaceAll(" ' ", "'")
    .replaceAll(" n't", "n't")
    .replaceAll(" 'm", "'m");
  if (opts.contractDoNot) text = text.replaceAll(" do not", " don't");
  return text
    .replaceAll(" 's", "'s")
    .replaceAll(" 've", "'ve")
    .replaceAll(" 're", "'re");
}
