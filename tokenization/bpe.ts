/**
 * Byte-level BPE (`GPT2Tokenizer`, `RobertaTokenizer`): GPT-2's pre-tokenization regex, the
 * bytes-to-unicode table, rank-ordered merges (a heap for long words, so a 10 MB word stays
 * O(n log n)), and byte decoding with `errors="replace"`.
 *
 * @module
 */
import { PreTrainedTokenizer, type TokenizerInit } from "./base.ts";
import { TokenizerError } from "./errors.ts";
import { ROBERTA_SPECIAL_TOKENS, robertaLayout, robertaMask } from "./_roberta.ts";

/** GPT-2's `bytes_to_unicode`: each byte → a printable character (byte → char). */
export function bytesToUnicode(): string[] {
  const bs: number[] = [];
  for (let b = 33; b <= 126; b++) bs.push(b);
  for (let b = 161; b <= 172; b++) bs.push(b);
  for (let b = 174; b <= 255; b++) bs.push(b);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n);
      n++;
    }
  }
  const out = new Array<string>(256);
  bs.forEach((b, i) => out[b] = String.fromCodePoint(cs[i]));
  return out;
}

const BYTE_ENCODER = bytesToUnicode();
const BYTE_DECODER = new Map(BYTE_ENCODER.map((c, b) => [c, b]));

/** Python `regex`'s `\s` (Unicode White_Space), which differs from JavaScript's (U+FEFF, U+0085). */
const WS = "\\t-\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";

/** HF's GPT-2 pre-tokenization pattern, with Python's whitespace class. */
export const GPT2_PATTERN: RegExp = new RegExp(
  `'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^${WS}\\p{L}\\p{N}]+|[${WS}]+(?![^${WS}])|[${WS}]+`,
  "gu",
);

/**
 * Parses `merges.txt` (optional `#version` header, one `a b` pair per line) into `"a b"` → rank,
 * checking every merge names tokens of `vocab` and that the merged token exists.
 */
export function parseMerges(
  text: string,
  vocab: Map<string, number>,
  file = "merges.txt",
): Map<string, number> {
  const ranks = new Map<string, number>();
  const lines = text.split("\n");
  let rank = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].replace(/\r$/, "");
    if ((i === 0 && line.startsWith("#version")) || line.trim() === "") continue;
    const parts = line.split(" ");
    if (parts.length !== 2) {
      throw new TokenizerError(
        `${file}:${i + 1}: expected two space-separated tokens, got ${JSON.stringify(line)}`,
      );
    }
    const [a, b] = parts;
    for (const t of [a, b, a + b]) {
      if (!vocab.has(t)) {
        throw new TokenizerError(
          `${file}:${i + 1}: merge ${JSON.stringify(line)} names ${
            JSON.stringify(t)
          }, which is not in the vocabulary`,
        );
      }
    }
    if (!ranks.has(`${a} ${b}`)) ranks.set(`${a} ${b}`, rank);
    rank++;
  }
  return ranks;
}

/** Parses a `vocab.json` (token → id). */
export function parseVocabJson(text: string, file = "vocab.json"): Map<string, number> {
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch (e) {
    throw new TokenizerError(`${file}: invalid JSON: ${(e as Error).message}`, { cause: e });
  }
  if (obj === null || typeof obj !== "object" || Array.isArray(obj)) {
    throw new TokenizerError(`${file}: expected a JSON object mapping token → id`);
  }
  const vocab = new Map<string, number>();
  for (const [k, v] of Object.entries(obj)) {
    if (!Number.isInteger(v) || (v as number) < 0) {
      throw new TokenizerError(
        `${file}: token ${JSON.stringify(k)} has id ${JSON.stringify(v)}, expected an integer >= 0`,
      );
    }
    vocab.set(k, v as number);
  }
  return vocab;
}

/** Applies BPE merges to one word (a string of byte-level characters). */
export class BytePairEncoder {
  /** `"a b"` → rank. */
  readonly ranks: Map<string, number>;
  #cache = new Map<string, string[]>();

