/**
 * The contracts between `EncoderDecoderModel` and the architectures it composes: what an
 * encoder stack and a decoder stack (with its LM head) take and return, and the host input
 * types (`Ids`, `Mask`).
 *
 * @module
 */
import type { RandomSource } from "../backend.ts";
import type { Tensor } from "../tensor.ts";
import type { EncoderDecoderCache, KeyValue } from "./cache.ts";

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
  /**
   * 0/1 `[batch, srcLen]`: tokens that attend to, and are attended by, every token (Longformer's
   * `global_attention_mask`; encoders without global attention reject it).
   */
  globalAttentionMask?: Mask;
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
  /** Takes `globalAttentionMask` (Longformer); other encoders reject it. */
  readonly globalAttention?: boolean;
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

/** Output of a transformer stack (the base model of every family, encoder or decoder). */
export interface StackOutput<T> {
  /** `[batch, t, hidden]`. */
  lastHiddenState: T;
  /** Embeddings + each layer. */
  hiddenStates?: T[];
  /** Per layer `[batch, heads, t, past + t]`. */
  attentions?: T[];
  /** Per layer `[batch, heads, t, srcLen]`. */
  crossAttentions?: T[];
  /** Self K/V per layer (past + new). */
  self?: KeyValue<T>[];
  /** Cross K/V per layer. */
  cross?: KeyValue<T>[];
}
