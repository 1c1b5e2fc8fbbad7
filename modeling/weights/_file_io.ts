/**
 * File I/O of the weight readers and writers, with `WeightsError`s naming the path. Writes go
 * through `@encdec/config`'s one crash-safe writer (`writeFileAtomic`: a synced temporary sibling
 * renamed over the final name), so a reader never sees a half-written weights file.
 *
 * @module
 */
import { writeFileAtomic as writeAtomic } from "@encdec/config";
import { WeightsError } from "./errors.ts";

/** Writes `bytes` to `path` crash-safely; failures become a `WeightsError` naming the path. */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  try {
    await writeAtomic(path, bytes);
  } catch (e) {
    throw new WeightsError((e as Error).message, { cause: e });
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
