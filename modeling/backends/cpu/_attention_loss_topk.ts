/**
 * The CPU backend's attention (scaled dot product with causal / additive masks and grouped K/V
 * rows), cross-entropy, top-k and dropout kernels.
 *
 * @module
 */
import type { AttentionOptions, RandomSource } from "../../backend.ts";
import { BackendError } from "../../backend.ts";
import { FLOAT32_MIN, Tensor } from "../../tensor.ts";
import { describe, f32, ids, minRank, out32 } from "./_checks.ts";
import { before, logSoftmaxRow, softmaxRow } from "./_rows.ts";
import { broadcastShapes, broadcastStrides, fmt, prod } from "./_shape.ts";
import { gemmNN, gemmNT } from "./_gemm.ts";

/** Scaled dot-product attention; see the module docs for how `causal` and `mask` combine. */
export function attention(
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
        `cpu.attention: ${name} has shape ${fmt(t.dims)}, expected 4 dims [batch, heads, seq, dim]`,
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
      `cpu.attention: shapes do not agree: q ${fmt(q.dims)}, k ${fmt(k.dims)}, v ${fmt(v.dims)} ` +
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
export function crossEntropy(
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

/** The `k` largest entries along the last axis, descending; ties keep the lower index first. */
export function topk(x: Tensor, k: number): { values: Tensor; indices: Tensor } {
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