  /** Builds the encoder over merge ranks. */
  constructor(ranks: Map<string, number>) {
    this.ranks = ranks;
  }

  /** The BPE symbols of `word`. */
  encode(word: string, endOfWordSuffix = ""): string[] {
    const hit = this.#cache.get(word);
    if (hit) return hit;
    const symbols = Array.from(word);
    if (endOfWordSuffix && symbols.length > 0) symbols[symbols.length - 1] += endOfWordSuffix;
    const out = symbols.length <= 48 ? this.#simple(symbols) : this.#heap(symbols);
    if (this.#cache.size > 100_000) this.#cache.clear();
    this.#cache.set(word, out);
    return out;
  }

  /** HF's loop: merge every occurrence of the best-ranked pair, repeat. */
  #simple(word: string[]): string[] {
    while (word.length > 1) {
      let best = Infinity;
      let first = "";
      let second = "";
      for (let i = 0; i < word.length - 1; i++) {
        const r = this.ranks.get(word[i] + " " + word[i + 1]);
        if (r !== undefined && r < best) {
          best = r;
          first = word[i];
          second = word[i + 1];
        }
      }
      if (best === Infinity) break;
      const next: string[] = [];
      for (let i = 0; i < word.length;) {
        if (i < word.length - 1 && word[i] === first && word[i + 1] === second) {
          next.push(first + second);
          i += 2;
        } else {
          next.push(word[i]);
          i++;
        }
      }
      word = next;
    }
    return word;
  }

  /**
   * The same merges with a linked list and a min-heap keyed by (rank, position): O(n log n).
   * Keys pack `rank * 2^26 + position` into one float64; a popped entry is stale when the pair at
   * that position no longer has that rank (ranks are unique per pair).
   */
  #heap(word: string[]): string[] {
    const n = word.length;
    if (n >= 2 ** 26) {
      throw new TokenizerError(`BPE: a single word of ${n} symbols is too long (limit 2^26)`);
    }
    const sym = word;
    const prev = new Int32Array(n);
    const next = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      prev[i] = i - 1;
      next[i] = i + 1 < n ? i + 1 : -1;
    }
    const alive = new Uint8Array(n).fill(1);
    let heap = new Float64Array(1024);
    let size = 0;
    const SHIFT = 2 ** 26;
    const push = (key: number) => {
      if (size === heap.length) {
        const h = new Float64Array(heap.length * 2);
        h.set(heap);
        heap = h;
      }
      let i = size++;
      while (i > 0) {
        const p = (i - 1) >> 1;
        if (heap[p] <= key) break;
        heap[i] = heap[p];
        i = p;
      }
      heap[i] = key;
    };
    const pop = (): number => {
      const top = heap[0];
      const last = heap[--size];
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= size) break;
        const m = l + 1 < size && heap[l + 1] < heap[l] ? l + 1 : l;
        if (heap[m] >= last) break;
        heap[i] = heap[m];
        i = m;
      }
      heap[i] = last;
      return top;
    };
    const rankAt = (i: number): number | undefined => {
      const j = next[i];
      return j < 0 ? undefined : this.ranks.get(sym[i] + " " + sym[j]);
    };
    const consider = (i: number) => {
      if (i < 0) return;
      const r = rankAt(i);
      if (r !== undefined) push(r * SHIFT + i);
    };
    for (let i = 0; i < n - 1; i++) consider(i);
    while (size > 0) {
      const key = pop();
      const rank = Math.floor(key / SHIFT);
      const i = key - rank * SHIFT;
      if (!alive[i] || rankAt(i) !== rank) continue; // stale entry
      const j = next[i];
      sym[i] = sym[i] + sym[j];
      alive[j] = 0;
      next[i] = next[j];
      if (next[j] >= 0) prev[next[j]] = i;
      consider(prev[i]);
      consider(i);
    }
    const out: string[] = [];
    for (let i = 0; i >= 0; i = next[i]) out.push(sym[i]);
    return out;
  }
}

