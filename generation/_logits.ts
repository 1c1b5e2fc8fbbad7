// Private helpers shared by the logits processors and warpers.
import { GenerationError } from "./errors.ts";
import type { InputIds } from "./logits_process.ts";

export const NEG_INF = -Infinity;

export function vocabOf(inputIds: InputIds, scores: Float32Array): number {
  const rows = inputIds.length;
  if (rows === 0 || scores.length % rows !== 0) {
    throw new GenerationError(
      `scores of length ${scores.length} do not split into ${rows} rows of the vocabulary size`,
    );
  }
  return scores.length / rows;
}

export function checkIds(name: string, field: string, ids: readonly number[]): void {
  for (const id of ids) {
    if (!Number.isInteger(id) || id < 0) {
      throw new GenerationError(`${name}: \`${field}\` must hold non-negative integers, got ${id}`);
    }
  }
}

export function toList(ids: number | readonly number[]): number[] {
  return typeof ids === "number" ? [ids] : [...ids];
}

export function checkMinTokens(name: string, n: number): void {
  if (!Number.isInteger(n) || n < 1) {
    throw new GenerationError(
      `${name}: \`minTokensToKeep\` has to be a positive integer, got ${n}`,
    );
  }
}

/** Throws unless `x` lies in `[0, 1]`, or in `(0, 1)` when `open`. */
export function checkFraction(name: string, field: string, x: number, open: boolean): void {
  if (open ? !(x > 0 && x < 1) : !(x >= 0 && x <= 1)) {
    const range = open ? "a float > 0 and < 1" : "a float in [0, 1]";
    throw new GenerationError(`${name}: \`${field}\` has to be ${range}, got ${x}`);
  }
}
