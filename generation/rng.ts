/**
 * Seeded pseudo-random numbers for sampling. Generation never calls `Math.random`: a {@link Rng}
 * is passed in, so a fixed seed reproduces the same output on every run and platform.
 *
 * Algorithm: xoshiro128** (Blackman & Vigna), its 128-bit state filled from the 32-bit seed by
 * SplitMix32. {@link Rng.random} joins two 32-bit outputs into a double with 53 random bits.
 *
 * @module
 */

/** A source of uniform doubles in `[0, 1)`. */
export interface Rng {
  /** Next uniform double in `[0, 1)`. */
  random(): number;
}

/**
 * Creates a deterministic {@link Rng} from a 32-bit integer seed (xoshiro128**, seeded by
 * SplitMix32).
 *
 * @example
 * ```ts
 * import { createRng } from "@encdec/generation";
 * const a = createRng(42), b = createRng(42);
 * console.log(a.random() === b.random()); // true
 * ```
 */
export function createRng(seed: number): Rng {
  let s = seed >>> 0;
  const splitmix = (): number => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  const st = new Uint32Array([splitmix(), splitmix(), splitmix(), splitmix()]);
  if ((st[0] | st[1] | st[2] | st[3]) === 0) st[0] = 1;
  const next32 = (): number => {
    const result = Math.imul(rotl(Math.imul(st[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (st[1] << 9) >>> 0;
    st[2] ^= st[0];
    st[3] ^= st[1];
    st[1] ^= st[2];
    st[0] ^= st[3];
    st[2] ^= t;
    st[3] = rotl(st[3], 11);
    return result;
  };
  return {
    random(): number {
      const hi = next32() >>> 5; // 27 bits
      const lo = next32() >>> 6; // 26 bits
      return (hi * 67108864 + lo) / 9007199254740992;
    },
  };
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
