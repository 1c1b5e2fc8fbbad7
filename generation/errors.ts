/**
 * Typed errors of the generation package.
 *
 * @module
 */
import { EncdecError } from "@encdec/config";

/**
 * Thrown for invalid generation settings (what `GenerationConfig.validate()` rejects in Hugging
 * Face) and for states generation cannot continue from (e.g. no token left to sample).
 *
 * @example
 * ```ts
 * import { GenerationError } from "@encdec/generation";
 * const err = new GenerationError("`numBeams` (3) must be divisible by `numBeamGroups` (2)");
 * console.log(err.name); // "GenerationError"
 * ```
 */
export class GenerationError extends EncdecError {}
