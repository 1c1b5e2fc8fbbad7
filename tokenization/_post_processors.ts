/**
 * `tokenizer.json` post-processors: where the special tokens and segment ids go around one
 * sequence or a pair (`BertProcessing`, `RobertaProcessing`, `TemplateProcessing`, `Sequence`).
 *
 * @module
 */
import { TokenizerError } from "./errors.ts";
import { checkDepth, type Json } from "./_pipeline.ts";

/** One element of a TemplateProcessing template. */
export type Piece = { seq: "A" | "B"; typeId: number } | { special: string; typeId: number };

export interface PostProcessor {
  single: Piece[];
  pair: Piece[];
  specials: Map<string, number[]>;
}

/**
 * Parses a post-processor (`BertProcessing`, `RobertaProcessing`, `TemplateProcessing`,
 * `ByteLevel` (nothing to add), `Sequence`) into its single/pair layouts; `idOf` resolves special
 * tokens the template names without ids.
 */
export function parsePostProcessor(
  o: unknown,
  where: string,
  idOf: (t: string) => number,
  depth = 0,
): PostProcessor | null {
  if (o === null || o === undefined) return null;
  checkDepth(depth, where);
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
    case "TemplateProcessing":
      return templateProcessing(j, where, idOf);
    case "Sequence": {
      const list = Array.isArray(j.processors) ? j.processors : [];
      let found: PostProcessor | null = null;
      list.forEach((p, i) => {
        const r = parsePostProcessor(p, `${where}.processors[${i}]`, idOf, depth + 1);
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

/** `TemplateProcessing`: `single` / `pair` templates of `Sequence` and `SpecialToken` pieces. */
function templateProcessing(
  j: Json,
  where: string,
  idOf: (t: string) => number,
): PostProcessor {
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
        `${where}.${name}[${i}]: expected {Sequence} or {SpecialToken}, got ${JSON.stringify(e)}`,
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
