/**
 * Reading `.jsonl` files of string fields, with errors that name the file, line and field.
 *
 * @module
 */
import { EncdecError } from "@encdec/config";

/** A `.jsonl` file that cannot be read as the expected rows. */
export class DataError extends EncdecError {}

/**
 * Rows of `path` (one JSON object per non-blank line) with the string fields `fields`; the first
 * name of each alternative group that is present wins (`["reference", "summary"]`).
 */
export async function readJsonl<K extends string>(
  path: string,
  fields: Record<K, readonly string[]>,
): Promise<Record<K, string>[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new DataError(`${path}: cannot read (${(e as Error).message})`);
  }
  const rows: Record<K, string>[] = [];
  const lines = text.split("\n");
  lines.forEach((line, i) => {
    if (line.trim() === "") return;
    let obj: unknown;
    try {
      obj = JSON.parse(line);
    } catch (e) {
      throw new DataError(`${path}:${i + 1}: not valid JSON (${(e as Error).message})`);
    }
    if (typeof obj !== "object" || obj === null || Array.isArray(obj)) {
      throw new DataError(`${path}:${i + 1}: expected a JSON object per line`);
    }
    const row = {} as Record<K, string>;
    for (const [key, names] of Object.entries(fields) as [K, readonly string[]][]) {
      const name = names.find((n) => n in obj);
      const v = name === undefined ? undefined : (obj as Record<string, unknown>)[name];
      if (typeof v !== "string") {
        throw new DataError(
          `${path}:${i + 1}: field "${names.join('" or "')}" must be a string, got ${
            v === undefined ? "nothing" : JSON.stringify(v)
          }`,
        );
      }
      row[key] = v;
    }
    rows.push(row);
  });
  if (rows.length === 0) throw new DataError(`${path}: no rows (expected one JSON object a line)`);
  return rows;
}
