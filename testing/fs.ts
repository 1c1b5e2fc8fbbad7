/**
 * Test helpers for looking at files a test wrote.
 *
 * @module
 */

/**
 * True when something (a file, folder or link, even a dangling one) is at `path`.
 *
 * @example
 * ```ts
 * import { exists } from "./fs.ts";
 * console.log(await exists("deno.json"));
 * ```
 */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * The names in folder `path`, sorted.
 *
 * @example
 * ```ts
 * import { listDir } from "./fs.ts";
 * console.log(await listDir("."));
 * ```
 */
export async function listDir(path: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(path)) names.push(e.name);
  return names.sort();
}

/**
 * Runs `fn` with a fresh temporary folder, removed afterwards (also when `fn` throws).
 *
 * @example
 * ```ts
 * import { withTempDir } from "./fs.ts";
 * await withTempDir(async (dir) => await Deno.writeTextFile(`${dir}/x`, "hi"));
 * ```
 */
export async function withTempDir(
  fn: (dir: string) => Promise<void>,
  prefix?: string,
): Promise<void> {
  const dir = await Deno.makeTempDir(prefix === undefined ? {} : { prefix });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
