/**
 * The incremental decode step of `EncoderDecoderModel` on a backend: the decoder runs on the new
 * tokens against the cache inside a backend scope, and either the last position's logits or
 * (beam search's fast path) each row's top-k log-probabilities are read back.
 *
 * @module
 */
import type { Backend } from "../backend.ts";
import { EncoderDecoderCache } from "./cache.ts";
import { scoped } from "./_layers.ts";
import { sameBatch, toIds } from "./_inputs.ts";
import type { DecoderStack } from "./stacks.ts";
import type { EncoderState } from "./outputs.ts";

/** What a decode step needs from the model. */
export interface DecodeParts<T> {
  /** The device. */
  backend: Backend<T>;
  /** The decoder stack with LM head. */
  decoder: DecoderStack<T>;
}

/**
 * Runs the decoder on `newTokens` and `head` on the last position's logits `[b, 1, V]` in a
 * backend scope: only `head`'s result and the new cache stay on the device; the self K/V of
 * `cache` are released (its cross K/V move to the new cache).
 */
function decodeOnDevice<T, R>(
  m: DecodeParts<T>,
  state: EncoderState,
  newTokens: number[][],
  cache: EncoderDecoderCache<T> | null,
  head: (last: T) => R,
): { out: R; cache: EncoderDecoderCache<T> } {
  const b = m.backend;
  const ids = toIds(newTokens, "decoder_input_ids");
  sameBatch(ids.dims[0], state.mask.dims[0], "decoder tokens vs encoder state");
  if (cache && cache.self.length > 0) {
    sameBatch(ids.dims[0], cache.batchSize, "decoder tokens vs cache");
  }
  const r = scoped(b, () => {
    const d = m.decoder.forward({
      inputIds: ids,
      encoderHiddenStates: cache && cache.cross.length > 0 ? undefined : state.hidden as T,
      encoderAttentionMask: state.mask,
      past: cache,
      useCache: true,
    });
    const t = ids.dims[1];
    return {
      out: head(b.slice(d.logits, 1, t - 1, t)),
      self: d.self ?? [],
      cross: d.cross ?? [],
    };
  });
  if (cache) {
    for (const kv of cache.self) {
      b.dispose(kv.key);
      b.dispose(kv.value);
    }
  }
  return { out: r.out, cache: new EncoderDecoderCache(b, r.self, r.cross) };
}

/** `decodeStep` on a backend: the last position's logits `[batch, vocab]` and the new cache. */
export async function decodeStepOnBackend<T>(
  m: DecodeParts<T>,
  state: EncoderState,
  newTokens: number[][],
  cache: EncoderDecoderCache<T> | null,
): Promise<{ logits: Float32Array; cache: EncoderDecoderCache<T> }> {
  const b = m.backend;
  const step = decodeOnDevice(m, state, newTokens, cache, (last) => last);
  const last = await b.read(step.out); // [b, 1, V]
  b.dispose(step.out);
  const logits = (last.dtype === "float32" ? last : last.toFloat32()).data as Float32Array;
  return { logits, cache: step.cache };
}

/**
 * `decodeStepTopK` on a backend: log-softmax and top-k of the last position on the device, so
 * `[batch, k]` values and ids are read instead of `[batch, vocab]` logits.
 */
export async function decodeStepTopKOnBackend<T>(
  m: DecodeParts<T>,
  state: EncoderState,
  newTokens: number[][],
  cache: EncoderDecoderCache<T> | null,
  k: number,
): Promise<{ values: Float32Array; indices: Int32Array; cache: EncoderDecoderCache<T> }> {
  const b = m.backend;
  const step = decodeOnDevice(m, state, newTokens, cache, (last) => {
    const [n, , v] = b.dims(last);
    return b.topk(b.logSoftmax(b.reshape(last, [n, v])), k); // [b, k] each
  });
  const [values, indices] = await Promise.all([
    b.read(step.out.values),
    b.read(step.out.indices),
  ]);
  b.dispose(step.out.values);
  b.dispose(step.out.indices);
  return {
    values: (values.dtype === "float32" ? values : values.toFloat32()).data as Float32Array,
    indices: Int32Array.from(indices.data as ArrayLike<number>),
    cache: step.cache,
  };
}
