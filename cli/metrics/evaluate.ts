/**
 * `encdec eval --metric rouge`: ROUGE-1/2/L F-measures (as the `rouge_score` package computes
 * them, stemming optional) over a `.jsonl` of `{"prediction", "reference"}` rows.
 *
 * @module
 */
import { EncdecError } from "@encdec/config";
import { rougeCorpus, type RougeResult } from "./rouge.ts";
import { readJsonl } from "../_jsonl.ts";

export { DataError } from "../_jsonl.ts";

/** Options of {@linkcode evaluate}. */
export interface EvaluateOptions {
  /** `.jsonl` rows with `prediction` and `reference` (or `summary`) strings. */
  predictions: string;
  /** Only `"rouge"`. */
  metric?: string;
  /** Porter-stem tokens (rouge_score's `use_stemmer`). Default false. */
  useStemmer?: boolean;
}

/** What {@linkcode evaluate} reports. */
export interface EvaluateResult {
  /** Rows scored. */
  count: number;
  /** Corpus-mean precision / recall / F of ROUGE-1, -2 and -L. */
  rouge: RougeResult;
}

/**
 * Scores the predictions of a `.jsonl` file against their references.
 *
 * @example
 * ```ts ignore
 * import { evaluate, formatEvaluation } from "./evaluate.ts";
 * const r = await evaluate({ predictions: "preds.jsonl", metric: "rouge", useStemmer: true });
 * console.log(formatEvaluation(r)); // rouge1 41.20  rouge2 18.03  rougeL 38.77  (n = 500)
 * ```
 */
export async function evaluate(opts: EvaluateOptions): Promise<EvaluateResult> {
  const metric = opts.metric ?? "rouge";
  if (metric !== "rouge") {
    throw new EncdecError(`eval: metric "${metric}" is not supported (expected "rouge")`);
  }
  const rows = await readJsonl(opts.predictions, {
    prediction: ["prediction", "predictions", "pred"],
    reference: ["reference", "references", "summary", "target"],
  });
  const rouge = rougeCorpus(
    rows.map((r) => r.reference),
    rows.map((r) => r.prediction),
    { useStemmer: opts.useStemmer ?? false },
  );
  return { count: rows.length, rouge };
}

/** One line: F-measures ×100 with two decimals, as HF's summarization scripts print them. */
export function formatEvaluation(r: EvaluateResult): string {
  const f = (x: number) => (100 * x).toFixed(2);
  return `rouge1 ${f(r.rouge.rouge1.fmeasure)}  rouge2 ${f(r.rouge.rouge2.fmeasure)}  ` +
    `rougeL ${f(r.rouge.rougeL.fmeasure)}  (n = ${r.count})`;
}
