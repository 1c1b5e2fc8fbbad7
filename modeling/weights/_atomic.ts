/**
 * Crash-safe file writes: bytes go to a temporary sibling which is synced and then renamed over
 * the final name, so a reader never sees a half-written file under the final name.
 *
 * @module
 */
import { WeightsError } from "./errors.ts";

let counter = 0;

/** Writes `bytes` to `path` through a synced temporary sibling and an atomic rename. */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const tmp = `${path}.tmp-${Deno.pid}-${Date.now()}-${counter++}`;
  try {
    const file = await Deno.open(tmp, { write: true, createNew: true });
    try {
      let off = 0;
      while (off < bytes.length) off += await file.write(bytes.subarray(off));
      await file.sync();
    } finally {
      file.close();
    }
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    if (e instanceof WeightsError) throw e;
    throw new WeightsError(`${path}: cannot write file: ${(e as Error).message}`, { cause: e });
  }
}

/** Reads a whole file, turning I/O failures into a `WeightsError` naming the path. */
export async function readFileOrThrow(path: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch (e) {
    throw new WeightsError(`${path}: cannot read file: ${(e as Error).message}`, { cause: e });
  }
}
