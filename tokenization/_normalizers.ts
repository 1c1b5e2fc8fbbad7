/**
 * `tokenizer.json` normalizers (text → text): `BertNormalizer`, `NFC`/`NFD`/`NFKC`/`NFKD`,
 * `Lowercase`, `StripAccents`, `Strip`, `Replace`, `Prepend`, `Precompiled` (SentencePiece
 * charsmap) and `Sequence`.
 *
 * @module
 */
import { isChineseChar } from "./bert.ts";
import { SentencePieceNormalizer } from "./sentencepiece.ts";
import {
  checkDepth,
  fail,
  type Json,
  type Normalizer,
  pattern,
  replaceAll,
  sequence,
  typeOf,
} from "./_pipeline.ts";

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
export function buildNormalizer(o: unknown, where = "normalizer", depth = 0): Normalizer {
  if (o === null || o === undefined) return (t) => t;
  checkDepth(depth, where);
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
      return sequence(j, "normalizers", where, depth, buildNormalizer);
    default:
      return fail(where, `normalizer type ${JSON.stringify(type)} is not supported`);
  }
}
