/**
 * The host side of the WebGPU shape ops: `permute`, `slice` and `concat` as strided copies,
 * `indexSelect` (and `embedding`, in `_math_ops.ts`) as gathers. Each checks its operands, sizes
 * the output and records its kernel (`_kernels.ts`) through the backend's `OpContext`.
 *
 * @module
 */
import { numel } from "../../tensor.ts";
import { fmt, stridesOf } from "../cpu/_shape.ts";
import { copySource, gatherSource, MAX_RANK, WG } from "./_kernels.ts";
import { coalesce, grid, type OpContext, pad } from "./_context.ts";
import { type GpuTensor, WebGpuError } from "./_tensor.ts";

/** Strided copy of `dims` elements from `src` (offset `srcBase`) into `dst` (offset `dstBase`). */
export function copy(
  ctx: OpContext,
  src: GpuTensor,
  dst: GpuTensor,
  dims: readonly number[],
  srcStrides: number[],
  dstStrides: number[],
  srcBase: number,
  dstBase: number,
): void {
  const n = numel(dims);
  if (n === 0) return;
  const [cd, [ss, ds]] = coalesce(dims, [srcStrides, dstStrides]);
  if (cd.length > MAX_RANK) {
    throw new WebGpuError(`copy: ${dims.length}-d layout ${fmt(dims)} exceeds rank ${MAX_RANK}`);
  }
  const params = ctx.paramBuffer([
    n,
    cd.length,
    ...pad(cd, MAX_RANK),
    ...pad(ss, MAX_RANK),
    ...pad(ds, MAX_RANK),
    srcBase,
    dstBase,
  ], true);
  ctx.dispatch(
    "copy",
    copySource,
    params,
    [src.buffer, dst.buffer],
    grid(Math.ceil(n / WG)),
  );
}

/** Axis permutation (`WebGpuBackend.permute`). */
export function permute(ctx: OpContext, x: GpuTensor, perm: readonly number[]): GpuTensor {
  ctx.check(x, "permute");
  const r = x.dims.length;
  if (perm.length !== r || [...perm].sort((a, b) => a - b).some((p, i) => p !== i)) {
    throw new WebGpuError(`permute: ${fmt(perm)} is not a permutation of ${r} axes`);
  }
  const dims = perm.map((p) => x.dims[p]);
  const s = stridesOf(x.dims);
  const out = ctx.alloc(dims, x.dtype);
  copy(ctx, x, out, dims, perm.map((p) => s[p]), stridesOf(dims), 0, 0);
  return out;
}

/** `axis` of `x` as a non-negative index (negative counts from the end). */
export function axisIndex(x: GpuTensor, axis: number, op: string): number {
  const r = x.dims.length;
  const a = axis < 0 ? axis + r : axis;
  if (!Number.isInteger(a) || a < 0 || a >= r) {
    throw new WebGpuError(`${op}: axis ${axis} out of range for shape ${fmt(x.dims)}`);
  }
  return a;
}

/** `x[..., start:end, ...]` along `axis` (`WebGpuBackend.slice`). */
export function slice(
  ctx: OpContext,
  x: GpuTensor,
  axis: number,
  start: number,
  end: number,
): GpuTensor {
  ctx.check(x, "slice");
  const a = axisIndex(x, axis, "slice");
  const len = x.dims[a];
  const s = start < 0 ? start + len : start;
  const e = Math.min(end < 0 ? end + len : end, len);
  if (!Number.isInteger(s) || !Number.isInteger(e) || s < 0 || s > e) {
    throw new WebGpuError(
      `slice: range ${start}:${end} is invalid for axis ${axis} of size ${len} in ${fmt(x.dims)}`,
    );
  }
  const dims = [...x.dims];
  dims[a] = e - s;
  const st = stridesOf(x.dims);
  const out = ctx.alloc(dims, x.dtype);
  copy(ctx, x, out, dims, st, stridesOf(dims), s * st[a], 0);
  return out;
}

/** Concatenation along `axis` (`WebGpuBackend.concat`). */
export function concat(ctx: OpContext, xs: readonly GpuTensor[], axis: number): GpuTensor {
  if (xs.length === 0) throw new WebGpuError("concat: needs at least one tensor");
  xs.forEach((x, i) => ctx.check(x, "concat", `input ${i}`));
  const first = xs[0];
  const a = axisIndex(first, axis, "concat");
  let total = 0;
  for (const [i, x] of xs.entries()) {
    const ok = x.dtype === first.dtype && x.dims.length === first.dims.length &&
      x.dims.every((d, j) => j === a || d === first.dims[j]);
    if (!ok) {
      throw new WebGpuError(
        `concat: input ${i} ${x.dtype} ${fmt(x.dims)} does not match input 0 ${first.dtype} ` +
          `${fmt(first.dims)} outside axis ${axis}`,
      );
    }
    total += x.dims[a];
  }
  const dims = [...first.dims];
  dims[a] = total;
  const out = ctx.alloc(dims, first.dtype);
  const os = stridesOf(dims);
  let offset = 0;
  for (const x of xs) {
    copy(ctx, x, out, x.dims, stridesOf(x.dims), os, 0, offset * os[a]);
    offset += x.dims[a];
  }
  return out;
}

/** Gathers `k` rows (ids in `idx`) of the `axisLen` axis of `x` `[outer, axisLen, inner]`. */
export function gather(
  ctx: OpContext,
  x: GpuTensor,
  idx: GPUBuffer,
  outer: number,
  axisLen: number,
  inner: number,
  k: number,
  dims: readonly number[],
  hostInts?: Int32Array,
): GpuTensor {
  const half = x.dtype === "float16";
  const out = ctx.alloc(dims, half ? "float32" : x.dtype, hostInts);
  const n = outer * k * inner;
  const params = ctx.paramBuffer([n, inner, k, axisLen], true);
  ctx.dispatch(
    half ? "gatherHalf" : "gather",
    () => gatherSource(half),
    params,
    [x.buffer, out.buffer, idx],
    grid(Math.ceil(n / WG)),
  );
  return out;
}

/** Rows `indices` of `x` along `axis` (`WebGpuBackend.indexSelect`). */
export function indexSelect(
  ctx: OpContext,
  x: GpuTensor,
  axis: number,
  indices: readonly number[],
): GpuTensor {
  ctx.check(x, "indexSelect");
  const a = axisIndex(x, axis, "indexSelect");
  const len = x.dims[a];
  indices.forEach((v, i) => {
    if (!Number.isInteger(v) || v < 0 || v >= len) {
      throw new WebGpuError(
        `indexSelect: index ${v} (position ${i}) out of range for axis ${axis} of size ${len}`,
      );
    }
  });
  const dims = [...x.dims];
  dims[a] = indices.length;
  const idx = ctx.paramBuffer(indices.length ? indices : [0], false);
  return gather(
    ctx,
    x,
    idx,
    numel(x.dims.slice(0, a)),
    len,
    numel(x.dims.slice(a + 1)),
    indices.length,
    dims,
  );
}
