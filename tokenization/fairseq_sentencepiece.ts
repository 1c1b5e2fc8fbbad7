/**
 * SentencePiece tokenizers with fairseq's id layout: `XLMRobertaTokenizer` (`<s>`=0, `<pad>`=1,
 * `</s>`=2, `<unk>`=3, piece *i* → *i*+1, `<mask>` last) and `CamembertTokenizer` (five fixed
 * tokens, piece *i* → *i*+4), both with RoBERTa's `<s> A </s></s> B </s>` layout, no segment ids
 * and a `<mask>` that eats the space on its left (HF `transformers` 4.40 slow tokenizers).
 *
 * @module
 */
import { type AddedToken, addedToken } from "./added_tokens.ts";
import { PreTrainedTokenizer, type TokenizerInit } from "./base.ts";
import { SentencePieceProcessor, SPACE_SYMBOL } from "./sentencepiece.ts";
import { parseSentencePieceModel } from "./sentencepiece_proto.ts";
import { ROBERTA_SPECIAL_TOKENS, robertaLayout, robertaMask } from "./_roberta.ts";

/** Options of {@linkcode XLMRobertaTokenizer} and {@linkcode CamembertTokenizer} (HF names). */
export type FairseqSentencePieceInit = TokenizerInit;

/**
 * The shared part of {@linkcode XLMRobertaTokenizer} and {@linkcode CamembertTokenizer}: a
 * SentencePiece model, `<s> A </s>` / `<s> A </s></s> B </s>`, segment ids all 0.
 *
 * @example
 * ```ts
 * import { FairseqSentencePieceTokenizer, XLMRobertaTokenizer } from "@encdec/tokenization";
 * const tok = XLMRobertaTokenizer.fromModelBytes(await Deno.readFile("sentencepiece.bpe.model"));
 * tok instanceof FairseqSentencePieceTokenizer; // true
 * ```
 */
export abstract class FairseqSentencePieceTokenizer extends PreTrainedTokenizer {
  /** The SentencePiece model. */
  readonly sp: SentencePieceProcessor;
  /** The options the tokenizer was built with. */
  readonly init: FairseqSentencePieceInit;

  /** Keeps the model and options; subclasses register their special tokens. */
  protected constructor(sp: SentencePieceProcessor, init: FairseqSentencePieceInit) {
    super(init);
    this.sp = sp;
    this.init = init;
  }

  /** Builds a tokenizer (of the class it is called on) from the bytes of `sentencepiece.bpe.model`. */
  static fromModelBytes<T extends FairseqSentencePieceTokenizer>(
    this: new (sp: SentencePieceProcessor, init?: FairseqSentencePieceInit) => T,
    bytes: Uint8Array,
    init: FairseqSentencePieceInit = {},
    file = "sentencepiece.bpe.model",
  ): T {
    return new this(new SentencePieceProcessor(parseSentencePieceModel(bytes, file), file), init);
  }

  /** Model tokens of one chunk without added tokens (SentencePiece pieces). */
  protected _tokenize(text: string): string[] {
    return this.sp.encode(text);
  }

  /** HF `get_vocab`: every id below `end` through `convert_ids_to_tokens`, then the added tokens. */
  protected vocabUpTo(end: number): Map<string, number> {
    const v = new Map<string, number>();
    for (let i = 0; i < end; i++) {
      const t = this.addedTokensDecoder.get(i)?.content ?? this.vocabToken(i);
      if (t !== undefined) v.set(t, i);
    }
    for (const [t, i] of this.addedTokensEncoder) v.set(t, i);
    return v;
  }

  /** `<s> A </s>` or `<s> A </s></s> B </s>`. */
  override buildInputsWithSpecialTokens(ids0: number[], ids1?: number[]): number[] {
    return robertaLayout(this.clsTokenId!, this.sepTokenId!, ids0, ids1);
  }

  /** No segment ids: all zeros. */
  override createTokenTypeIdsFromSequences(ids0: number[], ids1?: number[]): number[] {
    return new Array(this.buildInputsWithSpecialTokens(ids0, ids1).length).fill(0);
  }
}

/**
 * HF's `XLMRobertaTokenizer` (slow): a SentencePiece model behind fairseq's fixed ids `<s>`=0,
 * `<pad>`=1, `</s>`=2, `<unk>`=3; piece *i* has id *i*+1 (pieces the model maps to its own
 * unknown become `<unk>`=3) and `<mask>` follows the last piece.
 *
 * @example
 * ```ts
 * import { XLMRobertaTokenizer } from "@encdec/tokenization";
 * const tok = XLMRobertaTokenizer.fromModelBytes(await Deno.readFile("sentencepiece.bpe.model"));
 * tok.call("Hello").inputIds; // [0, ..., 2]
 * ```
 */
export class XLMRobertaTokenizer extends FairseqSentencePieceTokenizer {
  /** fairseq's id shift of the SentencePiece pieces. */
  readonly fairseqOffset: number = 1;
  #fixed: Map<string, number>;
  #fixedIds: Map<number, string>;

