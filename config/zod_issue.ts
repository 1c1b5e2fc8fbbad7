/**
 * One way to report a failed zod check, shared by `@encdec/config` and `@encdec/tokenization`:
 * the first issue's field path, the value found there and what was expected.
 *
 * @module
 */

/** Short description of a found value for error messages: `string "big"`, `null`, `an object`. */
export function describeValue(v: unknown): string {
  if (v === undefined) return "nothing (field missing)";
  if (v === null) return "null";
  if (Array.isArray(v)) return `an array of length ${v.length}`;
  if (typeof v === "object") return "an object";
  const s = JSON.stringify(v);
  return `${typeof v} ${s.length > 60 ? s.slice(0, 57) + "..." : s}`;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let cur = root;
  for (const p of path) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[p];
  }
  return cur;
}

/** Joins a field path: `encoder` + `hidden_size` → `encoder.hidden_size`; arrays as `[i]`. */
export function joinPath(prefix: string, path: readonly PropertyKey[]): string {
  let out = prefix;
  for (const p of path) {
    out = typeof p === "number" ? `${out}[${p}]` : out ? `${out}.${String(p)}` : String(p);
  }
  return out;
}

/** The part of a `z.ZodError` that {@linkcode summarizeZodError} reads (any zod error fits). */
export interface ZodErrorLike {
  /** The issues, first one first. */
  readonly issues: readonly {
    /** Field path of the issue. */
    readonly path: readonly PropertyKey[];
    /** zod's message (`Invalid input: expected number, received string`). */
    readonly message: string;
  }[];
}

/** What {@linkcode summarizeZodError} reports about the first issue of a failed parse. */
export interface ZodIssueSummary {
  /** Field path of the issue (`encoder.hidden_size`, `model.vocab[3]`); `""` at the top level. */
  field: string;
  /** The value found there, described (`string "big"`, `nothing (field missing)`). */
  found: string;
  /** What was expected (`expected number`). */
  expected: string;
  /** `" (and N more problem(s))"` when there were more issues, else `""`. */
  more: string;
}

/**
 * Summarizes the first issue of a zod error against the `input` that was parsed, for a typed
 * error message such as `${file}: field "${field}" is ${found}; ${expected}${more}`.
 *
 * @example
 * ```ts
 * import { z } from "zod";
 * import { summarizeZodError } from "@encdec/config";
 * const input = { hidden_size: "big" };
 * const r = z.object({ hidden_size: z.number() }).safeParse(input);
 * if (!r.success) summarizeZodError(r.error, input).found; // 'string "big"'
 * ```
 */
export function summarizeZodError(
  error: ZodErrorLike,
  input: unknown,
  prefix = "",
): ZodIssueSummary {
  const issue = error.issues[0];
  return {
    field: joinPath(prefix, issue.path),
    found: describeValue(valueAt(input, issue.path)),
    expected: issue.message.replace(/^Invalid input: /, "").replace(/, received \w+$/, ""),
    more: error.issues.length > 1 ? ` (and ${error.issues.length - 1} more problem(s))` : "",
  };
}
