/**
 * The shared machinery of every slow tokenizer, after Hugging Face's `PreTrainedTokenizer`:
 * special and added tokens (split out of the text before the model tokenizer runs, see
 * `_added_splitter.ts`), the calling API (`call` = HF `tokenizer(...)`) with truncation and
 * padding (`_pad_truncate.ts`), decoding, and chat templates (`chat_template.ts`).
 *
 * @module
 */
import { AddedSplitter, applyAddedTokenFlags } from "./_added_splitter.ts";
import {
  type AddedToken,
  addedToken,
  SPECIAL_TOKEN_ROLES,
  type SpecialTokenRole,
} from "./added_tokens.ts";
import { type ChatMessage, type ChatTemplateOptions, renderChatTemplate } from "./chat_template.ts";
import { cleanUpTokenization } from "./clean_up.ts";
import {
  type BatchEncoding,
  type DecodeOptions,
  type EncodeOptions,
  type Encoding,
  VERY_LARGE_INTEGER,
} from "./encoding.ts";
import { TokenizerError } from "./errors.ts";
import {
  paddingStrategy,
  padEncodings,
  truncateIds,
  truncationLength,
  truncationStrategy,
} from "./_pad_truncate.ts";

/** Options every tokenizer constructor accepts (HF names, snake_case as in the config files). */
export interface TokenizerInit {
  /** Special tokens by role; `null` unsets the role. */
  bos_token?: string | AddedToken | null;
  /** End-of-sequence token. */
  eos_token?: string | AddedToken | null;
  /** Unknown token. */
  unk_token?: string | AddedToken | null;
  /** Separator token. */
  sep_token?: string | AddedToken | null;
  /** Padding token. */
  pad_token?: string | AddedToken | null;
  /** Classifier token. */
  cls_token?: string | AddedToken | null;
  /** Mask token. */
  mask_token?: string | AddedToken | null;
  /** Extra special tokens. */
  additional_special_tokens?: (string | AddedToken)[];
  /** Added tokens with fixed ids (`added_tokens_decoder` of `tokenizer_config.json`). */
  added_tokens_decoder?: Map<number, AddedToken>;
  /** Maximum sequence length the model accepts (default: effectively unlimited). */
  model_max_length?: number;
  /** Default of `decode(..., { cleanUpTokenizationSpaces })` (HF default `true`). */
  clean_up_tokenization_spaces?: boolean;
  /** Jinja chat template (`tokenizer_config.json` `chat_template`). */
  chat_template?: string | null;
  /** `"right"` (default) or `"left"`. */
  padding_side?: "right" | "left";
  /** `"right"` (default) or `"left"`. */
  truncation_side?: "right" | "left";
  /** Inputs returned by default (HF `model_input_names`). */
  model_input_names?: string[];
}

/** A value for an error message, whatever its type (`JSON.stringify` fails on some). */
function showValue(v: unknown): string {
  try {
    return (JSON.stringify(v) ?? String(v)).slice(0, 80);
  } catch {
    return Object.prototype.toString.call(v);
  }
}

/**
 * The base of every slow tokenizer. Subclasses provide the vocabulary, `_tokenize` (one chunk of
 * text without added tokens → model tokens), `convertTokensToString` and the special-token
 * layout; everything else (the calling API, truncation, padding, decoding, chat templates) lives
 * here with HF `transformers` 4.40 semantics.
 *
 * @example
 * ```ts
 * import { BertTokenizer } from "@encdec/tokenization";
 * const tok = BertTokenizer.fromVocab(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "hello"]);
 * tok.call("hello").inputIds; // [2, 4, 3]
 * ```
 */
