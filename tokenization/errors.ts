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