/** Options of {@linkcode GPT2Tokenizer} / {@linkcode RobertaTokenizer} (HF names). */
export interface BpeTokenizerInit extends TokenizerInit {
  /** Prepend a space to the text, so the first word is treated like the others (default `false`). */
  add_prefix_space?: boolean;
  /** Add the BOS token in front (GPT-2 `add_bos_token`, default `false`). */
  add_bos_token?: boolean;
  /** Byte decoding error policy; only `"replace"` (HF default) is supported. */
  errors?: string;
}

/**
 * HF's `GPT2Tokenizer` (slow): byte-level BPE from `vocab.json` + `merges.txt`, no special
 * tokens added around sequences, `<|endoftext|>` as BOS/EOS/UNK.
 *
 * @example
 * ```ts
 * import { GPT2Tokenizer } from "@encdec/tokenization";
 * const vocab = new Map([["H", 0], ["i", 1], ["Hi", 2], ["<|endoftext|>", 3]]);
 * const tok = new GPT2Tokenizer(vocab, new Map([["H i", 0]]));
 * tok.encode("Hi"); // [2]
 * ```
 */
export class GPT2Tokenizer extends PreTrainedTokenizer {
  /** token → id. */
  readonly encoder: Map<string, number>;
  /** id → token. */
  readonly decoder: Map<number, string>;
  /** The BPE merges. */
  readonly bpe: BytePairEncoder;
  /** Prepend a space before tokenizing. */
  addPrefixSpace: boolean;
  /** Add BOS in front of each sequence. */
  addBosToken: boolean;
  /** The options the tokenizer was built with. */
  readonly init: BpeTokenizerInit;

  /** Builds the tokenizer from a vocabulary and merge ranks (see {@linkcode parseMerges}). */
  constructor(
    vocab: Map<string, number>,
    ranks: Map<string, number>,
    init: BpeTokenizerInit = {},
    defaults: Partial<Record<string, string>> = {
      bos_token: "<|endoftext|>",
      eos_token: "<|endoftext|>",
      unk_token: "<|endoftext|>",
    },
  ) {
    super(init);
    if (init.errors !== undefined && init.errors !== "replace") {
      throw new TokenizerError(
        `errors: only "replace" is supported, got ${JSON.stringify(init.errors)}`,
      );
    }
    this.init = init;
    this.encoder = vocab;
    this.decoder = new Map([...vocab].map(([t, i]) => [i, t]));
    this.bpe = new BytePairEncoder(ranks);
    this.addPrefixSpace = init.add_prefix_space ?? false;
    this.addBosToken = init.add_bos_token ?? false;
    this.initSpecialTokens(init, defaults);
  }

  /** Builds a tokenizer (of the class it is called on) from the texts of `vocab.json` and `merges.txt`. */
  static fromFiles<T extends GPT2Tokenizer>(
    this: new (
      vocab: Map<string, number>,
      ranks: Map<string, number>,
      init?: BpeTokenizerInit,
    ) => T,
    vocabJson: string,
    mergesTxt: string,
    init: BpeTokenizerInit = {},
  ): T {
    const vocab = parseVocabJson(vocabJson);
    return new this(vocab, parseMerges(mergesTxt, vocab), init);
  }

  /** Size of `vocab.json`. */
  get vocabSize(): number {
    return this.encoder.size;
  }
  /** Id of a model-vocabulary token. */
  protected vocabLookup(token: string): number | undefined {
    return this.encoder.get(token);
  }
  /** Token of a model-vocabulary id. */
  protected vocabToken(id: number): string | undefined {
    return this.decoder.get(id);
  }
  /** token → id including added tokens. */
  getVocab(): Map<string, number> {
    const v = new Map(this.encoder);
    for (const [t, i] of this.addedTokensEncoder) v.set(t, i);
    return v;
  }

  /** HF `prepare_for_tokenization`: the optional prefix space. */
  protected prepareForTokenization(text: string): string {
    return this.addPrefixSpace ? " " + text : text;
  }

