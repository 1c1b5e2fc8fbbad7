/**
 * SentencePiece without the C++ library: the normalizer (precompiled Darts charsmap, whitespace
 * rules, `▁` escaping), the processor that runs a unigram (`unigram.ts`) or BPE
 * (`sentencepiece_bpe.ts`) model with SentencePiece's unknown-piece and byte-fallback rules, and
 * decoding. `BertGenerationTokenizer` wraps it with HF's slow-tokenizer semantics; the model file
 * itself is read by `sentencepiece_proto.ts`.
 *
 * @module
 */
import { PreTrainedTokenizer, type TokenizerInit } from "./base.ts";
import { TokenizerError } from "./errors.ts";
import {
  parseSentencePieceModel,
  PieceType,
  type SentencePieceModelProto,
} from "./sentencepiece_proto.ts";
import { SentencePieceBpeModel } from "./sentencepiece_bpe.ts";
import { UnigramModel } from "./unigram.ts";

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

/**
 * A SentencePiece model ready to use: the normalizer, then the unigram
 * ({@linkcode UnigramModel}) or BPE ({@linkcode SentencePieceBpeModel}) segmentation, with
 * SentencePiece's handling of unknown pieces (runs merged into one piece, or byte fallback), and
 * decoding of pieces.
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
  /** The segmentation algorithm of the model. */
  readonly model: UnigramModel | SentencePieceBpeModel;

  /** Builds the processor from a parsed model (`model_type` 1 unigram or 2 BPE). */
  constructor(proto: SentencePieceModelProto, file = "spiece.model") {
    if (proto.modelType !== 1 && proto.modelType !== 2) {
      throw new TokenizerError(
        `${file}: model_type ${proto.modelType} is not supported; expected 1 (unigram) or 2 (BPE)`,
      );
    }
    this.proto = proto;
    this.normalizer = new SentencePieceNormalizer(proto, file);
    this.pieceToId = new Map();
    let unk = -1;
    proto.pieces.forEach((p, id) => {
      if (!this.pieceToId.has(p.piece)) this.pieceToId.set(p.piece, id);
      if (p.type === PieceType.UNKNOWN) unk = id;
    });
    if (unk < 0) throw new TokenizerError(`${file}: the model has no UNKNOWN piece`);
    this.unkId = unk;
    this.model = proto.modelType === 1
      ? new UnigramModel(proto.pieces, unk)
      : new SentencePieceBpeModel(proto.pieces, unk);
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
    return this.encodeNormalized(this.normalizer.normalize(text));
  }

  /**
   * Segments an already-normalized string; runs of unknown pieces become one piece, or their
   * UTF-8 bytes (`<0xAB>`) with byte fallback.
   */
  encodeNormalized(norm: string): string[] {
    const result: string[] = [];
    let prevUnk = false;
    for (const [piece, id] of this.model.encode(norm)) {
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
