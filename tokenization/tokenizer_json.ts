/**
 * `tokenizer.json` (the Hugging Face `tokenizers` format): a loader that runs the pipeline
 * (added tokens → normalizer → pre-tokenizer → model → post-processor; decoder). The writer for
 * the slow tokenizers of this package is `tokenizer_json_writer.ts`.
 *
 * Decoding follows `tokenizers` (the decoder sees every kept token, special ones included),
 * which is what HF's fast tokenizers do; for SentencePiece models the slow
 * `BertGenerationTokenizer` joins special tokens differently (see the README).
 *
 * @module
 */
import { type AddedToken, addedToken } from "./added_tokens.ts";
import { PreTrainedTokenizer, type TokenizerInit } from "./base.ts";
import { cleanUpTokenization } from "./clean_up.ts";
import { TokenizerError } from "./errors.ts";
import { buildDecoder } from "./_decoders.ts";
import { buildModel } from "./_models.ts";
import { buildNormalizer } from "./_normalizers.ts";
import type { Decoder, Json, Model, Normalizer, PreTokenizer } from "./_pipeline.ts";
import { parsePostProcessor, type PostProcessor } from "./_post_processors.ts";
import { buildPreTokenizer } from "./_pre_tokenizers.ts";
import { validateTokenizerJSON } from "./_schema.ts";

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
    this.#post = parsePostProcessor(
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
      ? cleanUpTokenization(text)
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
