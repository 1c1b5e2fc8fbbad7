/**
 * SentencePiece, read from `spiece.model` (a `ModelProto` protobuf) without the C++ library:
 * the normalizer (precompiled Darts charsmap, whitespace rules, `▁` escaping), unigram Viterbi
 * segmentation with float32 path scores and SentencePiece's tie-breaking, byte fallback, and
 * decoding. `BertGenerationTokenizer` wraps it with HF's slow-tokenizer semantics.
 *
 * @module
 */
import { PreTrainedTokenizer, type TokenizerInit } from "./base.ts";
import { TokenizerError } from "./errors.ts";
import { fieldFloat, fieldString, type ProtoField, readFields } from "./_protobuf.ts";

/** SentencePiece piece types (`ModelProto.SentencePiece.Type`). */
export const PieceType = {
  NORMAL: 1,
  UNKNOWN: 2,
  CONTROL: 3,
  USER_DEFINED: 4,
  UNUSED: 5,
  BYTE: 6,
} as const;

/** One vocabulary entry of a SentencePiece model. */
export interface SentencePiece {
  /** The piece text (`▁` stands for a space). */
  piece: string;
  /** Log-probability (unigram) or merge priority (BPE). */
  score: number;
  /** One of {@linkcode PieceType}. */
  type: number;
}

/** The parts of `ModelProto` the tokenizer uses. */
export interface SentencePieceModelProto {
  /** Vocabulary, id = index. */
  pieces: SentencePiece[];
  /** `TrainerSpec.model_type`: 1 unigram, 2 BPE, 3 word, 4 char. */
  modelType: number;
  /** `TrainerSpec.byte_fallback`. */
  byteFallback: boolean;
  /** `TrainerSpec.treat_whitespace_as_suffix`. */
  treatWhitespaceAsSuffix: boolean;
  /** `NormalizerSpec.name` (e.g. `nmt_nfkc`). */
  normalizerName: string;
  /** `NormalizerSpec.precompiled_charsmap` (may be empty: identity). */
  precompiledCharsmap: Uint8Array;
  /** `NormalizerSpec.add_dummy_prefix` (default true). */
  addDummyPrefix: boolean;
  /** `NormalizerSpec.remove_extra_whitespaces` (default true). */
  removeExtraWhitespaces: boolean;
  /** `NormalizerSpec.escape_whitespaces` (default true). */
  escapeWhitespaces: boolean;
}

/**
 * Parses the bytes of a SentencePiece `.model` file.
 *
 * @example
 * ```ts
 * import { parseSentencePieceModel } from "@encdec/tokenization";
 * const proto = parseSentencePieceModel(await Deno.readFile("spiece.model"));
 * console.log(proto.pieces.length);
 * ```
 */
