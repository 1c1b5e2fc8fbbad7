/**
 * The CPU backend's shape ops (`reshape`, `permute`, `slice`, `concat`, `indexSelect`): any
 * dtype, row-major host tensors, misuse a `BackendError` naming the op and the shapes.
 *
 * @module
 */
import { BackendError } from "../../backend.ts";
import { Tensor } from "../../tensor.ts";
import { describe, needTensor } from "./_checks.ts";
import { chunky, fmt, normAxis, prod, stridesOf } from "./_shape.ts";

/** Same data, new shape; one `-1` is inferred. */
export function reshape(x: Tensor, dims: readonly number[]): Tensor {
  needTensor("reshape", "x", x);
  let inferred = -1;
  let known = 1;
  for (let i = 0; i < dims.length; i++) {
    const d = dims[i];
    if (d === -1 && inferred < 0) inferred = i;
    else if (!Number.isInteger(d) || d < 0) {
      throw new BackendError(
        `cpu.reshape: invalid target shape ${fmt(dims)} for ${describe(x)} (sizes must be ` +
          `integers >= 0, with at most one -1)`,
      );
    } else known *= d;
  }
  const resolved = [...dims];
  if (inferred >= 0) {
    if (known === 0 || x.size % known !== 0) {
      throw new BackendError(
        `cpu.reshape: cannot infer -1 in ${fmt(dims)} for ${describe(x)} (${x.size} elements)`,
      );
    }
    resolved[inferred] = x.size / known;
  } else if (known !== x.size) {
    throw new BackendError(
      `cpu.reshape: cannot reshape ${describe(x)} (${x.size} elements) to ${fmt(dims)} ` +
        `(${known} elements)`,
    );
  }
  return new Tensor(x.dtype, x.data, resolved);
}

/** Copies `x` with its axes reordered: `out.dims[i] = x.dims[perm[i]]`. */
export function permute(x: Tensor, perm: readonly number[]): Tensor {
  needTensor("permute", "x", x);
  const rank = x.dims.length;
  const seen = new Set<number>();
  for (const p of perm) {
    if (!Number.isInteger(p) || p < 0 || p >= rank || seen.has(p)) break;
    seen.add(p);
  }
  if (perm.length !== rank || seen.size !== rank) {
    throw new BackendError(
      `cpu.permute: ${fmt(perm)} is not a permutation of the ${rank} axes of ${describe(x)}`,
    );
  }
  const outDims = perm.map((p) => x.dims[p]);
  const out = Tensor.zeros(outDims, x.dtype);
  const n = x.size;
  if (n === 0) return out;
  if (rank <= 1 || perm.every((p, i) => p === i)) {
    chunky(out.data).set(chunky(x.data));
    return out;
  }
  const src = chunky(x.data);
  const dst = chunky(out.data);
  const xs = stridesOf(x.dims);
  const ss = perm.map((p) => xs[p]); // source stride per output axis
  const inner = outDims[rank - 1];
  const innerStride = ss[rank - 1];
  const idx = new Array<number>(rank - 1).fill(0);
  let srcOff = 0;
  for (let o = 0; o < n; o += inner) {
    for (let j = 0, s = srcOff; j < inner; j++, s += innerStride) dst[o + j] = src[s];
    for (let d = rank - 2; d >= 0; d--) {
      idx[d]++;
      srcOff += ss[d];
      if (idx[d] < outDims[d]) break;
      srcOff -= ss[d] * outDims[d];
      idx[d] = 0;
    }
  }
  return out;
}

/** `x[..., start:end, ...]` along `axis` (negative axis counts from the end). */
export function slice(x: Tensor, axis: number, start: number, end: number): Tensor {
  needTensor("slice", "x", x);
  const ax = normAxis("slice", axis, x.dims.length, x.dims);
  const size = x.dims[ax];
  if (
    !Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end > size || start > end
  ) {
    throw new BackendError(
      `cpu.slice: range [${start}, ${end}) is out of bounds for axis ${axis} of ${describe(x)} ` +
        `(expected integers 0 <= start <= end <= ${size})`,
    );
  }
  const outer = prod(x.dims, 0, ax);
  const inner = prod(x.dims, ax + 1);
  const outDims = [...x.dims];
  outDims[ax] = end - start;
  const out = Tensor.zeros(outDims, x.dtype);
  const src = chunky(x.data);
  const dst = chunky(out.data);
  const chunk = (end - start) * inner;
  for (let o = 0; o < outer; o++) {
    const from = (o * size + start) * inner;
    dst.set(src.subarray(from, from + chunk), o * chunk);
  }
  return out;
}

/** Concatenates tensors of one dtype whose shapes agree except along `axis`. */
export function concat(xs: readonly Tensor[], axis: number): Tensor {
  if (xs.length === 0) throw new BackendError("cpu.concat: needs at least one tensor, got none");
  xs.forEach((x, i) => needTensor("concat", `xs[${i}]`, x));
  const first = xs[0];
  const rank = first.dims.length;
  const ax = normAxis("concat", axis, rank, first.dims);
  let total = 0;
  for (let i = 0; i < xs.length; i++) {
    const x = xs[i];
    const ok = x.dtype === first.dtype && x.dims.length === rank &&
      x.dims.every((d, j) => j === ax || d === first.dims[j]);
    if (!ok) {
      throw new BackendError(
        `cpu.concat: xs[${i}] is ${describe(x)}, expected ${first.dtype} with the shape of ` +
          `xs[0] ${fmt(first.dims)} except along axis ${axis}`,
      );
    }
    total += x.dims[ax];
  }
  const outDims = [...first.dims];
  outDims[ax] = total;
  const out = Tensor.zeros(outDims, first.dtype);
  const dst = chunky(out.data);
  const outer = prod(first.dims, 0, ax);
  const inner = prod(first.dims, ax + 1);
  const rowOut = total * inner;
  let at = 0;
  for (const x of xs) {
    const chunk = x.dims[ax] * inner;
    const src = chunky(x.data);
    for (let o = 0; o < outer; o++) {
      dst.set(src.subarray(o * chunk, (o + 1) * chunk), o * rowOut + at);
    }
    at += chunk;
  }
  return out;
}

/** Picks entries `indices` of `x` along `axis` (repeats allowed). */
export function indexSelect(x: Tensor, axis: number, indices: readonly number[]): Tensor {
  needTensor("indexSelect", "x", x);
  const ax = normAxis("indexSelect", axis, x.dims.length, x.dims);
  const size = x.dims[ax];
  for (const i of indices) {
    if (!Number.isInteger(i) || i < 0 || i >= size) {
      throw new BackendError(
        `cpu.indexSelect: index ${i} is out of range for axis ${axis} of ${describe(x)} ` +
          `(expected an integer in [0, ${size}))`,
      );
    }
  }
  const outer = prod(x.dims, 0, ax);
  const inner = prod(x.dims, ax + 1);
  const outDims = [...x.dims];
  outDims[ax] = indices.length;
  const out = Tensor.zeros(outDims, x.dtype);
  const src = chunky(x.data);
  const dst = chunky(out.data);
  let at = 0;
  for (let o = 0; o < outer; o++) {
    for (const i of indices) {
      const from = (o * size + i) * inner;
      dst.set(src.subarray(from, from + inner), at);
      at += inner;
    }
  }
  return out;
}
