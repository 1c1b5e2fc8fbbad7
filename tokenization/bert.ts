/**
 * `BertTokenizer`: HF's BasicTokenizer (text cleaning, CJK splitting, lower-casing, accent
 * stripping, punctuation split) followed by WordPiece (`wordpiece.ts`); and the BERT-vocabulary
 * tokenizers under their own names, `ElectraTokenizer` and `DistilBertTokenizer`.
 *
 * @module
 */
import { PreTrainedTokenizer, type TokenizerInit } from "./base.ts";
import { TokenizerError } from "./errors.ts";
import { whitespaceSplit, WordpieceTokenizer } from "./wordpiece.ts";

/** Options of {@linkcode BertTokenizer} (HF names). */
export interface BertTokenizerInit extends TokenizerInit {
  /** Lower-case the input (default `true`). */
  do_lower_case?: boolean;
  /** Run the BasicTokenizer before WordPiece (default `true`). */
  do_basic_tokenize?: boolean;
  /** Tokens the BasicTokenizer never splits. */
  never_split?: string[] | null;
  /** Put spaces around CJK ideographs (default `true`). */
  tokenize_chinese_chars?: boolean;
  /** Strip accents; `null`/absent follows `do_lower_case`. */
  strip_accents?: boolean | null;
  /** Longest word WordPiece handles before giving `[UNK]` (default 100). */
  max_input_chars_per_word?: number;
}

const PUNCT = /\p{P}/u;
const CONTROL = /\p{C}/u;
const ZS = /\p{Zs}/u;
const MN = /\p{Mn}/gu;

/** HF `_is_punctuation`: ASCII symbol ranges plus every Unicode `P*` category. */
export function isPunctuation(cp: number): boolean {
  if (
    (cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) ||
    (cp >= 123 && cp <= 126)
  ) {
    return true;
  }
  return PUNCT.test(String.fromCodePoint(cp));
}

/**
 * HF `_run_split_on_punc`: every punctuation character (see {@linkcode isPunctuation}) becomes a
 * piece of its own; the runs between them stay whole.
 *
 * @example
 * ```ts
 * import { splitOnPunctuation } from "@encdec/tokenization";
 * splitOnPunctuation("don't!"); // ["don", "'", "t", "!"]
 * ```
 */
export function splitOnPunctuation(text: string): string[] {
  const out: string[] = [];
  let cur = "";
  for (const ch of text) {
    if (isPunctuation(ch.codePointAt(0)!)) {
      if (cur) out.push(cur);
      out.push(ch);
      cur = "";
    } else cur += ch;
  }
  if (cur) out.push(cur);
  return out;
}

/** HF `_is_chinese_char`: the CJK Unified Ideograph blocks. */
export function isChineseChar(cp: number): boolean {
  return (cp >= 0x4e00 && cp <= 0x9fff) || (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x20000 && cp <= 0x2a6df) || (cp >= 0x2a700 && cp <= 0x2b73f) ||
    (cp >= 0x2b740 && cp <= 0x2b81f) || (cp >= 0x2b820 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0x2f800 && cp <= 0x2fa1f);
}

function isWhitespaceChar(ch: string): boolean {
  return ch === " " || ch === "\t" || ch === "\n" || ch === "\r" || ZS.test(ch);
}

function isControlChar(ch: string): boolean {
  if (ch === "\t" || ch === "\n" || ch === "\r") return false;
  return CONTROL.test(ch);
}

/** Removes combining marks after NFD (HF `_run_strip_accents`). */
export function stripAccents(text: string): string {
  return text.normalize("NFD").replace(MN, "");
}

/** Options of {@linkcode BasicTokenizer}. */
export interface BasicTokenizerOptions {
  /** Lower-case (default `true`). */
  doLowerCase?: boolean;
  /** Tokens never split. */
  neverSplit?: Iterable<string>;
  /** Split CJK ideographs (default `true`). */
  tokenizeChineseChars?: boolean;
  /** Strip accents; `null` follows `doLowerCase`. */
  stripAccents?: boolean | null;
  /** Split on punctuation (default `true`). */
  doSplitOnPunc?: boolean;
}

/**
 * HF's `BasicTokenizer`: cleans control characters, splits CJK ideographs and punctuation,
 * lower-cases and strips accents.
 *
 * @example
 * ```ts
 * import { BasicTokenizer } from "@encdec/tokenization";
 * new BasicTokenizer().tokenize("Héllo, World!"); // ["hello", ",", "world", "!"]
 * ```
 */
export class BasicTokenizer {
  /** Lower-case. */
  readonly doLowerCase: boolean;
  /** Tokens never split. */
  readonly neverSplit: Set<string>;
  /** Split CJK ideographs. */
  readonly tokenizeChineseChars: boolean;
  /** Strip accents (`null` follows lower-casing). */
  readonly stripAccents: boolean | null;
  /** Split on punctuation. */
  readonly doSplitOnPunc: boolean;