export function parseSentencePieceModel(
  bytes: Uint8Array,
  file = "spiece.model",
): SentencePieceModelProto {
  const top = readFields(bytes, file);
  const pieces: SentencePiece[] = [];
  const proto: SentencePieceModelProto = {
    pieces,
    modelType: 1,
    byteFallback: false,
    treatWhitespaceAsSuffix: false,
    normalizerName: "",
    precompiledCharsmap: new Uint8Array(),
    addDummyPrefix: true,
    removeExtraWhitespaces: true,
    escapeWhitespaces: true,
  };
  const bool = (f: ProtoField) => f.varint !== undefined && f.varint !== 0n;
  for (const f of top) {
    if (f.wire !== 2 && (f.field === 1 || f.field === 2 || f.field === 3)) {
      throw new TokenizerError(
        `${file}: malformed ModelProto (field ${f.field} has wire type ${f.wire}, expected 2)`,
      );
    }
    if (f.field === 1) {
      const p: SentencePiece = { piece: "", score: 0, type: PieceType.NORMAL };
      for (const g of readFields(f.bytes!, `${file} piece ${pieces.length}`)) {
        if (g.field === 1 && g.wire === 2) p.piece = fieldString(g);
        else if (g.field === 2 && g.wire === 5) p.score = fieldFloat(g);
        else if (g.field === 3 && g.wire === 0) p.type = Number(g.varint);
      }
      pieces.push(p);
    } else if (f.field === 2) {
      for (const g of readFields(f.bytes!, `${file} trainer_spec`)) {
        if (g.field === 3 && g.wire === 0) proto.modelType = Number(g.varint);
        else if (g.field === 35 && g.wire === 0) proto.byteFallback = bool(g);
        else if (g.field === 24 && g.wire === 0) proto.treatWhitespaceAsSuffix = bool(g);
      }
    } else if (f.field === 3) {
      for (const g of readFields(f.bytes!, `${file} normalizer_spec`)) {
        if (g.field === 1 && g.wire === 2) proto.normalizerName = fieldString(g);
        else if (g.field === 2 && g.wire === 2) proto.precompiledCharsmap = g.bytes!;
        else if (g.field === 3 && g.wire === 0) proto.addDummyPrefix = bool(g);
        else if (g.field === 4 && g.wire === 0) proto.removeExtraWhitespaces = bool(g);
        else if (g.field === 5 && g.wire === 0) proto.escapeWhitespaces = bool(g);
      }
    }
  }
  if (pieces.length === 0) {
    throw new TokenizerError(`${file}: no pieces found; expected a SentencePiece ModelProto`);
  }
  // sentencepiece always writes trainer_spec and normalizer_spec after the pieces; a file that
  // ends at a field boundary before them was cut short.
  if (!top.some((f) => f.field === 2) || !top.some((f) => f.field === 3)) {
    throw new TokenizerError(
      `${file}: truncated SentencePiece model (${pieces.length} pieces, but no trainer_spec/normalizer_spec)`,
    );
  }
  return proto;
}

/** The `▁` that stands for a space. */
export const SPACE_SYMBOL = "\u2581";
const SPACE_BYTES = [0xe2, 0x96, 0x81];

/**
 * SentencePiece's normalizer: longest-match rewriting through the precompiled Darts
 * double-array charsmap (bytes in, bytes out), then whitespace trimming/collapsing and `▁`.
 */
export class SentencePieceNormalizer {
  #trie: Uint32Array;
  #normalized: Uint8Array;
  /** Add `▁` in front. */
  readonly addDummyPrefix: boolean;
  /** Trim and collapse spaces. */
  readonly removeExtraWhitespaces: boolean;
  /** Write spaces as `▁`. */
  readonly escapeWhitespaces: boolean;
  /** Put the dummy space after instead of before. */
  readonly treatWhitespaceAsSuffix: boolean;

  /** Builds the normalizer from a model's spec. */
  constructor(proto: SentencePieceModelProto, file = "spiece.model") {
    this.addDummyPrefix = proto.addDummyPrefix;
    this.removeExtraWhitespaces = proto.removeExtraWhitespaces;
    this.escapeWhitespaces = proto.escapeWhitespaces;
    this.treatWhitespaceAsSuffix = proto.treatWhitespaceAsSuffix;
    const cm = proto.precompiledCharsmap;
    if (cm.length === 0) {
      this.#trie = new Uint32Array();
      this.#normalized = new Uint8Array();
    } else {
      if (cm.length < 4) {
        throw new TokenizerError(`${file}: precompiled_charsmap shorter than its 4-byte header`);
      }
      const dv = new DataView(cm.buffer, cm.byteOffset, cm.byteLength);
      const trieSize = dv.getUint32(0, true);
      if (trieSize % 4 !== 0 || 4 + trieSize > cm.length) {
        throw new TokenizerError(
          `${file}: precompiled_charsmap trie of ${trieSize} bytes does not fit the ${cm.length}-byte blob`,
        );
      }
      this.#trie = new Uint32Array(trieSize / 4);
      for (let i = 0; i < this.#trie.length; i++) this.#trie[i] = dv.getUint32(4 + 4 * i, true);
      this.#normalized = cm.subarray(4 + trieSize);
    }
  }

  /** Longest charsmap match at `pos`: [matched length, offset of replacement] or null. */
  #lookup(input: Uint8Array, pos: number): [number, number] | null {
    const a = this.#trie;
    if (a.length === 0) return null;
    const offset = (u: number) => ((u >>> 10) << ((u & (1 << 9)) >>> 6)) >>> 0;
    let node = offset(a[0]);
    let best: [number, number] | null = null;
    for (let i = pos; i < input.length; i++) {
      const c = input[i];
      node = (node ^ c) >>> 0;
      if (node >= a.length) break;
      const u = a[node];
      if (((u & 0x800000ff) >>> 0) !== c) break;
      node = (node ^ offset(u)) >>> 0;
      if ((u >>> 8) & 1) {
        if (node >= a.length) break;
        best = [i - pos + 1, a[node] & 0x7fffffff];
      }
    }
    return best;
  }

