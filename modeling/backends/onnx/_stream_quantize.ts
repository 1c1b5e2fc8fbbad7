/**
 * Per-output-channel int8 quantization of an `nn.Linear` weight left in its safetensors file,
 * read a block of rows at a time: the same values as
 * `quantizePerColumn(transpose2d(w, out, in), in, out)` (`graph_builder.ts`) without a float32
 * copy of the whole matrix (nor of its transpose) in memory. onnxruntime-web quantizes every
 * weight this way while loading, so the largest host buffer is one block of rows.
 *
 * @module
 */
import type { FileTensor } from "./checkpoint.ts";
import { OnnxModelError, quantizeRowBlock } from "./graph_builder.ts";
import { releaseData } from "./_host.ts";

/** Bytes of float32 rows read at once. */
const BLOCK_BYTES = 1 << 20;

/**
 * Quantizes the float32 `[out, in]` matrix `t` into `q` (`[in, out]`, int8, symmetric) and
 * `scale` (`[out]`: the largest magnitude of each row / 127, or 1 for an all-zero row), reading
 * `t`'s file a block of rows at a time.
 */
export function quantizeLinearFromFile(t: FileTensor, q: Int8Array, scale: Float32Array): void {
  const [outF, inF] = t.dims;
  if (t.dtype !== "float32" || t.dims.length !== 2 || t.length !== outF * inF * 4) {
    throw new OnnxModelError(
      `${t.path}: a ${t.dtype} tensor [${t.dims}] of ${t.length} bytes at ${t.offset}; ` +
        "expected a float32 matrix to quantize",
    );
  }
  if (q.length !== outF * inF || scale.length !== outF) {
    throw new OnnxModelError(`quantizeLinearFromFile: output sizes do not match [${t.dims}]`);
  }
  const rowsPerBlock = Math.max(1, Math.floor(BLOCK_BYTES / (inF * 4)));
  const block = new Uint8Array(rowsPerBlock * inF * 4);
  const values = new Float32Array(block.buffer);
  const f = Deno.openSync(t.path);
  try {
    f.seekSync(t.offset, Deno.SeekMode.Start);
    for (let r0 = 0; r0 < outF; r0 += rowsPerBlock) {
      const rows = Math.min(rowsPerBlock, outF - r0);
      const want = block.subarray(0, rows * inF * 4);
      for (let n = 0; n < want.length;) {
        const got = f.readSync(want.subarray(n));
        if (got === null || got === 0) {
          throw new OnnxModelError(
            `${t.path}: file ends ${want.length - n} bytes early reading a tensor at ${t.offset}`,
          );
        }
        n += got;
      }
      quantizeRowBlock(values, rows, r0, q, scale);
    }
  } finally {
    f.close();
    // Freed now, not at V8's next GC: left to it, one block per weight piled up in malloc's heap.
    releaseData([block]);
  }
}
