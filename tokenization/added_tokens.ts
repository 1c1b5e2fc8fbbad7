/**
 * Added tokens (HF `AddedToken`): tokens on top of the model vocabulary, and the special-token
 * roles HF knows. `_added_splitter.ts` splits a text on them before the model tokenizer runs.
 *
 * @module
 */
import { TokenizerError } from "./errors.ts";

/** A token added on top of the model vocabulary (HF `AddedToken`). */
export interface AddedToken {
  /** The token text. */
  content: string;
  /** Eat the whitespace on the left of the token. */
  lstrip: boolean;
  /** Eat the whitespace on the right of the token. */
  rstrip: boolean;
  /** Only match as a whole word. */
  singleWord: boolean;
  /** Whether the token is matched on normalized text (fast tokenizers). */
  normalized: boolean;
  /** Whether it is a special token (skipped by `decode(..., { skipSpecialTokens })`). */
  special: boolean;
}

/**
 * Builds an {@linkcode AddedToken} from a string or an HF AddedToken dict (`{content, lstrip,
 * rstrip, single_word, normalized, special}`).
 *
 * @example
 * ```ts
 * import { addedToken } from "@encdec/tokenization";
 * addedToken({ content: "<mask>", lstrip: true }).lstrip; // true
 * ```
 */
export function addedToken(
  value: string | Record<string, unknown>,
  special = true,
  where = "added token",
): AddedToken {
  if (typeof value === "string") {
    return {
      content: value,
      lstrip: false,
      rstrip: false,
      singleWord: false,
      normalized: !special,
      special,
    };
  }
  if (value === null || typeof value !== "object" || typeof value.content !== "string") {
    throw new TokenizerError(
      `${where}: expected a string or an AddedToken object with a string "content", got ${
        JSON.stringify(value)
      }`,
    );
  }
  const b = (k: string, alt: string, d: boolean) =>
    typeof value[k] === "boolean"
      ? value[k] as boolean
      : typeof value[alt] === "boolean"
      ? value[alt] as boolean
      : d;
  const sp = b("special", "special", special);
  return {
    content: value.content,
    lstrip: b("lstrip", "lstrip", false),
    rstrip: b("rstrip", "rstrip", false),
    singleWord: b("single_word", "singleWord", false),
    normalized: b("normalized", "normalized", !sp),
    special: sp,
  };
}

/** The special-token roles HF knows, in HF's order (`SPECIAL_TOKENS_ATTRIBUTES`). */
export const SPECIAL_TOKEN_ROLES = [
  "bos_token",
  "eos_token",
  "unk_token",
  "sep_token",
  "pad_token",
  "cls_token",
  "mask_token",
] as const;

/** One of {@linkcode SPECIAL_TOKEN_ROLES}. */
export type SpecialTokenRole = typeof SPECIAL_TOKEN_ROLES[number];
