/**
 * The root of every error encdec throws on purpose. Each package derives its own typed errors
 * from it (`ConfigError`, `WeightsError`, `TokenizerError`, `GenerationError`, `HubError`, ...).
 *
 * Messages name the file, key, shape or field, what was found and what was expected.
 *
 * @example
 * ```ts
 * import { EncdecError } from "@encdec/config";
 * try {
 *   // ...
 * } catch (e) {
 *   if (e instanceof EncdecError) console.error(e.message);
 * }
 * ```
 */
export class EncdecError extends Error {
  /** Builds an error with a message that names what went wrong. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * A configuration file or option that cannot be used: invalid JSON, a field of the wrong type or
 * range, an unknown `model_type`, a missing `config.json`, or a failed save. The message names the
 * file, the field path (`encoder.hidden_size`), what was found and what was expected.
 *
 * @example
 * ```ts
 * import { BertConfig, ConfigError } from "@encdec/config";
 * try {
 *   new BertConfig({ hiddenSize: 30, numAttentionHeads: 4 });
 * } catch (e) {
 *   if (e instanceof ConfigError) console.error(e.message);
 * }
 * ```
 */
export class ConfigError extends EncdecError {}
