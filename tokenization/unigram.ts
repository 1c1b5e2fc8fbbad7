/**
 * The SentencePiece unigram algorithm: Viterbi segmentation over code points with
 * SentencePiece's float32 path scores and tie-breaking (user-defined pieces scored
 * `len * max_score - 0.1`, unknown characters `min_score - 10`).
 *
 * @module
 */
import { PieceType, type SentencePiece } from "./sentencepiece_proto.ts";

interface TrieNode {
  next: Map<string, TrieNode>;
  id: number;
}

/**
 * A unigram model over a SentencePiece vocabulary. `encode` segments an already-normalized
 * string into `[piece, id]` pairs; unknown characters come out one per pair with `unkId` (the
 * caller merges runs of them and applies byte fallback, as SentencePiece's processor does).
 *
 * @example
 * ```ts
 * import { PieceType, UnigramModel } from "@encdec/tokenization";
 * const m = new UnigramModel([
 *   { piece: "<unk>", score: 0, type: PieceType.UNKNOWN },
 *   { piece: "▁a", score: -1, type: PieceType.NORMAL },
 *   { piece: "b", score: -2, type: PieceType.NORMAL },
 * ], 0);
 * m.encode("▁ab"); // [["▁a", 1], ["b", 2]]
 * ```
 */
export class UnigramModel {
  /** The vocabulary (id = index). */
  readonly pieces: readonly SentencePiece[];
  /** Id of the unknown piece. */
  readonly unkId: number;
  #root: TrieNode = { next: new Map(), id: -1 };
  #minScore = Infinity;
  #maxScore = -Infinity;

  /** Builds the trie of the matchable pieces (normal, user-defined, unused). */
  constructor(pieces: readonly SentencePiece[], unkId: number) {
    this.pieces = pieces;
    this.unkId = unkId;
    pieces.forEach((p, id) => {
      if (p.type === PieceType.NORMAL) {
        this.#minScore = Math.min(this.#minScore, p.score);
        this.#maxScore = Math.max(this.#maxScore, p.score);
      }
      if (
        p.type === PieceType.NORMAL || p.type === PieceType.USER_DEFINED ||
        p.type === PieceType.UNUSED
      ) {
        let node = this.#root;
        for (const ch of p.piece) {
          let n = node.next.get(ch);
          if (!n) {
            n = { next: new Map(), id: -1 };
            node.next.set(ch, n);
          }
          node = n;
        }
        if (node.id < 0) node.id = id;
      }
    });
  }

  /** Best segmentation of a normalized string: `[piece, id]` pairs, unknowns one code point each. */
  encode(norm: string): [string, number][] {
    if (norm.length === 0) return [];
    const chars = Array.from(norm);
    const n = chars.length;
    const unkScore = Math.fround(this.#minScore - 10);
    const bestScore = new Float64Array(n + 1);
    const startsAt = new Int32Array(n + 1).fill(-1);
    const ids = new Int32Array(n + 1).fill(-1);
    const pieces = this.pieces;
    for (let s = 0; s < n; s++) {
      if (s > 0 && startsAt[s] < 0) continue; // unreachable (cannot happen: unk covers every char)
      const here = bestScore[s];
      let single = false;
      let node: TrieNode | undefined = this.#root;
      for (let e = s; e < n; e++) {
        node = node.next.get(chars[e]);
        if (!node) break;
        if (node.id < 0) continue;
        const p = pieces[node.id];
        if (p.type === PieceType.UNUSED) continue;
        const len = e + 1 - s;
        const score = p.type === PieceType.USER_DEFINED
          ? Math.fround(Math.fround(len * this.#maxScore - 0.1) + here)
          : Math.fround(p.score + here);
        const t = e + 1;
        if (startsAt[t] < 0 || score > bestScore[t]) {
          bestScore[t] = score;
          startsAt[t] = s;
          ids[t] = node.id;
        }
        if (len === 1) single = true;
      }
      if (!single) {
        const t = s + 1;
        const score = Math.fround(unkScore + here);
        if (startsAt[t] < 0 || score > bestScore[t]) {
          bestScore[t] = score;
          startsAt[t] = s;
          ids[t] = this.unkId;
        }
      }
    }
    const out: [string, number][] = [];
    for (let e = n; e > 0; e = startsAt[e]) {
      out.push([chars.slice(startsAt[e], e).join(""), ids[e]]);
    }
    return out.reverse();
  }
}
