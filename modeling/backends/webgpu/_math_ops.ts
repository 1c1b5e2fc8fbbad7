/**
 * The host side of the WebGPU arithmetic ops: the one matmul dispatch behind `matmul`, `linear`
 * and `attention` (tiled or skinny, with its fused epilogue), broadcasting `add` / `mul`, unary
 * ops, the row ops (layer norm, softmax, cross-entropy, top-k) and `embedding`. Each checks its
 * operands, sizes the output and records its kernels (`_kernels.ts`) through the backend's
 * `OpContext`.
 *
 * @module
 */
import type { Activation, AttentionOptions } from "../../backend.ts";
import { numel } from "../../tensor.ts";
import { broadcastShapes, broadcastStrides, fmt } from "../cpu/_shape.ts";
import {
  binarySource,
  crossEntropyMeanSource,
  crossEntropyRowsSource,
  layerNormSource,
  matmulSource,
  type MatmulVariant,
  MAX_BATCH_RANK,
  MAX_RANK,
  SKINNY_M,
  SKINNY_N,
  softmaxSource,
  TILE_M,
  TILE_N,
  topkSource,
  unarySource,
  WG,
} from "./_kernels.ts";
import { coalesce, fbits, grid, MAX_GROUPS, type OpContext, pad } from "./_context.ts";
import { gather } from "./_shape_ops.ts";
import { type GpuTensor, WebGpuError } from "./_tensor.ts";

/**
 * One matmul dispatch with broadcast batch dims and the fused epilogue of `variant` (bias,
 * activation, attention scale / mask / causal fill); `op` names the caller in errors.
 */
export function matmulKernel(
  ctx: OpContext,
  a: GpuTensor,
  b: GpuTensor,
  variant: Omit<MatmulVariant, "skinny" | "halfB">,
  op: string,
  extra?: { bias?: GpuTensor; mask?: GpuTensor; scale?: number; causalOffset?: number },
): GpuTensor {
  const ra = a.dims.length;
  const rb = b.dims.length;
  if (ra < 2 || rb < 2) {
    throw new WebGpuError(`${op}: needs rank >= 2, got ${fmt(a.dims)} and ${fmt(b.dims)}`);
  }
  const [M, K] = a.dims.slice(-2);
  const [bk, bn] = b.dims.slice(-2);
  const [Kb, N] = variant.transposeB ? [bn, bk] : [bk, bn];
  if (K !== Kb) {
    throw new WebGpuError(
      `${op}: inner sizes differ: ${fmt(a.dims)} @ ${fmt(b.dims)}` +
        (variant.transposeB ? " (b transposed)" : ""),
    );
  }
  const batch = broadcastShapes(a.dims.slice(0, -2), b.dims.slice(0, -2));
  if (!batch) {
    throw new WebGpuError(
      `${op}: batch dims of ${fmt(a.dims)} and ${fmt(b.dims)} do not broadcast`,
    );
  }
  const aStr = broadcastStrides(a.dims.slice(0, -2), batch).map((s) => s * M * K);
  const bStr = broadcastStrides(b.dims.slice(0, -2), batch).map((s) => s * K * N);
  let mStr = batch.map(() => 0);
  let maskRow = 0;
  let maskCol = 0;
  if (extra?.mask) {
    const md = extra.mask.dims;
    const full = [...batch, M, N];
    if (md.length > full.length || !broadcastShapes(md, full)?.every((d, i) => d === full[i])) {
      throw new WebGpuError(
        `${op}: mask ${fmt(md)} does not broadcast to scores ${fmt(full)}`,
      );
    }
    const ms = broadcastStrides(md, full);
    mStr = ms.slice(0, -2);
    [maskRow, maskCol] = ms.slice(-2);
  }
  const [bd, [as, bs, mks]] = coalesce(batch, [aStr, bStr, mStr]);
  if (bd.length > MAX_BATCH_RANK) {
    throw new WebGpuError(`${op}: more than ${MAX_BATCH_RANK} batch dims in ${fmt(batch)}`);
  }
  const count = numel(batch);
  if (count > MAX_GROUPS) throw new WebGpuError(`${op}: batch ${count} exceeds ${MAX_GROUPS}`);
  const out = ctx.alloc([...batch, M, N]);
  const R = MAX_BATCH_RANK;
  const params = ctx.paramBuffer([
    M,
    N,
    K,
    bd.length,
    ...pad(bd, R),
    ...pad(as, R),
    ...pad(bs, R),
    fbits(extra?.scale ?? 1),
    ...pad(mks, R),
    maskRow,
    maskCol,
    (extra?.causalOffset ?? 0) | 0,
  ], true);
  const buffers = [a.buffer, b.buffer, out.buffer];
  if (extra?.bias) buffers.push(extra.bias.buffer);
  if (extra?.mask) buffers.push(extra.mask.buffer);
  const skinny = M <= SKINNY_M; // decode steps: split k instead of tiling m
  const full: MatmulVariant = { ...variant, skinny, halfB: b.dtype === "float16" };
  ctx.dispatch(
    `matmul:${JSON.stringify(full)}`,
    () => matmulSource(full),
    params,
    buffers,
    skinny
      ? [Math.ceil(N / SKINNY_N), 1, count]
      : [Math.ceil(N / TILE_N), Math.ceil(M / TILE_M), count],
  );
  return out;
}

