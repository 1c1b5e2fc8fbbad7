/**
 * `asCallable`: a tokenizer that can be called like HF's `tokenizer(text_or_texts, ...)`.
 *
 * @module
 */
import type { PreTrainedTokenizer } from "./base.ts";
import type { BatchEncoding, EncodeOptions, Encoding } from "./encoding.ts";

/** A tokenizer that can also be called like HF's `tokenizer(...)`. */
export type CallableTokenizer<T extends PreTrainedTokenizer> =
  & T
  & ((text: string, opts?: EncodeOptions) => Encoding)
  & ((texts: string[], opts?: EncodeOptions) => BatchEncoding);

/**
 * Wraps a tokenizer so it can be called like HF's `tokenizer(text_or_texts, ...)`; every method
 * and property stays available on the result.
 *
 * @example
 * ```ts
 * import { asCallable, BertTokenizer } from "@encdec/tokenization";
 * const tokenizer = asCallable(BertTokenizer.fromVocab(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "hi"]));
 * tokenizer("hi").inputIds; // [2, 4, 3]
 * tokenizer.decode([2, 4, 3]); // "[CLS] hi [SEP]"
 * ```
 */
export function asCallable<T extends PreTrainedTokenizer>(tok: T): CallableTokenizer<T> {
  const f = (text: string | string[], opts?: EncodeOptions) => tok.call(text, opts);
  return new Proxy(f, {
    get(_target, key) {
      const v = Reflect.get(tok, key, tok);
      return typeof v === "function" ? v.bind(tok) : v;
    },
    set(_target, key, value) {
      return Reflect.set(tok, key, value, tok);
    },
    has(_target, key) {
      return key in tok;
    },
  }) as unknown as CallableTokenizer<T>;
}
