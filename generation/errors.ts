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

/**
 * Thrown by `generate()` / `generateStream()` when the caller's `signal` (an `AbortSignal`)
 * aborts: checked before the encoder, before and after every decode step, so generation stops
 * within one model call of the abort. `reason` is the signal's reason (also the `cause`).
 *
 * Deliberately not a {@link GenerationError}: an abort is not a bad setting, so a server that
 * maps `GenerationError` to HTTP 400 does not mistake a cancelled request for a client error.
 *
 * @example
 * ```ts
 * import { GenerationAbortedError } from "@encdec/generation";
 * const err = new GenerationAbortedError("client went away", 3);
 * console.log(err.name, err.step); // "GenerationAbortedError" 3
 * ```
 */
export class GenerationAbortedError extends EncdecError {
  /** The abort signal's `reason`. */
  readonly reason: unknown;
  /** Decode steps completed before the abort was seen (0: before or during the encoder). */
  readonly step: number;
  /** `reason` is the signal's reason; `step` the decode steps completed when it was seen. */
  constructor(reason: unknown, step: number) {
    const why = reason instanceof Error ? reason.message : String(reason ?? "aborted");
    super(`generation aborted after ${step} decode step(s): ${why}`, { cause: reason });
    this.reason = reason;
    this.step = step;
  }
}
