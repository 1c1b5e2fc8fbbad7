/**
 * A seeded `RandomSource` for dropout and data shuffling (the mulberry32 generator the weight
 * initialisation uses), so training never touches `Math.random`.
 *
 * @module
 */
import type { RandomSource } from "../backend.ts";
import { NormalRng } from "../models/_normal_rng.ts";

/**
 * A deterministic `RandomSource` from a 32-bit seed: the same seed gives the same draws on every
 * run and platform.
 *
 * @example
 * ```ts
 * import { seededRandom } from "@encdec/modeling";
 * const a = seededRandom(7), b = seededRandom(7);
 * a.random() === b.random(); // true
 * ```
 */
export function seededRandom(seed: number): RandomSource {
  const rng = new NormalRng(seed >>> 0);
  return { random: () => rng.uniform() };
}
