/**
 * Pieces shared by every architecture: the encoder/decoder module contracts that
 * `EncoderDecoderModel` composes, head splitting, HF-style additive masks, id checks.
 *
 * @module
 */
import type { AttentionOptions, Backend, RandomSource } from "../backend.ts";
import { FLOAT32_MIN as MASK_MIN, Tensor } from "../tensor.ts";
import type { EncoderDecoderCache, KeyValue } from "./cache.ts";
import { ModelInputError, type ParamSpec, type ParamView } from "./_params.ts";

/** Host ids `[batch, len]` (int32). */
export type Ids = Tensor<"int32">;

/** Host 0/1 mask `[batch, len]` (float32). */
export type Mask = Tensor<"float32">;

/** Inputs of an encoder stack. */
export interface EncoderArgs<T> {
  /** Token ids `[batch, srcLen]` (or `inputsEmbeds`). */
  inputIds?: Ids;
  /** Embedded inputs `[batch, srcLen, hidden]` instead of ids. */
  inputsEmbeds?: T;
  /** 0/1 `[batch, srcLen]`; all ones when absent. */
  attentionMask?: Mask;
  /** Training mode: the generator dropout draws from (absent: no dropout, eval mode). */
  dropout?: RandomSource;
  /** Also return the hidden states after the embeddings and each layer. */
  outputHiddenStates?: boolean;
  /** Also return the attention probabilities of each layer. */
  outputAttentions?: boolean;
}

/** Outputs of an encoder stack. */
export interface EncoderOutput<T> {
  /** `[batch, srcLen, hidden]`. */
  lastHiddenState: T;
  /** Embeddings + each layer, `[batch, srcLen, hidden]` each. */
  hiddenStates?: T[];
  /** Per layer `[batch, heads, srcLen, srcLen]`. */
  attentions?: T[];
}

/** Inputs of a decoder with LM head. */
export interface DecoderArgs<T> {
  /** New token ids `[batch, t]` (or `inputsEmbeds`). */
  inputIds?: Ids;
  /** Embedded new tokens `[batch, t, hidden]`. */
  inputsEmbeds?: T;
  /** 0/1 `[batch, past + t]`; causal-only when absent. */
  attentionMask?: Mask;
  /** Training mode: the generator dropout draws from (absent: no dropout, eval mode). */
  dropout?: RandomSource;
  /** Encoder output `[batch, srcLen, hidden]` (needed when `past` has no cross K/V). */
  encoderHiddenStates?: T;
  /** 0/1 `[batch, srcLen]` of the encoder input. */
  encoderAttentionMask?: Mask;
  /** Past K/V; `null` on the first call. */
  past?: EncoderDecoderCache<T> | null;
  /** Return the (extended) cache. */
  useCache?: boolean;
  /** Also return hidden states. */
  outputHiddenStates?: boolean;
  /** Also return self- and cross-attention probabilities. */
  outputAttentions?: boolean;
}

/** Outputs of a decoder with LM head. */
export interface DecoderOutput<T> {
  /** `[batch, t, vocab]`. */
  logits: T;
  /** Self K/V per layer (past + new) and cross K/V per layer, when `useCache`. */
  self?: KeyValue<T>[];
  /** Cross K/V per layer, when `useCache`. */
  cross?: KeyValue<T>[];
  /** Embeddings + each layer `[batch, t, hidden]`. */
  hiddenStates?: T[];
  /** Per layer `[batch, heads, t, past + t]`. */
  attentions?: T[];
  /** Per layer `[batch, heads, t, srcLen]`. */
  crossAttentions?: T[];
}

/** What `EncoderDecoderModel` needs from an encoder architecture. */
export interface EncoderStack<T> {
  /** Width of the output. */
  readonly hiddenSize: number;
  /** Runs the encoder. */
  forward(args: EncoderArgs<T>): EncoderOutput<T>;
}

/** What `EncoderDecoderModel` needs from a decoder architecture. */
export interface DecoderStack<T> {
  /** Width of the hidden states. */
  readonly hiddenSize: number;
  /** Logits width. */
  readonly vocabSize: number;
  /** Runs the decoder on new tokens (and the past) and the LM head. */
  forward(args: DecoderArgs<T>): DecoderOutput<T>;
}

/** An architecture as `EncoderDecoderModel` sees it: a key table and a builder. */
export interface Architecture<T> {
  /** Key table of the model, keys relative to the module (e.g. `"bert.embeddings..."`). */
  table: ParamSpec[];
  /** Key prefix of the base model inside the module (`"bert"`, `"roberta"`, `"transformer"`, `""`). */
  basePrefix: string;
  /** Unexpected checkpoint keys HF ignores silently. */
  ignoreUnexpected?: RegExp[];
  /** Builds the stack over loaded handles. */
  build(b: Backend<T>, w: ParamView<T>): EncoderStack<T> | DecoderStack<T>;
}

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

/** `[b, h, t, d]` → `[b, t, h*d]`. */
export function mergeHeads<T>(b: Backend<T>, x: T): T {
  const [n, h, t, d] = b.dims(x);
  return b.reshape(b.permute(x, [0, 2, 1, 3]), [n, t, h * d]);
}

/** 0/1 mask `[batch, src]` → additive `[batch, 1, 1, src]` (0 keep, float32 min drop). */
export function paddingMask<T>(b: Backend<T>, mask: Mask): T {
  const [n, s] = mask.dims;
  const out = new Float32Array(n * s);
  for (let i = 0; i < out.length; i++) out[i] = (1 - mask.data[i]) * MASK_MIN;
  return b.upload(new Tensor("float32", out, [n, 1, 1, s]));
}

/**
 * Causal + padding mask, as HF's `get_extended_attention_mask` for decoders: query `i` (at
 * absolute position `past + i`) sees key `j` when `j <= past + i` and `mask[j] = 1`.
 * `mask` `[batch, past + t]` → additive `[batch, 1, t, past + t]`.
 */
export function causalPaddingMask<T>(b: Backend<T>, mask: Mask, t: number): T {
  const [n, s] = mask.dims;
  const past = s - t;
  const out = new Float32Array(n * t * s);
  for (let r = 0; r < n; r++) {
    for (let i = 0; i < t; i++) {
      for (let j = 0; j < s; j++) {
        const keep = j <= past + i ? mask.data[r * s + j] : 0;
        out[(r * t + i) * s + j] = (1 - keep) * MASK_MIN;
      }
    }
  }
  return b.upload(new Tensor("float32", out, [n, 1, t, s]));
}

/** Checks ids are integers in `[0, vocab)`; the error names the tensor, the position and value. */
export function checkIds(ids: Ids, vocab: number, name: string): void {
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
