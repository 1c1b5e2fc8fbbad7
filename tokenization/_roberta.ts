/**
 * What RoBERTa and the tokenizers that copy it (Longformer, XLM-RoBERTa, CamemBERT) share: the
 * default special tokens, a `<mask>` that eats the space on its left, and the
 * `<s> A </s></s> B </s>` layout.
 *
 * @module
 */
import { type AddedToken, addedToken } from "./added_tokens.ts";
import type { TokenizerInit } from "./base.ts";

/** RoBERTa's default special tokens by role (HF `RobertaTokenizer.__init__`). */
export const ROBERTA_SPECIAL_TOKENS: Partial<Record<string, string>> = {
  bos_token: "<s>",
  eos_token: "</s>",
  sep_token: "</s>",
  cls_token: "<s>",
  unk_token: "<unk>",
  pad_token: "<pad>",
};

/** RoBERTa's `<mask>` (default `"<mask>"`): lstrip, not normalized, special; an AddedToken as given. */
export function robertaMask(init: TokenizerInit): string | AddedToken | null {
  const m = init.mask_token === undefined ? "<mask>" : init.mask_token;
  if (typeof m !== "string") return m;
  return { ...addedToken(m, true), lstrip: true };
}

/** `<s> A </s>` or `<s> A </s></s> B </s>`. */
export function robertaLayout(cls: number, sep: number, ids0: number[], ids1?: number[]): number[] {
  return ids1 ? [cls, ...ids0, sep, sep, ...ids1, sep] : [cls, ...ids0, sep];
}
