/**
 * Small statistics the bench scripts share.
 *
 * @module
 */

/** The upper median of `xs` (the middle value of an odd count; of an even one, the higher). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}
