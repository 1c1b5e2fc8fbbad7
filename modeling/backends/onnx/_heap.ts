/**
 * Returning freed heap pages to the OS between decode steps (onnxruntime-node on Linux/glibc).
 *
 * A decode step frees the previous self-attention cache and allocates a slightly larger one
 * (onnxruntime's outputs, then the binding's JS copies). At beam-search sizes those buffers are
 * below glibc's (dynamic) mmap threshold, so they live in the heap, and each step's new, larger
 * buffers do not fit the holes the last step left: the heap grows by fragmentation, not by live
 * data (base-size model, fp32, beam 4, 400 → 60 tokens: peak RSS 1.25× the weight bytes, 1.18× with
 * `malloc_trim(0)` after every step, measured with `bench/_encdec_worker.ts`). Trimming costs
 * page faults when the next step touches the pages again: about 10 % longer decode steps there.
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
