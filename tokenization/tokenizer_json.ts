/**
 * `tokenizer.json` (the Hugging Face `tokenizers` format): a loader that runs the pipeline
 * (added tokens → normalizer → pre-tokenizer → model → post-processor; decoder) and a writer
 * for the slow tokenizers of this package.
 *
 * Decoding follows `tokenizers` (the decoder sees every kept token, special ones included),
 * which is what HF's fast tokenizers do; for SentencePiece models the slow
 * `BertGenerationTokenizer` joins special tokens differently (see the README).
 *
 * @module
 */
import { type AddedToken, addedToken, PreTrainedTokenizer, type TokenizerInit } from "./base.ts";
import { BertTokenizer } from "./bert.ts";
import { GPT2Tokenizer, RobertaTokenizer } from "./bpe.ts";
import { TokenizerError } from "./errors.ts";
import { validateTokenizerJSON } from "./_schema.ts";
import { BertGenerationTokenizer, PieceType, SPACE_SYMBOL } from "./sentencepiece.ts";
import {
  buildDecoder,
  buildModel,
  buildNormalizer,
  buildPreTokenizer,
  type Decoder,
  type Model,
  type Normalizer,
  type PreTokenizer,
} from "./_pipeline.ts";

type Json = Record<string, unknown>;

/** One element of a TemplateProcessing template. */
type Piece = { seq: "A" | "B"; typeId: number } | { special: string; typeId: number };

interface PostProcessor {
  single: Piece[];
  pair: Piece[];
  specials: Map<string, number[]>;
}

function parsePost(o: unknown, where: string, idOf: (t: string) => number): PostProcessor | null {
  if (o === null || o === undefined) return null;
  const j = o as Json;
  const pairOf = (v: unknown, name: string): [string, number] => {
    if (!Array.isArray(v) || typeof v[0] !== "string" || !Number.isInteger(v[1]) || v[1] < 0) {
      throw new TokenizerError(`${where}.${name}: expected [token, id], got ${JSON.stringify(v)}`);
    }
    return [v[0], v[1]];
  };
  switch (j.type) {
    case "BertProcessing":
    case "RobertaProcessing": {
      const [cls, clsId] = pairOf(j.cls, "cls");
      const [sep, sepId] = pairOf(j.sep, "sep");
      const specials = new Map([[cls, [clsId]], [sep, [sepId]]]);
      const s = (t: string, typeId = 0): Piece => ({ special: t, typeId });
      if (j.type === "BertProcessing") {
        return {
          single: [s(cls), { seq: "A", typeId: 0 }, s(sep)],
          pair: [s(cls), { seq: "A", typeId: 0 }, s(sep), { seq: "B", typeId: 1 }, s(sep, 1)],
          specials,
        };
      }
      return {
        single: [s(cls), { seq: "A", typeId: 0 }, s(sep)],
        pair: [s(cls), { seq: "A", typeId: 0 }, s(sep), s(sep), { seq: "B", typeId: 0 }, s(sep)],
        specials,
      };
    }
    case "ByteLevel":
      return null;
    case "TemplateProcessing": {
      const parse = (arr: unknown, name: string): Piece[] => {
        if (!Array.isArray(arr)) throw new TokenizerError(`${where}.${name}: expected an array`);
        return arr.map((e, i) => {
          const x = e as Json;
          const typeId = (q: Json, key: string): number => {
            const t = q.type_id ?? 0;
            if (!Number.isInteger(t) || (t as number) < 0) {
              throw new TokenizerError(
                `${where}.${name}[${i}].${key}.type_id: expected a non-negative integer, got ${
                  JSON.stringify(t)
                }`,
              );
            }
            return t as number;
          };
          if (x?.Sequence && typeof x.Sequence === "object") {
            const q = x.Sequence as Json;
            return { seq: q.id === "B" ? "B" : "A", typeId: typeId(q, "Sequence") };
          }
          if (x?.SpecialToken && typeof x.SpecialToken === "object") {
            const q = x.SpecialToken as Json;
            if (typeof q.id !== "string") {
              throw new TokenizerError(
                `${where}.${name}[${i}].SpecialToken.id: expected a token string, got ${
                  JSON.stringify(q.id)
                }`,
              );
            }
            return { special: q.id, typeId: typeId(q, "SpecialToken") };
          }
          throw new TokenizerError(
            `${where}.${name}[${i}]: expected {Sequence} or {SpecialToken}, got ${
              JSON.stringify(e)
            }`,
          );
        });
      };
      const specials = new Map<string, number[]>();
      const table = j.special_tokens ?? {};
      if (table === null || typeof table !== "object" || Array.isArray(table)) {
        throw new TokenizerError(
          `${where}.special_tokens: expected an object token → {id, ids, tokens}`,
        );
      }
      for (const [k, v] of Object.entries(table)) {
        const ids = (v as Json | null)?.ids;
        if (ids === undefined) {
          specials.set(k, [idOf(k)]);
          continue;
        }
        if (!Array.isArray(ids) || !ids.every((id) => Number.isInteger(id) && id >= 0)) {
          throw new TokenizerError(
            `${where}.special_tokens[${JSON.stringify(k)}].ids: expected an array of token ids, ` +
              `got ${JSON.stringify(ids)?.slice(0, 80)}`,
          );
        }
        specials.set(k, ids);
      }
      return { single: parse(j.single, "single"), pair: parse(j.pair, "pair"), specials };
    }
    case "Sequence": {
      const list = Array.isArray(j.processors) ? j.processors : [];
      let found: PostProcessor | null = null;
      list.forEach((p, i) => {
        const r = parsePost(p, `${where}.processors[${i}]`, idOf);
        if (r) found = r;
      });
      return found;
    }
    default:
      throw new TokenizerError(
        `${where}: post-processor type ${JSON.stringify(j.type)} is not supported`,
      );
  }
}

