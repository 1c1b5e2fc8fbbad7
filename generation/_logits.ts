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
