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

/**
 * Reads a whole file into one buffer of its size, turning I/O failures into a `WeightsError`
 * naming the path. (`Deno.readFile` grows its buffer as it reads: on a 500 MB checkpoint that
 * cost 2.5× the time of reading into a buffer of the file's size, in page faults and copies.)
 */
export async function readFileOrThrow(path: string): Promise<Uint8Array> {
  try {
    using f = await Deno.open(path);
    const size = (await f.stat()).size;
    const out = new Uint8Array(size);
    let n = 0;
    while (n < size) {
      const r = await f.read(out.subarray(n));
      if (r === null) break;
      n += r;
    }
    // A file that shrank is returned as read; one that grew is read again whole.
    if (n < size) return out.subarray(0, n);
    const probe = new Uint8Array(1);
    if ((await f.read(probe)) !== null) return await Deno.readFile(path);
    return out;
  } catch (e) {
    throw new WeightsError(`${path}: cannot read file: ${(e as Error).message}`, { cause: e });
  }
}
