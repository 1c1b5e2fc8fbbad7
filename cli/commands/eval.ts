/**
 * `encdec eval`: the command-line wrapper around `evaluate()` (`../metrics/evaluate.ts`): ROUGE of a
 * `.jsonl` of predictions and references.
 *
 * @module
 */
import {
  choice,
  type Command,
  EXIT_OK,
  parseCommandArgs,
  str,
  UsageError,
  writeOut,
} from "../_cli.ts";
import { evaluate, formatEvaluation } from "../metrics/evaluate.ts";
import { assertReadableFile } from "../permissions.ts";

const EVAL_HELP = `encdec eval: score predictions against references

Usage: encdec eval --predictions <preds.jsonl> [--metric rouge] [--use-stemmer] [--format text|json]

Reads .jsonl rows with "prediction" and "reference" (or "summary") strings and prints the
corpus-mean ROUGE-1/2/L F-measures (as the rouge_score package computes them).

Options
  --predictions <file>   the rows to score (or give the file as the only argument)
  --metric <name>        rouge (the only metric)
  --use-stemmer          Porter-stem tokens (rouge_score's use_stemmer)
  -f, --format <fmt>     text (default) or json
  -h, --help             this help`;

/** `encdec eval`. */
export const evalCommand: Command = {
  name: "eval",
  summary: "score predictions with ROUGE-1/2/L",
  help: EVAL_HELP,
  async run(args) {
    const p = parseCommandArgs("eval", args, {
      predictions: { type: "string" },
      metric: { type: "string" },
      "use-stemmer": { type: "boolean" },
      format: { type: "string", short: "f" },
    });
    if (p.values.help) {
      await writeOut(EVAL_HELP + "\n");
      return EXIT_OK;
    }
    const predictions = str(p, "predictions") ?? p.positionals[0];
    if (!predictions || p.positionals.length > (str(p, "predictions") ? 0 : 1)) {
      throw new UsageError(
        "eval: give one predictions file (--predictions <file>); see encdec eval --help",
      );
    }
    const format = choice(p, "format", ["text", "json"] as const) ?? "text";
    const metric = choice(p, "metric", ["rouge"] as const) ?? "rouge";
    assertReadableFile(predictions, "predictions file");
    const r = await evaluate({ predictions, metric, useStemmer: p.values["use-stemmer"] === true });
    await writeOut(
      format === "json" ? JSON.stringify(r, null, 2) + "\n" : formatEvaluation(r) + "\n",
    );
    return EXIT_OK;
  },
};
