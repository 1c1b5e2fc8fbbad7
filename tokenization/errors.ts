/**
 * The typed error every tokenizer throws on bad files or bad input.
 *
 * @module
 */
import { EncdecError } from "@encdec/config";

/**
 * A tokenizer file that is missing or malformed, or an input the tokenizer cannot handle. The
 * message names the file, key or value and what was expected.
 *
 * @example
 * ```ts
 * import { TokenizerError } from "@encdec/tokenization";
 * const e = new TokenizerError("vocab.txt: empty vocabulary, expected one token per line");
 * console.log(e.name); // "TokenizerError"
 * ```
 */
export class TokenizerError extends EncdecError {}

/**
 * A tokenizer file that asks for more work than this package allows: pipeline components nested
 * deeper than {@linkcode MAX_PIPELINE_DEPTH}, or a regular expression whose backtracking can blow
 * up (nested quantifiers such as `(a+)+$`, overlapping alternatives under a repeat). Rejected when
 * the file is loaded, before any text is tokenized.
 *
 * @example
 * ```ts
 * import { TokenizerError, TokenizerLimitError } from "@encdec/tokenization";
 * const e = new TokenizerLimitError("tokenizer.json: normalizer: nested 2000 deep; at most 32");
 * console.log(e instanceof TokenizerError); // true
 * ```
 */
export class TokenizerLimitError extends TokenizerError {}

/** How deep `Sequence` components (and regex groups) of a `tokenizer.json` may nest. */
export const MAX_PIPELINE_DEPTH = 32;
