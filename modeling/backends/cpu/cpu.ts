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
import type { Tensor } from "../../tensor.ts";
import { applyActivation, isActivation } from "./_math.ts";
import { broadcastShapes, broadcastStrides, fmt, prod } from "./_shape.ts";
import { gemmNN, gemmNT } from "./_gemm.ts";
import { hostMaskBias, hostPositionIds } from "./_masks.ts";
import { type F32, f32, ids, minRank, needTensor, out32 } from "./_checks.ts";
import { logSoftmaxRow, rowwise, softmaxRow } from "./_rows.ts";
import * as shapeOps from "./_shape_ops.ts";
import * as lossOps from "./_attention_loss_topk.ts";

export { BackendError } from "../../backend.ts";
export { erf } from "./_math.ts";
export { cpuDropout } from "./_attention_loss_topk.ts";

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
    return shapeOps.reshape(x, dims);
  }

  /** Copies `x` with its axes reordered: `out.dims[i] = x.dims[perm[i]]`. */
  permute(x: Tensor, perm: readonly number[]): Tensor {
    return shapeOps.permute(x, perm);
  }

  /** `x[..., start:end, ...]` along `axis` (negative axis counts from the end). */
  slice(x: Tensor, axis: number, start: number, end: number): Tensor {
    return shapeOps.slice(x, axis, start, end);
  }

  /** Concatenates tensors of one dtype whose shapes agree except along `axis`. */
  concat(xs: readonly Tensor[], axis: number): Tensor {
    return shapeOps.concat(xs, axis);
  }

  /** Picks entries `indices` of `x` along `axis` (repeats allowed). */
  indexSelect(x: Tensor, axis: number, indices: readonly number[]): Tensor {
    return shapeOps.indexSelect(x, axis, indices);
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

  /** Broadcast add / multiply of two float32 tensors. */
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
    return lossOps.attention(q, k, v, opts);
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
    return lossOps.crossEntropy(logits, labels, opts);
  }

  /** Inverted dropout with a seeded generator (see {@linkcode cpuDropout}). */
  dropout(x: Tensor, p: number, rng: RandomSource): Tensor {
    return lossOps.cpuDropout(x, p, rng);
  }

  /** The `k` largest entries along the last axis, descending; ties keep the lower index first. */
  topk(x: Tensor, k: number): { values: Tensor; indices: Tensor } {
    return lossOps.topk(x, k);
  }
}

/** The ready-to-use CPU backend instance. */
export const cpu: CpuBackend = new CpuBackend();
