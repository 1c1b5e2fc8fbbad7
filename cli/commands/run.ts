/**
 * `encdec run`: summarize / translate / generate from stdin with an encoder-decoder model.
 *
 * @module
 */
import { GenerationConfigError, hubCacheDir, isOfflineMode } from "@encdec/config";
import type { GenerateOptions } from "@encdec/generation";
import { DEVICE_NAMES, DTYPES } from "../_device.ts";
import {
  AccessDeniedError,
  choice,
  type Command,
  EXIT_OK,
  num,
  parseCommandArgs,
  type Parsed,
  str,
  UsageError,
  writeErr,
  writeOut,
} from "../_cli.ts";
import { assertReadable } from "../permissions.ts";
import {
  defaultModelPath,
  pipeline,
  type PipelineOutput,
  type PipelineResult,
  type Text2TextPipeline,
} from "../pipeline.ts";
import { readStdinText } from "./_stdin.ts";

const TASKS = ["summarization", "translation", "text2text-generation"] as const;
const FORMATS = ["text", "json", "jsonl"] as const;

const OPTIONS = {
  task: { type: "string" },
  model: { type: "string", short: "m" },
  tokenizer: { type: "string" },
  revision: { type: "string" },
  device: { type: "string" },
  dtype: { type: "string" },
  lines: { type: "boolean" },
  format: { type: "string", short: "f" },
  quiet: { type: "boolean", short: "q" },
  "batch-size": { type: "string" },
  "max-input-length": { type: "string" },
  "num-beams": { type: "string" },
  "max-length": { type: "string" },
  "max-new-tokens": { type: "string" },
  "min-length": { type: "string" },
  "min-new-tokens": { type: "string" },
  "early-stopping": { type: "boolean" },
  "do-sample": { type: "boolean" },
  "top-p": { type: "string" },
  "top-k": { type: "string" },
  "typical-p": { type: "string" },
  temperature: { type: "string" },
  seed: { type: "string" },
  "no-repeat-ngram-size": { type: "string" },
  "length-penalty": { type: "string" },
  "repetition-penalty": { type: "string" },
  "num-return-sequences": { type: "string" },
  "max-time": { type: "string" },
} as const;

const HELP = `encdec run: generate text from stdin with an encoder-decoder model

Usage: encdec run [--task summarization] [--model <hub id | dir>] [options] < input.txt

Reads stdin as one document (or one document per line with --lines) and writes the
generated text to stdout.

Model
  --task <name>              summarization (default), translation, translation_xx_to_yy,
                             text2text-generation; applies config.task_specific_params[task]
  -m, --model <id|dir>       Hub model id (org/name) or local directory
                             (default: the built-in model in models/default/)
  --tokenizer <id|dir>       tokenizer, when it is not the model's
  --revision <rev>           Hub branch, tag or commit (default main)
  --device <name>            cpu (default); webgpu; onnx (onnxruntime-node with --allow-ffi,
                             else onnxruntime-web/wasm); auto (WebGPU on a real adapter, else
                             onnx, else cpu; says on stderr which it picked)
  --dtype <type>             float32 (default), float16, bfloat16 (cpu/webgpu), int8 (onnx:
                             per-channel int8 linear layers)
  --max-input-length <n>     truncate inputs to n tokens (default: the model's maximum)

Generation (Hugging Face generate() options)
  --num-beams <n>            --max-length <n>          --max-new-tokens <n>
  --min-length <n>           --min-new-tokens <n>      --early-stopping
  --do-sample                --top-k <n>               --top-p <p>
  --typical-p <p>            --temperature <t>         --seed <n>
  --no-repeat-ngram-size <n> --length-penalty <x>      --repetition-penalty <x>
  --num-return-sequences <n> --max-time <seconds>

Input and output
  --lines                    one document per input line (blank lines give empty output)
  --batch-size <n>           documents generated together with --lines (default 1)
  -f, --format <fmt>         text (default), json (one JSON array, HF pipeline shape),
                             jsonl (one JSON object per document)
  -q, --quiet                no progress or notes on stderr
  -h, --help                 this help

Exit status: 0 ok, 1 runtime error (model, Hub, device, permission), 2 usage error
(bad option, empty or binary stdin).

Examples
  echo "A long article ..." | encdec run --num-beams 4 --max-length 60 --early-stopping
  encdec run --model org/bert2bert --lines --format jsonl < articles.txt`;

