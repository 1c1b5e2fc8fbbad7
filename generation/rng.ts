/**
 * Seeded pseudo-random numbers for sampling. Generation never calls `Math.random`: a {@link Rng}
 * is passed in, so a fixed seed reproduces the same output on every run and platform.
 *
 * {@link createRng} is the library's one generator (`seededRandom` of `@encdec/modeling`:
 * xoshiro128**, seeded by SplitMix32, 53-bit doubles), the same that initialises weights and
 * draws dropout masks.
 *
 * @module
 */
import { seededRandom } from "@encdec/modeling";

/** A source of uniform doubles in `[0, 1)` (the modeling package's `RandomSource`). */
export interface Rng {
  /** Next uniform double in `[0, 1)`. */
  random(): number;
}

/**
 * Creates a deterministic {@link Rng} from a 32-bit integer seed (`seededRandom` of
 * `@encdec/modeling`).
 *
 * @example
 * ```ts
 * import { createRng } from "@encdec/generation";
 * const a = createRng(42), b = createRng(42);
 * console.log(a.random() === b.random()); // true
 * ```
 */
export function createRng(seed: number): Rng {
  return seededRandom(seed);
}
