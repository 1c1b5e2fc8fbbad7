/**
 * What the calling API takes and returns: {@linkcode EncodeOptions} (HF `tokenizer(...)`
 * keywords), {@linkcode Encoding} / {@linkcode BatchEncoding}, and {@linkcode DecodeOptions}.
 * The truncation and padding rules behind them live in `_pad_truncate.ts`.
 *
 * @module
 */

/** HF's default `model_max_length` (`VERY_LARGE_INTEGER`). */
export const VERY_LARGE_INTEGER = 1e30;

/** Options of {@linkcode PreTrainedTokenizer.call} (HF `tokenizer(...)` keywords, camelCased). */
export interface EncodeOptions {
  /** Second sequence(s) of a pair. */
  textPair?: string | string[];
  /** Add `[CLS]`/`[SEP]`, `<s>`/`</s>`, ... (default `true`). */
  addSpecialTokens?: boolean;
  /** `true`/`"longest"`: pad to the longest in the batch; `"max_length"`: pad to `maxLength`. */
  padding?: boolean | "longest" | "max_length" | "do_not_pad";
  /** `true` = `"longest_first"`; `false`/`"do_not_truncate"` = none. */
  truncation?: boolean | "longest_first" | "only_first" | "only_second" | "do_not_truncate";
  /** Length to truncate/pad to (default `model_max_length` when truncating). */
  maxLength?: number;
  /** Pad to a multiple of this length. */
  padToMultipleOf?: number;
  /** Return `tokenTypeIds` (default: when the model takes them, e.g. BERT). */
  returnTokenTypeIds?: boolean;
  /** Return `attentionMask` (default `true`). */
  returnAttentionMask?: boolean;
}

/** One encoded sequence. */
export interface Encoding {
  /** Token ids. */
  inputIds: number[];
  /** 1 for real tokens, 0 for padding (absent when `returnAttentionMask: false`). */
  attentionMask?: number[];
  /** Segment ids (0 = first sequence, 1 = second), when requested or the model uses them. */
  tokenTypeIds?: number[];
}

/** A batch of encoded sequences (`[batch][seq]`). */
export interface BatchEncoding {
  /** `[batch][seq]` token ids. */
  inputIds: number[][];
  /** `[batch][seq]` attention mask. */
  attentionMask?: number[][];
  /** `[batch][seq]` segment ids. */
  tokenTypeIds?: number[][];
}

/** Options of {@linkcode PreTrainedTokenizer.decode}. */
export interface DecodeOptions {
  /** Drop special tokens (default `false`). */
  skipSpecialTokens?: boolean;
  /** Apply HF's `clean_up_tokenization` (default: the tokenizer's `clean_up_tokenization_spaces`). */
  cleanUpTokenizationSpaces?: boolean;
  /** Join added (non-special) tokens with spaces (default `true`). */
  spacesBetweenSpecialTokens?: boolean;
}