/** Batched matmul (`WebGpuBackend.matmul`). */
export function matmul(
  ctx: OpContext,
  a: GpuTensor,
  b: GpuTensor,
  opts: { transposeB?: boolean } = {},
): GpuTensor {
  a = ctx.float(a, "matmul", "a");
  b = ctx.weight(b, "matmul", "b");
  return matmulKernel(ctx, a, b, {
    transposeB: opts.transposeB ?? false,
    bias: false,
    activation: "none",
    attention: false,
  }, "matmul");
}

/** `x @ weight^T + bias`, then `activation` (`WebGpuBackend.linear`). */
export function linear(
  ctx: OpContext,
  x: GpuTensor,
  weight: GpuTensor,
  bias?: GpuTensor,
  activation: Activation = "none",
): GpuTensor {
  x = ctx.float(x, "linear", "x");
  weight = ctx.weight(weight, "linear", "weight");
  if (weight.dims.length !== 2) {
    throw new WebGpuError(`linear: weight must be [out, in], got ${fmt(weight.dims)}`);
  }
  const [outF, inF] = weight.dims;
  const lead = x.dims.slice(0, -1);
  if (x.dims.length === 0 || x.dims[x.dims.length - 1] !== inF) {
    throw new WebGpuError(
      `linear: x ${fmt(x.dims)} does not end in ${inF} (weight ${fmt(weight.dims)})`,
    );
  }
  if (bias) {
    bias = ctx.float(bias, "linear", "bias");
    if (bias.size !== outF) {
      throw new WebGpuError(`linear: bias ${fmt(bias.dims)} must have ${outF} elements`);
    }
  }
  const x2 = ctx.reshape(x, [numel(lead), inF]);
  const y = matmulKernel(
    ctx,
    x2,
    weight,
    {
      transposeB: true,
      bias: !!bias,
      activation,
      attention: false,
    },
    "linear",
    { bias },
  );
  ctx.dispose(x2);
  const out = ctx.reshape(y, [...lead, outF]);
  ctx.dispose(y);
  return out;
}

/** Elementwise `add` / `mul` with NumPy broadcasting. */
export function binary(ctx: OpContext, a: GpuTensor, b: GpuTensor, op: "add" | "mul"): GpuTensor {
  a = ctx.float(a, op, "a");
  b = ctx.float(b, op, "b");
  const dims = broadcastShapes(a.dims, b.dims);
  if (!dims) {
    throw new WebGpuError(`${op}: shapes ${fmt(a.dims)} and ${fmt(b.dims)} do not broadcast`);
  }
  const out = ctx.alloc(dims);
  const n = numel(dims);
  if (n === 0) return out;
  const [cd, [as, bs]] = coalesce(dims, [
    broadcastStrides(a.dims, dims),
    broadcastStrides(b.dims, dims),
  ]);
  if (cd.length > MAX_RANK) {
    throw new WebGpuError(`${op}: rank of ${fmt(dims)} above ${MAX_RANK}`);
  }
  const params = ctx.paramBuffer([
    n,
    cd.length,
    ...pad(cd, MAX_RANK),
    ...pad(as, MAX_RANK),
    ...pad(bs, MAX_RANK),
  ], true);
  ctx.dispatch(
    op,
    () => binarySource(op),
    params,
    [a.buffer, b.buffer, out.buffer],
    grid(Math.ceil(n / WG)),
  );
  return out;
}

