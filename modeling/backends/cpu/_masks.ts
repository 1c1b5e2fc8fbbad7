/**
 * The mask and position ops every backend builds from host inputs (`Backend.maskBias`,
 * `Backend.positionIds`), computed on the host: the CPU backend returns them, device backends
 * upload them. The ONNX recorder emits the same computation as graph nodes instead.
 *
 * @module
 */
import { BackendError } from "../../backend.ts";
import { FLOAT32_MIN, Tensor } from "../../tensor.ts";
import { fmt } from "./_shape.ts";

/**
 * HF's additive mask from a host 0/1 mask `[n, s]`: `[n, 1, 1, s]`, or with `causalQueries = t`
 * `[n, 1, t, s]` where query `i` sees key `j <= s - t + i` (see `Backend.maskBias`).
 */
export function hostMaskBias(op: string, mask: Tensor, causalQueries?: number): Tensor<"float32"> {
  if (!(mask instanceof Tensor) || mask.dims.length !== 2 || mask.dtype === "bool") {
    throw new BackendError(
      `${op}.maskBias: mask ${
        mask instanceof Tensor ? `${fmt(mask.dims)} ${mask.dtype}` : typeof mask
      } is not a host 0/1 tensor [batch, src]`,
    );
  }
  const [n, s] = mask.dims;
  const data = mask.data as ArrayLike<number | bigint>;
  const m = (i: number) => Number(data[i]);
  if (causalQueries === undefined) {
    const out = new Float32Array(n * s);
    for (let i = 0; i < out.length; i++) out[i] = (1 - m(i)) * FLOAT32_MIN;
    return new Tensor("float32", out, [n, 1, 1, s]);
  }
  const t = causalQueries;
  if (!Number.isInteger(t) || t < 0 || t > s) {
    throw new BackendError(
      `${op}.maskBias: causalQueries = ${t} for a mask of ${s} columns (expected 0 <= t <= ${s})`,
    );
  }
  const past = s - t;
  const out = new Float32Array(n * t * s);
  for (let r = 0; r < n; r++) {
    for (let i = 0; i < t; i++) {
      for (let j = 0; j < s; j++) {
        const keep = j <= past + i ? m(r * s + j) : 0;
        out[(r * t + i) * s + j] = (1 - keep) * FLOAT32_MIN;
      }
    }
  }
  return new Tensor("float32", out, [n, 1, t, s]);
}

/** Position ids on the host (see `Backend.positionIds`). */
export function hostPositionIds(
  op: string,
  start: number,
  length: number,
  padded?: { ids: Tensor; paddingIdx: number },
): Tensor<"int32"> {
  if (!padded) {
    const out = new Int32Array(length);
    for (let c = 0; c < length; c++) out[c] = start + c;
    return new Tensor("int32", out, [1, length]);
  }
  const { ids, paddingIdx: pad } = padded;
  if (!(ids instanceof Tensor) || ids.dims.length !== 2 || ids.dims[1] !== length) {
    throw new BackendError(
      `${op}.positionIds: ids ${
        ids instanceof Tensor ? fmt(ids.dims) : typeof ids
      } do not fit length ${length} (expected host ids [batch, ${length}])`,
    );
  }
  const [batch, t] = ids.dims;
  const data = ids.data as ArrayLike<number | bigint>;
  const out = new Int32Array(batch * t);
  for (let r = 0; r < batch; r++) {
    let count = 0;
    for (let c = 0; c < t; c++) {
      const keep = Number(data[r * t + c]) !== pad;
      if (keep) count++;
      out[r * t + c] = keep ? count + start + pad : pad;
    }
  }
  return new Tensor("int32", out, [batch, t]);
}