  /** Builds the tokenizer around a SentencePiece model. */
  constructor(sp: SentencePieceProcessor, init: FairseqSentencePieceInit = {}) {
    super(sp, init);
    this.#fixed = new Map([["<s>", 0], ["<pad>", 1], ["</s>", 2], ["<unk>", 3]]);
    this.#fixed.set("<mask>", sp.size + this.fairseqOffset);
    this.#fixedIds = new Map([...this.#fixed].map(([t, i]) => [i, t]));
    this.initSpecialTokens({ ...init, mask_token: robertaMask(init) }, ROBERTA_SPECIAL_TOKENS);
  }

  /** Pieces + the fairseq offset + `<mask>` (HF `vocab_size`). */
  get vocabSize(): number {
    return this.sp.size + this.fairseqOffset + 1;
  }
  /** fairseq ids first; a piece the model does not know (SentencePiece id 0) has no id here. */
  protected vocabLookup(token: string): number | undefined {
    const f = this.#fixed.get(token);
    if (f !== undefined) return f;
    const id = this.sp.pieceToId.get(token) ?? this.sp.unkId;
    return id ? id + this.fairseqOffset : undefined;
  }
  /** fairseq tokens first, then piece `id - 1`. */
  protected vocabToken(id: number): string | undefined {
    return this.#fixedIds.get(id) ??
      (id >= this.fairseqOffset ? this.sp.idToPiece(id - this.fairseqOffset) : undefined);
  }
  /** token → id including added tokens (HF `get_vocab`). */
  getVocab(): Map<string, number> {
    return this.vocabUpTo(this.vocabSize);
  }
  /** HF's join: concatenate, `▁` → space, trim. */
  convertTokensToString(tokens: string[]): string {
    return tokens.join("").replaceAll(SPACE_SYMBOL, " ").trim();
  }
}

/**
 * HF's `CamembertTokenizer` (slow): a SentencePiece model (unigram or BPE) behind five fixed
 * tokens `<s>NOTUSED`=0, `<pad>`=1, `</s>NOTUSED`=2, `<unk>`=3, `<unk>NOTUSED`=4; piece *i* has
 * id *i*+4 (so the model's own `<s>`/`</s>` are 5/6) and `<mask>` is added after the pieces.
 *
 * @example
 * ```ts
 * import { CamembertTokenizer } from "@encdec/tokenization";
 * const tok = CamembertTokenizer.fromModelBytes(await Deno.readFile("sentencepiece.bpe.model"));
 * tok.decode(tok.encode("Bonjour"), { skipSpecialTokens: true }); // "Bonjour"
 * ```
 */
export class CamembertTokenizer extends FairseqSentencePieceTokenizer {
  /** fairseq's id shift of the SentencePiece pieces. */
  readonly fairseqOffset: number = 4;

  /** Builds the tokenizer around a SentencePiece model. */
  constructor(sp: SentencePieceProcessor, init: FairseqSentencePieceInit = {}) {
    super(sp, init);
    const role = (v: string | AddedToken | null | undefined, d: string): AddedToken =>
      typeof v === "object" && v !== null ? v : addedToken(v ?? d, true);
    // HF's "HACK": these five always hold ids 0-4, whatever a saved added_tokens_decoder says.
    const fixed = new Map(init.added_tokens_decoder ?? []);
    fixed.set(0, addedToken("<s>NOTUSED", true));
    fixed.set(1, role(init.pad_token, "<pad>"));
    fixed.set(2, addedToken("</s>NOTUSED", true));
    fixed.set(3, role(init.unk_token, "<unk>"));
    fixed.set(4, addedToken("<unk>NOTUSED", true));
    this.initSpecialTokens({
      ...init,
      mask_token: robertaMask(init),
      additional_special_tokens: init.additional_special_tokens ??
        ["<s>NOTUSED", "</s>NOTUSED", "<unk>NOTUSED"],
      added_tokens_decoder: fixed,
    }, { ...ROBERTA_SPECIAL_TOKENS });
  }

  /** Number of SentencePiece pieces (HF `vocab_size`; the five fixed tokens come on top). */
  get vocabSize(): number {
    return this.sp.size;
  }
  /** Piece id + 4; a piece the model does not know (SentencePiece id 0) has no id here. */
  protected vocabLookup(token: string): number | undefined {
    const id = this.sp.pieceToId.get(token) ?? this.sp.unkId;
    return id ? id + this.fairseqOffset : undefined;
  }
  /** Piece `id - 4`. */
  protected vocabToken(id: number): string | undefined {
    return id >= this.fairseqOffset ? this.sp.idToPiece(id - this.fairseqOffset) : undefined;
  }
  /** token → id including added tokens (HF `get_vocab`). */
  getVocab(): Map<string, number> {
    return this.vocabUpTo(this.vocabSize + this.fairseqOffset);
  }
  /** HF's join: special tokens verbatim (a space before a run of them), pieces decoded; trimmed. */
  convertTokensToString(tokens: string[]): string {
    const specials = new Set(this.allSpecialTokens);
    let out = "";
    let run: string[] = [];
    let prevSpecial = false;
    for (const t of tokens) {
      if (specials.has(t)) {
        if (!prevSpecial) out += " ";
        out += this.sp.decodePieces(run) + t;
        prevSpecial = true;
        run = [];
      } else {
        run.push(t);
        prevSpecial = false;
      }
    }
    out += this.sp.decodePieces(run);
    return out.trim();
  }
}
