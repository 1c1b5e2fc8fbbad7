/**
 * Test helper: run code under temporarily changed environment variables.
 *
 * @module
 */

/**
 * Sets environment variables for the duration of `fn` (`undefined` unsets one), then restores
 * their previous values, also when `fn` throws.
 *
 * @example
 * ```ts
 * import { withEnv } from "./env.ts";
 * await withEnv({ HF_HUB_OFFLINE: "1", HF_TOKEN: undefined }, () => {
 *   console.log(Deno.env.get("HF_HUB_OFFLINE")); // "1"
 * });
 * ```
 */
export async function withEnv(
  vars: Record<string, string | undefined>,
  fn: () => void | Promise<void>,
): Promise<void> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, Deno.env.get(k)]));
  const apply = (v: Record<string, string | undefined>) => {
    for (const [k, val] of Object.entries(v)) {
      if (val === undefined) Deno.env.delete(k);
      else Deno.env.set(k, val);
    }
  };
  apply(vars);
  try {
    await fn();
  } finally {
    apply(saved);
  }
}
