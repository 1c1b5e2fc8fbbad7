/**
 * Scores the default model on the Debian test split: generates a synopsis for each description
 * with the model's own `generation_config.json` (the shipped one: beam search, 4 beams, at most 32
 * tokens, early stopping, no repeated trigram; `--max-length`, `--no-repeat-ngram-size`,
 * `--num-beams`, `--length-penalty`, `--min-length`, `--repetition-penalty` override), sources cut at 64 tokens as in training, and reports corpus-mean ROUGE-1/2/L F-measures (rouge_score's tokenizer, Porter
 * stemming) for the model and for two baselines on the same rows: the description's first
 * sentence and its first 8 words.
 *
 * Rows: all of `test.jsonl` (default), or its first `--rows` rows in file order.
 * Writes `<out>/predictions.jsonl` (`{package, text, reference, prediction}`; `encdec eval
 * --use-stemmer` scores it) and `<out>/rouge.json`.
 *
 * Run: `nice -n 10 deno run -A scripts/eval_default.ts [--model models/default]
 * [--data data/debian/test.jsonl] [--rows 1000] [--out data/eval]`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { EncoderDecoderModel, type GenerateOptions } from "@encdec/generation";
import { OrtCpuBackend } from "@encdec/modeling";
import { AutoTokenizer } from "@encdec/tokenization";
import { rougeCorpus, type RougeResult } from "../cli/metrics/rouge.ts";

/** Source tokens the model sees (as in training). */
export const MAX_SOURCE_LENGTH = 64;

/** The first sentence: up to the first `.`, `!` or `?` followed by white space (or all). */
export function firstSentence(text: string): string {
  const flat = text.replace(/\s+/g, " ").trim();
  const m = /^.*?[.!?](?=\s|$)/.exec(flat);
  return m ? m[0] : flat;
}

/** The first `n` white-space separated words. */
export function firstWords(text: string, n = 8): string {
  return text.trim().split(/\s+/).slice(0, n).join(" ");
}

function fmt(r: RougeResult): string {
  return [r.rouge1, r.rouge2, r.rougeL].map((s) => s.fmeasure.toFixed(4)).join(" | ");
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      model: { type: "string" },
      data: { type: "string" },
      rows: { type: "string" },
      out: { type: "string" },
      batch: { type: "string" },
      "baselines-only": { type: "boolean" },
      "max-length": { type: "string" },
      "no-repeat-ngram-size": { type: "string" },
      "num-beams": { type: "string" },
      "length-penalty": { type: "string" },
      "min-length": { type: "string" },
      "repetition-penalty": { type: "string" },
    },
  });
  const modelDir = values.model ?? "models/default";
  const dataFile = values.data ?? "data/debian/test.jsonl";
  const nRows = Number(values.rows ?? 0);
  const out = values.out ?? "data/eval";
  const batch = Number(values.batch ?? 8);
  const all = (await Deno.readTextFile(dataFile)).split("\n").filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as { package: string; text: string; summary: string });
  const rows = nRows > 0 ? all.slice(0, nRows) : all;
  const refs = rows.map((r) => r.summary);
  const stem = { useStemmer: true };
  const table: Record<string, RougeResult> = {
    "first sentence": rougeCorpus(refs, rows.map((r) => firstSentence(r.text)), stem),
    "first 8 words": rougeCorpus(refs, rows.map((r) => firstWords(r.text)), stem),
  };

  let generation: Record<string, unknown> | undefined;
  if (!values["baselines-only"]) {
    const tok = await AutoTokenizer.fromPretrained(modelDir);
    const model = await EncoderDecoderModel.fromPretrained(modelDir, {
      device: await OrtCpuBackend.create(),
    });
    const overrides: GenerateOptions = {};
    if (values["max-length"]) overrides.maxLength = Number(values["max-length"]);
    if (values["no-repeat-ngram-size"]) {
      overrides.noRepeatNgramSize = Number(values["no-repeat-ngram-size"]);
    }
    if (values["num-beams"]) overrides.numBeams = Number(values["num-beams"]);
    if (values["length-penalty"]) overrides.lengthPenalty = Number(values["length-penalty"]);
    if (values["min-length"]) overrides.minLength = Number(values["min-length"]);
    if (values["repetition-penalty"]) {
      overrides.repetitionPenalty = Number(values["repetition-penalty"]);
    }
    generation = { ...model.generationConfig.toDict(), ...overrides };
    const preds: string[] = [];
    const t0 = performance.now();
    for (let i = 0; i < rows.length; i += batch) {
      const enc = tok.encodeBatch(rows.slice(i, i + batch).map((r) => r.text), {
        padding: "longest",
        truncation: true,
        maxLength: MAX_SOURCE_LENGTH,
      });
      const { sequences } = await model.generate(enc.inputIds, {
        ...overrides,
        attentionMask: enc.attentionMask,
      });
      for (const s of sequences) preds.push(tok.decode(s, { skipSpecialTokens: true }).trim());
      const done = Math.min(i + batch, rows.length);
      const secs = (performance.now() - t0) / 1000;
      console.error(`${done}/${rows.length} rows, ${(done / secs).toFixed(2)} rows/s`);
    }
    await Deno.mkdir(out, { recursive: true });
    await Deno.writeTextFile(
      `${out}/predictions.jsonl`,
      rows.map((r, i) =>
        JSON.stringify({
          package: r.package,
          text: r.text,
          reference: r.summary,
          prediction: preds[i],
        })
      ).join("\n") + "\n",
    );
    table[`model (${modelDir})`] = rougeCorpus(refs, preds, stem);
  }

  const lines = [
    `ROUGE F-measures (stemmed), ${rows.length} rows of ${dataFile} (${
      nRows > 0 ? `the first ${rows.length}` : "all"
    })`,
    "| system | ROUGE-1 | ROUGE-2 | ROUGE-L |",
    "| --- | --- | --- | --- |",
    ...Object.entries(table).map(([k, r]) => `| ${k} | ${fmt(r)} |`),
  ];
  console.log(lines.join("\n"));
  if (!values["baselines-only"]) {
    await Deno.writeTextFile(
      `${out}/rouge.json`,
      JSON.stringify({ data: dataFile, rows: rows.length, generation, table }, null, 1) +
        "\n",
    );
  }
}
