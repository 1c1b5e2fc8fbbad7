/**
 * Argument checks and small constructors shared by the CPU kernels: each check throws a
 * `BackendError` naming the op, the argument, what was found and what was expected.
 *
 * @module
 */
import { BackendError } from "../../backend.ts";
import { Tensor } from "../../tensor.ts";
import { fmt } from "./_shape.ts";

/** A float32 host tensor. */
export type F32 = Tensor<"float32">;

/** `[2, 3] float32`. */
export function describe(t: Tensor): string {
  return `${fmt(t.dims)} ${t.dtype}`;
}

/** Asserts `t` is a host `Tensor`. */
export function needTensor(op: string, name: string, t: unknown): asserts t is Tensor {
  if (!(t instanceof Tensor)) {
    throw new BackendError(`cpu.${op}: ${name} must be a Tensor, got ${typeof t}`);
  }
}

/** The float32 data of `t` (other dtypes rejected). */
export function f32(op: string, name: string, t: Tensor): Float32Array {
  needTensor(op, name, t);
  if (t.dtype !== "float32") {
    throw new BackendError(
      `cpu.${op}: ${name} has dtype ${t.dtype} (shape ${fmt(t.dims)}), expected float32` +
        (t.dtype === "float16" || t.dtype === "bfloat16"
          ? " (upload() converts half tensors to float32)"
          : ""),
    );
  }
  return t.data as Float32Array;
}

/** The int32/int64 data of `t` (other dtypes rejected). */
export function ids(op: string, name: string, t: Tensor): Int32Array | BigInt64Array {
  needTensor(op, name, t);
  if (t.dtype !== "int32" && t.dtype !== "int64") {
    throw new BackendError(
      `cpu.${op}: ${name} has dtype ${t.dtype} (shape ${fmt(t.dims)}), expected int32 or int64`,
    );
  }
  return t.data as Int32Array | BigInt64Array;
}

/** Asserts `t` has at least `rank` dims. */
export function minRank(op: string, name: string, t: Tensor, rank: number): void {
  if (t.dims.length < rank) {
    throw new BackendError(
      `cpu.${op}: ${name} has shape ${fmt(t.dims)}, expected at least ${rank} dims`,
    );
  }
}

/** A float32 tensor over `data`. */
export function out32(data: Float32Array, dims: readonly number[]): F32 {
  return new Tensor("float32", data, dims);
}
