/**
 * A load-time check of the regular expressions a `tokenizer.json` brings (`Replace` / `Split`
 * patterns). JavaScript's regex engine backtracks and cannot be interrupted, so a pattern such
 * as `(a+)+$` hangs on a 60-byte input; this check parses the pattern and rejects the shapes
 * that backtrack exponentially or with a high polynomial degree, before the pattern is used:
 *
 * - a repeat (`*`, `+`, `{n,}`, `{n,m}` with m > 1) of something that itself repeats a variable
 *   number of times (`(a+)+`, `(\w*)*`, `(a+){2,9}`, `(a{1,5})+`, `(ab?)*`);
 * - a repeat of alternatives that may start with the same character (`(a|aa)+`,
 *   `(\w|\d)*`);
 * - more than {@linkcode MAX_UNBOUNDED_IN_SEQUENCE} unbounded repeats in one sequence
 *   (`a*a*a*a*a*$`);
 * - back-references, and nesting deeper than {@linkcode MAX_PIPELINE_DEPTH}.
 *
 * The pre-tokenization patterns real tokenizers use (GPT-2's, Llama 3's, Metaspace, Digits,
 * Punctuation) pass.
 *
 * @module
 */
import { MAX_PIPELINE_DEPTH, TokenizerLimitError } from "./errors.ts";

/** Unbounded repeats allowed in one sequence (`\s*[\r\n]+` has two): backtracking stays at most quadratic. */
export const MAX_UNBOUNDED_IN_SEQUENCE = 2;

/** First characters a node may match: a set of code points, or `null` for "any / unknown". */
type First = Set<number> | null;

interface Info {
  /** Holds a repeat of variable count (`*`, `+`, `?`, `{n,m}` with m > n) somewhere inside. */
  varies: boolean;
  /** Possible first characters (`null`: unknown). */
  first: First;
  /** Can match the empty string. */
  empty: boolean;
  /** The branches, when the node is an alternation of more than one. */
  alternatives?: Info[];
}

const ANY: Info = { varies: false, first: null, empty: false };

function union(a: First, b: First): First {
  if (a === null || b === null) return null;
  return new Set([...a, ...b]);
}

function overlaps(a: First, b: First): boolean {
  if (a === null || b === null) return true;
  for (const x of a) if (b.has(x)) return true;
  return false;
}

class Parser {
  #s: string;
  #i = 0;
  #where: string;
  constructor(source: string, where: string) {
    this.#s = source;
    this.#where = where;
  }

