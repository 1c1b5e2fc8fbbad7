/**
 * Streaming: generation reports tokens to a {@link Streamer} as soon as they are final. For
 * greedy and sampling that is every new token; during beam search it is the prefix on which all
 * live beams and kept hypotheses of a row agree, and the rest when the search ends (Python
 * `transformers` refuses to stream with beams).
 *
 * @module
 */

/** Receives final tokens while generation runs. */
export interface Streamer {
  /**
   * Tokens of `row` that are now final (generated ids only, the decoder prompt excluded), in
   * order; called once or more per step. `row` is the output sequence for greedy and sampling
   * (`batch * numReturnSequences` rows) and the input batch row for beam modes (whose best
   * sequence is streamed).
   */
  put(row: number, tokenIds: readonly number[]): void;
  /** Generation finished; every token has been put. */
  end(): void;
}

/** Decodes generated ids into text (e.g. `(ids) => tokenizer.decode(ids, {skipSpecialTokens: true})`). */
export type DecodeFn = (ids: readonly number[]) => string;

function isCjk(cp: number): boolean {
  return (cp >= 0x4e00 && cp <= 0x9fff) || (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x20000 && cp <= 0x2a6df) || (cp >= 0x2a700 && cp <= 0x2b73f) ||
    (cp >= 0x2b740 && cp <= 0x2b81f) || (cp >= 0x2b820 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0x2f800 && cp <= 0x2fa1f);
}

/**
 * Turns final tokens into text pieces like HF's `TextStreamer`: per row, it decodes the tokens so
 * far and emits text up to the last space (whole words), everything on a newline or after a CJK
 * character, holds back a trailing U+FFFD (an incomplete byte sequence), and flushes the rest at
 * the end.
 *
 * @example
 * ```ts
 * import { TextStreamer } from "@encdec/generation";
 * const words = ["hello", "world"];
 * const pieces: string[] = [];
 * const s = new TextStreamer((ids) => ids.map((i) => words[i]).join(" "), (t) => pieces.push(t));
 * s.put(0, [0]);
 * s.put(0, [1]);
 * s.end();
 * console.log(pieces); // ["hello ", "world"]
 * ```
 */
export class TextStreamer implements Streamer {
  private readonly decode: DecodeFn;
  private readonly onText: (text: string, row: number) => void;
  private readonly tokens = new Map<number, number[]>();
  private readonly printed = new Map<number, number>();

  /** `onText(piece, row)` receives each non-empty piece. */
  constructor(decode: DecodeFn, onText: (text: string, row: number) => void) {
    this.decode = decode;
    this.onText = onText;
  }

  /** Adds final tokens of `row` and emits the text that became printable. */
  put(row: number, tokenIds: readonly number[]): void {
    if (tokenIds.length === 0) return;
    const toks = this.tokens.get(row) ?? [];
    toks.push(...tokenIds);
    this.tokens.set(row, toks);
    const text = this.decode(toks);
    const done = this.printed.get(row) ?? 0;
    let piece: string;
    if (text.endsWith("\n")) {
      piece = text.slice(done);
      this.tokens.set(row, []);
      this.printed.set(row, 0);
    } else if (text.endsWith("\uFFFD")) {
      return;
    } else {
      const last = text.codePointAt(text.length - 1) ?? 0;
      const lastCp = last >= 0xdc00 && last <= 0xdfff
        ? (text.codePointAt(text.length - 2) ?? 0)
        : last;
      const upTo = isCjk(lastCp) ? text.length : Math.max(done, text.lastIndexOf(" ") + 1);
      piece = text.slice(done, upTo);
      this.printed.set(row, Math.max(done, upTo));
    }
    if (piece) this.onText(piece, row);
  }

  /** Flushes the rest of every row. */
  end(): void {
    for (const [row, toks] of this.tokens) {
      const text = toks.length ? this.decode(toks) : "";
      const piece = text.slice(this.printed.get(row) ?? 0);
      if (piece) this.onText(piece, row);
    }
    this.tokens.clear();
    this.printed.clear();
  }
}