  /** One normalized prefix: [replacement bytes, consumed bytes]. */
  #prefix(input: Uint8Array, pos: number): [Uint8Array, number] {
    const m = this.#lookup(input, pos);
    if (m) {
      let end = m[1];
      while (end < this.#normalized.length && this.#normalized[end] !== 0) end++;
      return [this.#normalized.subarray(m[1], end), m[0]];
    }
    const n = utf8Len(input, pos);
    if (n === 0) return [REPLACEMENT, 1];
    return [input.subarray(pos, pos + n), n];
  }

  /** Normalizes `text` as SentencePiece does (the result uses `▁` for spaces). */
  normalize(text: string): string {
    const input = new TextEncoder().encode(text);
    const out: number[] = [];
    let pos = 0;
    const isSpace = (b: Uint8Array) => b.length === 1 && b[0] === 0x20;
    if (this.removeExtraWhitespaces) {
      while (pos < input.length) {
        const [sp, n] = this.#prefix(input, pos);
        if (!isSpace(sp)) break;
        pos += n;
      }
    }
    if (pos >= input.length) return "";
    const addWs = () => this.escapeWhitespaces ? out.push(...SPACE_BYTES) : out.push(0x20);
    if (!this.treatWhitespaceAsSuffix && this.addDummyPrefix) addWs();
    let prevSpace = this.removeExtraWhitespaces;
    while (pos < input.length) {
      const [raw, n] = this.#prefix(input, pos);
      let sp = raw;
      if (prevSpace) {
        let k = 0;
        while (k < sp.length && sp[k] === 0x20) k++;
        sp = sp.subarray(k);
      }
      if (sp.length > 0) {
        for (const b of sp) {
          if (this.escapeWhitespaces && b === 0x20) out.push(...SPACE_BYTES);
          else out.push(b);
        }
        prevSpace = sp[sp.length - 1] === 0x20;
      }
      pos += n;
      if (!this.removeExtraWhitespaces) prevSpace = false;
    }
    if (this.removeExtraWhitespaces) {
      const sp = this.escapeWhitespaces ? SPACE_BYTES : [0x20];
      while (
        out.length >= sp.length && sp.every((b, i) => out[out.length - sp.length + i] === b)
      ) out.length -= sp.length;
    }
    if (this.treatWhitespaceAsSuffix && this.addDummyPrefix) addWs();
    return new TextDecoder().decode(new Uint8Array(out));
  }
}

const REPLACEMENT = new Uint8Array([0xef, 0xbf, 0xbd]);

/** Length of a valid UTF-8 sequence at `pos`, or 0 when malformed. */
function utf8Len(b: Uint8Array, pos: number): number {
  const c = b[pos];
  const cont = (k: number) => pos + k < b.length && (b[pos + k] & 0xc0) === 0x80;
  if (c < 0x80) return 1;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) return cont(1) && cont(2) ? 3 : 0;
  if (c >= 0xf0 && c <= 0xf4) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

interface TrieNode {
  next: Map<string, TrieNode>;
  id: number;
}

/**
 * A SentencePiece unigram model: Viterbi over code points with SentencePiece's float32 scores,
 * unknown characters scored `min_score - 10`, consecutive unknowns merged, byte fallback.
 *
 * @example
 * ```ts
 * import { parseSentencePieceModel, SentencePieceProcessor } from "@encdec/tokenization";
 * const sp = new SentencePieceProcessor(parseSentencePieceModel(await Deno.readFile("spiece.model")));
 * sp.encode("Hello world"); // ["▁He", "ll", "o", "▁world"]
 * ```
 */
export class SentencePieceProcessor {
  /** The parsed model. */
  readonly proto: SentencePieceModelProto;
  /** The normalizer. */
  readonly normalizer: SentencePieceNormalizer;
  /** piece → id. */
  readonly pieceToId: Map<string, number>;
  /** Id of the unknown piece. */
  readonly unkId: number;
  #root: TrieNode = { next: new Map(), id: -1 };
  #minScore = Infinity;
  #maxScore = -Infinity;
  #byteIds = new Map<number, number>();

