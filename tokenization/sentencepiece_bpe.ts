/**
 * The SentencePiece BPE algorithm (`model_type: BPE` in a `.model` file, e.g. CamemBERT's):
 * start from code points (user-defined pieces kept whole and frozen), repeatedly merge the
 * adjacent pair whose concatenation is the highest-scoring piece (leftmost on ties), then split
 * `UNUSED` pieces back into the pair they were merged from.
 *
 * @module
 */
import { PieceType, type SentencePiece } from "./sentencepiece_proto.ts";

/** SentencePiece's `▁` (a space). */
const SPACE = "\u2581";

interface Symbol {
  prev: number;
  next: number;
  freeze: boolean;
  piece: string;
}

interface Pair {
  left: number;
  right: number;
  score: number;
  piece: string;
}

/** Max-heap of pairs: higher score first, then the leftmost (SentencePiece's agenda order). */
class Agenda {
  #h: Pair[] = [];
  get size(): number {
    return this.#h.length;
  }
  #before(a: Pair, b: Pair): boolean {
    return a.score > b.score || (a.score === b.score && a.left < b.left);
  }
  push(p: Pair): void {
    const h = this.#h;
    let i = h.length;
    h.push(p);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#before(h[i], h[parent])) break;
      [h[i], h[parent]] = [h[parent], h[i]];
      i = parent;
    }
  }
  pop(): Pair {
    const h = this.#h;
    const top = h[0];
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.#before(h[l], h[m])) m = l;
        if (r < h.length && this.#before(h[r], h[m])) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m], h[i]];
        i = m;
      }
    }
    return top;
  }
}

/**
 * A SentencePiece BPE model. `encode` segments an already-normalized string into `[piece, id]`
 * pairs; a symbol that is no piece gets `unkId` (the caller merges runs of unknowns and applies
 * byte fallback, as SentencePiece's processor does).
 *
 * @example
 * ```ts
 * import { PieceType, SentencePieceBpeModel } from "@encdec/tokenization";
 * const m = new SentencePieceBpeModel([
 *   { piece: "<unk>", score: 0, type: PieceType.UNKNOWN },
 *   { piece: "▁a", score: -1, type: PieceType.NORMAL },
 *   { piece: "▁", score: -2, type: PieceType.NORMAL },
 *   { piece: "a", score: -3, type: PieceType.NORMAL },
 * ], 0);
 * m.encode("▁a▁x"); // [["▁a", 1], ["▁", 2], ["x", 0]]
 * ```
 */
export class SentencePieceBpeModel {
  /** The vocabulary (id = index). */
  readonly pieces: readonly SentencePiece[];
  /** Id of the unknown piece. */
  readonly unkId: number;
  /** Mergeable pieces (normal, user-defined, unused) → id. */
  #mergeable = new Map<string, number>();
  /** Control, unknown and byte pieces → id (looked up first, as SentencePiece does). */
  #reserved = new Map<string, number>();
  /** User-defined pieces, longest first (matched whole and never merged). */
  #userDefined: string[] = [];
  /** No piece has `▁` after its first character, so no merge crosses a `▁`: words are independent. */
  #wordsIndependent: boolean;
  #cache = new Map<string, [string, number][]>();

  /** Indexes the vocabulary. */
  constructor(pieces: readonly SentencePiece[], unkId: number) {
    this.pieces = pieces;
    this.unkId = unkId;
    pieces.forEach((p, id) => {
      const normal = p.type === PieceType.NORMAL || p.type === PieceType.USER_DEFINED ||
        p.type === PieceType.UNUSED;
      const table = normal ? this.#mergeable : this.#reserved;
      if (!table.has(p.piece)) table.set(p.piece, id);
      if (p.type === PieceType.USER_DEFINED && p.piece.length > 0) {
        this.#userDefined.push(p.piece);
      }
    });
    this.#userDefined.sort((a, b) => b.length - a.length);
    this.#wordsIndependent = ![...this.#mergeable.keys()].some((p) => p.indexOf(SPACE, 1) > 0);
  }

  #pieceToId(piece: string): number {
    return this.#reserved.get(piece) ?? this.#mergeable.get(piece) ?? this.unkId;
  }

  /** The initial symbols: one per code point, user-defined pieces whole (frozen). */
  #symbols(norm: string): Symbol[] {
    const out: Symbol[] = [];
    let i = 0;
    while (i < norm.length) {
      const ud = this.#userDefined.find((u) => norm.startsWith(u, i));
      const piece = ud ?? String.fromCodePoint(norm.codePointAt(i)!);
      out.push({ prev: out.length - 1, next: -1, freeze: ud !== undefined, piece });
      i += piece.length;
    }
    for (let k = 0; k + 1 < out.length; k++) out[k].next = k + 1;
    return out;
  }

  /**
   * BPE segmentation of a normalized string: `[piece, id]` pairs. When no piece spans a `▁`
   * inside it (the usual case), each `▁`-word is segmented on its own, with a cache: the same
   * result, in time linear in the text for repeated words.
   */
  encode(norm: string): [string, number][] {
    if (!this.#wordsIndependent) return this.#encode(norm);
    const out: [string, number][] = [];
    let start = 0;
    while (start < norm.length) {
      let end = norm.indexOf(SPACE, start + 1);
      if (end < 0) end = norm.length;
      const word = norm.slice(start, end);
      let pieces = this.#cache.get(word);
      if (!pieces) {
        pieces = this.#encode(word);
        if (this.#cache.size > 100_000) this.#cache.clear();
        this.#cache.set(word, pieces);
      }
      for (const p of pieces) out.push(p);
      start = end;
    }
    return out;
  }

  #encode(norm: string): [string, number][] {
    const symbols = this.#symbols(norm);
    if (symbols.length === 0) return [];
    const agenda = new Agenda();
    const revMerge = new Map<string, [string, string]>();
    const maybeAdd = (left: number, right: number) => {
      if (left < 0 || right < 0 || symbols[left].freeze || symbols[right].freeze) return;
      const piece = symbols[left].piece + symbols[right].piece;
      const id = this.#mergeable.get(piece);
      if (id === undefined) return;
      agenda.push({ left, right, score: this.pieces[id].score, piece });
      if (this.pieces[id].type === PieceType.UNUSED) {
        revMerge.set(piece, [symbols[left].piece, symbols[right].piece]);
      }
    };
    for (let i = 1; i < symbols.length; i++) maybeAdd(i - 1, i);
    while (agenda.size > 0) {
      const top = agenda.pop();
      const l = symbols[top.left];
      const r = symbols[top.right];
      // Stale: one side was merged away or grew since this pair was queued.
      if (l.piece === "" || r.piece === "" || l.piece + r.piece !== top.piece) continue;
      l.piece = top.piece;
      l.next = r.next;
      if (r.next >= 0) symbols[r.next].prev = top.left;
      r.piece = "";
      maybeAdd(l.prev, top.left);
      maybeAdd(top.left, l.next);
    }
    const out: [string, number][] = [];
    const resegment = (w: string) => {
      const id = this.#pieceToId(w);
      const split = this.pieces[id].type === PieceType.UNUSED ? revMerge.get(w) : undefined;
      if (!split) {
        out.push([w, id]);
        return;
      }
      resegment(split[0]);
      resegment(split[1]);
    };
    for (let i = 0; i !== -1; i = symbols[i].next) resegment(symbols[i].piece);
    return out;
  }
}