export abstract class PreTrainedTokenizer {
  /** Model inputs this tokenizer returns by default (HF `model_input_names`). */
  modelInputNames: string[] = ["input_ids", "attention_mask"];
  /** Maximum sequence length the model accepts. */
  modelMaxLength: number;
  /** Default for `decode`'s `cleanUpTokenizationSpaces`. */
  cleanUpTokenizationSpaces: boolean;
  /** Jinja chat template, if any. */
  chatTemplate: string | null;
  /** `"right"` or `"left"`. */
  paddingSide: "right" | "left";
  /** `"right"` or `"left"`. */
  truncationSide: "right" | "left";
  /** Special tokens by role. */
  readonly specialTokens: Map<SpecialTokenRole, AddedToken> = new Map();
  /** Additional special tokens. */
  additionalSpecialTokens: AddedToken[] = [];
  /** Added tokens by id (HF `added_tokens_decoder`). */
  readonly addedTokensDecoder: Map<number, AddedToken> = new Map();
  /** Added tokens by content (HF `added_tokens_encoder`). */
  readonly addedTokensEncoder: Map<string, number> = new Map();
  #trie: AddedSplitter | null = null;
  #lowerPattern: { splitter: AddedSplitter; keep: Set<string> } | null = null;

  /** Sets up the common options; subclasses call {@linkcode PreTrainedTokenizer.initSpecialTokens} after loading their vocab. */
  constructor(init: TokenizerInit) {
    this.modelMaxLength = init.model_max_length ?? VERY_LARGE_INTEGER;
    this.cleanUpTokenizationSpaces = init.clean_up_tokenization_spaces ?? true;
    this.chatTemplate = init.chat_template ?? null;
    this.paddingSide = init.padding_side ?? "right";
    this.truncationSide = init.truncation_side ?? "right";
  }

  /** Size of the base vocabulary (without added tokens). */
  abstract get vocabSize(): number;
  /** Id of a model-vocabulary token, or `undefined`. */
  protected abstract vocabLookup(token: string): number | undefined;
  /** Token of a model-vocabulary id, or `undefined`. */
  protected abstract vocabToken(id: number): string | undefined;
  /** Tokenizes one chunk of text that holds no added tokens (HF `_tokenize`). */
  protected abstract _tokenize(text: string): string[];
  /** Joins model tokens back into text (HF `convert_tokens_to_string`). */
  abstract convertTokensToString(tokens: string[]): string;
  /** The whole vocabulary including added tokens, token → id. */
  abstract getVocab(): Map<string, number>;

  /** Whether the model lower-cases (enables HF's pre-split lower-casing). */
  protected get lowerCasesInput(): boolean {
    return false;
  }

  /**
   * Registers special tokens and `added_tokens_decoder` as HF's `__init__` does: explicit ids
   * first, then each special token not yet known gets its vocab id or the next free id.
   */
  protected initSpecialTokens(
    init: TokenizerInit,
    defaults: Partial<Record<SpecialTokenRole, string>>,
  ): void {
    for (const [id, tok] of init.added_tokens_decoder ?? []) {
      this.addedTokensDecoder.set(id, tok);
      this.addedTokensEncoder.set(tok.content, id);
    }
    for (const role of SPECIAL_TOKEN_ROLES) {
      const v = role in init ? init[role] : defaults[role];
      if (v === null || v === undefined) continue;
      const t = typeof v === "string" ? this.#knownOrNew(v) : v;
      this.specialTokens.set(role, t);
    }
    this.additionalSpecialTokens = (init.additional_special_tokens ?? []).map((v) =>
      typeof v === "string" ? this.#knownOrNew(v) : v
    );
    this.addTokens(this.allSpecialTokensExtended, true);
  }

