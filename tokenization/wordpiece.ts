/**
 * The WordPiece algorithm (HF `WordpieceTokenizer`, `tokenizers` `WordPiece` model): greedy
 * longest-match-first over a vocabulary with `##` continuation pieces.
 *
 * @module
 */

/**
 * Python's `str.split()` on text left after BERT's cleaning (only spaces and Zl/Zp remain).
 *
 * @example
 * ```ts
 * import { whitespaceSplit } from "@encdec/tokenization";
 * whitespaceSplit("  a b "); // ["a", "b"]
 * ```
 */
export function whitespaceSplit(text: string): string[] {
  // deno-lint-ignore no-control-regex
  return text.split(/[\s\u0085\u001c-\u001f]+/u).filter((t) => t.length > 0);
}

/**
 * Greedy longest-match-first WordPiece (HF `WordpieceTokenizer`): a word longer than
 * `maxInputCharsPerWord` code points, or one that cannot be covered, becomes the unknown token.
 *
 * @example
 * ```ts
 * import { WordpieceTokenizer } from "@encdec/tokenization";
 * const vocab = new Map([["un", 0], ["##aff", 1], ["##able", 2], ["[UNK]", 3]]);
 * new WordpieceTokenizer(vocab, "[UNK]").tokenize("unaffable"); // ["un", "##aff", "##able"]
 * ```
 */
export class WordpieceTokenizer {
  /** Token → id. */
  readonly vocab: Map<string, number>;
  /** The unknown token. */
  readonly unkToken: string;
  /** Longest word handled (code points). */
  readonly maxInputCharsPerWord: number;
  /** Prefix of word-continuation pieces. */
  readonly continuingSubwordPrefix: string;

  /** Builds a WordPiece model over `vocab`. */
  constructor(
    vocab: Map<string, number>,
    unkToken: string,
    maxInputCharsPerWord = 100,
    prefix = "##",
  ) {
    this.vocab = vocab;
    this.unkToken = unkToken;
    this.maxInputCharsPerWord = maxInputCharsPerWord;
    this.continuingSubwordPrefix = prefix;
  }

  /** WordPiece tokens of one whitespace-separated word. */
  tokenizeWord(word: string, out: string[]): void {
    if (word.length <= this.maxInputCharsPerWord && this.vocab.has(word)) {
      out.push(word);
      return;
    }
    const chars = Array.from(word);
    if (chars.length > this.maxInputCharsPerWord) {
      out.push(this.unkToken);
      return;
    }
    const pieces: string[] = [];
    let start = 0;
    while (start < chars.length) {
      let end = chars.length;
      let cur: string | null = null;
      while (start < end) {
        let sub = chars.slice(start, end).join("");
        if (start > 0) sub = this.continuingSubwordPrefix + sub;
        if (this.vocab.has(sub)) {
          cur = sub;
          break;
        }
        end--;
      }
      if (cur === null) {
        out.push(this.unkToken);
        return;
      }
      pieces.push(cur);
      start = end;
    }
    for (const p of pieces) out.push(p);
  }

  /** WordPiece tokens of a whitespace-separated text. */
  tokenize(text: string): string[] {
    const out: string[] = [];
    for (const w of whitespaceSplit(text)) this.tokenizeWord(w, out);
    return out;
  }
}
