/**
 * The split of a text on added tokens that runs before the model tokenizer (HF `Trie.split` and
 * the `lstrip` / `rstrip` / `single_word` handling of `tokenize`).
 *
 * @module
 */
import type { AddedToken } from "./added_tokens.ts";

/**
 * Leftmost-longest split of a text on added tokens (HF `Trie.split`): at each position the
 * tokens that start with its character are tried longest first, so the first one found is the
 * longest match at the leftmost position. No regex is built from the tokens, so a token of any
 * length (a file may hold a 100,000-character one) costs only its own comparison.
 */
export class AddedSplitter {
  /** First UTF-16 unit → tokens starting with it, longest first. */
  #byFirst = new Map<number, string[]>();
  constructor(tokens: Iterable<string>) {
    const list = [...new Set(tokens)].filter((t) => t.length > 0)
      .sort((a, b) => b.length - a.length);
    for (const t of list) {
      const k = t.charCodeAt(0);
      const bucket = this.#byFirst.get(k);
      if (bucket) bucket.push(t);
      else this.#byFirst.set(k, [t]);
    }
  }
  /** Splits `text` into pieces; matched tokens are their own pieces. */
  split(text: string): string[] {
    if (this.#byFirst.size === 0) return [text];
    const out: string[] = [];
    let last = 0;
    let i = 0;
    while (i < text.length) {
      const unit = text.charCodeAt(i);
      const match = this.#byFirst.get(unit)?.find((t) => text.startsWith(t, i));
      if (match === undefined) {
        // Step over a whole code point, so a match never starts inside a surrogate pair.
        const pair = unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length &&
          (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00;
        i += pair ? 2 : 1;
        continue;
      }
      if (i > last) out.push(text.slice(last, i));
      out.push(match);
      i += match.length;
      last = i;
    }
    if (last < text.length) out.push(text.slice(last));
    return out;
  }
}

/**
 * Applies the added tokens' `lstrip` / `rstrip` / `single_word` flags to the pieces of
 * {@linkcode AddedSplitter.split} (HF `tokenize`): whitespace next to a stripping token is
 * eaten, a single-word token glued to a word is merged back into that word. Edits `pieces` in
 * place; a piece emptied this way is `""`.
 */
export function applyAddedTokenFlags(
  pieces: string[],
  encoder: ReadonlyMap<string, number>,
  decoder: ReadonlyMap<number, AddedToken>,
): void {
  for (let i = 0; i < pieces.length; i++) {
    const id = encoder.get(pieces[i]);
    if (id === undefined) continue;
    const tok = decoder.get(id)!;
    const left = i > 0 ? pieces[i - 1] : null;
    const right = i < pieces.length - 1 ? pieces[i + 1] : null;
    if (tok.rstrip && right) pieces[i + 1] = right.trimStart();
    if (tok.lstrip && left) pieces[i - 1] = left.trimEnd();
    if (tok.singleWord && left && !left.endsWith(" ")) {
      pieces[i - 1] += pieces[i];
      pieces[i] = "";
    } else if (tok.singleWord && right && !right.startsWith(" ")) {
      pieces[i] += right;
      pieces[i + 1] = "";
    }
  }
}
