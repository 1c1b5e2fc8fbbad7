/**
 * `EncoderDecoderCache`: the decoder's past key/values. Per decoder layer, self-attention K/V
 * `[batch, heads, t, headDim]` grow by the new tokens every step; cross-attention K/V
 * `[batch, heads, srcLen, headDim]` are computed once from the encoder output and reused.
 *
 * @module
 */
import type { Backend } from "../backend.ts";
import { ModelInputError } from "./errors.ts";

/** Keys and values of one attention layer: `[batch, heads, t, headDim]` each. */
export interface KeyValue<T> {
  /** Keys `[batch, heads, t, headDim]`. */
  key: T;
  /** Values `[batch, heads, t, headDim]`. */
  value: T;
}

/**
 * The past key/values of an encoder-decoder's decoder (HF's `EncoderDecoderCache` /
 * `past_key_values`). Handles live on the model's backend.
 *
 * Ownership: `forward`/`decodeStep` and `reorder` hand back a new cache and may free the handles
 * of the one passed in (a no-op on the CPU); keep using the returned cache.
 *
 * @example
 * ```ts
 * import { EncoderDecoderModel } from "@encdec/modeling";
 * const model = await EncoderDecoderModel.fromPretrained("tests/testdata/fixtures/bert2bert");
 * const state = await model.encode([[2, 5, 3]], [[1, 1, 1]]);
 * const { cache } = await model.decodeStep(state, [[2]], null);
 * cache.length; // 1
 * ```
 */
export class EncoderDecoderCache<T = unknown> {
  /** Builds a cache from per-layer self and cross K/V. */
  constructor(
    /** The backend the handles live on. */
    readonly backend: Backend<T>,
    /** Self-attention K/V per decoder layer. */
    readonly self: readonly KeyValue<T>[],
    /** Cross-attention K/V per decoder layer (computed once). */
    readonly cross: readonly KeyValue<T>[],
  ) {}

  /** Number of decoder positions cached so far. */
  get length(): number {
    if (this.self.length === 0) return 0;
    return this.backend.dims(this.self[0].key)[2];
  }

  /** Batch size of the cached rows. */
  get batchSize(): number {
    if (this.self.length === 0) return 0;
    return this.backend.dims(this.self[0].key)[0];
  }

  /**
   * Keeps rows `rows` (new row `i` = old row `rows[i]`): beam search reordering. Frees the old
   * handles.
   */
  reorder(rows: readonly number[]): EncoderDecoderCache<T> {
    const b = this.batchSize;
    for (const r of rows) {
      if (!Number.isInteger(r) || r < 0 || r >= b) {
        throw new ModelInputError(`cache reorder: row ${r} is outside the cache's ${b} rows`);
      }
    }
    const pick = (kv: KeyValue<T>): KeyValue<T> => ({
      key: this.backend.indexSelect(kv.key, 0, rows),
      value: this.backend.indexSelect(kv.value, 0, rows),
    });
    const next = new EncoderDecoderCache(this.backend, this.self.map(pick), this.cross.map(pick));
    this.dispose();
    return next;
  }

  /** Frees every handle (a no-op on the CPU). */
  dispose(): void {
    for (const kv of [...this.self, ...this.cross]) {
      this.backend.dispose(kv.key);
      this.backend.dispose(kv.value);
    }
  }
}
