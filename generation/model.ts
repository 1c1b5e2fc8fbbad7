/**
 * The small model interface that generation drives. Generation never sees concrete model
 * classes or backends: any encoder-decoder that can encode once, decode a step against a cache
 * and reorder that cache plugs in (`EncoderDecoderModel` on every backend implements it).
 *
 * @module
 */

/** Special ids and sizes generation needs from the model. */
export interface Seq2SeqModelInfo {
  /** Size of the logits' last axis. */
  readonly vocabSize: number;
}

/** What one decode step returns. */
export interface DecodeStepOutput<Cache> {
  /** Logits of the last position of each row, row-major `[batch, vocabSize]`. */
  logits: Float32Array;
  /** The cache extended by the step's tokens. */
  cache: Cache;
}

/** What the optional top-k decode step returns. */
export interface DecodeStepTopKOutput<Cache> {
  /**
   * Per row, the `k` largest log-probabilities (log-softmax of the last position's logits),
   * descending, row-major `[batch, k]`.
   */
  values: Float32Array;
  /** Their token ids `[batch, k]` (equal values: lower id first). */
  indices: Int32Array;
  /** The cache extended by the step's tokens. */
  cache: Cache;
}

/**
 * Encoder keyword arguments `generate` hands through to the encoder, as HF's `model_kwargs`
 * (e.g. Longformer's `global_attention_mask`).
 */
export interface EncoderKwargs {
  /** `[batch, srcLen]` 0/1: tokens with global attention (Longformer encoders). */
  globalAttentionMask?: number[][];
}

/**
 * An encoder-decoder model as generation sees it.
 *
 * `EncState` holds the encoder output (and its attention mask); `Cache` is the
 * `EncoderDecoderCache` (self-attention K/V growing per step, cross-attention K/V computed once).
 */
export interface Seq2SeqModel<EncState = unknown, Cache = unknown> extends Seq2SeqModelInfo {
  /**
   * Runs the encoder once. `inputIds`/`attentionMask` are `[batch, srcLen]`; `encoderKwargs`
   * holds what a caller hands the encoder besides them (Longformer's `globalAttentionMask`).
   */
  encode(
    inputIds: number[][],
    attentionMask: number[][],
    encoderKwargs?: EncoderKwargs,
  ): Promise<EncState>;
  /** Repeats each batch row `n` times in place order (`repeat_interleave`), for beams/samples. */
  expandEncoderState(state: EncState, n: number): EncState;
  /**
   * Decodes the new tokens `[batch, newLen]` (all decoder tokens on the first call with
   * `cache = null`, then one per step) and returns the last position's logits.
   */
  decodeStep(
    state: EncState,
    newTokens: number[][],
    cache: Cache | null,
  ): Promise<DecodeStepOutput<Cache>>;
  /**
   * Optional fast path of `decodeStep`: only each row's `k` best log-probabilities come back
   * (a device computes log-softmax and top-k, so `[batch, k]` is read instead of the logits).
   * Beam search uses it when no logits processor and no score output needs the whole row.
   */
  decodeStepTopK?(
    state: EncState,
    newTokens: number[][],
    cache: Cache | null,
    k: number,
  ): Promise<DecodeStepTopKOutput<Cache>>;
  /** Keeps cache rows `rows` (new row i = old row rows[i]): beam reordering. */
  reorderCache(cache: Cache, rows: readonly number[]): Cache;
  /** Frees device memory held by a cache or encoder state (optional). */
  dispose?(value: Cache | EncState): void;
}
