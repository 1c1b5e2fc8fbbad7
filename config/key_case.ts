/**
 * Key case conversion between Hugging Face's JSON field names (snake_case) and this library's
 * TypeScript names (camelCase): the one implementation every package uses for config fields,
 * tokenizer keyword names and generation options.
 *
 * @module
 */

/**
 * `hidden_dropout_prob` → `hiddenDropoutProb`; `_name_or_path` → `nameOrPath` (leading
 * underscores dropped); camelCase keys are returned unchanged.
 *
 * @example
 * ```ts
 * import { snakeToCamel } from "@encdec/config";
 * console.log(snakeToCamel("num_beam_groups")); // "numBeamGroups"
 * ```
 */
export function snakeToCamel(key: string): string {
  return key.replace(/^_+/, "").replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/**
 * `hiddenDropoutProb` → `hidden_dropout_prob`; keys already snake_case are returned unchanged
 * (`model_max_length` stays, `modelMaxLength` → `model_max_length`, `HFToken` → `hf_token`).
 *
 * @example
 * ```ts
 * import { camelToSnake } from "@encdec/config";
 * console.log(camelToSnake("numBeamGroups")); // "num_beam_groups"
 * console.log(camelToSnake("pad_token")); // "pad_token"
 * ```
 */
export function camelToSnake(key: string): string {
  return key.replace(/([a-z0-9])([A-Z])/g, "$1_$2").replace(/([A-Z])([A-Z][a-z])/g, "$1_$2")
    .toLowerCase();
}
