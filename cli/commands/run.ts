/**
 * `encdec run`: summarize / translate / generate from stdin with an encoder-decoder model.
 *
 * @module
 */
import { EncdecError, GenerationConfigError, resolveHubPaths } from "@encdec/config";
import type { GenerateOptions } from "@encdec/generation";
import { formatLoadingInfo, type LoadingInfo } from "@encdec/modeling";
import {
  checkDeviceDtype,
  checkDeviceSpelling,
  DeviceError,
  deviceLine,
  DTYPES,
} from "../device.ts";
import {
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
import { assertReadable, assertWritable, looksLikeLocalModel } from "../permissions.ts";
import {
  defaultModelPath,
  pipeline,
  type PipelineOutput,
  type PipelineResult,
  type Text2TextPipeline,
  type TruncationInfo,
  truncationMessage,
} from "../pipeline.ts";
import { readStdinText } from "./_stdin.ts";

/** A `--model` / `--tokenizer` path that does not exist or is not a directory. */
export class ModelPathError extends EncdecError {}

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
  --device <name>            auto (default: a hardware WebGPU adapter, else onnxruntime-node,
                             else onnxruntime-web, else cpu); cpu; webgpu; onnx (node, else
                             web); onnx-node; onnx-web; N, cuda, cuda:N, gpu (GPU N through
                             WebGPU; without a hardware adapter auto's CPU-side choice, said
                             on stderr); -1 (cpu). A named auto/onnx/GPU says on stderr what
                             it picked
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

/** `--device -1` as `--device=-1` (`parseArgs` takes a value starting with "-" for an option). */
function joinNegativeDevice(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--device" && /^-\d+$/.test(args[i + 1] ?? "")) {
      out.push(`--device=${args[++i]}`);
    } else out.push(args[i]);
  }
  return out;
}

/** `--device` as written (default `auto`); a spelling that names no device is a usage error. */
function deviceOption(value: string | undefined): string {
  try {
    return checkDeviceSpelling(value ?? "auto");
  } catch (e) {
    if (e instanceof DeviceError) throw new UsageError(`--device: ${e.message}`);
    throw e;
  }
}

function isDir(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}

/**
 * Fails early with the real cause: a model directory that this process may not read (the
 * permission, not "not found"), one that does not exist (named with the working directory), or
 * a Hub cache it may not use.
 */
function checkAccess(model: string | undefined, tokenizer: string | undefined): void {
  if (model === undefined) assertReadable(defaultModelPath(), "the built-in model");
  let hub = false;
  for (const [what, id] of [["model", model], ["tokenizer", tokenizer]] as const) {
    if (id === undefined) continue;
    if (!looksLikeLocalModel(id, isDir)) {
      hub = true;
      continue;
    }
    assertReadable(id, `${what} directory`);
    let info: Deno.FileInfo;
    try {
      info = Deno.statSync(id);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        throw new ModelPathError(
          `${what} directory "${id}" does not exist (relative paths are taken from ` +
            `${Deno.cwd()}); for a Hub model give its id as org/name`,
        );
      }
      throw e;
    }
    if (!info.isDirectory) {
      throw new ModelPathError(`${what} "${id}" is a file; expected a model directory`);
    }
  }
  if (!hub) return;
  const { cacheDir, offline } = resolveHubPaths();
  assertReadable(cacheDir, "the Hub cache");
  if (!offline) assertWritable(cacheDir, "the Hub cache");
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
    const p = parseCommandArgs("run", joinNegativeDevice(args), OPTIONS);
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
    const device = deviceOption(str(p, "device"));
    const dtype = choice(p, "dtype", DTYPES);
    try {
      checkDeviceDtype(device, dtype);
    } catch (e) {
      if (e instanceof DeviceError) throw new UsageError(`--dtype: ${e.message}`);
      throw e;
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

    let truncated = 0;
    const onTruncate = (info: TruncationInfo) => {
      if (truncated++ === 0 && !quiet) writeErr(truncationMessage(info, "--max-input-length"));
    };
    const pipe = await pipeline(task, model, {
      device,
      dtype,
      revision: str(p, "revision"),
      tokenizer,
      maxInputLength,
      onTruncate,
    });
    // Quiet by default: the device line only when --device auto / onnx / a GPU was asked for
    // (a GPU that fell back to the CPU path always says so).
    const line = deviceLine(pipe.device);
    if (!quiet && line && (p.values.device !== undefined || pipe.device.fallback)) writeErr(line);
    if (!quiet) reportNewWeights(pipe, model ?? "the built-in model");
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
    if (truncated > 1 && !quiet) {
      writeErr(`encdec: ${truncated} of ${docs.length} inputs were truncated`);
    }
    return EXIT_OK;
  },
};

/**
 * HF's loading warnings on stderr, as `encdec: warning: ...` lines: the weights the checkpoint
 * lacked (newly initialised, so the output is partly random) and the checkpoint keys not used.
 */
function reportNewWeights(pipe: Text2TextPipeline, model: string): void {
  const info = (pipe.model as { loadingInfo?: LoadingInfo }).loadingInfo;
  if (!info) return;
  for (const line of formatLoadingInfo(info, "EncoderDecoderModel", model)) {
    writeErr(`encdec: warning: ${line}`);
  }
}

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
