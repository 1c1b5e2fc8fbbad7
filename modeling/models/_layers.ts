/**
 * Layer helpers shared by every architecture: dropout, attention with dropout, device scopes,
 * head splitting, HF-style additive masks and position ids built from host inputs (the helpers
 * a graph recorder turns into ops), id and length checks.
 *
 * @module
 */
import type { Activation, AttentionOptions, Backend, RandomSource } from "../backend.ts";
import { FLOAT32_MIN as MASK_MIN, Tensor } from "../tensor.ts";
import { ModelInputError, ModelLoadError } from "./errors.ts";
import type { ParamView } from "./key_table.ts";
import type { Ids, Mask } from "./stacks.ts";

/**
 * Dropout in training mode (`rng` given and `p > 0`); identity otherwise (eval mode, `p = 0`).
 * Training with dropout on a backend without a `dropout` op is an error, not a silent no-op.
 */
export function dropout<T>(b: Backend<T>, x: T, p: number | undefined, rng?: RandomSource): T {
  if (rng === undefined || !p) return x;
  if (!b.dropout) {
    throw new ModelInputError(
      `device "${b.name}" has no dropout op: train on { device: "autograd" } or set the ` +
        `config's dropout probabilities to 0`,
    );
  }
  return b.dropout(x, p, rng);
}

/**
 * `b.attention`, or in training mode with attention dropout `p > 0`, the same computation
 * spelled out so dropout can act on the probabilities (HF's eager attention):
 * `softmax(scale·q·kᵀ + causal + mask)` → dropout → `· v`. Returned `probs` are before dropout.
 */
export function attentionWithDropout<T>(
  b: Backend<T>,
  q: T, // [b, h, tq, d]
  k: T, // [b, h, tk, d]
  v: T, // [b, h, tk, dv]
  opts: AttentionOptions<T>,
  p: number | undefined,
  rng?: RandomSource,
): { output: T; probs?: T } {
  if (rng === undefined || !p) return b.attention(q, k, v, opts);
  let scores = b.scale(b.matmul(q, k, { transposeB: true }), opts.scale); // [b, h, tq, tk]
  if (opts.causal) {
    const tq = b.dims(q)[2], tk = b.dims(k)[2];
    const m = new Float32Array(tq * tk);
    for (let i = 0; i < tq; i++) {
      m.fill(MASK_MIN, i * tk + Math.max(0, i + tk - tq + 1), (i + 1) * tk);
    }
    scores = b.add(scores, b.upload(new Tensor("float32", m, [1, 1, tq, tk])));
  }
  if (opts.mask !== undefined) scores = b.add(scores, opts.mask);
  const probs = b.softmax(scores);
  const output = b.matmul(dropout(b, probs, p, rng), v); // [b, h, tq, dv]
  return { output, probs: opts.returnProbs ? probs : undefined };
}

/**
 * Runs `fn` in the backend's scope where it has one: device handles made inside and not held by
 * the result (arrays and plain objects are searched) are freed when `fn` returns. On the CPU,
 * `fn()`.
 */
export function scoped<T, R>(b: Backend<T>, fn: () => R): R {
  return b.scope ? b.scope(fn) : fn();
}

/** `[b, t, h*d]` → `[b, h, t, d]`. */
export function splitHeads<T>(b: Backend<T>, x: T, heads: number): T {
  const [n, t, hidden] = b.dims(x);
  return b.permute(b.reshape(x, [n, t, heads, hidden / heads]), [0, 2, 1, 3]);
}

/** `prefix.{weight,bias}` projection of `x` `[b, t, H]`, split into heads → `[b, h, t, H / h]`. */
export function projectHeads<T>(
  b: Backend<T>,
  w: ParamView<T>,
  prefix: string,
  x: T,
  heads: number,
): T {
  return splitHeads(b, b.linear(x, w.get(`${prefix}.weight`), w.get(`${prefix}.bias`)), heads);
}

/** `[b, h, t, d]` → `[b, t, h*d]`. */
export function mergeHeads<T>(b: Backend<T>, x: T): T {
  const [n, h, t, d] = b.dims(x);
  return b.reshape(b.permute(x, [0, 2, 1, 3]), [n, t, h * d]);
}

/** 0/1 mask `[batch, src]` → additive `[batch, 1, 1, src]` (0 keep, float32 min drop). */
export function paddingMask<T>(b: Backend<T>, mask: Mask): T {
  return b.maskBias(mask);
}

/**
 * Causal + padding mask, as HF's `get_extended_attention_mask` for decoders: query `i` (at
 * absolute position `past + i`) sees key `j` when `j <= past + i` and `mask[j] = 1`.
 * `mask` `[batch, past + t]` → additive `[batch, 1, t, past + t]`.
 */
export function causalPaddingMask<T>(b: Backend<T>, mask: Mask, t: number): T {
  return b.maskBias(mask, t);
}

/**
 * Position ids `[1, t]` (int32 handle) of `t` new tokens after `past` cached ones, checked
 * against a table of `max` rows (`field` names the config field in the error).
 */
