/**
 * ROUGE-1, ROUGE-2 and ROUGE-L F-measures computed as Google's `rouge_score` package does:
 * text is lower-cased, every character outside `[a-z0-9]` becomes a space, tokens are split on
 * whitespace, and with `useStemmer` tokens longer than 3 characters are Porter-stemmed (the
 * original Porter 1980 algorithm, as `rouge_score` asks NLTK for). ROUGE-N counts clipped n-gram
 * overlaps; ROUGE-L uses the longest common subsequence of the token lists.
 *
 * @example
 * ```ts
 * import { rougeScores } from "@encdec/cli";
 * const s = rougeScores("the cat sat on the mat", "the cat was on the mat");
 * s.rougeL.fmeasure; // 0.8333…
 * ```
 *
 * @module
 */

/** Precision, recall and F-measure of one ROUGE type. */
export interface RougeScore {
  /** Matched / predicted units. */
  precision: number;
  /** Matched / reference units. */
  recall: number;
  /** Harmonic mean of precision and recall (0 when both are 0). */
  fmeasure: number;
}

/** The three scores `encdec eval --metric rouge` reports. */
export interface RougeResult {
  /** Unigram overlap. */
  rouge1: RougeScore;
  /** Bigram overlap. */
  rouge2: RougeScore;
  /** Longest common subsequence. */
  rougeL: RougeScore;
}

/** Options of the ROUGE functions. */
export interface RougeOptions {
  /** Porter-stem tokens longer than 3 characters (rouge_score's `use_stemmer`). Default false. */
  useStemmer?: boolean;
}

/** rouge_score's default tokenizer (lower-case, non-alphanumerics → spaces, optional stemming). */
export function rougeTokenize(text: string, opts: RougeOptions = {}): string[] {
  const tokens = text.toLowerCase().replace(/[^a-z0-9]+/g, " ").trim().split(/\s+/).filter(
    Boolean,
  );
  return opts.useStemmer ? tokens.map((t) => (t.length > 3 ? porterStem(t) : t)) : tokens;
}

function score(matches: number, predicted: number, reference: number): RougeScore {
  const precision = predicted > 0 ? matches / predicted : 0;
  const recall = reference > 0 ? matches / reference : 0;
  const fmeasure = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
  return { precision, recall, fmeasure };
}

function ngramCounts(tokens: readonly string[], n: number): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i + n <= tokens.length; i++) {
    const key = tokens.slice(i, i + n).join("\u0000");
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

function rougeN(target: readonly string[], prediction: readonly string[], n: number): RougeScore {
  const t = ngramCounts(target, n);
  const p = ngramCounts(prediction, n);
  let matches = 0;
  for (const [k, c] of p) matches += Math.min(c, t.get(k) ?? 0);
  const sum = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
  return score(matches, sum(p), sum(t));
}

function lcsLength(a: readonly string[], b: readonly string[]): number {
  let prev = new Uint32Array(b.length + 1);
  let cur = new Uint32Array(b.length + 1);
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      cur[j] = a[i - 1] === b[j - 1] ? prev[j - 1] + 1 : Math.max(prev[j], cur[j - 1]);
    }
    [prev, cur] = [cur, prev];
  }
  return prev[b.length];
}

/** ROUGE-1/2/L of one prediction against one reference (`rouge_score.RougeScorer.score`). */
export function rougeScores(
  reference: string,
  prediction: string,
  opts: RougeOptions = {},
): RougeResult {
  const t = rougeTokenize(reference, opts);
  const p = rougeTokenize(prediction, opts);
  return {
    rouge1: rougeN(t, p, 1),
    rouge2: rougeN(t, p, 2),
    rougeL: score(lcsLength(t, p), p.length, t.length),
  };
}

/** Mean of each score over pairs (what summarization papers report as ROUGE). */
export function rougeCorpus(
  references: readonly string[],
  predictions: readonly string[],
  opts: RougeOptions = {},
): RougeResult {
  if (references.length !== predictions.length) {
    throw new RangeError(
      `rouge: ${references.length} references but ${predictions.length} predictions`,
    );
  }
  const acc: RougeResult = {
    rouge1: { precision: 0, recall: 0, fmeasure: 0 },
    rouge2: { precision: 0, recall: 0, fmeasure: 0 },
    rougeL: { precision: 0, recall: 0, fmeasure: 0 },
  };
  const n = references.length;
  for (let i = 0; i < n; i++) {
    const s = rougeScores(references[i], predictions[i], opts);
    for (const k of ["rouge1", "rouge2", "rougeL"] as const) {
      acc[k].precision += s[k].precision / n;
      acc[k].recall += s[k].recall / n;
      acc[k].fmeasure += s[k].fmeasure / n;
    }
  }
  return acc;
}

// ---- Porter (1980) stemmer ----------------------------------------------------------------------

function isConsonant(w: string, i: number): boolean {
  const c = w[i];
  if ("aeiou".includes(c)) return false;
  if (c === "y") return i === 0 ? true : !isConsonant(w, i - 1);
  return true;
}