  #knownOrNew(content: string): AddedToken {
    const id = this.addedTokensEncoder.get(content);
    if (id !== undefined) return this.addedTokensDecoder.get(id)!;
    return addedToken(content, true);
  }

  /** Special tokens in HF order (roles, then additional), de-duplicated. */
  get allSpecialTokensExtended(): AddedToken[] {
    const seen = new Set<string>();
    const out: AddedToken[] = [];
    for (const t of [...this.specialTokens.values(), ...this.additionalSpecialTokens]) {
      if (!seen.has(t.content)) {
        seen.add(t.content);
        out.push(t);
      }
    }
    return out;
  }

  /** Special token strings (HF `all_special_tokens`). */
  get allSpecialTokens(): string[] {
    if (!this.#specialCache) {
      this.#specialCache = this.allSpecialTokensExtended.map((t) => t.content);
    }
    return this.#specialCache;
  }
  #specialCache: string[] | null = null;

  /** Special token ids (HF `all_special_ids`). */
  get allSpecialIds(): number[] {
    return this.allSpecialTokens.map((t) => this.convertTokenToId(t));
  }

  /**
   * Adds tokens (HF `add_tokens`): a token already in the vocabulary keeps its id, a new one gets
   * the next id. Returns how many were new to the added-token table.
   */
  addTokens(tokens: (string | AddedToken)[], special = false): number {
    let n = 0;
    const vocab = this.getVocab();
    for (const raw of tokens) {
      const tok = typeof raw === "string" ? addedToken(raw, special) : raw;
      if (tok.content === "" || this.addedTokensEncoder.has(tok.content)) continue;
      let id = vocab.get(tok.content);
      if (id === undefined) {
        id = vocab.size;
        vocab.set(tok.content, id);
      }
      if (special) tok.special = true;
      this.addedTokensDecoder.set(id, tok);
      this.addedTokensEncoder.set(tok.content, id);
      n++;
    }
    this.#trie = null;
    this.#lowerPattern = null;
    this.#specialCache = null;
    return n;
  }

  /** Sets a special-token role (e.g. `setSpecialToken("pad_token", tok.eosToken)`). */
  setSpecialToken(role: SpecialTokenRole, value: string | AddedToken | null): void {
    this.#specialCache = null;
    this.#lowerPattern = null;
    if (value === null) {
      this.specialTokens.delete(role);
      return;
    }
    const t = typeof value === "string" ? this.#knownOrNew(value) : value;
    this.specialTokens.set(role, t);
    this.addTokens([t], true);
  }

  /** Number of tokens including added ones (HF `len(tokenizer)`). */
  get length(): number {
    return this.getVocab().size;
  }

  #special(role: SpecialTokenRole): string | null {
    return this.specialTokens.get(role)?.content ?? null;
  }
  #specialId(role: SpecialTokenRole): number | null {
    const t = this.#special(role);
    return t === null ? null : this.convertTokenToId(t);
  }
  /** Beginning-of-sequence token. */
  get bosToken(): string | null {
    return this.#special("bos_token");
  }
  /** End-of-sequence token. */
  get eosToken(): string | null {
    return this.#special("eos_token");
  }
  /** Unknown token. */
  get unkToken(): string | null {
    return this.#special("unk_token");
  }
  /** Separator token. */
  get sepToken(): string | null {
    return this.#special("sep_token");
  }
  /** Padding token. */
  get padToken(): string | null {
    return this.#special("pad_token");
  }
  /** Classifier token. */
  get clsToken(): string | null {
    return this.#special("cls_token");
  }
  /** Mask token. */
  get maskToken(): string | null {
    return this.#special("mask_token");
  }
  /** Id of {@linkcode PreTrainedTokenizer.bosToken}. */
  get bosTokenId(): number | null {
    return this.#specialId("bos_token");
  }
  /** Id of {@linkcode PreTrainedTokenizer.eosToken}. */
  get eosTokenId(): number | null {
    return this.#specialId("eos_token");
  }
  /** Id of {@linkcode PreTrainedTokenizer.unkToken}. */
  get unkTokenId(): number | null {
    return this.#specialId("unk_token");
  }
  /** Id of {@linkcode PreTrainedTokenizer.sepToken}. */
  get sepTokenId(): number | null {
    return this.#specialId("sep_token");
  }
  /** Id of {@linkcode PreTrainedTokenizer.padToken}. */
  get padTokenId(): number | null {
    return this.#specialId("pad_token");
  }
  /** Id of {@linkcode PreTrainedTokenizer.clsToken}. */
  get clsTokenId(): number | null {
    return this.#specialId("cls_token");
  }
  /** Id of {@linkcode PreTrainedTokenizer.maskToken}. */
  get maskTokenId(): number | null {
    return this.#specialId("mask_token");
  }

  /** Id of one token: added tokens first, then the vocabulary, then the unknown token's id. */
  convertTokenToId(token: string): number {
    const a = this.addedTokensEncoder.get(token);
    if (a !== undefined) return a;
    const v = this.vocabLookup(token);
    if (v !== undefined) return v;
    const unk = this.unkToken;
    if (unk !== null && unk !== token) return this.convertTokenToId(unk);
    throw new TokenizerError(
      `token ${JSON.stringify(token)} is not in the vocabulary and there is no unk_token`,
    );
  }

  /** Ids of tokens (HF `convert_tokens_to_ids`). */
  convertTokensToIds(tokens: string[]): number[] {
    return tokens.map((t) => this.convertTokenToId(t));
  }

  /** Tokens of ids (HF `convert_ids_to_tokens`); with `skipSpecialTokens`, special ids are dropped. */
  convertIdsToTokens(ids: number[], skipSpecialTokens = false): string[] {
    const special = skipSpecialTokens ? new Set(this.allSpecialIds) : null;
    const out: string[] = [];
    for (const id of ids) {
      if (!Number.isInteger(id)) {
        throw new TokenizerError(
          `token id ${showValue(id)} (${typeof id}) is not an integer; expected ids from encode()`,
        );
      }
      if (special?.has(id)) continue;
      const a = this.addedTokensDecoder.get(id);
      if (a) {
        out.push(a.content);
        continue;
      }
      const t = this.vocabToken(id);
      if (t === undefined) {
        throw new TokenizerError(
          `token id ${id} is out of range: expected 0 <= id < ${this.length}`,
        );
      }
      out.push(t);
    }
    return out;
  }

  /** HF's lower-casing of everything except special tokens, for lower-casing models. */
  #lowerExceptSpecial(text: string): string {
    if (!this.#lowerPattern) {
      const specials = [...this.allSpecialTokens];
      for (const t of this.addedTokensDecoder.values()) {
        if (!t.special && t.normalized) specials.push(t.content);
      }
      // Leftmost-longest, so a special token that prefixes another does not win.
      this.#lowerPattern = { splitter: new AddedSplitter(specials), keep: new Set(specials) };
    }
    const { splitter, keep } = this.#lowerPattern;
    return splitter.split(text).map((p) => keep.has(p) ? p : p.toLowerCase()).join("");
  }

  /**
   * Splits text into tokens (HF `tokenize`): added tokens are split out first (honouring their
   * `lstrip`/`rstrip`/`single_word`), the rest goes through the model tokenizer.
   */
  tokenize(text: string): string[] {
    if (typeof text !== "string") {
      throw new TokenizerError(`tokenize: expected a string, got ${typeof text}`);
    }
    if (this.lowerCasesInput) text = this.#lowerExceptSpecial(text);
    if (!this.#trie) this.#trie = new AddedSplitter(this.addedTokensEncoder.keys());
    const pieces = this.#trie.split(text);
    applyAddedTokenFlags(pieces, this.addedTokensEncoder, this.addedTokensDecoder);
    const out: string[] = [];
    for (const p of pieces) {
      if (!p) continue;
      if (this.addedTokensEncoder.has(p)) out.push(p);
      else for (const t of this._tokenize(p)) out.push(t);
    }
    return out;
  }

  /** Adds the model's special tokens around one or two sequences (HF `build_inputs_with_special_tokens`). */
  buildInputsWithSpecialTokens(ids0: number[], ids1?: number[]): number[] {
    return ids1 ? [...ids0, ...ids1] : [...ids0];
  }

  /** Segment ids for one or two sequences with special tokens (HF `create_token_type_ids_from_sequences`). */
  createTokenTypeIdsFromSequences(ids0: number[], ids1?: number[]): number[] {
    const n = this.buildInputsWithSpecialTokens(ids0, ids1).length;
    if (!ids1) return new Array(n).fill(0);
    const first = this.buildInputsWithSpecialTokens(ids0).length;
    return [...new Array(first).fill(0), ...new Array(n - first).fill(1)];
  }

  /** How many special tokens `buildInputsWithSpecialTokens` adds. */
  numSpecialTokensToAdd(pair = false): number {
    return this.buildInputsWithSpecialTokens([], pair ? [] : undefined).length;
  }

  /** Token ids of a text, with special tokens unless `addSpecialTokens: false` (HF `encode`). */
  encode(text: string, opts: EncodeOptions = {}): number[] {
    if (Array.isArray(opts.textPair)) {
      throw new TokenizerError("encode: textPair must be a single string");
    }
    return this.encodePlus(text, opts.textPair as string | undefined, opts).inputIds;
  }

  /**
   * Encodes one text (or pair) with HF's `prepare_for_model` semantics: truncation, special
   * tokens, segment ids, padding.
   */
  encodePlus(text: string, textPair: string | undefined, opts: EncodeOptions = {}): Encoding {
    const enc = this.#prepare(text, textPair, opts);
    const padding = paddingStrategy(opts.padding);
    if (padding === "max_length") {
      return this.#pad([enc], padding, opts)[0];
    }
    return enc;
  }

  #prepare(text: string, textPair: string | undefined, opts: EncodeOptions): Encoding {
    const addSpecial = opts.addSpecialTokens ?? true;
    let ids = this.convertTokensToIds(this.tokenize(text));
    let pair = textPair === undefined || textPair === null
      ? undefined
      : this.convertTokensToIds(this.tokenize(textPair));
    const strategy = truncationStrategy(opts.truncation);
    const maxLength = truncationLength(opts, strategy, this.modelMaxLength);
    const total = ids.length + (pair?.length ?? 0) +
      (addSpecial ? this.numSpecialTokensToAdd(pair !== undefined) : 0);
    if (strategy && maxLength !== undefined && total > maxLength) {
      [ids, pair] = truncateIds(ids, pair, total - maxLength, strategy, this.truncationSide);
    }
    const inputIds = addSpecial
      ? this.buildInputsWithSpecialTokens(ids, pair)
      : [...ids, ...(pair ?? [])];
    const enc: Encoding = { inputIds };
    const wantTypes = opts.returnTokenTypeIds ?? this.modelInputNames.includes("token_type_ids");
    if (wantTypes) {
      enc.tokenTypeIds = addSpecial
        ? this.createTokenTypeIdsFromSequences(ids, pair)
        : [...new Array(ids.length).fill(0), ...new Array(pair?.length ?? 0).fill(pair ? 1 : 0)];
    }
    if (opts.returnAttentionMask ?? this.modelInputNames.includes("attention_mask")) {
      enc.attentionMask = new Array(inputIds.length).fill(1);
    }
    return enc;
  }

  #pad(encs: Encoding[], padding: "longest" | "max_length", opts: EncodeOptions): Encoding[] {
    return padEncodings(
      encs,
      padding,
      opts,
      this.modelMaxLength,
      this.padTokenId,
      this.paddingSide,
    );
  }

  /**
   * The calling API, HF `tokenizer(text_or_texts, ...)`: one text gives an {@linkcode Encoding},
   * an array gives a {@linkcode BatchEncoding} (padded together when `padding` is set).
   */
  call(text: string, opts?: EncodeOptions): Encoding;
  /** Batch form of the calling API. */
  call(texts: string[], opts?: EncodeOptions): BatchEncoding;
  /** Either form of the calling API. */
  call(text: string | string[], opts?: EncodeOptions): Encoding | BatchEncoding;
  call(text: string | string[], opts: EncodeOptions = {}): Encoding | BatchEncoding {
    if (typeof text === "string") {
      if (Array.isArray(opts.textPair)) {
        throw new TokenizerError(
          "textPair: a single text takes a single string pair, got an array",
        );
      }
      return this.encodePlus(text, opts.textPair, opts);
    }
    if (!Array.isArray(text)) {
      throw new TokenizerError(`expected a string or an array of strings, got ${typeof text}`);
    }
    return this.encodeBatch(text, opts);
  }

  /** Encodes a batch (HF `batch_encode_plus`), padding the rows together when asked. */
  encodeBatch(texts: string[], opts: EncodeOptions = {}): BatchEncoding {
    const pairs = opts.textPair;
    if (pairs !== undefined && (!Array.isArray(pairs) || pairs.length !== texts.length)) {
      throw new TokenizerError(
        `textPair: expected an array of ${texts.length} strings to match the batch, got ${
          Array.isArray(pairs) ? `${pairs.length} items` : typeof pairs
        }`,
      );
    }
    texts.forEach((t, i) => {
      if (typeof t !== "string") {
        throw new TokenizerError(`texts[${i}]: expected a string, got ${typeof t}`);
      }
    });
    let encs = texts.map((t, i) => this.#prepare(t, pairs?.[i] as string | undefined, opts));
    const padding = paddingStrategy(opts.padding);
    if (padding) encs = this.#pad(encs, padding, opts);
    const out: BatchEncoding = { inputIds: encs.map((e) => e.inputIds) };
    if (encs.length === 0 || encs[0].attentionMask) {
      out.attentionMask = encs.map((e) => e.attentionMask!);
    }
    if (encs.length > 0 && encs[0].tokenTypeIds) {
      out.tokenTypeIds = encs.map((e) => e.tokenTypeIds!);
    }
    return out;
  }

  /** Decodes ids to text (HF `decode`). */
  decode(ids: number[], opts: DecodeOptions = {}): string {
    const skip = opts.skipSpecialTokens ?? false;
    const tokens = this.convertIdsToTokens(ids, skip);
    const specials = new Set(this.allSpecialTokens);
    const legacy = new Set<string>();
    for (const k of this.addedTokensEncoder.keys()) if (!specials.has(k)) legacy.add(k);
    for (const t of this.additionalSpecialTokens) {
      if (this.convertTokenToId(t.content) >= this.vocabSize) legacy.add(t.content);
    }
    const subTexts: string[] = [];
    let current: string[] = [];
    for (const t of tokens) {
      if (legacy.has(t)) {
        if (current.length) {
          const s = this.convertTokensToString(current);
          if (s.length > 0) subTexts.push(s);
          current = [];
        }
        subTexts.push(t);
      } else current.push(t);
    }
    if (current.length) subTexts.push(this.convertTokensToString(current));
    const text = subTexts.join((opts.spacesBetweenSpecialTokens ?? true) ? " " : "");
    return (opts.cleanUpTokenizationSpaces ?? this.cleanUpTokenizationSpaces)
      ? cleanUpTokenization(text)
      : text;
  }

  /** Decodes each row of a batch (HF `batch_decode`). */
  batchDecode(batch: number[][], opts: DecodeOptions = {}): string[] {
    return batch.map((ids) => this.decode(ids, opts));
  }

  /**
   * Renders `messages` with the tokenizer's Jinja `chat_template` (HF `apply_chat_template`);
   * returns token ids (no extra special tokens, as HF) or, with `tokenize: false`, the string.
   */
  applyChatTemplate(
    messages: ChatMessage[],
    opts: ChatTemplateOptions & { tokenize: false },
  ): string;
  /** Token-id form of {@linkcode PreTrainedTokenizer.applyChatTemplate}. */
  applyChatTemplate(messages: ChatMessage[], opts?: ChatTemplateOptions): number[] | string;
  applyChatTemplate(messages: ChatMessage[], opts: ChatTemplateOptions = {}): number[] | string {
    const source = opts.chatTemplate ?? this.chatTemplate;
    if (!source) {
      throw new TokenizerError(
        "applyChatTemplate: this tokenizer has no chat_template (tokenizer_config.json) and none was passed",
      );
    }
    const roles: Record<string, string> = {};
    for (const [role, t] of this.specialTokens) roles[role] = t.content;
    const rendered = renderChatTemplate(source, messages, roles, opts.addGenerationPrompt ?? false);
    if (opts.tokenize === false) return rendered;
    return this.encode(rendered, { addSpecialTokens: false });
  }
}