  /** Builds a BasicTokenizer with HF defaults. */
  constructor(opts: BasicTokenizerOptions = {}) {
    this.doLowerCase = opts.doLowerCase ?? true;
    this.neverSplit = new Set(opts.neverSplit ?? []);
    this.tokenizeChineseChars = opts.tokenizeChineseChars ?? true;
    this.stripAccents = opts.stripAccents ?? null;
    this.doSplitOnPunc = opts.doSplitOnPunc ?? true;
  }

  /** Cleans (drops NUL, U+FFFD and control chars; whitespace → space) and spaces out CJK. */
  cleanText(text: string): string {
    // Fast path: printable ASCII needs no change unless CJK splitting could apply (it cannot).
    if (/^[\x20-\x7e]*$/.test(text)) return text;
    const out: string[] = [];
    for (const ch of text) {
      const cp = ch.codePointAt(0)!;
      if (cp === 0 || cp === 0xfffd || isControlChar(ch)) continue;
      if (isWhitespaceChar(ch)) out.push(" ");
      else if (this.tokenizeChineseChars && isChineseChar(cp)) out.push(" ", ch, " ");
      else out.push(ch);
    }
    return out.join("");
  }

  #neverKey: Iterable<string> | null = null;
  #neverUnion: Set<string> | null = null;

  /** Splits `text` into basic tokens. */
  tokenize(text: string, neverSplit?: Iterable<string>): string[] {
    let never = this.neverSplit;
    if (neverSplit) {
      if (this.#neverKey !== neverSplit) {
        this.#neverKey = neverSplit;
        this.#neverUnion = new Set([...this.neverSplit, ...neverSplit]);
      }
      never = this.#neverUnion!;
    }
    let cleaned = this.cleanText(text);
    // deno-lint-ignore no-control-regex
    const ascii = /^[\x00-\x7f]*$/.test(cleaned);
    if (!ascii) cleaned = cleaned.normalize("NFC");
    const split: string[] = [];
    for (let token of whitespaceSplit(cleaned)) {
      if (!never.has(token)) {
        if (this.doLowerCase) {
          token = token.toLowerCase();
          if (this.stripAccents !== false && !ascii) token = stripAccents(token);
        } else if (this.stripAccents && !ascii) {
          token = stripAccents(token);
        }
      }
      this.#splitOnPunc(token, never, split);
    }
    return whitespaceSplit(split.join(" "));
  }

  #splitOnPunc(text: string, never: Set<string>, out: string[]): void {
    if (!this.doSplitOnPunc || never.has(text)) {
      out.push(text);
      return;
    }
    if (/^[\p{L}\p{N}]*$/u.test(text)) {
      out.push(text);
      return;
    }
    for (const piece of splitOnPunctuation(text)) out.push(piece);
  }
}

/**
 * Parses a `vocab.txt` (one token per line, id = line number) into token → id.
 *
 * @example
 * ```ts
 * import { parseVocabTxt } from "@encdec/tokenization";
 * parseVocabTxt("[PAD]\n[UNK]\n").get("[UNK]"); // 1
 * ```
 */
export function parseVocabTxt(text: string, file = "vocab.txt"): Map<string, number> {
  const lines = text.split("\n");
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  const vocab = new Map<string, number>();
  lines.forEach((l, i) => {
    const tok = l.replace(/\r$/, "");
    // HF: `token.rstrip("\n")`, ids follow line order; a duplicate keeps its last line.
    vocab.set(tok, i);
  });
  if (vocab.size === 0) {
    throw new TokenizerError(`${file}: empty vocabulary, expected one token per line`);
  }
  return vocab;
}

/**
 * HF's `BertTokenizer` (slow): BasicTokenizer + WordPiece from a `vocab.txt`, `[CLS] A [SEP] B
 * [SEP]` with segment ids 0/1.
 *
 * @example
 * ```ts
 * import { BertTokenizer } from "@encdec/tokenization";
 * const tok = BertTokenizer.fromVocab(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "hello", "!"]);
 * tok.call("Hello!").inputIds; // [2, 4, 5, 3]
 * tok.decode([2, 4, 5, 3], { skipSpecialTokens: true }); // "hello!"
 * ```
 */
export class BertTokenizer extends PreTrainedTokenizer {
  /** Token → id of `vocab.txt`. */
  readonly vocab: Map<string, number>;
  /** id → token. */
  readonly idsToTokens: Map<number, string>;
  /** The BasicTokenizer, when `do_basic_tokenize`. */
  readonly basicTokenizer: BasicTokenizer | null;
  /** The WordPiece model. */
  readonly wordpiece: WordpieceTokenizer;
  /** The options the tokenizer was built with (for `toTokenizerJSON`). */
  readonly init: BertTokenizerInit;