/** m(): the number of VC sequences in `w[0..end)`. */
function measure(w: string, end = w.length): number {
  let m = 0;
  let i = 0;
  while (i < end && isConsonant(w, i)) i++;
  while (i < end) {
    while (i < end && !isConsonant(w, i)) i++;
    if (i >= end) break;
    while (i < end && isConsonant(w, i)) i++;
    m++;
  }
  return m;
}

function hasVowel(stem: string): boolean {
  for (let i = 0; i < stem.length; i++) if (!isConsonant(stem, i)) return true;
  return false;
}

function endsDoubleConsonant(w: string): boolean {
  const n = w.length;
  return n >= 2 && w[n - 1] === w[n - 2] && isConsonant(w, n - 1);
}

/** *o: stem ends cvc where the second c is not w, x or y. */
function endsCvc(w: string): boolean {
  const n = w.length;
  if (n < 3) return false;
  return isConsonant(w, n - 3) && !isConsonant(w, n - 2) && isConsonant(w, n - 1) &&
    !"wxy".includes(w[n - 1]);
}

function replaceIf(
  w: string,
  rules: ReadonlyArray<readonly [string, string]>,
  minMeasure: number,
): string {
  for (const [suffix, rep] of rules) {
    if (w.endsWith(suffix)) {
      const stem = w.slice(0, w.length - suffix.length);
      return measure(stem) > minMeasure ? stem + rep : w;
    }
  }
  return w;
}

const STEP2: ReadonlyArray<readonly [string, string]> = [
  ["ational", "ate"],
  ["tional", "tion"],
  ["enci", "ence"],
  ["anci", "ance"],
  ["izer", "ize"],
  ["abli", "able"],
  ["alli", "al"],
  ["entli", "ent"],
  ["eli", "e"],
  ["ousli", "ous"],
  ["ization", "ize"],
  ["ation", "ate"],
  ["ator", "ate"],
  ["alism", "al"],
  ["iveness", "ive"],
  ["fulness", "ful"],
  ["ousness", "ous"],
  ["aliti", "al"],
  ["iviti", "ive"],
  ["biliti", "ble"],
];
const STEP3: ReadonlyArray<readonly [string, string]> = [
  ["icate", "ic"],
  ["ative", ""],
  ["alize", "al"],
  ["iciti", "ic"],
  ["ical", "ic"],
  ["ful", ""],
  ["ness", ""],
];
const STEP4 = [
  "al",
  "ance",
  "ence",
  "er",
  "ic",
  "able",
  "ible",
  "ant",
  "ement",
  "ment",
  "ent",
  "ion",
  "ou",
  "ism",
  "ate",
  "iti",
  "ous",
  "ive",
  "ize",
];

/** The original Porter stemmer on a lower-case word. */
export function porterStem(word: string): string {
  let w = word;
  if (w.length <= 2) return w;
  // step 1a
  if (w.endsWith("sses")) w = w.slice(0, -2);
  else if (w.endsWith("ies")) w = w.slice(0, -2);
  else if (w.endsWith("ss")) { /* keep */ }
  else if (w.endsWith("s")) w = w.slice(0, -1);
  // step 1b
  let extra = false;
  if (w.endsWith("eed")) {
    if (measure(w, w.length - 3) > 0) w = w.slice(0, -1);
  } else if (w.endsWith("ed") && hasVowel(w.slice(0, -2))) {
    w = w.slice(0, -2);
    extra = true;
  } else if (w.endsWith("ing") && hasVowel(w.slice(0, -3))) {
    w = w.slice(0, -3);
    extra = true;
  }
  if (extra) {
    if (w.endsWith("at") || w.endsWith("bl") || w.endsWith("iz")) w += "e";
    else if (endsDoubleConsonant(w) && !"lsz".includes(w[w.length - 1])) w = w.slice(0, -1);
    else if (measure(w) === 1 && endsCvc(w)) w += "e";
  }
  // step 1c
  if (w.endsWith("y") && hasVowel(w.slice(0, -1))) w = w.slice(0, -1) + "i";
  // steps 2-3
  w = replaceIf(w, STEP2, 0);
  w = replaceIf(w, STEP3, 0);
  // step 4
  for (const suffix of STEP4) {
    if (w.endsWith(suffix)) {
      const stem = w.slice(0, w.length - suffix.length);
      if (measure(stem) > 1) {
        if (suffix !== "ion" || /[st]$/.test(stem)) w = stem;
      }
      break;
    }
  }
  // step 5a
  if (w.endsWith("e")) {
    const stem = w.slice(0, -1);
    const m = measure(stem);
    if (m > 1 || (m === 1 && !endsCvc(stem))) w = stem;
  }
  // step 5b
  if (measure(w) > 1 && endsDoubleConsonant(w) && w.endsWith("l")) w = w.slice(0, -1);
  return w;
}
