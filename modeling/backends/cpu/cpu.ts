/**
 * The CPU reference backend: every `Backend` op in plain TypeScript on host `Tensor`s.
 *
 * It is the numerical reference the other backends are parity-tested against, so it favours
 * being right over being clever: float32 tensors in and out, float64 accumulation inside
 * (dot products, sums, means), results rounded to float32 once where torch stores a float32
 * intermediate (attention scores before and after the additive mask).
 *
 * Conventions:
 * - Arithmetic ops take `float32` tensors; `upload` turns `float16`/`bfloat16` into `float32`
 *   so half-stored weights compute in float32. `embedding` ids and `crossEntropy` labels are
 *   `int32` or `int64`. Shape ops (`reshape`, `permute`, `slice`, `concat`, `indexSelect`) take
 *   any dtype.
 * - Misuse throws a {@linkcode BackendError} naming the op, what was found and what was expected.
 * - Tensors are treated as immutable values: ops never write to their inputs; `reshape` and
 *   `activation(x, "none")` return tensors sharing `x`'s data.
 * - `softmax` / `logSoftmax` / `attention` follow torch on degenerate rows: a row whose entries all
 *   equal the finite mask minimum (`FLOAT32_MIN`) gives a uniform distribution; a row that is all
 *   `-Infinity`, or holds `+Infinity` or NaN, gives NaN.
 * - `attention` applies the causal mask first (scores of hidden keys become `FLOAT32_MIN`, like
 *   GPT-2's `torch.where`) and then adds `mask`, so a key hidden by both gets `-Infinity`.
 *   To reproduce BERT's combined extended mask (hidden keys exactly `FLOAT32_MIN`), fold the
 *   causal part into `mask` and leave `causal` off. The two differ only on fully hidden rows.
 * - `crossEntropy` returns NaN when every label equals `ignoreIndex`, as torch does (0/0).
 *
 * @example
 * ```ts
 * import { cpu } from "./cpu.ts";
 * import { Tensor } from "../../tensor.ts";
 * const p = cpu.softmax(Tensor.from([1, 2, 3]));
 * p.tolist(); // ≈ [0.0900306, 0.2447285, 0.6652410]
 * ```
 *
 * @module
 */
import type { Activation, AttentionOptions, Backend, RandomSource } from "../../backend.ts";
import { BackendError } from "../../backend.ts";
import { FLOAT32_MIN, Tensor } from "../../tensor.ts";
import { applyActivation, isActivation } from "./_math.ts";
import {
  broadcastShapes,
  broadcastStrides,
  chunky,
  fmt,
  normAxis,
  prod,
  stridesOf,
} from "./_shape.ts";
import { gemmNN, gemmNT } from "./_gemm.ts";
import { hostMaskBias, hostPositionIds } from "./_masks.ts";

export { BackendError } from "../../backend.ts";
export { erf } from "./_math.ts";

type F32 = Tensor<"float32">;

function describe(t: Tensor): string {
  return `${fmt(t.dims)} ${t.dtype}`;
}

function needTensor(op: string, name: string, t: unknown): asserts t is Tensor {
  if (!(t instanceof Tensor)) {
    throw new BackendError(`cpu.${op}: ${name} must be a Tensor, got ${typeof t}`);
  }
}

