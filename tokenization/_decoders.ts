/**
 * `tokenizer.json` decoders (tokens → tokens, joined at the end): `WordPiece`, `ByteLevel`,
 * `Metaspace`, `BPEDecoder`, `ByteFallback`, `Fuse`, `Strip`, `Replace` and `Sequence`.
 *
 * @module
 */
import { bytesToUnicode } from "./bpe.ts";
import { cleanUpTokenization } from "./clean_up.ts";
import {
  checkDepth,
  type Decoder,
  fail,
  type Json,
  metaspace,
  pattern,
  replaceAll,
  sequence,
  typeOf,
} from "./_pipeline.ts";

const BYTE_ENCODER = bytesToUnicode();
const BYTE_DECODER = new Map(BYTE_ENCODER.map((c, b) => [c, b]));

/** Builds a decoder from its JSON (token chain semantics of `tokenizers`). */
export function buildDecoder(o: unknown, where = "decoder", depth = 0): Decoder {
  if (o === null || o === undefined) return (tokens) => [tokens.join(" ")];
  checkDepth(depth, where);
  const type = typeOf(o, where);
  const j = o as Json;
  switch (type) {
    case "WordPiece": {
      const prefix = typeof j.prefix === "string" ? j.prefix : "##";
      const cleanup = j.cleanup !== false;
      return (tokens) =>
        tokens.map((t, i) => {
          if (i > 0) t = t.startsWith(prefix) ? t.slice(prefix.length) : " " + t;
          if (cleanup) t = cleanUpTokenization(t, { contractDoNot: true });
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
      return sequence(j, "decoders", where, depth, buildDecoder);
    default:
      return fail(where, `decoder type ${JSON.stringify(type)} is not supported`);
  }
}