  #reject(why: string): never {
    throw new TokenizerLimitError(
      `${this.#where}: regex ${JSON.stringify(this.#s.slice(0, 120))} ${why}; patterns that ` +
        `can backtrack catastrophically are refused (expected no nested or overlapping repeats)`,
    );
  }

  parse(): void {
    this.#alternation(0);
    if (this.#i < this.#s.length) this.#i++; // an unbalanced ")" is left for RegExp to report
  }

  /** `a|b|c` up to a `)` or the end. */
  #alternation(depth: number): Info {
    if (depth > MAX_PIPELINE_DEPTH) {
      this.#reject(`nests groups more than ${MAX_PIPELINE_DEPTH} deep`);
    }
    const branches: Info[] = [this.#sequence(depth)];
    while (this.#s[this.#i] === "|") {
      this.#i++;
      branches.push(this.#sequence(depth));
    }
    let first: First = new Set();
    for (const b of branches) first = union(first, b.first);
    return {
      varies: branches.some((b) => b.varies),
      first,
      empty: branches.some((b) => b.empty),
      alternatives: branches,
    };
  }

  /** Atoms with their quantifiers, up to `|`, `)` or the end. */
  #sequence(depth: number): Info {
    let first: First = new Set();
    let leading = true;
    let varies = false;
    let empty = true;
    let unboundedCount = 0;
    while (this.#i < this.#s.length && this.#s[this.#i] !== "|" && this.#s[this.#i] !== ")") {
      const atom = this.#atom(depth);
      const q = this.#quantifier();
      let info = atom;
      if (q) {
        const inner = atom;
        if (q.max > 1 && inner.varies) {
          this.#reject("repeats a sub-pattern that itself repeats a variable number of times");
        }
        if (q.max > 1 && inner.alternatives && inner.alternatives.length > 1) {
          const alts = inner.alternatives;
          for (let a = 0; a < alts.length; a++) {
            for (let b = a + 1; b < alts.length; b++) {
              if (alts[a].empty || alts[b].empty || overlaps(alts[a].first, alts[b].first)) {
                this.#reject("repeats alternatives that can match the same text");
              }
            }
          }
        }
        if (q.max === Infinity) unboundedCount++;
        info = {
          varies: atom.varies || q.max > q.min,
          first: atom.first,
          empty: atom.empty || q.min === 0,
        };
      }
      if (unboundedCount > MAX_UNBOUNDED_IN_SEQUENCE) {
        this.#reject(
          `has more than ${MAX_UNBOUNDED_IN_SEQUENCE} unbounded repeats in one sequence`,
        );
      }
      varies ||= info.varies;
      if (leading) first = union(first, info.first);
      if (!info.empty) leading = false;
      empty &&= info.empty;
    }
    return { varies, first: leading ? union(first, null) : first, empty };
  }

  #quantifier(): { min: number; max: number } | null {
    const c = this.#s[this.#i];
    let q: { min: number; max: number } | null = null;
    if (c === "*") q = { min: 0, max: Infinity };
    else if (c === "+") q = { min: 1, max: Infinity };
    else if (c === "?") q = { min: 0, max: 1 };
    else if (c === "{") {
      const m = /^\{(\d+)(,(\d*))?\}/.exec(this.#s.slice(this.#i));
      if (!m) return null;
      const min = Number(m[1]);
      const max = m[2] === undefined ? min : m[3] === "" ? Infinity : Number(m[3]);
      this.#i += m[0].length - 1;
      q = { min, max };
    }
    if (!q) return null;
    this.#i++;
    if (this.#s[this.#i] === "?") this.#i++; // lazy: same backtracking
    return q;
  }

  #atom(depth: number): Info {
    const c = this.#s[this.#i++];
    if (c === "(") {
      let lookaround = false;
      if (this.#s[this.#i] === "?") {
        const m = /^\?(:|=|!|<=|<!|<[A-Za-z_$][\w$]*>)/.exec(this.#s.slice(this.#i));
        if (m) {
          lookaround = ["=", "!", "<=", "<!"].includes(m[1]);
          this.#i += m[0].length;
        }
      }
      const inner = this.#alternation(depth + 1);
      if (this.#s[this.#i] === ")") this.#i++;
      // A lookaround consumes nothing: it adds no first characters of its own.
      return lookaround ? { varies: inner.varies, first: new Set(), empty: true } : inner;
    }
    if (c === "[") return this.#klass();
    if (c === "\\") return this.#escape();
    if (c === "^" || c === "$") return { varies: false, first: new Set(), empty: true };
    if (c === ".") return ANY;
    const cp = this.#s.codePointAt(this.#i - 1)!;
    if (cp > 0xffff) this.#i++;
    return { varies: false, first: new Set([cp]), empty: false };
  }

  #escape(): Info {
    const c = this.#s[this.#i++];
    if (c === undefined) return ANY;
    if (/[1-9]/.test(c) || (c === "k" && this.#s[this.#i] === "<")) {
      this.#reject("uses a back-reference");
    }
    if (c === "b" || c === "B") return { varies: false, first: new Set(), empty: true };
    if ((c === "p" || c === "P") && this.#s[this.#i] === "{") {
      const end = this.#s.indexOf("}", this.#i);
      this.#i = end < 0 ? this.#s.length : end + 1;
      return ANY;
    }
    const lit = this.#literalEscape(c);
    return lit === null ? ANY : { varies: false, first: new Set([lit]), empty: false };
  }

  /** The code point of an escape that stands for one character, else `null` (a class). */
  #literalEscape(c: string): number | null {
    const simple: Record<string, number> = { n: 10, r: 13, t: 9, f: 12, v: 11, "0": 0 };
    if (c in simple) return simple[c];
    if (c === "x") {
      const m = /^[0-9a-fA-F]{2}/.exec(this.#s.slice(this.#i));
      if (m) {
        this.#i += 2;
        return parseInt(m[0], 16);
      }
      return null;
    }
    if (c === "u") {
      const m = /^(?:\{([0-9a-fA-F]+)\}|([0-9a-fA-F]{4}))/.exec(this.#s.slice(this.#i));
      if (m) {
        this.#i += m[0].length;
        return parseInt(m[1] ?? m[2], 16);
      }
      return null;
    }
    if (c === "c") {
      this.#i++;
      return null;
    }
    if (/[dDwWsS]/.test(c)) return null;
    return c.codePointAt(0)!;
  }

  /** `[...]`: literal members and ranges are tracked; a negated class or `\w`-like escapes is "any". */
  #klass(): Info {
    const negated = this.#s[this.#i] === "^";
    if (negated) this.#i++;
    let first: First = new Set();
    while (this.#i < this.#s.length && this.#s[this.#i] !== "]") {
      let lo: number | null;
      if (this.#s[this.#i] === "\\") {
        this.#i++;
        const c = this.#s[this.#i++];
        if ((c === "p" || c === "P") && this.#s[this.#i] === "{") {
          const end = this.#s.indexOf("}", this.#i);
          this.#i = end < 0 ? this.#s.length : end + 1;
          lo = null;
        } else lo = c === "b" ? 8 : this.#literalEscape(c);
      } else {
        lo = this.#s.codePointAt(this.#i)!;
        this.#i += lo > 0xffff ? 2 : 1;
      }
      let hi = lo;
      if (
        this.#s[this.#i] === "-" && this.#s[this.#i + 1] !== "]" && this.#i + 1 < this.#s.length
      ) {
        this.#i++;
        if (this.#s[this.#i] === "\\") {
          this.#i++;
          hi = this.#literalEscape(this.#s[this.#i++]);
        } else {
          hi = this.#s.codePointAt(this.#i)!;
          this.#i += hi > 0xffff ? 2 : 1;
        }
      }
      if (lo === null || hi === null || first === null || hi - lo > 4096) first = null;
      else for (let x = lo; x <= hi; x++) first.add(x);
    }
    this.#i++; // "]"
    return { varies: false, first: negated ? null : first, empty: false };
  }
}

/**
 * Throws a {@linkcode TokenizerLimitError} naming `where` when `source` (a JavaScript regex
 * source, `u` flag) has a shape that can backtrack catastrophically (see the module doc).
 */
export function checkRegexSafety(source: string, where: string): void {
  new Parser(source, where).parse();
}
