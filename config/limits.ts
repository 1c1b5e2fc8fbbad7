/**
 * Bounds on what a model config may ask the library to allocate. A `config.json` is data from
 * anywhere (a Hub repo, a downloaded folder): `num_hidden_layers: 1000000` must be refused with a
 * message naming the field before a single layer is built, not end in an out-of-memory crash.
 *
 * The bounds are far above every published encoder, decoder and encoder-decoder model (the
 * largest have ~100 layers, widths of 12288, vocabularies of 256k) and below what one process
 * can hold: {@link MODEL_LIMITS}.
 *
 * @module
 */
import { ConfigError } from "./errors.ts";

/** Upper bounds checked by {@link checkModelSize}. */
export const MODEL_LIMITS: {
  /** Transformer layers of one stack (`num_hidden_layers`, `n_layer`, `n_layers`). */
  readonly layers: number;
  /** Model width (`hidden_size`, `n_embd`, `dim`, `embedding_size`). */
  readonly width: number;
  /** Feed-forward width (`intermediate_size`, `n_inner`, `hidden_dim`). */
  readonly innerWidth: number;
  /** Attention heads (`num_attention_heads`, `n_head`, `n_heads`). */
  readonly heads: number;
  /** Vocabulary size (`vocab_size`). */
  readonly vocab: number;
  /** Positions (`max_position_embeddings`, `n_positions`) and `type_vocab_size`. */
  readonly positions: number;
  /** Estimated parameters of one stack (float32: 4 bytes each). */
  readonly parameters: number;
} = Object.freeze({
  layers: 512,
  width: 65_536,
  innerWidth: 262_144,
  heads: 1_024,
  vocab: 4_194_304,
  positions: 1_048_576,
  parameters: 4_000_000_000,
});

const FIELDS: readonly [string, keyof typeof MODEL_LIMITS][] = [
  ["num_hidden_layers", "layers"],
  ["n_layer", "layers"],
  ["n_layers", "layers"],
  ["hidden_size", "width"],
  ["n_embd", "width"],
  ["dim", "width"],
  ["embedding_size", "width"],
  ["intermediate_size", "innerWidth"],
  ["n_inner", "innerWidth"],
  ["hidden_dim", "innerWidth"],
  ["num_attention_heads", "heads"],
  ["n_head", "heads"],
  ["n_heads", "heads"],
  ["vocab_size", "vocab"],
  ["max_position_embeddings", "positions"],
  ["n_positions", "positions"],
  ["type_vocab_size", "positions"],
];

function num(cfg: Record<string, unknown>, ...keys: string[]): number {
  for (const k of keys) if (typeof cfg[k] === "number") return cfg[k] as number;
  return 0;
}

/**
 * Throws a {@link ConfigError} naming the field, its value and the bound when a model config
 * (HF's snake_case dict) asks for more than {@link MODEL_LIMITS}: a size field that is not a
 * non-negative integer or is over its bound, or an estimated parameter count over
 * `MODEL_LIMITS.parameters`. `where` prefixes the message (`"config.json: encoder"`).
 *
 * @example
 * ```ts
 * import { checkModelSize } from "@encdec/config";
 * try {
 *   checkModelSize({ num_hidden_layers: 1_000_000 }, "encoder");
 * } catch (e) {
 *   console.log((e as Error).message); // encoder.num_hidden_layers is 1000000; at most 512 ...
 * }
 * ```
 */
export function checkModelSize(cfg: Record<string, unknown>, where: string): void {
  for (const [field, limit] of FIELDS) {
    const v = cfg[field];
    if (v === undefined || v === null) continue;
    const max = MODEL_LIMITS[limit];
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > max) {
      throw new ConfigError(
        `${where}.${field} is ${JSON.stringify(v)}; expected a non-negative integer of at most ` +
          `${max} (MODEL_LIMITS.${limit}: the library refuses configs that ask for more)`,
      );
    }
  }
  const width = num(cfg, "hidden_size", "n_embd", "dim");
  const inner = num(cfg, "intermediate_size", "n_inner", "hidden_dim") || 4 * width;
  const layers = num(cfg, "num_hidden_layers", "n_layer", "n_layers");
  const embeddings = (num(cfg, "vocab_size") + num(cfg, "max_position_embeddings", "n_positions") +
    num(cfg, "type_vocab_size")) * Math.max(width, num(cfg, "embedding_size"));
  // Per layer: self-attention (4 h²), cross-attention if any (4 h²), feed-forward (2 h·inner).
  const estimate = embeddings + layers * (8 * width * width + 2 * width * inner);
  if (estimate > MODEL_LIMITS.parameters) {
    throw new ConfigError(
      `${where}: the config asks for about ${estimate.toExponential(2)} parameters ` +
        `(${layers} layers of width ${width}, feed-forward ${inner}); at most ` +
        `${MODEL_LIMITS.parameters.toExponential(2)} (MODEL_LIMITS.parameters)`,
    );
  }
}
