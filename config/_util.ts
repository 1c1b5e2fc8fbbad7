// Private helpers of @encdec/config: key case conversion, Python-like equality, zod issue
// formatting, JSON file reading and crash-safe JSON writes (see `atomic_write.ts`).
import type { z } from "zod";
import { ConfigError } from "./errors.ts";
import { describeValue, summarizeZodError } from "./zod_issue.ts";
import { sweepStaleTemps, tempPathFor, writeDirectoryAtomic, writeSynced } from "./atomic_write.ts";

/** The `transformers` version whose files we read and write. */
export const TRANSFORMERS_VERSION = "4.40.2";

export { camelToSnake, snakeToCamel } from "./key_case.ts";

/** A plain JSON object (not an array, not null). */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Equality as Python's `==` sees JSON values (`True == 1`, `1 == 1.0`, dicts ignore order). */
export function pyEqual(a: unknown, b: unknown): boolean {
  const num = (v: unknown) => typeof v === "boolean" ? Number(v) : v;
  const x = num(a), y = num(b);
  if (typeof x === "number" && typeof y === "number") return x === y;
  if (Array.isArray(x) && Array.isArray(y)) {
    return x.length === y.length && x.every((v, i) => pyEqual(v, y[i]));
  }
  if (isPlainObject(x) && isPlainObject(y)) {
    const kx = Object.keys(x), ky = Object.keys(y);
    return kx.length === ky.length && kx.every((k) => k in y && pyEqual(x[k], y[k]));
  }
  return x === y;
}

/** Recursively sorts object keys, as Python's `json.dumps(..., sort_keys=True)` writes them. */
export function sortKeysDeep(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeysDeep);
  if (isPlainObject(v)) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) out[k] = sortKeysDeep(v[k]);
    return out;
  }
  return v;
}

export { describeValue, joinPath } from "./zod_issue.ts";

/** Turns the first zod issue into a ConfigError naming file, field path, found and expected. */
export function zodError(
  error: z.ZodError,
  input: unknown,
  file: string,
  prefix: string,
  what: string,
): ConfigError {
  const { field, found, expected, more } = summarizeZodError(error, input, prefix);
  return new ConfigError(`${file}: ${what} field "${field}" is ${found}; ${expected}${more}`, {
    cause: error,
  });
}

/** Reads and parses a JSON object file; invalid JSON or a non-object → ConfigError. */
export async function readJsonObject(path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new ConfigError(`${path}: cannot read file (${(e as Error).message})`, { cause: e });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(
      `${path}: invalid JSON (${(e as Error).message}); expected a JSON object`,
      { cause: e },
    );
  }
  if (!isPlainObject(parsed)) {
    throw new ConfigError(
      `${path}: top level is ${describeValue(parsed)}; expected a JSON object`,
    );
  }
  checkJsonDepth(parsed, path);
  return parsed;
}

/** Deepest nesting a config file may have (HF's files nest a few levels; recursion has limits). */
export const MAX_JSON_DEPTH = 100;

/** Throws a ConfigError when `value` nests arrays/objects deeper than `MAX_JSON_DEPTH` (iterative). */
export function checkJsonDepth(value: unknown, path: string): void {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [v, depth] = stack.pop()!;
    if (typeof v !== "object" || v === null) continue;
    if (depth > MAX_JSON_DEPTH) {
      throw new ConfigError(
        `${path}: JSON nested deeper than ${MAX_JSON_DEPTH} levels; expected a config file`,
      );
    }
    for (const x of Object.values(v)) stack.push([x, depth + 1]);
  }
}

/** Extra contents of a save that `writeJsonFilesAtomic` writes in the same directory swap. */
export interface SaveAlongside {
  /** Writes more files (e.g. the weights) into the directory it is given (the staging one). */
  write?: (dir: string) => Promise<unknown>;
  /** Existing files this save replaces without writing them (old weight shards). */
  replaces?: (name: string) => boolean;
}

/**
 * Writes `files` (name → JSON value) into `dir` crash-safely. The JSON layout is HF's: indent 2,
 * trailing newline. One file alone goes through a synced temp sibling and a rename; several
 * files, or `alongside` contents, are written as one set with `writeDirectoryAtomic` (after a
 * crash `dir` holds the old set or the new set, never a mix). On failure nothing under the final
 * names changes. Stale temp siblings of dead processes are swept after a successful write.
 */
export async function writeJsonFilesAtomic(
  dir: string,
  files: Record<string, unknown>,
  alongside: SaveAlongside = {},
): Promise<void> {
  const base = dir.replace(/\/+$/, "") || "/";
  const texts: Record<string, string> = {};
  for (const [name, value] of Object.entries(files)) {
    try {
      texts[name] = JSON.stringify(value, null, 2) + "\n";
    } catch (e) {
      throw new ConfigError(`${base}/${name}: cannot serialize (${(e as Error).message})`, {
        cause: e,
      });
    }
  }
  const names = Object.keys(texts);
  if (names.length > 1 || alongside.write) {
    await writeDirectoryAtomic(base, { files: texts, ...alongside });
    return;
  }
  try {
    await Deno.mkdir(base, { recursive: true });
  } catch (e) {
    throw new ConfigError(
      `${base}: cannot create the save directory (${
        (e as Error).message
      }); expected a writable directory`,
      { cause: e },
    );
  }
  for (const name of names) {
    const final = `${base}/${name}`;
    const tmp = tempPathFor(final);
    try {
      await writeSynced(tmp, texts[name], final);
    } catch (e) {
      await Deno.remove(tmp).catch(() => {});
      throw new ConfigError(
        `${base}: cannot write ${name} (${(e as Error).message}); expected a writable directory`,
        { cause: e },
      );
    }
    await sweepStaleTemps(final);
  }
}
