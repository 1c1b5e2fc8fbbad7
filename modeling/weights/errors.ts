/**
 * The typed error of every weight-file reader and writer in `modeling/weights/`.
 *
 * @module
 */
import { EncdecError } from "@encdec/config";

/**
 * A weight file (safetensors, torch zip/pickle, shard index) that is malformed, truncated,
 * unsafe or inconsistent. The message names the file, the tensor key or entry, and what was found
 * and what was expected.
 *
 * @example
 * ```ts
 * import { WeightsError } from "./errors.ts";
 * try {
 *   throw new WeightsError("model.safetensors: tensor \"w\": data_offsets [0, 8] outside the data");
 * } catch (e) {
 *   if (e instanceof WeightsError) console.error(e.message);
 * }
 * ```
 */
export class WeightsError extends EncdecError {}