  /** Model tokens of one chunk without added tokens. */
  protected _tokenize(text: string): string[] {
    text = this.prepareForTokenization(text);
    const enc = new TextEncoder();
    const out: string[] = [];
    for (const m of text.matchAll(GPT2_PATTERN)) {
      let mapped = "";
      for (const b of enc.encode(m[0])) mapped += BYTE_ENCODER[b];
      for (const t of this.bpe.encode(mapped)) out.push(t);
    }
    return out;
  }

  /** Joins byte-level tokens and decodes the bytes as UTF-8, invalid sequences → U+FFFD. */
  convertTokensToString(tokens: string[]): string {
    const bytes: number[] = [];
    const enc = new TextEncoder();
    for (const ch of tokens.join("")) {
      const b = BYTE_DECODER.get(ch);
      if (b !== undefined) bytes.push(b);
      else for (const x of enc.encode(ch)) bytes.push(x);
    }
    return new TextDecoder("utf-8", { fatal: false, ignoreBOM: true }).decode(
      new Uint8Array(bytes),
    );
  }

  /** `A` (+ `B`), with BOS in front when `add_bos_token`. */
  override buildInputsWithSpecialTokens(ids0: number[], ids1?: number[]): number[] {
    const bos = this.addBosToken && this.bosTokenId !== null ? [this.bosTokenId] : [];
    return ids1 ? [...bos, ...ids0, ...bos, ...ids1] : [...bos, ...ids0];
  }
}

/**
 * HF's `RobertaTokenizer` (slow): GPT-2 byte-level BPE with `<s> A </s>` and `<s> A </s></s> B
 * </s>`; `<mask>` eats the space on its left.
 *
 * @example
 * ```ts
 * import { RobertaTokenizer } from "@encdec/tokenization";
 * const vocab = new Map([["H", 0], ["i", 1], ["Hi", 2]]);
 * const tok = new RobertaTokenizer(vocab, new Map([["H i", 0]]));
 * tok.encode("Hi"); // [3, 2, 4]  (<s>=3, </s>=4 are added after the vocabulary)
 * ```
 */
export class RobertaTokenizer extends GPT2Tokenizer {
  /** Builds the tokenizer from a vocabulary and merge ranks. */
  constructor(vocab: Map<string, number>, ranks: Map<string, number>, init: BpeTokenizerInit = {}) {
    super(vocab, ranks, { ...init, mask_token: robertaMask(init) }, ROBERTA_SPECIAL_TOKENS);
  }

  /** RoBERTa adds the prefix space only when the text does not start with whitespace. */
  protected override prepareForTokenization(text: string): string {
    return this.addPrefixSpace && text.length > 0 && !/^\s/u.test(text) ? " " + text : text;
  }

  /** `<s> A </s>` or `<s> A </s></s> B </s>`. */
  override buildInputsWithSpecialTokens(ids0: number[], ids1?: number[]): number[] {
    return robertaLayout(this.clsTokenId!, this.sepTokenId!, ids0, ids1);
  }

  /** RoBERTa does not use segment ids: all zeros. */
  override createTokenTypeIdsFromSequences(ids0: number[], ids1?: number[]): number[] {
    return new Array(this.buildInputsWithSpecialTokens(ids0, ids1).length).fill(0);
  }
}

/**
 * HF's `LongformerTokenizer` (slow): {@linkcode RobertaTokenizer} under Longformer's name (the
 * same byte-level BPE, `<s> A </s></s> B </s>` layout and `<mask>` that eats the space on its
 * left).
 *
 * @example
 * ```ts
 * import { LongformerTokenizer } from "@encdec/tokenization";
 * const vocab = new Map([["H", 0], ["i", 1], ["Hi", 2]]);
 * const tok = new LongformerTokenizer(vocab, new Map([["H i", 0]]));
 * tok.encode("Hi"); // [3, 2, 4]
 * ```
 */
export class LongformerTokenizer extends RobertaTokenizer {
}
