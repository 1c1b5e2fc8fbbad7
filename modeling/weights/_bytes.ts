/**
 * The bytes weight files store for a tensor: its elements in little-endian order, booleans as
 * 0/1. Shared by the safetensors and torch writers.
 *
 * @module
 */
import { DTYPE_BYTES, numel, type Tensor } from "../tensor.ts";
import { WeightsError } from "./errors.ts";

/** Whether this machine stores numbers little-endian (then typed-array bytes are file bytes). */
export const LITTLE_ENDIAN_HOST: boolean = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * The little-endian bytes of `t`'s elements (bool as 0/1). A view of `t.data` when no conversion
 * is needed, else a new array. `name` is used in the error for data that does not fit the shape.
 */
export function tensorBytesLE(name: string, t: Tensor): Uint8Array {
  const src = t.data;
  if (src.byteLength !== numel(t.dims) * DTYPE_BYTES[t.dtype]) {
    throw new WeightsError(`tensor "${name}": data does not match shape [${t.dims}]`);
  }
  if (t.dtype === "bool") {
    return Uint8Array.from(src as Uint8Array, (b) => b ? 1 : 0);
  }
  const bytes = new Uint8Array(src.buffer, src.byteOffset, src.byteLength);
  if (LITTLE_ENDIAN_HOST) return bytes;
  const out = new Uint8Array(src.byteLength);
  const v = new DataView(out.buffer);
  for (let i = 0; i < src.length; i++) {
    switch (t.dtype) {
      case "float32":
        v.setFloat32(i * 4, (src as Float32Array)[i], true);
        break;
      case "float16":
      case "bfloat16":
        v.setUint16(i * 2, (src as Uint16Array)[i], true);
        break;
      case "int32":
        v.setInt32(i * 4, (src as Int32Array)[i], true);
        break;
      case "int64":
        v.setBigInt64(i * 8, (src as BigInt64Array)[i], true);
        break;
    }
  }
  return out;
}