/** Elementwise activation or `scale` by `s`. */
export function unary(ctx: OpContext, x: GpuTensor, op: Activation | "scale", s = 1): GpuTensor {
  x = ctx.float(x, op);
  const out = ctx.alloc(x.dims);
  const n = x.size;
  const params = ctx.paramBuffer([n, fbits(s)], true);
  ctx.dispatch(
    `unary:${op}`,
    () => unarySource(op),
    params,
    [x.buffer, out.buffer],
    grid(Math.ceil(n / WG)),
  );
  return out;
}

/** `[rows, last axis, x as float32]` of a row op's input. */
export function rowsOf(ctx: OpContext, x: GpuTensor, op: string): [number, number, GpuTensor] {
  x = ctx.float(x, op);
  if (x.dims.length === 0) throw new WebGpuError(`${op}: needs at least one axis`);
  const H = x.dims[x.dims.length - 1];
  return [H === 0 ? 0 : x.size / H, H, x];
}

/** Layer norm over the last axis (`WebGpuBackend.layerNorm`). */
export function layerNorm(
  ctx: OpContext,
  x: GpuTensor,
  weight: GpuTensor,
  bias: GpuTensor,
  eps: number,
): GpuTensor {
  const [rows, H, xf] = rowsOf(ctx, x, "layerNorm");
  x = xf;
  weight = ctx.float(weight, "layerNorm", "weight");
  bias = ctx.float(bias, "layerNorm", "bias");
  if (weight.size !== H || bias.size !== H) {
    throw new WebGpuError(
      `layerNorm: weight ${fmt(weight.dims)} and bias ${fmt(bias.dims)} must have ${H} ` +
        `elements (last axis of ${fmt(x.dims)})`,
    );
  }
  const out = ctx.alloc(x.dims);
  const params = ctx.paramBuffer([rows, H, fbits(eps)], true);
  ctx.dispatch(
    "layerNorm",
    layerNormSource,
    params,
    [x.buffer, weight.buffer, bias.buffer, out.buffer],
    grid(rows),
  );
  return out;
}

/** Softmax or log-softmax over the last axis. */
export function softmax(ctx: OpContext, x: GpuTensor, log: boolean): GpuTensor {
  const op = log ? "logSoftmax" : "softmax";
  const [rows, H, xf] = rowsOf(ctx, x, op);
  x = xf;
  const out = ctx.alloc(x.dims);
  const params = ctx.paramBuffer([rows, H], true);
  ctx.dispatch(op, () => softmaxSource(log), params, [x.buffer, out.buffer], grid(rows));
  return out;
}

/** `weight[ids]` (`WebGpuBackend.embedding`). */
export function embedding(ctx: OpContext, weight: GpuTensor, ids: GpuTensor): GpuTensor {
  weight = ctx.weight(weight, "embedding", "weight");
  ctx.check(ids, "embedding", "ids");
  if (ids.dtype !== "int32") {
    throw new WebGpuError(
      `embedding: ids must be int32/int64, got ${ids.dtype} ${fmt(ids.dims)}`,
    );
  }
  if (weight.dims.length !== 2) {
    throw new WebGpuError(`embedding: weight must be [vocab, hidden], got ${fmt(weight.dims)}`);
  }
  const [V, H] = weight.dims;
  if (ids.hostInts) {
    const bad = ids.hostInts.findIndex((v) => v < 0 || v >= V);
    if (bad >= 0) {
      throw new WebGpuError(
        `embedding: id ${ids.hostInts[bad]} at flat index ${bad} is outside the table of ` +
          `${V} rows`,
      );
    }
  }
  return gather(ctx, weight, ids.buffer, 1, V, H, ids.size, [...ids.dims, H]);
}

