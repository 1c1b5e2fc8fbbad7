/**
 * The typed interface every compute device implements (`cpu` here; `webgpu` and `onnx` in their
 * own folders under `backends/`). Models are written once against `Backend<T>`, where `T` is the
 * backend's own tensor handle: a host `Tensor` on the CPU, a GPU buffer handle on WebGPU.
 *
 * Ops are synchronous (they enqueue work on device backends); only `read` is async.
 * Shapes are given in comments as `[batch, heads, tgt, src]`.
 *
 * @module
 */
import { EncdecError } from "@encdec/config";
import type { Tensor } from "./tensor.ts";

/**
 * Thrown by a backend op on misuse: wrong dtype, mismatched or un-broadcastable shapes, an axis
 * out of range, an id outside the vocabulary. The message names the backend and op, what was
 * found and what was expected (`cpu.matmul: inner dims differ: a [2, 3] vs b [4, 5] ...`).
 *
 * @example
 * ```ts
 * import { BackendError } from "@encdec/modeling";
 * try {
 *   // backend.matmul(a, b)
 * } catch (e) {
 *   if (e instanceof BackendError) console.error(e.message);
 * }
 * ```
 */
export class BackendError extends EncdecError {}

/** Elementwise activations by their Hugging Face `hidden_act` names. */
export type Activation = "gelu" | "gelu_new" | "gelu_pytorch_tanh" | "relu" | "tanh" | "none";

/** Options of `Backend.attention`. */
export interface AttentionOptions<T> {
  /** Additive mask broadcastable to `[batch, heads, tgt, src]` (0 keep, large negative drop). */
  mask?: T;
  /** Apply a causal mask; query `i` sees keys `0 .. i + (src - tgt)` (decode steps with a cache). */
  causal?: boolean;
  /** Multiplies `q·k` before the softmax (usually `1 / sqrt(headDim)`). */
  scale: number;
  /** Also return the attention probabilities `[batch, heads, tgt, src]`. */
  returnProbs?: boolean;
}

/**
 * A seeded source of uniform doubles in `[0, 1)`; structurally the same as `@encdec/generation`'s
 * `Rng`, so one generator can drive both. Never `Math.random`.
 */
export interface RandomSource {
  /** Next uniform double in `[0, 1)`. */
  random(): number;
}

/** A compute device: the ops the BERT / RoBERTa / BertGeneration / GPT-2 models need. */
export interface Backend<T = Tensor> {
  /** `"cpu"`, `"webgpu"`, ... */
  readonly name: string;

  // ---- data movement ----
  /** Host tensor → backend handle (the CPU backend returns it as is). */
  upload(t: Tensor): T;
  /** Backend handle → host tensor. */
  read(t: T): Promise<Tensor>;
  /** Shape of a handle. */
  dims(t: T): readonly number[];
  /** Frees device memory of a handle (no-op on the CPU). */
  dispose(t: T): void;

  // ---- shape ops ----
  /** Same data, new shape (one `-1` allowed). */
  reshape(x: T, dims: readonly number[]): T;
  /** Axis permutation, e.g. `[0, 2, 1, 3]` turns `[b, t, h, d]` into `[b, h, t, d]`. */
  permute(x: T, perm: readonly number[]): T;
  /** `x[..., start:end, ...]` along `axis`. */
  slice(x: T, axis: number, start: number, end: number): T;
  /** Concatenation along `axis`. */
  concat(xs: readonly T[], axis: number): T;
  /** Rows `indices` of `x` along `axis` (beam reordering, `repeat_interleave`). */
  indexSelect(x: T, axis: number, indices: readonly number[]): T;

