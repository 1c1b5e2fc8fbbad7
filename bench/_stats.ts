/**
 * Small statistics and process counters the bench scripts share.
 *
 * @module
 */

/** The upper median of `xs` (the middle value of an odd count; of an even one, the higher). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Minor page faults of this process so far (`/proc/self/stat` field 10; Linux). */
export function minorFaults(): number {
  return Number(Deno.readTextFileSync("/proc/self/stat").split(") ")[1].split(" ")[7]);
}