/** Scaled dot-product attention (`WebGpuBackend.attention`). */
export function attention(
  ctx: OpContext,
  q: GpuTensor,
  k: GpuTensor,
  v: GpuTensor,
  opts: AttentionOptions<GpuTensor>,
): { output: GpuTensor; probs?: GpuTensor } {
  q = ctx.float(q, "attention", "q");
  k = ctx.float(k, "attention", "k");
  v = ctx.float(v, "attention", "v");
  const mask = opts.mask && ctx.float(opts.mask, "attention", "mask");
  const tq = q.dims[q.dims.length - 2];
  const tk = k.dims[k.dims.length - 2];
  if (v.dims[v.dims.length - 2] !== tk) {
    throw new WebGpuError(`attention: k ${fmt(k.dims)} and v ${fmt(v.dims)} differ in length`);
  }
  const scores = matmulKernel(
    ctx,
    q,
    k,
    {
      transposeB: true,
      bias: false,
      activation: "none",
      attention: { mask: !!mask, causal: !!opts.causal },
    },
    "attention",
    { mask, scale: opts.scale, causalOffset: tk - tq },
  );
  const probs = ctx.softmax(scores); // [b, h, tq, tk]
  ctx.dispose(scores);
  const output = ctx.matmul(probs, v); // [b, h, tq, dv]
  if (opts.returnProbs) return { output, probs };
  ctx.dispose(probs);
  return { output };
}

/** Mean cross-entropy (`WebGpuBackend.crossEntropy`). */
export function crossEntropy(
  ctx: OpContext,
  logits: GpuTensor,
  labels: GpuTensor,
  opts: { ignoreIndex?: number; labelSmoothing?: number } = {},
): GpuTensor {
  const [rows, V, lf] = rowsOf(ctx, logits, "crossEntropy");
  logits = lf;
  ctx.check(labels, "crossEntropy", "labels");
  if (labels.dtype !== "int32" || labels.size !== rows) {
    throw new WebGpuError(
      `crossEntropy: labels must be ${rows} int ids (rows of logits ${fmt(logits.dims)}), got ` +
        `${labels.dtype} ${fmt(labels.dims)}`,
    );
  }
  const ignore = opts.ignoreIndex ?? -100;
  const eps = opts.labelSmoothing ?? 0;
  if (labels.hostInts) {
    const bad = labels.hostInts.findIndex((v) => v !== ignore && (v < 0 || v >= V));
    if (bad >= 0) {
      throw new WebGpuError(
        `crossEntropy: label ${labels.hostInts[bad]} at index ${bad} is outside the ` +
          `vocabulary of ${V} (ignoreIndex ${ignore})`,
      );
    }
  }
  const perRow = ctx.alloc([rows, 2]);
  ctx.dispatch(
    "ceRows",
    crossEntropyRowsSource,
    ctx.paramBuffer([rows, V, ignore | 0, fbits(eps)], true),
    [logits.buffer, labels.buffer, perRow.buffer],
    grid(rows),
  );
  const out = ctx.alloc([]);
  ctx.dispatch(
    "ceMean",
    crossEntropyMeanSource,
    ctx.paramBuffer([rows], true),
    [perRow.buffer, out.buffer],
    [1, 1, 1],
  );
  ctx.dispose(perRow);
  return out;
}

/** The `k` largest values of the last axis (`WebGpuBackend.topk`). */
export function topk(
  ctx: OpContext,
  x: GpuTensor,
  k: number,
): { values: GpuTensor; indices: GpuTensor } {
  const [rows, H, xf] = rowsOf(ctx, x, "topk");
  x = xf;
  if (!Number.isInteger(k) || k < 0 || k > H) {
    throw new WebGpuError(`topk: k = ${k} must be an integer in 0..${H} for ${fmt(x.dims)}`);
  }
  const dims = [...x.dims.slice(0, -1), k];
  const values = ctx.alloc(dims);
  const indices = ctx.alloc(dims, "int32");
  if (k === 0) return { values, indices };
  ctx.dispatch(
    "topk",
    topkSource,
    ctx.paramBuffer([rows, H, k], true),
    [x.buffer, values.buffer, indices.buffer],
    grid(rows),
  );
  return { values, indices };
}
