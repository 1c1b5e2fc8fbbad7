/**
 * The pieces of a `tokenizer.json` pipeline (Hugging Face `tokenizers` format): normalizers,
 * pre-tokenizers, models and decoders, each built from its JSON object.
 *
 * @module
 */
import { isChineseChar, splitOnPunctuation, WordpieceTokenizer } from "./bert.ts";
import { BytePairEncoder, bytesToUnicode, GPT2_PATTERN } from "./bpe.ts";
import { TokenizerError } from "./errors.ts";
import { modelType } from "./_schema.ts";
import {
  PieceType,
  type SentencePiece,
  SentencePieceNormalizer,
  SentencePieceProcessor,
} from "./sentencepiece.ts";

type Json = Record<string, unknown>;

/** Text → text. */
export type Normalizer = (text: string) => string;
/** Pre-tokens → pre-tokens. */
export type PreTokenizer = (words: string[]) => string[];
/** Tokens → tokens (the last step joins them). */
export type Decoder = (tokens: string[]) => string[];
/** A model: one pre-token → tokens, plus vocabulary access. */
export interface Model {
  /** Tokens of one pre-token. */
  tokenize(word: string): string[];
  /** token → id. */
  vocab: Map<string, number>;
  /** id → token. */
  ids: Map<number, string>;
  /** The model's own unknown token (`unk_token`, or the piece at `unk_id`), if it has one. */
  unkToken: string | null;
}

function fail(where: string, msg: string): never {
  throw new TokenizerError(`${where}: ${msg}`);
}

/** A `Sequence` step: the steps listed under `j[key]`, built by `build`, applied in order. */
function sequence<T>(
  j: Json,
  key: string,
  where: string,
  build: (o: unknown, where: string) => (x: T) => T,
): (x: T) => T {
  const list = j[key];
  if (!Array.isArray(list)) fail(where, `Sequence needs a "${key}" array`);
  const fs = list.map((x, i) => build(x, `${where}.${key}[${i}]`));
  return (x) => fs.reduce((acc, f) => f(acc), x);
}

/**
 * The options a `Metaspace` pre-tokenizer and its decoder share: the space replacement (default
 * `▁`) and the prepend scheme (`prepend_scheme`, else from the legacy `add_prefix_space`).
 */
function metaspace(j: Json): { rep: string; scheme: string } {
  const rep = typeof j.replacement === "string" ? j.replacement : "\u2581";
  const scheme = typeof j.prepend_scheme === "string"
    ? j.prepend_scheme
    : j.add_prefix_space === false
    ? "never"
    : "always";
  return { rep, scheme };
}

function typeOf(o: unknown, where: string): string {
  if (o === null || typeof o !== "object" || typeof (o as Json).type !== "string") {
    fail(where, `expected an object with a string "type", got ${JSON.stringify(o)?.slice(0, 80)}`);
  }
  return (o as Json).type as string;
}

function pattern(p: unknown, where: string): RegExp | string {
  const o = p as Json | null;
  if (o && typeof o.String === "string") return o.String;
  if (o && typeof o.Regex === "string") {
    try {
      return new RegExp(o.Regex.replace(/\\p\{(\w+)\}/g, "\\p{$1}"), "gu");
    } catch (e) {
      fail(where, `cannot compile Regex ${JSON.stringify(o.Regex)}: ${(e as Error).message}`);
    }
  }
  return fail(
    where,
    `expected a pattern {"String": ...} or {"Regex": ...}, got ${JSON.stringify(p)}`,
  );
}

function replaceAll(text: string, p: RegExp | string, content: string): string {
  return typeof p === "string" ? text.replaceAll(p, content) : text.replace(p, () => content);
}

const CONTROL = /\p{C}/u;
const ZS = /\p{Zs}/u;