  /** Builds the processor from a parsed model. */
  constructor(proto: SentencePieceModelProto, file = "spiece.model") {
    if (proto.modelType !== 1) {
      throw new TokenizerError(
        `${file}: model_type ${proto.modelType} is not supported; expected 1 (unigram)`,
      );
    }
    this.proto = proto;
    this.normalizer = new SentencePieceNormalizer(proto, file);
    this.pieceToId = new Map();
    let unk = -1;
    proto.pieces.forEach((p, id) => {
      if (!this.pieceToId.has(p.piece)) this.pieceToId.set(p.piece, id);
      if (p.type === PieceType.UNKNOWN) unk = id;
      if (p.type === PieceType.NORMAL) {
        this.#minScore = Math.min(this.#minScore, p.score);
        this.#maxScore = Math.max(this.#maxScore, p.score);
      }
      if (p.type === PieceType.BYTE) {
        const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(p.piece);
        if (m) this.#byteIds.set(parseInt(m[1], 16), id);
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
    if (unk < 0) throw new TokenizerError(`${file}: the model has no UNKNOWN piece`);
    this.unkId = unk;
  }

  /** Number of pieces. */
  get size(): number {
    return this.proto.pieces.length;
  }

  /** Piece of an id. */
  idToPiece(id: number): string | undefined {
    return this.proto.pieces[id]?.piece;
  }

  /** Normalizes and segments `text` into pieces (SentencePiece `encode(out_type=str)`). */
  encode(text: string): string[] {
    const norm = this.normalizer.normalize(text);
    if (norm.length === 0) return [];
    const chars = Array.from(norm);
    const n = chars.length;
    const unkScore = Math.fround(this.#minScore - 10);
    const bestScore = new Float64Array(n + 1);
    const startsAt = new Int32Array(n + 1).fill(-1);
    const ids = new Int32Array(n + 1).fill(-1);
    const pieces = this.proto.pieces;
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
    out.reverse();
    const result: string[] = [];
    let prevUnk = false;
    for (const [piece, id] of out) {
      const unk = id === this.unkId;
      if (unk && this.proto.byteFallback) {
        for (const b of new TextEncoder().encode(piece)) {
          result.push(`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`);
        }
      } else if (unk && prevUnk) {
        result[result.length - 1] += piece;
      } else {
        result.push(piece);
      }
      prevUnk = unk;
    }
    return result;
  }

  /** Joins pieces back into text (SentencePiece `decode` of pieces). */
  decodePieces(pieces: string[]): string {
    const parts: string[] = [];
    let bytes: number[] = [];
    const flush = () => {
      if (bytes.length) {
        parts.push(new TextDecoder().decode(new Uint8Array(bytes)));
        bytes = [];
      }
    };
    let bos = true;
    for (const piece of pieces) {
      const id = this.pieceToId.get(piece) ?? this.unkId;
      const type = this.proto.pieces[id].type;
      if (type === PieceType.CONTROL) continue;
      if (type === PieceType.BYTE && this.proto.pieces[id].piece === piece) {
        bytes.push(parseInt(piece.slice(3, 5), 16));
        bos = false;
        continue;
      }
      flush();
      let s: string;
      if (id === this.unkId) s = piece === this.proto.pieces[id].piece ? " \u2047 " : piece;
      else {
        s = piece;
        if (
          bos && !this.proto.treatWhitespaceAsSuffix && this.proto.addDummyPrefix &&
          s.startsWith(SPACE_SYMBOL)
        ) {
          s = s.slice(1);
        }
        s = s.replaceAll(SPACE_SYMBOL, " ");
      }
      if (s.length > 0) bos = false;
      parts.push(s);
    }
    flush();
    let text = parts.join("");
    if (this.proto.treatWhitespaceAsSuffix && this.proto.addDummyPrefix && text.endsWith(" ")) {
      text = text.slice(0, -1);
    }
    return text;
  }
}

/** Options of {@linkcode BertGenerationTokenizer} (HF names). */
export type BertGenerationTokenizerInit = TokenizerInit;

/**
 * HF's `BertGenerationTokenizer` (slow): a SentencePiece model, no special tokens added around
 * sequences, `<::::>` as separator and `<pad>` added after the pieces when missing.
 *
 * @example
 * ```ts
 * import { BertGenerationTokenizer } from "@encdec/tokenization";
 * const tok = BertGenerationTokenizer.fromModelBytes(await Deno.readFile("spiece.model"));
 * tok.decode(tok.encode("Hello, world!")); // "Hello, world!"
 * ```
 */
export class BertGenerationTokenizer extends PreTrainedTokenizer {
  /** The SentencePiece model. */
  readonly sp: SentencePieceProcessor;
  /** The options the tokenizer was built with. */
  readonly init: BertGenerationTokenizerInit;

  /** Builds the tokenizer around a SentencePiece model. */
  constructor(sp: SentencePieceProcessor, init: BertGenerationTokenizerInit = {}) {
    super(init);
    this.init = init;
    this.sp = sp;
    this.initSpecialTokens(init, {
      bos_token: "<s>",
      eos_token: "</s>",
      unk_token: "<unk>",
      pad_token: "<pad>",
      sep_token: "<::::>",
    });
  }

  /** Builds the tokenizer from the bytes of `spiece.model`. */
  static fromModelBytes(
    bytes: Uint8Array,
    init: BertGenerationTokenizerInit = {},
    file = "spiece.model",
  ): BertGenerationTokenizer {
    return new BertGenerationTokenizer(
      new SentencePieceProcessor(parseSentencePieceModel(bytes, file), file),
      init,
    );
  }

  /** Number of SentencePiece pieces. */
  get vocabSize(): number {
    return this.sp.size;
  }
  /** Id of a model-vocabulary token. */
  protected vocabLookup(token: string): number | undefined {
    return this.sp.pieceToId.get(token);
  }
  /** Token of a model-vocabulary id. */
  protected vocabToken(id: number): string | undefined {
    return this.sp.idToPiece(id);
  }
  /** piece → id including added tokens. */
  getVocab(): Map<string, number> {
    const v = new Map<string, number>();
    for (let i = 0; i < this.sp.size; i++) v.set(this.sp.idToPiece(i)!, i);
    for (const [t, i] of this.addedTokensEncoder) v.set(t, i);
    return v;
  }
  /** Model tokens of one chunk without added tokens. */
  protected _tokenize(text: string): string[] {
    return this.sp.encode(text);
  }
  /** HF's join: special tokens verbatim, runs of pieces through SentencePiece decoding; trimmed. */
  convertTokensToString(tokens: string[]): string {
    const specials = new Set(this.allSpecialTokens);
    let out = "";
    let run: string[] = [];
    for (const t of tokens) {
      if (specials.has(t)) {
        out += this.sp.decodePieces(run) + t;
        run = [];
      } else run.push(t);
    }
    out += this.sp.decodePieces(run);
    return out.trim();
  }
}
