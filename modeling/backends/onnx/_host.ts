/**
 * Host-side helpers of `OnnxEncoderDecoder`: freeing the host memory of onnxruntime tensors at
 * once instead of at V8's next GC (`releaseData`, `views`, `released`), and checking token-id
 * inputs (`checkIds`, `arange`).
 *
 * @module
 */
import type { Tensor as OrtTensor } from "onnxruntime-node";
import { OnnxModelError } from "./graph_builder.ts";

/**
 * Frees now the host memory of tensors this model owns outright (onnxruntime outputs, which
 * onnxruntime-node and -web hand back in fresh `ArrayBuffer`s, and host copies made here):
 * `ArrayBuffer.prototype.transferToFixedLength(0)` detaches the buffer and releases its backing
 * store at once (a resizable buffer too, whose `transfer` would keep its reservation in a new
 * resizable buffer). Dropping the last reference instead leaves it to V8's next major GC, and a generation
 * drops a whole self-attention cache every step (24 buffers at base size, ~130 MiB over a
 * 60-token greedy run from 400 tokens), which piled up to ~50–90 MiB of peak RSS. Views into a
 * larger or shared buffer, and buffers in `keep`, are left alone.
 */
export function releaseData(
  data: readonly ArrayBufferView[],
  keep?: ReadonlySet<ArrayBufferLike>,
): void {
  for (const d of data) {
    const b = d.buffer;
    if (
      b instanceof ArrayBuffer && !b.detached && d.byteOffset === 0 &&
      d.byteLength === b.byteLength && !keep?.has(b)
    ) {
      b.transferToFixedLength(0);
    }
  }
}

/** The host data of onnxruntime CPU tensors (never strings here). */
export function views(tensors: readonly OrtTensor[]): ArrayBufferView[] {
  return tensors.map((t) => t.data as ArrayBufferView);
}

/** Whether `t`'s data was released by {@linkcode releaseData}. */
export function released(t: OrtTensor): boolean {
  const b = (t.data as ArrayBufferView).buffer;
  return b instanceof ArrayBuffer && b.detached;
}

/** `[0, 1, ..., n - 1]`. */
export function arange(n: number): Int32Array {
  return Int32Array.from({ length: n }, (_, i) => i);
}

/**
 * Checks a `[batch, length]` list of token ids (non-empty, rectangular, integers in
 * `[0, vocab)`) and returns the length; `OnnxModelError` names the bad row or value.
 */
export function checkIds(
  what: string,
  ids: readonly (readonly number[])[],
  vocab?: number,
): number {
  if (!Array.isArray(ids) || ids.length === 0) {
    throw new OnnxModelError(`${what}: expected a non-empty [batch, length] list of rows`);
  }
  const len = ids[0].length;
  ids.forEach((row, b) => {
    if (!Array.isArray(row) || row.length !== len || len === 0) {
      throw new OnnxModelError(
        `${what}[${b}]: has length ${row?.length}; every row must have length ${len} > 0`,
      );
    }
    row.forEach((v, t) => {
      if (!Number.isInteger(v) || v < 0 || (vocab !== undefined && v >= vocab)) {
        throw new OnnxModelError(
          `${what}[${b}][${t}] = ${v}; expected an integer id in [0, ${vocab ?? "∞"})`,
        );
      }
    });
  });
  return len;
}
