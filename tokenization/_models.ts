/**
 * `tokenizer.json` models (one pre-token → tokens): `WordPiece`, `WordLevel`, `BPE` (with
 * byte fallback and fused unknowns) and `Unigram`.
 *
 * @module
 */
import { BytePairEncoder } from "./bpe.ts";
import { TokenizerError } from "./errors.ts";
import { SentencePieceProcessor } from "./sentencepiece.ts";
import { PieceType, type SentencePiece } from "./sentencepiece_proto.ts";
import { WordpieceTokenizer } from "./wordpiece.ts";
import { fail, type Json, type Model } from "./_pipeline.ts";
import { modelType } from "./_schema.ts";

function vocabObject(v: unknown, where: string): Map<string, number> {
  if (v === null || typeof v !== "object" || Array.isArray(v)) {
    fail(where, `expected "vocab" to be an object token → id`);
  }
  const m = new Map<string, number>();
  for (const [k, id] of Object.entries(v as Json)) {
    if (!Number.isInteger(id)) {
      fail(where, `vocab[${JSON.stringify(k)}] = ${JSON.stringify(id)}, expected an integer id`);
    }
    m.set(k, id as number);
  }
  return m;
}

function invert(v: Map<string, number>): Map<number, string> {
  return new Map([...v].map(([t, i]) => [i, t]));
}

/** `WordPiece`: greedy longest-match-first with a continuation prefix. */
function wordPieceModel(j: Json, where: string): Model {
  const vocab = vocabObject(j.vocab, where);
  const unk = typeof j.unk_token === "string" ? j.unk_token : "[UNK]";
  const wp = new WordpieceTokenizer(
    vocab,
    unk,
    typeof j.max_input_chars_per_word === "number" ? j.max_input_chars_per_word : 100,
    typeof j.continuing_subword_prefix === "string" ? j.continuing_subword_prefix : "##",
  );
  return {
    vocab,
    ids: invert(vocab),
    unkToken: unk,
    tokenize: (w) => {
      const out: string[] = [];
      wp.tokenizeWord(w, out);
      return out;
    },
  };
}

/** `WordLevel`: whole pre-tokens, unknown ones → `unk_token`. */
function wordLevelModel(j: Json, where: string): Model {
  const vocab = vocabObject(j.vocab, where);
  const unk = typeof j.unk_token === "string" ? j.unk_token : null;
  return {
    vocab,
    ids: invert(vocab),
    unkToken: unk,
    tokenize: (w) => {
      if (vocab.has(w)) return [w];
      if (unk !== null) return [unk];
      throw new TokenizerError(
        `${where}: WordLevel token ${
          JSON.stringify(w)
        } is not in the vocab and there is no unk_token`,
      );
    },
  };
}