export function positionIds<T>(
  b: Backend<T>,
  past: number,
  t: number,
  max: number,
  name: string,
  field: string,
): T {
  if (b.tracing) b.tracing.limit(past, t, max, `${name}.${field}`);
  else checkLength(past + t, max, name, field);
  return b.positionIds(past, t);
}

/**
 * RoBERTa's position ids `[batch, t]` of host `ids`: `(cumsum(ids != pad) + past) *
 * (ids != pad) + pad` (HF's `create_position_ids_from_input_ids`), checked against a table of
 * `max` rows.
 */
export function paddedPositionIds<T>(
  b: Backend<T>,
  ids: Ids,
  past: number,
  pad: number,
  max: number,
  name: string,
): T {
  const [batch, t] = ids.dims;
  if (b.tracing) {
    // Worst case (no padding): the last position is past + t + pad.
    b.tracing.limit(past + pad + 1, t, max, `${name}.max_position_embeddings`);
  } else {
    for (let r = 0; r < batch; r++) {
      let count = 0;
      for (let c = 0; c < t; c++) {
        if (ids.data[r * t + c] === pad) continue;
        count++;
        const p = count + past + pad;
        if (p >= max) {
          throw new ModelInputError(
            `${name}: position id ${p} of input_ids[${r}][${c}] (after ${past} cached) is outside max_position_embeddings = ${max} (RoBERTa positions start at padding_idx + 1 = ${
              pad + 1
            })`,
          );
        }
      }
    }
  }
  return b.positionIds(past, t, { ids, paddingIdx: pad });
}

/**
 * Checks ids are integers in `[0, vocab)`; the error names the tensor, the position and value.
 * Trace placeholders (see {@linkcode tracePlaceholder}) are not checked: their runner checks
 * the real ids before running.
 */
export function checkIds(ids: Ids, vocab: number, name: string): void {
  if (PLACEHOLDERS.has(ids)) return;
  const [, len] = ids.dims;
  for (let i = 0; i < ids.data.length; i++) {
    const v = ids.data[i];
    if (v < 0 || v >= vocab) {
      throw new ModelInputError(
        `${name}[${Math.floor(i / len)}][${
          i % len
        }] = ${v} is outside the vocabulary [0, ${vocab})`,
      );
    }
  }
}

/** Checks a sequence fits the position table. */
export function checkLength(len: number, max: number, name: string, field: string): void {
  if (len > max) {
    throw new ModelInputError(
      `${name}: sequence of ${len} positions is longer than ${field} = ${max}`,
    );
  }
}

/** Host int32 `[rows, cols]` filled by `f(r, c)`. */
export function intTensor(rows: number, cols: number, f: (r: number, c: number) => number): Ids {
  const out = new Int32Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[r * cols + c] = f(r, c);
  return new Tensor("int32", out, [rows, cols]);
}

/** Host tensors standing for graph inputs while a model is traced (their data is not read). */
const PLACEHOLDERS = new WeakSet<Tensor>();

/**
 * Throws when any of `inputs` is a trace placeholder: `what` is host work on input values that
 * an ONNX graph cannot record.
 */
function untraceable(inputs: readonly (Tensor | undefined)[], what: string): void {
  if (inputs.some((t) => t !== undefined && PLACEHOLDERS.has(t))) {
    throw new ModelInputError(
      `${what} is computed on the host from the input values, which cannot be recorded into an ` +
        `ONNX graph; run this model on device "cpu" or "webgpu"`,
    );
  }
}

/**
 * Marks `t` as a trace placeholder: a host input whose data is not the real input (a tracing
 * backend maps it to a graph input), so host checks of its values are skipped.
 */
export function tracePlaceholder<X extends Tensor>(t: X): X {
  PLACEHOLDERS.add(t);
  return t;
}

// ---- Longformer: window padding and sliding-window masks ---------------------------------------

/** Inputs padded to a multiple of the attention window (`padding` columns added at the end). */
export interface WindowPadded {
  /** Ids padded with `padId` (absent when the caller gave embeddings). */
  ids?: Ids;
  /** 0/1 mask padded with 0. */
  mask: Mask;
  /** 0/1 global-attention mask padded with 0, when given. */
  global?: Mask;
  /** Columns added. */
  padding: number;
}

/**
 * HF Longformer's `_pad_to_window_size`: `[batch, len]` inputs padded at the end to the next
 * multiple of `window` (ids with `padId`, masks with 0); the attention mask is all ones when
 * absent. `window = 1` pads nothing (a tracing backend: see `LongformerModel`).
 */