/** Hugging Face `generate` options from the command line (only those given). */
function generationOptions(p: Parsed): GenerateOptions {
  const pos = (v: number) => v > 0, nonNeg = (v: number) => v >= 0;
  const o: GenerateOptions = {
    numBeams: num(p, "num-beams", "int", pos, "a positive integer"),
    maxLength: num(p, "max-length", "int", pos, "a positive integer"),
    maxNewTokens: num(p, "max-new-tokens", "int", pos, "a positive integer"),
    minLength: num(p, "min-length", "int", nonNeg, "an integer ≥ 0"),
    minNewTokens: num(p, "min-new-tokens", "int", nonNeg, "an integer ≥ 0"),
    topK: num(p, "top-k", "int", nonNeg, "an integer ≥ 0"),
    topP: num(p, "top-p", "float", (v) => v >= 0 && v <= 1, "a number in [0, 1]"),
    typicalP: num(p, "typical-p", "float", (v) => v > 0 && v <= 1, "a number in (0, 1]"),
    temperature: num(p, "temperature", "float", pos, "a positive number"),
    seed: num(p, "seed", "int", (v) => v >= 0 && v <= 2 ** 53, "an integer ≥ 0"),
    noRepeatNgramSize: num(p, "no-repeat-ngram-size", "int", nonNeg, "an integer ≥ 0"),
    lengthPenalty: num(p, "length-penalty", "float"),
    repetitionPenalty: num(p, "repetition-penalty", "float", pos, "a positive number"),
    numReturnSequences: num(p, "num-return-sequences", "int", pos, "a positive integer"),
    maxTime: num(p, "max-time", "float", pos, "a positive number of seconds"),
  };
  if (p.values["early-stopping"]) o.earlyStopping = true;
  if (p.values["do-sample"]) o.doSample = true;
  for (const k of Object.keys(o) as (keyof GenerateOptions)[]) {
    if (o[k] === undefined) delete o[k];
  }
  return o;
}

/** Looks like a filesystem path rather than a Hub id `org/name`. */
function looksLikePath(s: string): boolean {
  return /^(\.{1,2}(\/|$)|\/|~)/.test(s) || s.split("/").length > 2 || s.includes("\\");
}

/** Fails early, with the flag to add, when the model or the cache is outside the permissions. */
function checkAccess(model: string | undefined, tokenizer: string | undefined): void {
  if (model === undefined) assertReadable(defaultModelPath(), "the built-in model");
  let hub = false;
  for (const [what, id] of [["model", model], ["tokenizer", tokenizer]] as const) {
    if (id === undefined) continue;
    const readable = Deno.permissions.querySync({ name: "read", path: id }).state === "granted";
    if (looksLikePath(id)) assertReadable(id, `${what} directory`);
    else if (!readable || !isDir(id)) hub = true;
  }
  if (!hub) return;
  const cache = hubCacheDir();
  assertReadable(cache, "the Hub cache");
  if (
    !isOfflineMode() &&
    Deno.permissions.querySync({ name: "write", path: cache }).state !== "granted"
  ) {
    throw new AccessDeniedError(
      `the Hub cache "${cache}" is not writable with the current permissions; add ` +
        `--allow-write=${cache} (or set HF_HOME to an allowed directory, or HF_HUB_OFFLINE=1)`,
    );
  }
}

function isDir(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}

function texts(result: PipelineOutput[]): string[] {
  return result.map((r) => Object.values(r)[0] as string);
}

