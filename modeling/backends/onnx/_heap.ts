/**
 * Returning freed heap pages to the OS between decode steps (onnxruntime-node on Linux/glibc).
 *
 * The decoder's self-attention K/V live in a host history (`_kv_history.ts`) that doubles its
 * buffers as the cache grows; the freed buffers would otherwise stay in the heap (below glibc's
 * dynamic mmap threshold they are heap chunks), so the engine trims after each step that grew
 * the history. (Trimming after every step, as before the history, cost page faults when the next
 * step touched the pages again: about 10 % longer decode steps.)
 *
 * @module
 */

/** `malloc_trim(0)` through FFI, or `null` where it is not available. */
export type HeapTrimmer = () => void;

let cached: HeapTrimmer | null | undefined;

/**
 * glibc's `malloc_trim(0)` as a function, or `null` when this is not Linux, FFI is not granted
 * (checked without prompting) or `libc.so.6` has no such symbol (e.g. musl). Loaded once.
 */
export function heapTrimmer(): HeapTrimmer | null {
  if (cached !== undefined) return cached;
  cached = null;
  try {
    if (Deno.build.os !== "linux") return null;
    if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") return null;
    const lib = Deno.dlopen("libc.so.6", {
      malloc_trim: { parameters: ["usize"], result: "i32" },
    });
    cached = () => {
      lib.symbols.malloc_trim(0n);
    };
  } catch {
    cached = null; // no glibc, or the symbol is missing: nothing to trim with
  }
  return cached;
}