function decodeBase64(s: string, where: string): Uint8Array {
  let bin: string;
  try {
    bin = atob(s);
  } catch (e) {
    fail(
      where,
      `precompiled_charsmap is not valid base64 (${(e as Error).message}); expected the ` +
        `base64 of a SentencePiece charsmap`,
    );
  }
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** Builds a normalizer from its JSON. */
export function buildNormalizer(o: unknown, where = "normalizer"): Normalizer {
  if (o === null || o === undefined) return (t) => t;
  const type = typeOf(o, where);
  const j = o as Json;
  switch (type) {
    case "BertNormalizer": {
      const clean = j.clean_text !== false;
      const chinese = j.handle_chinese_chars !== false;
      const lower = j.lowercase !== false;
      const strip = j.strip_accents === null || j.strip_accents === undefined
        ? lower
        : !!j.strip_accents;
      return (text) => {
        const out: string[] = [];
        for (const ch of text) {
          const cp = ch.codePointAt(0)!;
          if (clean) {
            if (
              cp === 0 || cp === 0xfffd ||
              (ch !== "\t" && ch !== "\n" && ch !== "\r" && CONTROL.test(ch))
            ) continue;
            if (ch === "\t" || ch === "\n" || ch === "\r" || ZS.test(ch)) {
              out.push(" ");
              continue;
            }
          }
          if (chinese && isChineseChar(cp)) out.push(" ", ch, " ");
          else out.push(ch);
        }
        let t = out.join("");
        if (strip) t = t.normalize("NFD").replace(/\p{Mn}/gu, "");
        if (lower) t = t.toLowerCase();
        return t;
      };
    }
    case "NFC":
    case "NFD":
    case "NFKC":
    case "NFKD":
      return (t) => t.normalize(type);
    case "Lowercase":
      return (t) => t.toLowerCase();
    case "StripAccents":
      return (t) => t.replace(/\p{Mn}/gu, "");
    case "Strip": {
      const l = j.strip_left !== false;
      const r = j.strip_right !== false;
      return (t) => (l && r ? t.trim() : l ? t.trimStart() : r ? t.trimEnd() : t);
    }
    case "Replace": {
      const p = pattern(j.pattern, `${where}.pattern`);
      const content = typeof j.content === "string"
        ? j.content
        : fail(where, `Replace needs a string "content"`);
      return (t) => replaceAll(t, p, content);
    }
    case "Prepend": {
      const p = typeof j.prepend === "string"
        ? j.prepend
        : fail(where, `Prepend needs a string "prepend"`);
      return (t) => (t.length > 0 ? p + t : t);
    }
    case "Precompiled": {
      const cm = typeof j.precompiled_charsmap === "string"
        ? decodeBase64(j.precompiled_charsmap, where)
        : new Uint8Array();
      const n = new SentencePieceNormalizer({
        pieces: [],
        modelType: 1,
        byteFallback: false,
        treatWhitespaceAsSuffix: false,
        normalizerName: "",
        precompiledCharsmap: cm,
        addDummyPrefix: false,
        removeExtraWhitespaces: false,
        escapeWhitespaces: false,
      }, where);
      return (t) => n.normalize(t);
    }
    case "Sequence":
      return sequence(j, "normalizers", where, buildNormalizer);
    default:
      return fail(where, `normalizer type ${JSON.stringify(type)} is not supported`);
  }
}

const BYTE_ENCODER = bytesToUnicode();

/** Splits `text` by regex matches with a `tokenizers` SplitDelimiterBehavior. */
function splitBy(text: string, re: RegExp, behavior: string, invert = false): string[] {
  // Build (start, end, isMatch) segments.
  const segs: [string, boolean][] = [];
  let last = 0;
  for (const m of text.matchAll(re)) {
    if (m[0].length === 0) continue;
    if (m.index! > last) segs.push([text.slice(last, m.index), false]);
    segs.push([m[0], true]);
    last = m.index! + m[0].length;
  }
  if (last < text.length) segs.push([text.slice(last), false]);
  if (invert) { for (const s of segs) s[1] = !s[1]; }
  const out: string[] = [];
  switch (behavior) {
    case "Removed":
      for (const [s, m] of segs) if (!m) out.push(s);
      break;
    case "Isolated":
      for (const [s] of segs) out.push(s);
      break;
    case "MergedWithPrevious":
      for (const [s, m] of segs) {
        if (m && out.length > 0) out[out.length - 1] += s;
        else out.push(s);
      }
      break;
    case "MergedWithNext": {
      let pending = "";
      for (const [s, m] of segs) {
        if (m) pending += s;
        else {
          out.push(pending + s);
          pending = "";
        }
      }
      if (pending) out.push(pending);
      break;
    }
    case "Contiguous": {
      let prevMatch: boolean | null = null;
      for (const [s, m] of segs) {
        if (m && prevMatch === true) out[out.length - 1] += s;
        else out.push(s);
        prevMatch = m;
      }
      break;
    }
    default:
      throw new TokenizerError(`Split behavior ${JSON.stringify(behavior)} is not supported`);
  }
  return out.filter((s) => s.length > 0);
}

/** Builds a pre-tokenizer from its JSON. */
export function buildPreTokenizer(o: unknown, where = "pre_tokenizer"): PreTokenizer {
  if (o === null || o === undefined) return (w) => w;
  const type = typeOf(o, where);
  const j = o as Json;
  const each = (f: (w: string) => string[]): PreTokenizer => (words) => words.flatMap(f);
  switch (type) {
    case "BertPreTokenizer":
      return each((w) => w.split(/\s+/u).flatMap((part) => splitOnPunctuation(part)));
    case "Whitespace":
      return each((w) => w.match(/\w+|[^\w\s]+/gu) ?? []);
    case "WhitespaceSplit":
      return each((w) => w.split(/\s+/u).filter((s) => s.length > 0));
    case "ByteLevel": {
      const prefix = j.add_prefix_space === true;
      const regex = j.use_regex !== false;
      const enc = new TextEncoder();
      return each((w) => {
        if (prefix && !w.startsWith(" ")) w = " " + w;
        const parts = regex ? Array.from(w.matchAll(GPT2_PATTERN), (m) => m[0]) : [w];
        return parts.map((p) => {
          let s = "";
          for (const b of enc.encode(p)) s += BYTE_ENCODER[b];
          return s;
        });
      });
    }
    case "Metaspace": {
      const { rep, scheme } = metaspace(j);
      const split = j.split !== false;
      let first = true;
      return (words) => {
        first = true;
        return words.flatMap((w) => {
          let s = w.replaceAll(" ", rep);
          if (scheme === "always" || (scheme === "first" && first)) {
            if (!s.startsWith(rep)) s = rep + s;
          }
          first = false;
          if (!split) return [s];
          return splitBy(
            s,
            new RegExp(rep.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"), "gu"),
            "MergedWithNext",
          );
        });
      };
    }
    case "Split": {
      const p = pattern(j.pattern, `${where}.pattern`);
      const re = typeof p === "string"
        ? new RegExp(p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"), "gu")
        : p;
      const behavior = typeof j.behavior === "string" ? j.behavior : "Isolated";
      return each((w) => splitBy(w, re, behavior, j.invert === true));
    }
    case "Punctuation": {
      const behavior = typeof j.behavior === "string" ? j.behavior : "Isolated";
      return each((w) => splitBy(w, /[\p{P}!-\/:-@[-`{-~]/gu, behavior));
    }
    case "Digits": {
      const individual = j.individual_digits === true;
      return each((w) => splitBy(w, individual ? /\p{Nd}/gu : /\p{Nd}+/gu, "Isolated"));
    }
    case "Sequence":
      return sequence(j, "pretokenizers", where, buildPreTokenizer);
    default:
      return fail(where, `pre-tokenizer type ${JSON.stringify(type)} is not supported`);
  }
}

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

/** Builds a model from its JSON. */
export function buildModel(o: unknown, where = "model"): Model {
  if (o === null || typeof o !== "object" || Array.isArray(o)) {
    fail(where, `expected an object, got ${JSON.stringify(o)?.slice(0, 80)}`);
  }
  const j = o as Json;
  const type = modelType(j) ?? fail(where, `cannot tell the model type (no "type")`);
  switch (type) {
    case "WordPiece": {
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
    case "WordLevel": {
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
    case "BPE": {
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
              `merges[${i}] ${JSON.stringify(m)} names ${
                JSON.stringify(t)
              }, which is not in the vocab`,
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
    case "Unigram": {
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
    default:
      return fail(where, `model type ${JSON.stringify(type)} is not supported`);
  }
}

const BYTE_DECODER = new Map(BYTE_ENCODER.map((c, b) => [c, b]));

/** Builds a decoder from its JSON (token chain semantics of `tokenizers`). */
export function buildDecoder(o: unknown, where = "decoder"): Decoder {
  if (o === null || o === undefined) return (tokens) => [tokens.join(" ")];
  const type = typeOf(o, where);
  const j = o as Json;
  switch (type) {
    case "WordPiece": {
      const prefix = typeof j.prefix === "string" ? j.prefix : "##";
      const cleanup = j.cleanup !== false;
      return (tokens) =>
        tokens.map((t, i) => {
          if (i > 0) t = t.startsWith(prefix) ? t.slice(prefix.length) : " " + t;
          if (cleanup) {
            t = t.replaceAll(" .", ".").replaceAll(" ?", "?").replaceAll(" !", "!").replaceAll(
              " ,",
              ",",
            )
              .replaceAll(" ' ", "'").replaceAll(" n't", "n't").replaceAll(" 'm", "'m").replaceAll(
                " do not",
                " don't",
              )
              .replaceAll(" 's", "'s").replaceAll(" 've", "'ve").replaceAll(" 're", "'re");
          }
          return t;
        });
    }
    case "ByteLevel":
      return (tokens) => {
        const bytes: number[] = [];
        const enc = new TextEncoder();
        for (const ch of tokens.join("")) {
          const b = BYTE_DECODER.get(ch);
          if (b !== undefined) bytes.push(b);
          else bytes.push(...enc.encode(ch));
        }
        return [
          new TextDecoder("utf-8", { fatal: false, ignoreBOM: true }).decode(new Uint8Array(bytes)),
        ];
      };
    case "Metaspace": {
      const { rep, scheme } = metaspace(j);
      return (tokens) =>
        tokens.map((t, i) => {
          let s = t.replaceAll(rep, " ");
          if (i === 0 && scheme !== "never" && s.startsWith(" ")) s = s.slice(1);
          return s;
        });
    }
    case "BPEDecoder": {
      const suffix = typeof j.suffix === "string" ? j.suffix : "</w>";
      return (tokens) =>
        tokens.map((t, i) => t.replaceAll(suffix, i === tokens.length - 1 ? "" : " "));
    }
    case "ByteFallback":
      return (tokens) => {
        const out: string[] = [];
        let bytes: number[] = [];
        const flush = () => {
          if (bytes.length) out.push(new TextDecoder().decode(new Uint8Array(bytes)));
          bytes = [];
        };
        for (const t of tokens) {
          const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(t);
          if (m) bytes.push(parseInt(m[1], 16));
          else {
            flush();
            out.push(t);
          }
        }
        flush();
        return out;
      };
    case "Fuse":
      return (tokens) => [tokens.join("")];
    case "Strip": {
      const content = typeof j.content === "string" ? j.content : " ";
      const start = typeof j.start === "number" ? j.start : 0;
      const stop = typeof j.stop === "number" ? j.stop : 0;
      return (tokens) =>
        tokens.map((t) => {
          let s = t;
          for (let k = 0; k < start && s.startsWith(content); k++) s = s.slice(content.length);
          for (let k = 0; k < stop && s.endsWith(content); k++) s = s.slice(0, -content.length);
          return s;
        });
    }
    case "Replace": {
      const p = pattern(j.pattern, `${where}.pattern`);
      const content = typeof j.content === "string" ? j.content : "";
      return (tokens) => tokens.map((t) => replaceAll(t, p, content));
    }
    case "Sequence":
      return sequence(j, "decoders", where, buildDecoder);
    default:
      return fail(where, `decoder type ${JSON.stringify(type)} is not supported`);
  }
}