  // ---- arithmetic ----
  /** Batched `[..., m, k] @ [..., k, n]` (leading dims broadcast); `transposeB` reads b as `[..., n, k]`. */
  matmul(a: T, b: T, opts?: { transposeB?: boolean }): T;
  /** `x [..., in] @ weight[out, in]^T + bias[out]`, then `activation` (fused where the device can). */
  linear(x: T, weight: T, bias?: T, activation?: Activation): T;
  /** Elementwise sum with NumPy broadcasting. */
  add(a: T, b: T): T;
  /** Elementwise product with NumPy broadcasting. */
  mul(a: T, b: T): T;
  /** `x * s`. */
  scale(x: T, s: number): T;
  /** Elementwise activation. */
  activation(x: T, kind: Activation): T;
  /** Layer norm over the last axis. */
  layerNorm(x: T, weight: T, bias: T, eps: number): T;
  /** Softmax over the last axis. */
  softmax(x: T): T;
  /** Log-softmax over the last axis. */
  logSoftmax(x: T): T;
  /** `weight[ids]`: ids `[...]` (int32/int64) → `[..., hidden]`. */
  embedding(weight: T, ids: T): T;
  /**
   * Scaled dot-product attention: q `[b, h, tq, d]`, k/v `[b, h, tk, d]` → `[b, h, tq, d]`.
   * k/v may have fewer rows `g` than q where `g` divides `b` (beams sharing their source's
   * cross-attention K/V): q rows are `g` groups of `b / g` consecutive rows, group `r` attending
   * to k/v row `r`; `mask` then broadcasts to `[g, h, tq, tk]`. No causal mask with groups.
   * (Grouped rows: the CPU backend and the ONNX recorder; WebGPU rejects them.)
   */
  attention(q: T, k: T, v: T, opts: AttentionOptions<T>): { output: T; probs?: T };
  /** Mean cross-entropy of logits `[n, vocab]` against labels `[n]`, skipping `ignoreIndex`. Scalar. */
  crossEntropy(
    logits: T,
    labels: T,
    opts?: { ignoreIndex?: number; labelSmoothing?: number },
  ): T;
  /** The `k` largest values along the last axis, sorted descending, with their indices (int32). */
  topk(x: T, k: number): { values: T; indices: T };
  /**
   * Optional (training): inverted dropout, `x * keep / (1 - p)` with `keep = rng.random() >= p`
   * drawn once per element in row-major order. Returns `x` itself when `p = 0`; zeros when `p = 1`.
   */
  dropout?(x: T, p: number, rng: RandomSource): T;
  // ---- masks and positions (from host inputs) ----
  /**
   * HF's additive attention mask from a host 0/1 mask `[batch, src]` (float32): 0 where a key is
   * kept, `FLOAT32_MIN` where it is dropped, as `[batch, 1, 1, src]`. With `causalQueries = t`
   * (the last `t` of the `src` positions are the queries) also causal, as HF's decoder mask:
   * `[batch, 1, t, src]`, query `i` sees key `j` when `j <= src - t + i` and `mask[j] = 1`.
   * The mask is a host tensor because inputs live on the host; a device backend builds the
   * result there and uploads it, the ONNX recorder emits it as graph nodes over its input.
   */
  maskBias(mask: Tensor, causalQueries?: number): T;
  /**
   * Position ids (int32) of `length` new tokens after `start` cached positions: `[1, length]`
   * holding `start .. start + length - 1`. With `padded` (RoBERTa's
   * `create_position_ids_from_input_ids`): `[batch, length]` holding
   * `(cumsum(ids != paddingIdx) + start) * (ids != paddingIdx) + paddingIdx` of the host ids.
   */
  positionIds(
    start: number,
    length: number,
    padded?: { ids: Tensor; paddingIdx: number },
  ): T;
  /**
   * Set by tracing backends only (the ONNX graph recorder): sizes seen by the model code are
   * placeholders for symbolic axes and host inputs hold no real data, so host-side checks of
   * sizes and ids are skipped; a size limit is reported here instead (checked by whoever runs
   * the traced graph, before running it). `size` is `start + length` of a position lookup
   * (`start` and `length` as the model code computed them), `max` the table's rows.
   */
  readonly tracing?: {
    limit(start: number, length: number, max: number, what: string): void;
  };
  /**
   * Optional (device backends): runs `fn` and then disposes every handle created inside it
   * except those its result holds (found through arrays and plain objects). Nested scopes pass
   * the handles they keep to the enclosing scope; on a throw every handle made inside is freed.
   * Backends without it (the CPU) just run `fn`.
   */
  scope?<R>(fn: () => R): R;
}