/** `encdec run`. */
export const runCommand: Command = {
  name: "run",
  summary: "summarize / translate / generate from stdin",
  help: HELP,
  async run(args) {
    const p = parseCommandArgs("run", args, OPTIONS);
    if (p.values.help) {
      await writeOut(HELP + "\n");
      return EXIT_OK;
    }
    if (p.positionals.length > 0) {
      throw new UsageError(
        `run: unexpected argument "${p.positionals[0]}"; the input comes from stdin ` +
          `(e.g. echo "text" | encdec run)`,
      );
    }
    const task = str(p, "task") ?? "summarization";
    if (!(TASKS as readonly string[]).includes(task) && !/^translation_.+_to_.+$/.test(task)) {
      throw new UsageError(
        `run: unknown task "${task}"; expected one of summarization, translation, ` +
          `translation_xx_to_yy, text2text-generation`,
      );
    }
    const format = choice(p, "format", FORMATS) ?? "text";
    const device = choice(p, "device", DEVICE_NAMES) ?? "cpu";
    const dtype = choice(p, "dtype", DTYPES);
    if (dtype === "int8" && device !== "onnx" && device !== "auto") {
      throw new UsageError(`--dtype int8: runs on --device onnx (or auto), not ${device}`);
    }
    if (dtype === "bfloat16" && device === "onnx") {
      throw new UsageError("--dtype bfloat16: not on --device onnx; use float32, float16 or int8");
    }
    const batchSize = num(p, "batch-size", "int", (v) => v > 0, "a positive integer") ?? 1;
    const maxInputLength = num(p, "max-input-length", "int", (v) => v >= 2, "an integer ≥ 2");
    const gen = generationOptions(p);
    const lines = p.values.lines === true;
    const quiet = p.values.quiet === true;
    const model = str(p, "model");
    const tokenizer = str(p, "tokenizer");
    checkAccess(model, tokenizer);

    if (Deno.stdin.isTerminal() && !quiet) {
      writeErr("encdec: reading the document from stdin (end with Ctrl-D)");
    }
    const input = await readStdinText();
    const docs = lines ? input.replace(/\r?\n$/, "").split(/\r?\n/) : [input];
    if (!lines && input.trim() === "") {
      throw new UsageError(
        'run: stdin is empty (or only whitespace); pipe a document in, e.g. echo "text" | encdec run',
      );
    }
    if (lines && docs.every((d) => d.trim() === "")) {
      throw new UsageError("run: stdin has no non-blank line to process (--lines)");
    }

    const pipe = await pipeline(task, model, {
      device,
      dtype,
      revision: str(p, "revision"),
      tokenizer,
      maxInputLength,
    });
    if (!quiet && (device === "auto" || device === "onnx")) {
      writeErr(`encdec: --device ${device} → ${pipe.device.reason}`);
    }
    const collected: PipelineOutput[][] = [];
    for (let start = 0; start < docs.length; start += batchSize) {
      const chunk = docs.slice(start, start + batchSize);
      const results = await generateChunk(pipe, chunk, gen, batchSize);
      if (format === "json") {
        collected.push(...results);
        continue;
      }
      let out = "";
      for (const r of results) {
        if (format === "jsonl") {
          out += JSON.stringify(r.length === 1 ? r[0] : r) + "\n";
        } else {
          // One output line per input line with --lines: newlines inside a text become spaces.
          for (const t of texts(r)) out += (lines ? t.replace(/\r?\n/g, " ") : t) + "\n";
        }
      }
      await writeOut(out);
    }
    if (format === "json") {
      const shaped: PipelineResult = collected.every((r) => r.length === 1)
        ? collected.map((r) => r[0])
        : collected;
      await writeOut(JSON.stringify(lines ? shaped : collected[0], null, 2) + "\n");
    }
    return EXIT_OK;
  },
};

/** Generates one batch of documents; blank documents give an empty text without the model. */
async function generateChunk(
  pipe: Text2TextPipeline,
  chunk: string[],
  gen: GenerateOptions,
  batchSize: number,
): Promise<PipelineOutput[][]> {
  const key = pipe.task.startsWith("translation")
    ? "translation_text"
    : pipe.task === "summarization"
    ? "summary_text"
    : "generated_text";
  const todo = chunk.map((d, i) => ({ d, i })).filter(({ d }) => d.trim() !== "");
  const out: PipelineOutput[][] = chunk.map(() => [{ [key]: "" } as PipelineOutput]);
  if (todo.length === 0) return out;
  let res: PipelineResult;
  try {
    res = await pipe(todo.map((t) => t.d), { ...gen, batchSize });
  } catch (e) {
    if (e instanceof GenerationConfigError) throw new UsageError(`run: ${e.message}`);
    throw e;
  }
  todo.forEach(({ i }, j) => {
    const r = res[j];
    out[i] = Array.isArray(r) ? r : [r];
  });
  return out;
}