export function padToWindow(
  ids: Ids | undefined,
  attentionMask: Mask | undefined,
  global: Mask | undefined,
  dims: readonly [number, number],
  window: number,
  padId: number,
): WindowPadded {
  const [batch, len] = dims;
  const mask = attentionMask ??
    new Tensor("float32", new Float32Array(batch * len).fill(1), [batch, len]);
  const padding = (window - (len % window)) % window;
  if (padding === 0) return { ids, mask, global, padding };
  untraceable([ids, attentionMask, global], "Longformer's padding to the attention window");
  const widen = <D extends "int32" | "float32">(t: Tensor<D>, fill: number): Tensor<D> => {
    const out = t.dtype === "int32"
      ? new Int32Array(batch * (len + padding))
      : new Float32Array(batch * (len + padding));
    out.fill(fill);
    for (let r = 0; r < batch; r++) {
      out.set(t.data.subarray(r * len, (r + 1) * len), r * (len + padding));
    }
    return new Tensor(t.dtype, out as Tensor<D>["data"], [batch, len + padding]);
  };
  return {
    ids: ids && widen(ids, padId),
    mask: widen(mask, 0),
    global: global && widen(global, 0),
    padding,
  };
}

/** A host 0/1 mask `[batch, len]` as a float32 0/1 device tensor (its values, not a bias). */
export function maskValues<T>(b: Backend<T>, mask: Mask): T {
  return b.upload(mask);
}

/** `1 - x` (x a 0/1 float tensor; exact). */
export function oneMinus<T>(b: Backend<T>, x: T): T {
  return b.add(b.scale(x, -1), b.upload(new Tensor("float32", new Float32Array([1]), [1])));
}

/**
 * Longformer's local attention as an additive bias over full attention, from backend ops only
 * (a graph recorder records it): `[batch, 1, t, t]`, 0 where query `i` sees key `j`, float32
 * min elsewhere. Query `i` sees key `j` when `keep[j] = 1` and (`|i - j| <= oneSided` or
 * `global[j] = 1`): the window minus padded keys plus every global key, the same scores as HF's
 * banded computation. `keep` / `global` are float32 0/1 `[batch, t]` device tensors; `rows`
 * bounds `t` (a constant table of positions `0 .. rows - 1` turns position ids into floats).
 */
export function slidingWindowMask<T>(
  b: Backend<T>,
  keep: T,
  global: T | undefined,
  oneSided: number,
  rows: number,
): T {
  const [n, t] = b.dims(keep);
  const constant = (v: number) => b.upload(new Tensor("float32", new Float32Array([v]), [1]));
  const table = b.upload(
    new Tensor("float32", Float32Array.from({ length: rows }, (_, i) => i), [rows, 1]),
  );
  const pos = b.embedding(table, b.positionIds(0, t)); // [1, t, 1]: i
  const d = b.add(pos, b.scale(b.permute(pos, [0, 2, 1]), -1)); // [1, t, t]: i - j
  const dist = b.add(b.activation(d, "relu"), b.activation(b.scale(d, -1), "relu")); // |i - j|
  const negDist = b.scale(dist, -1);
  // relu(w + 1 - |d|) - relu(w - |d|): 1 inside the window, 0 outside (integers: exact)
  const band = b.add(
    b.activation(b.add(negDist, constant(oneSided + 1)), "relu"),
    b.scale(b.activation(b.add(negDist, constant(oneSided)), "relu"), -1),
  );
  let seen = b.reshape(band, [1, 1, t, t]);
  if (global !== undefined) {
    // outside the window only global keys are seen: 1 - (1 - band)(1 - global[j])
    const notGlobal = oneMinus(b, b.reshape(global, [n, 1, 1, t]));
    seen = oneMinus(b, b.mul(oneMinus(b, seen), notGlobal)); // [n, 1, t, t]
  }
  const allowed = b.mul(seen, b.reshape(keep, [n, 1, 1, t])); // [n, 1, t, t]
  return b.scale(oneMinus(b, allowed), MASK_MIN);
}

/** A 0/1 `[batch, t]` device tensor as a selector of query rows `[batch, 1, t, 1]`. */
export function rowSelector<T>(b: Backend<T>, rows: T): T {
  const [n, t] = b.dims(rows);
  return b.reshape(rows, [n, 1, t, 1]);
}

/** True when any entry of a host 0/1 tensor is non-zero. */
export function anyNonZero(t: Mask): boolean {
  return t.data.some((v) => v !== 0);
}

/**
 * Checks what every architecture asserts at build time: its activation is one the backends have
 * (`supported`), and the width splits evenly into heads. Returns the activation. The error names
 * the module and the config's own field names (`hidden_act`, `n_embd`, `dim`, ...).
 */
export function checkActivationAndHeads(
  name: string,
  supported: readonly Activation[],
  act: { field: string; value: string },
  width: { field: string; value: number },
  heads: { field: string; value: number },
): Activation {
  if (!supported.includes(act.value as Activation)) {
    throw new ModelLoadError(
      `${name}: ${act.field} "${act.value}" is not supported (expected one of ${
        supported.join(", ")
      })`,
    );
  }
  if (width.value % heads.value !== 0) {
    throw new ModelLoadError(
      `${name}: ${width.field} ${width.value} is not a multiple of ${heads.field} ${heads.value}`,
    );
  }
  return act.value as Activation;
}