function f32(op: string, name: string, t: Tensor): Float32Array {
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

function ids(op: string, name: string, t: Tensor): Int32Array | BigInt64Array {
  needTensor(op, name, t);
  if (t.dtype !== "int32" && t.dtype !== "int64") {
    throw new BackendError(
      `cpu.${op}: ${name} has dtype ${t.dtype} (shape ${fmt(t.dims)}), expected int32 or int64`,
    );
  }
  return t.data as Int32Array | BigInt64Array;
}

function minRank(op: string, name: string, t: Tensor, rank: number): void {
  if (t.dims.length < rank) {
    throw new BackendError(
      `cpu.${op}: ${name} has shape ${fmt(t.dims)}, expected at least ${rank} dims`,
    );
  }
}

function out32(data: Float32Array, dims: readonly number[]): F32 {
  return new Tensor("float32", data, dims);
}

/** Numerically stable softmax of `src[off, off+n)` into `dst[off, off+n)` (float64 inside). */
function softmaxRow(src: Float32Array, dst: Float32Array, off: number, n: number): void {
  const max = rowMax(src, off, n);
  // exp in float64; stored (float32-rounded) then normalised, so `dst` may alias `src`.
  let sum = 0;
  for (let j = 0; j < n; j++) {
    const e = Math.exp(src[off + j] - max);
    dst[off + j] = e;
    sum += e;
  }
  const inv = 1 / sum;
  for (let j = 0; j < n; j++) dst[off + j] *= inv;
}

/**
 * `log_softmax` of `src[off, off+n)` into `dst[dstOff, dstOff+n)`, as `x - max - log Σ exp(x - max)`.
 */
function logSoftmaxRow(
  src: Float32Array,
  dst: Float32Array,
  off: number,
  n: number,
  dstOff = off,
): void {
  const max = rowMax(src, off, n);
  let sum = 0;
  for (let j = 0; j < n; j++) sum += Math.exp(src[off + j] - max);
  const lse = max + Math.log(sum);
  for (let j = 0; j < n; j++) dst[dstOff + j] = src[off + j] - lse;
}

/** Applies a row kernel to every last-axis row of a float32 `x` into a new tensor. */
function rowwise(
  op: string,
  x: Tensor,
  row: (src: Float32Array, dst: Float32Array, off: number, n: number) => void,
): F32 {
  const xd = f32(op, "x", x);
  minRank(op, "x", x, 1);
  const n = x.dims[x.dims.length - 1];
  const out = new Float32Array(xd.length);
  for (let o = 0; o < xd.length; o += n) row(xd, out, o, n);
  return out32(out, x.dims);
}

/** Largest entry of `src[off, off+n)`; NaN if any entry is NaN (it poisons the row, as in torch). */
function rowMax(src: Float32Array, off: number, n: number): number {
  let max = -Infinity;
  for (let j = 0; j < n; j++) {
    const v = src[off + j];
    if (v > max || v !== v) max = v;
  }
  return max;
}

/** Is `(va, ia)` ranked before `(vb, ib)` by `topk`? Larger first, NaN largest, ties: lower index. */
function before(va: number, ia: number, vb: number, ib: number): boolean {
  if (va !== va) return vb === vb || ia < ib;
  if (vb !== vb) return false;
  return va > vb || (va === vb && ia < ib);
}

/**
 * The CPU reference implementation of `Backend<Tensor>`.
 *
 * @example
 * ```ts
 * import { CpuBackend } from "./cpu.ts";
 * import { Tensor } from "../../tensor.ts";
 * const backend = new CpuBackend();
 * const y = backend.linear(Tensor.from([[1, 2]]), Tensor.from([[1, 0], [0, 1], [1, 1]]));
 * y.tolist(); // [[1, 2, 3]]
 * ```
 */
export class CpuBackend implements Backend<Tensor> {
  /** Always `"cpu"`. */
  readonly name = "cpu";

  // ---- data movement ---------------------------------------------------------------------------

  /** Returns `t` itself, or a float32 copy when `t` is float16/bfloat16. */
  upload(t: Tensor): Tensor {
    needTensor("upload", "t", t);
    return t.dtype === "float16" || t.dtype === "bfloat16" ? t.toFloat32() : t;
  }

  /** Resolves to `t` itself. */
  read(t: Tensor): Promise<Tensor> {
    needTensor("read", "t", t);
    return Promise.resolve(t);
  }

  /** `t.dims`. */
  dims(t: Tensor): readonly number[] {
    needTensor("dims", "t", t);
    return t.dims;
  }

  /** Nothing to free on the CPU. */
  dispose(_t: Tensor): void {}

  // ---- masks and positions ---------------------------------------------------------------------

  /** HF's additive mask from a host 0/1 mask (see `Backend.maskBias`). */
  maskBias(mask: Tensor, causalQueries?: number): Tensor {
    return hostMaskBias("cpu", mask, causalQueries);
  }

  /** Position ids (see `Backend.positionIds`). */
  positionIds(start: number, length: number, padded?: { ids: Tensor; paddingIdx: number }): Tensor {
    return hostPositionIds("cpu", start, length, padded);
  }

  // ---- shape ops -------------------------------------------------------------------------------

  /** Same data, new shape; one `-1` is inferred. */
  reshape(x: Tensor, dims: readonly number[]): Tensor {
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
  permute(x: Tensor, perm: readonly number[]): Tensor {
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
  slice(x: Tensor, axis: number, start: number, end: number): Tensor {
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
  concat(xs: readonly Tensor[], axis: number): Tensor {
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
  indexSelect(x: Tensor, axis: number, indices: readonly number[]): Tensor {
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

  // ---- arithmetic ------------------------------------------------------------------------------

  /** Batched matrix product with broadcast leading dims; `transposeB` reads b as `[..., n, k]`. */
  matmul(a: Tensor, b: Tensor, opts: { transposeB?: boolean } = {}): Tensor {
    const ad = f32("matmul", "a", a);
    const bd = f32("matmul", "b", b);
    minRank("matmul", "a", a, 2);
    minRank("matmul", "b", b, 2);
    const tb = opts.transposeB ?? false;
    const ra = a.dims.length, rb = b.dims.length;
    const m = a.dims[ra - 2], k = a.dims[ra - 1];
    const kb = tb ? b.dims[rb - 1] : b.dims[rb - 2];
    const n = tb ? b.dims[rb - 2] : b.dims[rb - 1];
    if (k !== kb) {
      throw new BackendError(
        `cpu.matmul: inner dims differ: a ${fmt(a.dims)} vs b ${fmt(b.dims)}` +
          `${tb ? " (transposeB)" : ""} (expected a's last dim ${k} to equal b's ` +
          `${tb ? "last" : "second-to-last"} dim ${kb})`,
      );
    }
    const batchA = a.dims.slice(0, ra - 2), batchB = b.dims.slice(0, rb - 2);
    const batch = broadcastShapes(batchA, batchB);
    if (!batch) {
      throw new BackendError(
        `cpu.matmul: batch dims of a ${fmt(a.dims)} and b ${fmt(b.dims)} do not broadcast ` +
          `(${fmt(batchA)} vs ${fmt(batchB)})`,
      );
    }
    const nb = prod(batch);
    const out = new Float32Array(nb * m * n);
    const sa = broadcastStrides(batchA, batch), sb = broadcastStrides(batchB, batch);
    const idx = new Array<number>(batch.length).fill(0);
    let ia = 0, ib = 0; // matrix index into a, b
    for (let t = 0; t < nb; t++) {
      if (tb) gemmNT(ad, ia * m * k, bd, ib * n * k, out, t * m * n, m, n, k);
      else gemmNN(ad, ia * m * k, bd, ib * k * n, out, t * m * n, m, n, k);
      for (let d = batch.length - 1; d >= 0; d--) {
        idx[d]++;
        ia += sa[d];
        ib += sb[d];
        if (idx[d] < batch[d]) break;
        ia -= sa[d] * batch[d];
        ib -= sb[d] * batch[d];
        idx[d] = 0;
      }
    }
    return out32(out, [...batch, m, n]);
  }

  /** `x [..., in] @ weight[out, in]^T + bias[out]`, then `activation`. */
  linear(x: Tensor, weight: Tensor, bias?: Tensor, activation: Activation = "none"): Tensor {
    const xd = f32("linear", "x", x);
    const wd = f32("linear", "weight", weight);
    minRank("linear", "x", x, 1);
    if (weight.dims.length !== 2 || weight.dims[1] !== x.dims[x.dims.length - 1]) {
      throw new BackendError(
        `cpu.linear: weight ${fmt(weight.dims)} does not fit x ${fmt(x.dims)} (expected ` +
          `[out, ${x.dims[x.dims.length - 1]}])`,
      );
    }
    if (!isActivation(activation)) {
      throw new BackendError(`cpu.linear: unknown activation "${activation}"`);
    }
    const [nOut, nIn] = weight.dims;
    let bd: Float32Array | undefined;
    if (bias !== undefined) {
      bd = f32("linear", "bias", bias);
      if (bias.dims.length !== 1 || bias.dims[0] !== nOut) {
        throw new BackendError(
          `cpu.linear: bias ${fmt(bias.dims)} does not fit weight ${fmt(weight.dims)} ` +
            `(expected [${nOut}])`,
        );
      }
    }
    const rows = nIn === 0 ? prod(x.dims, 0, x.dims.length - 1) : xd.length / nIn;
    const out = new Float32Array(rows * nOut);
    gemmNT(xd, 0, wd, 0, out, 0, rows, nOut, nIn, bd);
    applyActivation(out, activation);
    return out32(out, [...x.dims.slice(0, -1), nOut]);
  }

  /** Elementwise `a + b` with NumPy broadcasting. */
  add(a: Tensor, b: Tensor): Tensor {
    return this.binary("add", a, b, false);
  }

  /** Elementwise `a * b` with NumPy broadcasting. */
  mul(a: Tensor, b: Tensor): Tensor {
    return this.binary("mul", a, b, true);
  }

  private binary(op: string, a: Tensor, b: Tensor, isMul: boolean): F32 {
    const ad = f32(op, "a", a);
    const bd = f32(op, "b", b);
    const dims = broadcastShapes(a.dims, b.dims);
    if (!dims) {
      throw new BackendError(
        `cpu.${op}: shapes a ${fmt(a.dims)} and b ${fmt(b.dims)} do not broadcast`,
      );
    }
    const n = prod(dims);
    const out = new Float32Array(n);
    if (n === 0) return out32(out, dims);
    if (ad.length === n && bd.length === n) {
      if (isMul) { for (let i = 0; i < n; i++) out[i] = ad[i] * bd[i]; }
      else for (let i = 0; i < n; i++) out[i] = ad[i] + bd[i];
      return out32(out, dims);
    }
    if (bd.length === 1 || ad.length === 1) {
      const [big, s] = bd.length === 1 ? [ad, bd[0]] : [bd, ad[0]];
      if (isMul) { for (let i = 0; i < n; i++) out[i] = big[i] * s; }
      else for (let i = 0; i < n; i++) out[i] = big[i] + s;
      return out32(out, dims);
    }
    const rank = dims.length;
    const sa = broadcastStrides(a.dims, dims), sb = broadcastStrides(b.dims, dims);
    const inner = dims[rank - 1];
    const ia = sa[rank - 1], ib = sb[rank - 1];
    const idx = new Array<number>(rank - 1).fill(0);
    let oa = 0, ob = 0;
    for (let o = 0; o < n; o += inner) {
      if (isMul) {
        for (let j = 0; j < inner; j++) out[o + j] = ad[oa + j * ia] * bd[ob + j * ib];
      } else {
        for (let j = 0; j < inner; j++) out[o + j] = ad[oa + j * ia] + bd[ob + j * ib];
      }
      for (let d = rank - 2; d >= 0; d--) {
        idx[d]++;
        oa += sa[d];
        ob += sb[d];
        if (idx[d] < dims[d]) break;
        oa -= sa[d] * dims[d];
        ob -= sb[d] * dims[d];
        idx[d] = 0;
      }
    }
    return out32(out, dims);
  }

  /** `x * s`. */
  scale(x: Tensor, s: number): Tensor {
    const xd = f32("scale", "x", x);
    const out = new Float32Array(xd.length);
    for (let i = 0; i < xd.length; i++) out[i] = xd[i] * s;
    return out32(out, x.dims);
  }

  /** Elementwise activation (`"none"` returns `x` itself). */
  activation(x: Tensor, kind: Activation): Tensor {
    const xd = f32("activation", "x", x);
    if (!isActivation(kind)) {
      throw new BackendError(
        `cpu.activation: unknown activation "${kind}" (expected gelu, gelu_new, ` +
          `gelu_pytorch_tanh, relu, tanh or none)`,
      );
    }
    if (kind === "none") return x;
    const out = xd.slice();
    applyActivation(out, kind);
    return out32(out, x.dims);
  }

  /** `(x - mean) / sqrt(var + eps) * weight + bias` over the last axis (biased variance). */
  layerNorm(x: Tensor, weight: Tensor, bias: Tensor, eps: number): Tensor {
    const xd = f32("layerNorm", "x", x);
    const wd = f32("layerNorm", "weight", weight);
    const bd = f32("layerNorm", "bias", bias);
    minRank("layerNorm", "x", x, 1);
    const h = x.dims[x.dims.length - 1];
    if (
      weight.dims.length !== 1 || weight.dims[0] !== h || bias.dims.length !== 1 ||
      bias.dims[0] !== h
    ) {
      throw new BackendError(
        `cpu.layerNorm: weight ${fmt(weight.dims)} / bias ${fmt(bias.dims)} do not fit x ` +
          `${fmt(x.dims)} (expected both [${h}])`,
      );
    }
    const out = new Float32Array(xd.length);
    for (let o = 0; o < xd.length; o += h) {
      let sum = 0;
      for (let j = 0; j < h; j++) sum += xd[o + j];
      const mean = sum / h;
      let sq = 0;
      for (let j = 0; j < h; j++) {
        const d = xd[o + j] - mean;
        sq += d * d;
      }
      const inv = 1 / Math.sqrt(sq / h + eps);
      for (let j = 0; j < h; j++) out[o + j] = (xd[o + j] - mean) * inv * wd[j] + bd[j];
    }
    return out32(out, x.dims);
  }

  /** Softmax over the last axis (max-subtracted; see the module docs for degenerate rows). */
  softmax(x: Tensor): Tensor {
    return rowwise("softmax", x, softmaxRow);
  }

  /** Log-softmax over the last axis. */
  logSoftmax(x: Tensor): Tensor {
    return rowwise("logSoftmax", x, logSoftmaxRow);
  }

  /** Rows `weight[ids]`: weight `[vocab, hidden]`, ids `[...]` → `[..., hidden]`. */
  embedding(weight: Tensor, idsT: Tensor): Tensor {
    const wd = f32("embedding", "weight", weight);
    const id = ids("embedding", "ids", idsT);
    if (weight.dims.length !== 2) {
      throw new BackendError(
        `cpu.embedding: weight has shape ${fmt(weight.dims)}, expected [vocab, hidden]`,
      );
    }
    const [vocab, h] = weight.dims;
    const out = new Float32Array(id.length * h);
    for (let i = 0; i < id.length; i++) {
      const t = Number(id[i]);
      if (!(t >= 0 && t < vocab)) {
        throw new BackendError(
          `cpu.embedding: id ${id[i]} at flat position ${i} of ids ${fmt(idsT.dims)} is outside ` +
            `the vocabulary [0, ${vocab})`,
        );
      }
      out.set(wd.subarray(t * h, (t + 1) * h), i * h);
    }
    return out32(out, [...idsT.dims, h]);
  }

  /** Scaled dot-product attention; see the module docs for how `causal` and `mask` combine. */
  attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    opts: AttentionOptions<Tensor>,
  ): { output: Tensor; probs?: Tensor } {
    const qd = f32("attention", "q", q);
    const kd = f32("attention", "k", k);
    const vd = f32("attention", "v", v);
    for (const [name, t] of [["q", q], ["k", k], ["v", v]] as const) {
      if (t.dims.length !== 4) {
        throw new BackendError(
          `cpu.attention: ${name} has shape ${
            fmt(t.dims)
          }, expected 4 dims [batch, heads, seq, dim]`,
        );
      }
    }
    const [nb, nh, tq, d] = q.dims;
    const tk = k.dims[2], dv = v.dims[3];
    // k/v rows may be fewer (groups of consecutive q rows share one k/v row).
    const kb = k.dims[0];
    if (
      !(kb > 0 && nb % kb === 0) || k.dims[1] !== nh || k.dims[3] !== d ||
      v.dims[0] !== kb || v.dims[1] !== nh || v.dims[2] !== tk || (kb !== nb && opts.causal)
    ) {
      throw new BackendError(
        `cpu.attention: shapes do not agree: q ${fmt(q.dims)}, k ${fmt(k.dims)}, v ${
          fmt(v.dims)
        } ` +
          `(expected q [b, h, tq, d], k [g, h, tk, d], v [g, h, tk, dv], g dividing b, ` +
          `no causal mask when g < b)`,
      );
    }
    const per = nb / kb; // q rows per k/v row
    const full = [nb, nh, tq, tk];
    const maskFull = [kb, nh, tq, tk];
    let md: Float32Array | undefined;
    let ms = [0, 0, 0, 0];
    if (opts.mask !== undefined) {
      md = f32("attention", "mask", opts.mask);
      const mdims = opts.mask.dims;
      const bc = broadcastShapes(mdims, maskFull);
      if (mdims.length > 4 || !bc || bc.some((x, i) => x !== maskFull[i])) {
        throw new BackendError(
          `cpu.attention: mask ${fmt(mdims)} does not broadcast to scores ${fmt(full)} ` +
            `(expected e.g. [b, 1, 1, tk] or [b, 1, tq, tk])`,
        );
      }
      ms = broadcastStrides(mdims, maskFull);
    }
    const scale = opts.scale;
    const causal = opts.causal ?? false;
    const shift = tk - tq;
    const output = new Float32Array(nb * nh * tq * dv);
    const probs = opts.returnProbs ? new Float32Array(nb * nh * tq * tk) : undefined;
    // Per (batch, head): scores [tq, tk] = q·kᵀ (gemm, float32-rounded as torch stores them),
    // then scale, causal, mask and softmax row by row, then output [tq, dv] = probs·v.
    const block = tq * tk;
    const scratch = probs ? undefined : new Float32Array(block);
    for (let bi = 0; bi < nb; bi++) {
      for (let hi = 0; hi < nh; hi++) {
        const bh = bi * nh + hi;
        const kbi = Math.floor(bi / per);
        const kh = kbi * nh + hi;
        const sc = probs ?? scratch!;
        const sOff = probs ? bh * block : 0;
        gemmNT(qd, bh * tq * d, kd, kh * tk * d, sc, sOff, tq, tk, d);
        for (let i = 0; i < tq; i++) {
          const r = sOff + i * tk;
          const mOff = kbi * ms[0] + hi * ms[1] + i * ms[2];
          const visible = causal ? Math.max(0, Math.min(tk, i + shift + 1)) : tk;
          for (let j = 0; j < visible; j++) sc[r + j] = sc[r + j] * scale;
          for (let j = visible; j < tk; j++) sc[r + j] = FLOAT32_MIN;
          if (md) {
            const ms3 = ms[3];
            for (let j = 0; j < tk; j++) sc[r + j] = sc[r + j] + md[mOff + j * ms3];
          }
          softmaxRow(sc, sc, r, tk);
        }
        gemmNN(sc, sOff, vd, kh * tk * dv, output, bh * tq * dv, tq, dv, tk);
      }
    }
    const result: { output: Tensor; probs?: Tensor } = {
      output: out32(output, [nb, nh, tq, dv]),
    };
    if (probs) result.probs = out32(probs, full);
    return result;
  }

  /**
   * Mean cross-entropy of logits `[n, vocab]` against labels `[n]`, as
   * `torch.nn.functional.cross_entropy(reduction="mean")`: per row
   * `(1 - ε)·(-log p[y]) + ε/vocab · Σ_c -log p[c]`, averaged over rows whose label is not
   * `ignoreIndex` (NaN when there are none). Returns a scalar float32 tensor (dims `[]`).
   */
  crossEntropy(
    logits: Tensor,
    labels: Tensor,
    opts: { ignoreIndex?: number; labelSmoothing?: number } = {},
  ): Tensor {
    const ld = f32("crossEntropy", "logits", logits);
    const yd = ids("crossEntropy", "labels", labels);
    const ignore = opts.ignoreIndex ?? -100;
    const eps = opts.labelSmoothing ?? 0;
    if (!(eps >= 0 && eps <= 1)) {
      throw new BackendError(
        `cpu.crossEntropy: labelSmoothing ${eps} is out of range (expected 0 <= ε <= 1)`,
      );
    }
    if (logits.dims.length !== 2 || labels.dims.length !== 1 || labels.dims[0] !== logits.dims[0]) {
      throw new BackendError(
        `cpu.crossEntropy: logits ${fmt(logits.dims)} and labels ${fmt(labels.dims)} do not fit ` +
          `(expected logits [n, vocab] and labels [n])`,
      );
    }
    const [n, vocab] = logits.dims;
    const lp = new Float32Array(vocab);
    let total = 0;
    let count = 0;
    for (let r = 0; r < n; r++) {
      const y = Number(yd[r]);
      if (y === ignore) continue;
      if (!(Number.isInteger(y) && y >= 0 && y < vocab)) {
        throw new BackendError(
          `cpu.crossEntropy: label ${yd[r]} at row ${r} is outside the vocabulary [0, ${vocab}) ` +
            `and is not the ignore index ${ignore}`,
        );
      }
      logSoftmaxRow(ld, lp, r * vocab, vocab, 0);
      let loss = -lp[y];
      if (eps > 0) {
        let sum = 0;
        for (let c = 0; c < vocab; c++) sum -= lp[c];
        loss = (1 - eps) * loss + (eps / vocab) * sum;
      }
      total += loss;
      count++;
    }
    return out32(new Float32Array([total / count]), []);
  }

  /** Inverted dropout with a seeded generator (see {@linkcode cpuDropout}). */
  dropout(x: Tensor, p: number, rng: RandomSource): Tensor {
    return cpuDropout(x, p, rng);
  }

  /** The `k` largest entries along the last axis, descending; ties keep the lower index first. */
  topk(x: Tensor, k: number): { values: Tensor; indices: Tensor } {
    const xd = f32("topk", "x", x);
    minRank("topk", "x", x, 1);
    const n = x.dims[x.dims.length - 1];
    if (!Number.isInteger(k) || k < 0 || k > n) {
      throw new BackendError(
        `cpu.topk: k = ${k} is out of range for ${describe(x)} (expected an integer in [0, ${n}])`,
      );
    }
    const rows = n === 0 ? prod(x.dims, 0, x.dims.length - 1) : xd.length / n;
    const values = new Float32Array(rows * k);
    const indices = new Int32Array(rows * k);
    // A min-heap (by `before`) of the best k seen so far: the root is the worst kept entry.
    const hv = new Float64Array(k);
    const hi = new Int32Array(k);
    const siftDown = (size: number, at: number) => {
      const v = hv[at], ix = hi[at];
      for (;;) {
        const l = 2 * at + 1;
        if (l >= size) break;
        const r = l + 1;
        const c = r < size && before(hv[l], hi[l], hv[r], hi[r]) ? r : l;
        if (!before(v, ix, hv[c], hi[c])) break;
        hv[at] = hv[c];
        hi[at] = hi[c];
        at = c;
      }
      hv[at] = v;
      hi[at] = ix;
    };
    for (let r = 0; r < rows; r++) {
      if (k === 0) break;
      const off = r * n;
      for (let j = 0; j < k; j++) {
        hv[j] = xd[off + j];
        hi[j] = j;
      }
      for (let j = (k >> 1) - 1; j >= 0; j--) siftDown(k, j);
      for (let j = k; j < n; j++) {
        const v = xd[off + j];
        if (before(v, j, hv[0], hi[0])) {
          hv[0] = v;
          hi[0] = j;
          siftDown(k, 0);
        }
      }
      // Pop worst-first into the back of the output row.
      for (let size = k; size > 0; size--) {
        values[r * k + size - 1] = hv[0];
        indices[r * k + size - 1] = hi[0];
        hv[0] = hv[size - 1];
        hi[0] = hi[size - 1];
        siftDown(size - 1, 0);
      }
    }
    const outDims = [...x.dims.slice(0, -1), k];
    return {
      values: out32(values, outDims),
      indices: new Tensor("int32", indices, outDims),
    };
  }
}

/**
 * Inverted dropout on a float32 tensor: one `rng.random()` per element in row-major order; an
 * element is kept when the draw is `>= p` and scaled by `1 / (1 - p)`. `p = 0` returns `x`.
 */
export function cpuDropout(x: Tensor, p: number, rng: RandomSource): Tensor {
  const xd = f32("dropout", "x", x);
  if (!(p >= 0 && p <= 1)) {
    throw new BackendError(`cpu.dropout: p = ${p} is out of range (expected 0 <= p <= 1)`);
  }
  if (p === 0) return x;
  const out = new Float32Array(xd.length);
  if (p === 1) return out32(out, x.dims);
  const s = Math.fround(1 / (1 - p)); // the float32 scale, as torch multiplies by
  for (let i = 0; i < xd.length; i++) out[i] = xd[i] * (rng.random() >= p ? s : 0);
  return out32(out, x.dims);
}

/** The ready-to-use CPU backend instance. */
export const cpu: CpuBackend = new CpuBackend();
