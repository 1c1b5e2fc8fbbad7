/**
 * Truncation and padding of encoded sequences with HF's strategies (`longest_first`,
 * `only_first`, `only_second`; `longest`, `max_length`, `pad_to_multiple_of`) and sides.
 *
 * @module
 */
import { type EncodeOptions, type Encoding, VERY_LARGE_INTEGER } from "./encoding.ts";
import { TokenizerError } from "./errors.ts";

/** A truncation strategy after the `true` / `false` spellings are resolved. */
export type TruncationStrategy = "longest_first" | "only_first" | "only_second";

/** The strategy of `opts.truncation`, or `null` for none. */
export function truncationStrategy(t: EncodeOptions["truncation"]): TruncationStrategy | null {
  if (t === undefined || t === false || t === "do_not_truncate") return null;
  if (t === true) return "longest_first";
  if (t === "longest_first" || t === "only_first" || t === "only_second") return t;
  throw new TokenizerError(
    `truncation: got ${
      JSON.stringify(t)
    }, expected true, false, "longest_first", "only_first", "only_second" or "do_not_truncate"`,
  );
}

/** The strategy of `opts.padding`, or `null` for none. */
export function paddingStrategy(p: EncodeOptions["padding"]): "longest" | "max_length" | null {
  if (p === undefined || p === false || p === "do_not_pad") return null;
  if (p === true || p === "longest") return "longest";
  if (p === "max_length") return "max_length";
  throw new TokenizerError(
    `padding: got ${
      JSON.stringify(p)
    }, expected true, false, "longest", "max_length" or "do_not_pad"`,
  );
}

/**
 * The length to truncate to: `opts.maxLength`, else (when truncating) the tokenizer's
 * `model_max_length`, as HF does for `truncation=True` without `max_length`.
 */
export function truncationLength(
  opts: EncodeOptions,
  strategy: TruncationStrategy | null,
  modelMaxLength: number,
): number | undefined {
  const maxLength = opts.maxLength;
  if (maxLength !== undefined && (!Number.isInteger(maxLength) || maxLength < 0)) {
    throw new TokenizerError(`maxLength: got ${maxLength}, expected a non-negative integer`);
  }
  if (strategy && maxLength === undefined && modelMaxLength < VERY_LARGE_INTEGER) {
    return modelMaxLength;
  }
  return maxLength;
}

/** Removes `n` ids from one sequence or a pair (HF `truncate_sequences`). */
export function truncateIds(
  ids: number[],
  pair: number[] | undefined,
  n: number,
  strategy: TruncationStrategy,
  side: "right" | "left",
): [number[], number[] | undefined] {
  const cut = (a: number[], k: number) => side === "left" ? a.slice(k) : a.slice(0, a.length - k);
  if (strategy === "only_first" || (strategy === "longest_first" && pair === undefined)) {
    // HF logs an error and leaves the sequence alone when it is too short to remove n tokens.
    if (ids.length > n) ids = cut(ids, n);
  } else if (strategy === "longest_first") {
    let a = ids.length;
    let b = pair!.length;
    for (let k = 0; k < n; k++) {
      if (a > b) a--;
      else b--;
    }
    ids = cut(ids, ids.length - a);
    pair = cut(pair!, pair!.length - b);
  } else if (strategy === "only_second" && pair !== undefined) {
    if (pair.length > n) pair = cut(pair, n);
  }
  return [ids, pair];
}

/** Pads encodings to the longest one or to `maxLength` (HF `pad`), on `side`. */
export function padEncodings(
  encs: Encoding[],
  padding: "longest" | "max_length",
  opts: EncodeOptions,
  modelMaxLength: number,
  padId: number | null,
  side: "right" | "left",
): Encoding[] {
  let target = padding === "longest"
    ? Math.max(0, ...encs.map((e) => e.inputIds.length))
    : opts.maxLength ?? modelMaxLength;
  if (padding === "max_length" && target >= VERY_LARGE_INTEGER) {
    throw new TokenizerError(
      `padding "max_length" needs maxLength: the model has no model_max_length`,
    );
  }
  const m = opts.padToMultipleOf;
  if (m && target % m !== 0) target = (Math.floor(target / m) + 1) * m;
  if (padId === null) {
    throw new TokenizerError(
      'padding requested but the tokenizer has no pad_token: set one (e.g. setSpecialToken("pad_token", tok.eosToken))',
    );
  }
  return encs.map((e) => {
    const k = target - e.inputIds.length;
    if (k <= 0) return e;
    const fill = (v: number) => new Array(k).fill(v);
    const join = (a: number[], v: number) =>
      side === "left" ? [...fill(v), ...a] : [...a, ...fill(v)];
    const out: Encoding = { inputIds: join(e.inputIds, padId) };
    if (e.attentionMask) out.attentionMask = join(e.attentionMask, 0);
    if (e.tokenTypeIds) out.tokenTypeIds = join(e.tokenTypeIds, 0);
    return out;
  });
}
