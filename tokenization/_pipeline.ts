/**
 * The shared building blocks of a `tokenizer.json` pipeline (Hugging Face `tokenizers` format):
 * the component function types, JSON checks, `Sequence` steps with a bounded nesting depth, and
 * regex patterns that pass the backtracking check of `_safe_regex.ts`. The components
 * themselves live in `_normalizers.ts`, `_pre_tokenizers.ts`, `_models.ts`, `_decoders.ts` and
 * `_post_processors.ts`.
 *
 * @module
 */
import { MAX_PIPELINE_DEPTH, TokenizerError, TokenizerLimitError } from "./errors.ts";
import { checkRegexSafety } from "./_safe_regex.ts";

/** A parsed JSON object. */
export type Json = Record<string, unknown>;

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

/** Throws a `TokenizerError` naming `where`. */
export function fail(where: string, msg: string): never {
  throw new TokenizerError(`${where}: ${msg}`);
}

/** Throws a {@linkcode TokenizerLimitError} when a component sits deeper than the limit. */
export function checkDepth(depth: number, where: string): void {
  if (depth > MAX_PIPELINE_DEPTH) {
    throw new TokenizerLimitError(
      `${where}: components nested more than ${MAX_PIPELINE_DEPTH} deep (Sequence inside ` +
        `Sequence); expected a flat pipeline`,
    );
  }
}

/**
 * A `Sequence` step: the steps listed under `j[key]`, built by `build` one level deeper, applied
 * in order.
 */
export function sequence<T>(
  j: Json,
  key: string,
  where: string,
  depth: number,
  build: (o: unknown, where: string, depth: number) => (x: T) => T,
): (x: T) => T {
  const list = j[key];
  if (!Array.isArray(list)) fail(where, `Sequence needs a "${key}" array`);
  checkDepth(depth + 1, `${where}.${key}`);
  const fs = list.map((x, i) => build(x, `${where}.${key}[${i}]`, depth + 1));
  return (x) => fs.reduce((acc, f) => f(acc), x);
}

export /**
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

/** The `"type"` of a component object. */
export function typeOf(o: unknown, where: string): string {
  if (o === null || typeof o !== "object" || typeof (o as Json).type !== "string") {
    fail(where, `expected an object with a string "type", got ${JSON.stringify(o)?.slice(0, 80)}`);
  }
  return (o as Json).type as string;
}

/**
 * A `{"String": ...}` (literal) or `{"Regex": ...}` pattern; a regex must pass
 * `checkRegexSafety` (no catastrophic backtracking) before it is compiled.
 */
export function pattern(p: unknown, where: string): RegExp | string {
  const o = p as Json | null;
  if (o && typeof o.String === "string") return o.String;
  if (o && typeof o.Regex === "string") {
    checkRegexSafety(o.Regex, where);
    try {
      return new RegExp(o.Regex, "gu");
    } catch (e) {
      fail(where, `cannot compile Regex ${JSON.stringify(o.Regex)}: ${(e as Error).message}`);
    }
  }
  return fail(
    where,
    `expected a pattern {"String": ...} or {"Regex": ...}, got ${JSON.stringify(p)}`,
  );
}

/** Replaces every match of a pattern. */
export function replaceAll(text: string, p: RegExp | string, content: string): string {
  return typeof p === "string" ? text.replaceAll(p, content) : text.replace(p, () => content);
}