/** `BPE`: rank-ordered merges, optional end-of-word suffix, byte fallback and fused unknowns. */
function bpeModel(j: Json, where: string): Model {
  const vocab = vocabObject(j.vocab, where);
  if (!Array.isArray(j.merges)) fail(where, `BPE needs a "merges" array`);
  const ranks = new Map<string, number>();
  (j.merges as unknown[]).forEach((m, i) => {
    const pair = typeof m === "string" ? m.split(" ") : Array.isArray(m) ? m : [];
    if (pair.length !== 2 || typeof pair[0] !== "string" || typeof pair[1] !== "string") {
      fail(where, `merges[${i}] = ${JSON.stringify(m)}, expected "a b" or ["a", "b"]`);
    }
    for (const t of [pair[0], pair[1], pair[0] + pair[1]]) {
      if (!vocab.has(t)) {
        fail(
          where,
          `merges[${i}] ${JSON.stringify(m)} names ${JSON.stringify(t)}, which is not in the vocab`,
        );
      }
    }
    const key = `${pair[0]} ${pair[1]}`;
    if (!ranks.has(key)) ranks.set(key, i);
  });
  const bpe = new BytePairEncoder(ranks);
  if (typeof j.continuing_subword_prefix === "string" && j.continuing_subword_prefix !== "") {
    fail(
      where,
      `BPE continuing_subword_prefix ${
        JSON.stringify(j.continuing_subword_prefix)
      } is not supported`,
    );
  }
  const suffix = typeof j.end_of_word_suffix === "string" ? j.end_of_word_suffix : "";
  const unk = typeof j.unk_token === "string" ? j.unk_token : null;
  const byteFallback = j.byte_fallback === true;
  const fuseUnk = j.fuse_unk === true;
  const enc = new TextEncoder();
  return {
    vocab,
    ids: invert(vocab),
    unkToken: unk,
    tokenize: (w) => {
      const out: string[] = [];
      let prevUnk = false;
      for (const t of bpe.encode(w, suffix)) {
        if (vocab.has(t)) {
          out.push(t);
          prevUnk = false;
          continue;
        }
        if (byteFallback) {
          const bytes = [...enc.encode(t)].map((b) =>
            `<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`
          );
          if (bytes.every((b) => vocab.has(b))) {
            out.push(...bytes);
            prevUnk = false;
            continue;
          }
        }
        if (unk === null) continue;
        if (!(fuseUnk && prevUnk)) out.push(unk);
        prevUnk = true;
      }
      return out;
    },
  };
}

/** `Unigram`: SentencePiece Viterbi over `[piece, score]` entries. */
function unigramModel(j: Json, where: string): Model {
  if (!Array.isArray(j.vocab)) fail(where, `Unigram needs a "vocab" array of [piece, score]`);
  const unkId = Number.isInteger(j.unk_id) && (j.unk_id as number) < j.vocab.length
    ? j.unk_id as number
    : fail(
      where,
      `Unigram "unk_id" is ${JSON.stringify(j.unk_id)}; expected an index into "vocab" ` +
        `(0 to ${j.vocab.length - 1})`,
    );
  const byteFallback = j.byte_fallback === true;
  const pieces: SentencePiece[] = (j.vocab as unknown[]).map((e, i) => {
    if (!Array.isArray(e) || typeof e[0] !== "string" || typeof e[1] !== "number") {
      fail(where, `vocab[${i}] = ${JSON.stringify(e)}, expected [piece, score]`);
    }
    const type = i === unkId
      ? PieceType.UNKNOWN
      : byteFallback && /^<0x[0-9A-F]{2}>$/.test(e[0])
      ? PieceType.BYTE
      : PieceType.NORMAL;
    return { piece: e[0], score: e[1], type };
  });
  const sp = new SentencePieceProcessor({
    pieces,
    modelType: 1,
    byteFallback,
    treatWhitespaceAsSuffix: false,
    normalizerName: "",
    precompiledCharsmap: new Uint8Array(),
    addDummyPrefix: false,
    removeExtraWhitespaces: false,
    escapeWhitespaces: false,
  }, where);
  return {
    vocab: sp.pieceToId,
    ids: new Map(pieces.map((p, i) => [i, p.piece])),
    unkToken: pieces[unkId].piece,
    tokenize: (w) => sp.encode(w),
  };
}

/** Builds a model from its JSON. */
export function buildModel(o: unknown, where = "model"): Model {
  if (o === null || typeof o !== "object" || Array.isArray(o)) {
    fail(where, `expected an object, got ${JSON.stringify(o)?.slice(0, 80)}`);
  }
  const j = o as Json;
  const type = modelType(j) ?? fail(where, `cannot tell the model type (no "type")`);
  switch (type) {
    case "WordPiece":
      return wordPieceModel(j, where);
    case "WordLevel":
      return wordLevelModel(j, where);
    case "BPE":
      return bpeModel(j, where);
    case "Unigram":
      return unigramModel(j, where);
    default:
      return fail(where, `model type ${JSON.stringify(type)} is not supported`);
  }
}