/**
 * A tokenizer run from a parsed `tokenizer.json`.
 *
 * @example
 * ```ts
 * import { TokenizerJSONTokenizer } from "@encdec/tokenization";
 * const json = JSON.parse(await Deno.readTextFile("tokenizer.json"));
 * const tok = new TokenizerJSONTokenizer(json, { unk_token: "[UNK]" });
 * tok.call("Hello!").inputIds;
 * ```
 */
export class TokenizerJSONTokenizer extends PreTrainedTokenizer {
  /** The JSON this tokenizer was built from. */
  readonly json: Record<string, unknown>;
  #normalizer: Normalizer;
  #pre: PreTokenizer;
  #model: Model;
  #post: PostProcessor | null;
  #decoder: Decoder;

  /** Builds the pipeline; `init` carries `tokenizer_config.json` options (special-token roles, lengths). */
  constructor(json: Json, init: TokenizerInit = {}, file = "tokenizer.json") {
    super(init);
    validateTokenizerJSON(json, file);
    this.json = json;
    this.#model = buildModel(json.model, `${file}: model`);
    this.#normalizer = buildNormalizer(json.normalizer, `${file}: normalizer`);
    this.#pre = buildPreTokenizer(json.pre_tokenizer, `${file}: pre_tokenizer`);
    this.#decoder = buildDecoder(json.decoder, `${file}: decoder`);
    const decoder = new Map<number, AddedToken>();
    const list = Array.isArray(json.added_tokens) ? json.added_tokens : [];
    list.forEach((t, i) => {
      const id = (t as Json)?.id;
      if (!Number.isInteger(id)) {
        throw new TokenizerError(`${file}: added_tokens[${i}] has no integer "id"`);
      }
      decoder.set(id as number, addedToken(t as Json, false, `${file}: added_tokens[${i}]`));
    });
    for (const [id, t] of init.added_tokens_decoder ?? []) if (!decoder.has(id)) decoder.set(id, t);
    this.#post = parsePost(
      json.post_processor,
      `${file}: post_processor`,
      (t) => this.convertTokenToId(t),
    );
    if (Array.isArray(init.model_input_names)) this.modelInputNames = init.model_input_names;
    else if (this.#post && this.#post.pair.some((p) => p.typeId !== 0)) {
      this.modelInputNames = ["input_ids", "token_type_ids", "attention_mask"];
    }
    this.initSpecialTokens({ ...init, added_tokens_decoder: decoder }, {});
  }

  /** Special tokens: the roles plus every added token flagged `special` (as `tokenizers` does). */
  override get allSpecialTokensExtended(): AddedToken[] {
    const out = super.allSpecialTokensExtended;
    const seen = new Set(out.map((t) => t.content));
    for (const t of this.addedTokensDecoder.values()) {
      if (t.special && !seen.has(t.content)) {
        seen.add(t.content);
        out.push(t);
      }
    }
    return out;
  }

  /** Size of the model vocabulary. */
  get vocabSize(): number {
    return this.#model.vocab.size;
  }
  /** Id of a model-vocabulary token. */
  protected vocabLookup(token: string): number | undefined {
    return this.#model.vocab.get(token);
  }
  /** Token of a model-vocabulary id. */
  protected vocabToken(id: number): string | undefined {
    return this.#model.ids.get(id);
  }
  /**
   * Id of one token. Without an `unk_token` role (no `tokenizer_config.json` names one), an
   * unknown token maps to the model's own unknown token (`unk_token` or `unk_id` in
   * `tokenizer.json`), as `tokenizers` does.
   */
  override convertTokenToId(token: string): number {
    if (this.unkToken === null && this.#model.unkToken !== null) {
      const id = this.addedTokensEncoder.get(token) ?? this.#model.vocab.get(token);
      if (id !== undefined) return id;
      const unk = this.addedTokensEncoder.get(this.#model.unkToken) ??
        this.#model.vocab.get(this.#model.unkToken);
      if (unk !== undefined) return unk;
    }
    return super.convertTokenToId(token);
  }
  /** token → id including added tokens. */
  getVocab(): Map<string, number> {
    const v = new Map(this.#model.vocab);
    for (const [t, i] of this.addedTokensEncoder) v.set(t, i);
    return v;
  }
  /** Model tokens of one chunk without added tokens. */
  protected _tokenize(text: string): string[] {
    const normalized = this.#normalizer(text);
    if (normalized.length === 0) return [];
    const out: string[] = [];
    for (const w of this.#pre([normalized])) {
      if (w.length === 0) continue;
      for (const t of this.#model.tokenize(w)) out.push(t);
    }
    return out;
  }
  /** Runs the decoder over the tokens and joins its output. */
  convertTokensToString(tokens: string[]): string {
    return this.#decoder(tokens).join("");
  }
  /** `tokenizers` decoding: ids → tokens (special ones dropped when asked) → decoder → clean-up. */
  override decode(
    ids: number[],
    opts: { skipSpecialTokens?: boolean; cleanUpTokenizationSpaces?: boolean } = {},
  ): string {
    const text = this.convertTokensToString(
      this.convertIdsToTokens(ids, opts.skipSpecialTokens ?? false),
    );
    return (opts.cleanUpTokenizationSpaces ?? this.cleanUpTokenizationSpaces)
      ? cleanUp(text)
      : text;
  }

  #apply(ids0: number[], ids1: number[] | undefined): { ids: number[]; types: number[] } {
    if (!this.#post) {
      return {
        ids: ids1 ? [...ids0, ...ids1] : [...ids0],
        types: [...ids0.map(() => 0), ...(ids1 ?? []).map(() => 1)],
      };
    }
    const ids: number[] = [];
    const types: number[] = [];
    for (const p of ids1 ? this.#post.pair : this.#post.single) {
      const part = "seq" in p
        ? (p.seq === "A" ? ids0 : ids1 ?? [])
        : this.#post.specials.get(p.special) ??
          [this.convertTokenToId(p.special)];
      for (const id of part) {
        ids.push(id);
        types.push(p.typeId);
      }
    }
    return { ids, types };
  }

  /** The post-processor's layout. */
  override buildInputsWithSpecialTokens(ids0: number[], ids1?: number[]): number[] {
    return this.#apply(ids0, ids1).ids;
  }
  /** The post-processor's `type_id`s. */
  override createTokenTypeIdsFromSequences(ids0: number[], ids1?: number[]): number[] {
    return this.#apply(ids0, ids1).types;
  }
}

function cleanUp(text: string): string {
  return text.replaceAll(" .", ".").replaceAll(" ?", "?").replaceAll(" !", "!").replaceAll(
    " ,",
    ",",
  )
    .replaceAll(" ' ", "'").replaceAll(" n't", "n't").replaceAll(" 'm", "'m").replaceAll(
      " 's",
      "'s",
    )
    .replaceAll(" 've", "'ve").replaceAll(" 're", "'re");
}

/**
 * Builds a tokenizer from a parsed `tokenizer.json` (what `AutoTokenizer` does when the file
 * exists); `init` carries the `tokenizer_config.json` options.
 */
export function tokenizerFromJSON(
  json: Record<string, unknown>,
  init: TokenizerInit = {},
  file = "tokenizer.json",
): TokenizerJSONTokenizer {
  return new TokenizerJSONTokenizer(json, init, file);
}

function addedTokensJSON(tok: PreTrainedTokenizer): Json[] {
  return [...tok.addedTokensDecoder].sort((a, b) => a[0] - b[0]).map(([id, t]) => ({
    id,
    content: t.content,
    single_word: t.singleWord,
    lstrip: t.lstrip,
    rstrip: t.rstrip,
    normalized: t.normalized,
    special: t.special,
  }));
}

function encodeBase64(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode(...b.subarray(i, i + 0x8000));
  return btoa(s);
}

function special(t: string, typeId: number): Json {
  return { SpecialToken: { id: t, type_id: typeId } };
}
function seq(id: "A" | "B", typeId: number): Json {
  return { Sequence: { id, type_id: typeId } };
}

/**
 * Writes a slow tokenizer of this package as a `tokenizer.json` object that reproduces it:
 * BERT (normalizers chosen to match the slow BasicTokenizer, including its NFC step), GPT-2 and
 * RoBERTa (byte-level BPE), and BertGeneration (precompiled charsmap + Metaspace + Unigram).
 *
 * @example
 * ```ts
 * import { BertTokenizer, toTokenizerJSON, tokenizerFromJSON } from "@encdec/tokenization";
 * const slow = BertTokenizer.fromVocab(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "hi"]);
 * const fast = tokenizerFromJSON(toTokenizerJSON(slow), { unk_token: "[UNK]", cls_token: "[CLS]", sep_token: "[SEP]" });
 * fast.encode("hi"); // [2, 4, 3]
 * ```
 */
export function toTokenizerJSON(tok: PreTrainedTokenizer): Record<string, unknown> {
  const base: Json = {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: addedTokensJSON(tok),
  };
  if (tok instanceof BertTokenizer) {
    const b = tok.basicTokenizer;
    const normalizers: Json[] = [{
      type: "BertNormalizer",
      clean_text: true,
      handle_chinese_chars: b?.tokenizeChineseChars ?? false,
      strip_accents: false,
      lowercase: false,
    }, { type: "NFC" }];
    if (b?.doLowerCase) normalizers.push({ type: "Lowercase" });
    if (b && (b.doLowerCase ? b.stripAccents !== false : b.stripAccents === true)) {
      normalizers.push({ type: "NFD" }, { type: "StripAccents" });
    }
    const cls = tok.clsToken!;
    const sep = tok.sepToken!;
    return {
      ...base,
      normalizer: { type: "Sequence", normalizers },
      pre_tokenizer: b ? { type: "BertPreTokenizer" } : { type: "WhitespaceSplit" },
      post_processor: {
        type: "TemplateProcessing",
        single: [special(cls, 0), seq("A", 0), special(sep, 0)],
        pair: [special(cls, 0), seq("A", 0), special(sep, 0), seq("B", 1), special(sep, 1)],
        special_tokens: {
          [cls]: { id: cls, ids: [tok.clsTokenId], tokens: [cls] },
          [sep]: { id: sep, ids: [tok.sepTokenId], tokens: [sep] },
        },
      },
      decoder: { type: "WordPiece", prefix: "##", cleanup: true },
      model: {
        type: "WordPiece",
        unk_token: tok.wordpiece.unkToken,
        continuing_subword_prefix: "##",
        max_input_chars_per_word: tok.wordpiece.maxInputCharsPerWord,
        vocab: Object.fromEntries(tok.vocab),
      },
    };
  }
  if (tok instanceof GPT2Tokenizer) {
    const merges = [...tok.bpe.ranks].sort((a, b) => a[1] - b[1]).map(([k]) => k);
    const roberta = tok instanceof RobertaTokenizer;
    let post: Json = {
      type: "ByteLevel",
      add_prefix_space: true,
      trim_offsets: false,
      use_regex: true,
    };
    if (roberta) {
      post = {
        type: "RobertaProcessing",
        sep: [tok.sepToken, tok.sepTokenId],
        cls: [tok.clsToken, tok.clsTokenId],
        trim_offsets: true,
        add_prefix_space: tok.addPrefixSpace,
      };
    } else if (tok.addBosToken) {
      const bos = tok.bosToken!;
      post = {
        type: "TemplateProcessing",
        single: [special(bos, 0), seq("A", 0)],
        pair: [special(bos, 0), seq("A", 0), special(bos, 1), seq("B", 1)],
        special_tokens: { [bos]: { id: bos, ids: [tok.bosTokenId], tokens: [bos] } },
      };
    }
    return {
      ...base,
      normalizer: null,
      pre_tokenizer: {
        type: "ByteLevel",
        add_prefix_space: tok.addPrefixSpace,
        trim_offsets: true,
        use_regex: true,
      },
      post_processor: post,
      decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
      model: {
        type: "BPE",
        dropout: null,
        unk_token: null,
        continuing_subword_prefix: "",
        end_of_word_suffix: "",
        fuse_unk: false,
        byte_fallback: false,
        vocab: Object.fromEntries(tok.encoder),
        merges,
      },
    };
  }
  if (tok instanceof BertGenerationTokenizer) {
    const proto = tok.sp.proto;
    const normalizers: Json[] = [];
    if (proto.precompiledCharsmap.length > 0) {
      normalizers.push({
        type: "Precompiled",
        precompiled_charsmap: encodeBase64(proto.precompiledCharsmap),
      });
    }
    if (proto.removeExtraWhitespaces) {
      normalizers.push(
        { type: "Replace", pattern: { Regex: "^ +| +$" }, content: "" },
        { type: "Replace", pattern: { Regex: " {2,}" }, content: " " },
      );
    }
    const decoders: Json[] = [];
    if (proto.byteFallback) decoders.push({ type: "ByteFallback" });
    decoders.push(
      { type: "Metaspace", replacement: SPACE_SYMBOL, prepend_scheme: "always", split: false },
      // The slow tokenizer strips the decoded text (`out_string.strip()`).
      { type: "Fuse" },
      { type: "Strip", content: " ", start: 1_000_000, stop: 1_000_000 },
    );
    return {
      ...base,
      normalizer: { type: "Sequence", normalizers },
      pre_tokenizer: {
        type: "Metaspace",
        replacement: SPACE_SYMBOL,
        prepend_scheme: proto.addDummyPrefix ? "always" : "never",
        split: false,
      },
      post_processor: null,
      decoder: decoders.length === 1 ? decoders[0] : { type: "Sequence", decoders },
      model: {
        type: "Unigram",
        unk_id: tok.sp.unkId,
        byte_fallback: proto.byteFallback,
        vocab: proto.pieces.map((p) => [p.piece, p.type === PieceType.NORMAL ? p.score : 0]),
      },
    };
  }
  throw new TokenizerError(
    `toTokenizerJSON: ${tok.constructor.name} is not supported; expected BertTokenizer, GPT2Tokenizer, RobertaTokenizer or BertGenerationTokenizer`,
  );
}
