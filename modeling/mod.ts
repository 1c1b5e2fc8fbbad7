/**
 * `@encdec/modeling`: tensors, compute backends, weight files and the encoder-decoder models.
 *
 * @module
 */
export * from "./tensor.ts";
export type * from "./backend.ts";
