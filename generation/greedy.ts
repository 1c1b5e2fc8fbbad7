/**
 * Greedy search (HF's `_greedy_search`): each row takes its highest-scoring token after the
 * logits processors, one token per step, until every row is done.
 *
 * @module
 */
import { argmax } from "./_math.ts";
import { type Decoder, decodeTokenByToken, type Run } from "./_decoder.ts";
import type { GenerateOutput } from "./generate.ts";

/** Greedy search over `rows` decoder rows (`numBeams` 1, `doSample` false). */
export function greedySearch(
  run: Run,
  dec: Decoder<unknown, unknown>,
  rows: number,
): Promise<GenerateOutput> {
  const v = run.model.vocabSize;
  return decodeTokenByToken(run, dec, rows, (s, r) => argmax(s, r * v, v));
}
