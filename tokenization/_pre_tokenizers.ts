/**
 * `tokenizer.json` pre-tokenizers (pre-tokens → pre-tokens): `BertPreTokenizer`, `Whitespace`,
 * `WhitespaceSplit`, `ByteLevel`, `Metaspace`, `Split`, `Punctuation`, `Digits` and `Sequence`,
 * with the `tokenizers` split behaviors.
 *
 * @module
 */
import { splitOnPunctuation } from "./bert.ts";
import { bytesToUnicode, GPT2_PATTERN } from "./bpe.ts";
import { TokenizerError } from "./errors.ts";
import {
  checkDepth,
  fail,
  type Json,
  metaspace,
  pattern,
  type PreTokenizer,
  sequence,
  typeOf,
} from "./_pipeline.ts";

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
export function buildPreTokenizer(
  o: unknown,
  where = "pre_tokenizer",
  depth = 0,
): PreTokenizer {
  if (o === null || o === undefined) return (w) => w;
  checkDepth(depth, where);
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
      return sequence(j, "pretokenizers", where, depth, buildPreTokenizer);
    default:
      return fail(where, `pre-tokenizer type ${JSON.stringify(type)} is not supported`);
  }
}
