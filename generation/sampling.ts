/**
 * Multinomial sampling (HF's `_sample`): the processed scores go through the warpers
 * (temperature, top-k, top-p, ...) and each row draws its token from the softmax with the call's
 * seeded `Rng`. `drawOne` is shared with beam sampling.
 *
 * @module
 */
import { softmaxRow } from "./_math.ts";
import { type Decoder, decodeTokenByToken, type Run } from "./_decoder.ts";
import { GenerationError } from "./errors.ts";
import type { GenerateOutput } from "./generate.ts";
import type { Rng } from "./rng.ts";

/** Multinomial sampling over `rows` decoder rows (`numBeams` 1, `doSample` true). */
export function sample(
  run: Run,
  dec: Decoder<unknown, unknown>,
  rows: number,
): Promise<GenerateOutput> {
  const v = run.model.vocabSize;
  return decodeTokenByToken(
    run,
    dec,
    rows,
    (s, r) => drawOne(softmaxRow(s, r * v, v), run.rng, "sampling"),
  );
}

/** Draws one index from probabilities `p` (need not sum to 1). */
export function drawOne(p: Float64Array, rng: Rng, where: string): number {
  let total = 0;
  for (let j = 0; j < p.length; j++) {
    if (!(p[j] >= 0) || p[j] === Infinity) {
      throw new GenerationError(`${where}: probabilities contain inf, nan or a value < 0`);
    }
    total += p[j];
  }
  if (!(total > 0)) {
    throw new GenerationError(`${where}: every token has probability 0 (all scores are -inf)`);
  }
  let u = rng.random() * total;
  let last = -1;
  for (let j = 0; j < p.length; j++) {
    if (p[j] <= 0) continue;
    last = j;
    u -= p[j];
    if (u < 0) return j;
  }
  return last;
}
