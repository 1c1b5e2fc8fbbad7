/**
 * The one seeded pseudo-random generator of the library: weight initialisation, dropout, data
 * shuffling and sampling in generation all draw from it, so a fixed seed reproduces the same run
 * on every platform and nothing calls `Math.random`.
 *
 * Algorithm: xoshiro128** (Blackman & Vigna), its 128-bit state filled from the 32-bit seed by
 * SplitMix32; each double joins two 32-bit outputs into 53 random bits.
 *
 * @module
 */
import type { RandomSource } from "./backend.ts";

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/**
 * A deterministic `RandomSource` (uniform doubles in `[0, 1)`) from a 32-bit integer seed: the
 * same seed gives the same draws on every run and platform.
 *
 * @example
 * ```ts
 * import { seededRandom } from "@encdec/modeling";
 * const a = seededRandom(7), b = seededRandom(7);
 * console.log(a.random() === b.random()); // true
 * ```
 */
export function seededRandom(seed: number): RandomSource {
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

/**
 * Standard normal draws (Box-Muller) over {@link seededRandom}: what HF-style weight
 * initialisation samples `normal(0, std)` from.
 *
 * @example
 * ```ts
 * import { NormalRng } from "@encdec/modeling";
 * const r = new NormalRng(1);
 * console.log(Number.isFinite(r.normal())); // true
 * ```
 */
export class NormalRng {
  private readonly source: RandomSource;
  private spare: number | null = null;

  /** A sampler seeded with the 32-bit integer `seed`. */
  constructor(seed: number) {
    this.source = seededRandom(seed);
  }

  /** Uniform in (0, 1] (never 0, so its logarithm is finite). */
  uniform(): number {
    return 1 - this.source.random();
  }

  /** A standard normal sample. */
  normal(): number {
    if (this.spare !== null) {
      const s = this.spare;
      this.spare = null;
      return s;
    }
    const r = Math.sqrt(-2 * Math.log(this.uniform()));
    const a = 2 * Math.PI * this.uniform();
    this.spare = r * Math.sin(a);
    return r * Math.cos(a);
  }
}