  /** Builds a tokenizer from a parsed vocabulary. */
  constructor(vocab: Map<string, number>, init: BertTokenizerInit = {}) {
    super(init);
    this.init = init;
    this.modelInputNames = init.model_input_names ?? this.defaultModelInputNames;
    this.vocab = vocab;
    this.idsToTokens = new Map([...vocab].map(([t, i]) => [i, t]));
    const doLower = init.do_lower_case ?? true;
    this.basicTokenizer = (init.do_basic_tokenize ?? true)
      ? new BasicTokenizer({
        doLowerCase: doLower,
        neverSplit: init.never_split ?? [],
        tokenizeChineseChars: init.tokenize_chinese_chars ?? true,
        stripAccents: init.strip_accents ?? null,
      })
      : null;
    const unk = init.unk_token === undefined
      ? "[UNK]"
      : typeof init.unk_token === "string"
      ? init.unk_token
      : init.unk_token?.content ?? "[UNK]";
    this.wordpiece = new WordpieceTokenizer(vocab, unk, init.max_input_chars_per_word ?? 100);
    this.initSpecialTokens(init, {
      unk_token: "[UNK]",
      sep_token: "[SEP]",
      pad_token: "[PAD]",
      cls_token: "[CLS]",
      mask_token: "[MASK]",
    });
  }

  /** Inputs returned when `model_input_names` is not given (HF's class attribute). */
  protected get defaultModelInputNames(): string[] {
    return ["input_ids", "token_type_ids", "attention_mask"];
  }

  /** Builds a tokenizer (of the class it is called on) from the text of a `vocab.txt`. */
  static fromVocabText<T extends BertTokenizer>(
    this: new (vocab: Map<string, number>, init?: BertTokenizerInit) => T,
    text: string,
    init: BertTokenizerInit = {},
    file = "vocab.txt",
  ): T {
    return new this(parseVocabTxt(text, file), init);
  }

  /** Builds a tokenizer (of the class it is called on) from a token list (id = index). */
  static fromVocab<T extends BertTokenizer>(
    this: new (vocab: Map<string, number>, init?: BertTokenizerInit) => T,
    tokens: string[],
    init: BertTokenizerInit = {},
  ): T {
    return new this(new Map(tokens.map((t, i) => [t, i])), init);
  }

  /** Whether input is lower-cased. */
  get doLowerCase(): boolean {
    return this.basicTokenizer?.doLowerCase ?? false;
  }

  /** Lower-casing models lower-case the text before added tokens are split out, as HF. */
  protected override get lowerCasesInput(): boolean {
    return this.doLowerCase;
  }

  /** Size of `vocab.txt`. */
  get vocabSize(): number {
    return this.vocab.size;
  }

  /** Id of a model-vocabulary token. */
  protected vocabLookup(token: string): number | undefined {
    return this.vocab.get(token);
  }

  /** Token of a model-vocabulary id. */
  protected vocabToken(id: number): string | undefined {
    return this.idsToTokens.get(id);
  }

  /** token → id including added tokens. */
  getVocab(): Map<string, number> {
    const v = new Map(this.vocab);
    for (const [t, i] of this.addedTokensEncoder) v.set(t, i);
    return v;
  }

  /** Model tokens of one chunk without added tokens. */
  protected _tokenize(text: string): string[] {
    if (!this.basicTokenizer) return this.wordpiece.tokenize(text);
    const out: string[] = [];
    for (const t of this.basicTokenizer.tokenize(text, this.allSpecialTokens)) {
      if (this.basicTokenizer.neverSplit.has(t)) out.push(t);
      else this.wordpiece.tokenizeWord(t, out);
    }
    return out;
  }

  /** Joins WordPiece tokens: spaces between, `##` continuations glued. */
  convertTokensToString(tokens: string[]): string {
    return tokens.join(" ").replaceAll(" ##", "").trim();
  }

  /** `[CLS] A [SEP]` or `[CLS] A [SEP] B [SEP]`. */
  override buildInputsWithSpecialTokens(ids0: number[], ids1?: number[]): number[] {
    const cls = this.clsTokenId!;
    const sep = this.sepTokenId!;
    return ids1 ? [cls, ...ids0, sep, ...ids1, sep] : [cls, ...ids0, sep];
  }
}

/**
 * HF's `ElectraTokenizer` (slow): the same tokenizer as {@linkcode BertTokenizer} under ELECTRA's
 * name (`[CLS] A [SEP] B [SEP]`, segment ids 0/1).
 *
 * @example
 * ```ts
 * import { ElectraTokenizer } from "@encdec/tokenization";
 * const tok = ElectraTokenizer.fromVocab(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "hello"]);
 * tok.call("hello", { textPair: "hello" }).tokenTypeIds; // [0, 0, 0, 1, 1]
 * ```
 */
export class ElectraTokenizer extends BertTokenizer {}

/**
 * HF's `DistilBertTokenizer` (slow): {@linkcode BertTokenizer}'s tokenization, but DistilBERT
 * takes no segment ids, so encodings carry only `inputIds` and `attentionMask`
 * (`model_input_names = ["input_ids", "attention_mask"]`).
 *
 * @example
 * ```ts
 * import { DistilBertTokenizer } from "@encdec/tokenization";
 * const tok = DistilBertTokenizer.fromVocab(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "hello"]);
 * tok.call("hello", { textPair: "hello" }).tokenTypeIds; // undefined
 * ```
 */
export class DistilBertTokenizer extends BertTokenizer {
  /** DistilBERT's inputs: no `token_type_ids`. */
  protected override get defaultModelInputNames(): string[] {
    return ["input_ids", "attention_mask"];
  }
}
