/**
 * `encdec train`: the command-line wrapper (flags, help, permission checks) around the trainer
 * library `train()` (`../training/trainer.ts`).
 *
 * @module
 */
import {
  choice,
  type Command,
  EXIT_OK,
  num,
  parseCommandArgs,
  str,
  UsageError,
  writeOut,
} from "../_cli.ts";
import { assertReadableFile, assertWritable } from "../permissions.ts";
import { train, type TrainOptions } from "../training/trainer.ts";

const TRAIN_HELP =
  `encdec train: fine-tune an encoder-decoder model on a .jsonl of {"text", "summary"} rows

Usage: encdec train (--model <id|dir> | --config <config.json>) --data <train.jsonl>
                    --output <dir> [options]

Model and data
  --model <id|dir>                 start from this model
  --config <file>                  or from random weights of this encoder-decoder config.json
  --tokenizer <id|dir>             tokenizer (default: the model's, or the config's directory)
  --data <file>                    training rows (.jsonl with "text" and "summary")
  --eval <file>                    evaluation rows; mean loss logged every --eval-steps
  --output <dir>                   checkpoints (checkpoint-<step>/) and the final model
  --resume                         continue from the newest checkpoint in --output
  --resume-from <dir>              continue from this checkpoint directory

Optimisation (Hugging Face Trainer defaults)
  --epochs <n> (1)                 --batch-size <n> (8)        --gradient-accumulation-steps <n> (1)
  --lr <x> (5e-5)                  --warmup <steps> (0)        --weight-decay <x> (0.01)
  --max-grad-norm <x> (1.0)        --seed <n> (42)             --max-source-length <n> (128)
  --max-target-length <n> (64)     --log-steps <n> (10)        --eval-steps <n>   --save-steps <n>
  --device <d>                     auto (default), autograd, autograd-ort (onnxruntime-node)
  --group-by-length                batch rows of similar length (HF's group_by_length): less padding
  -q, --quiet                      no progress lines on stderr
  -h, --help                       this help

Permissions: deno task encdec grants read access to the model, --config, --data, --eval and
--resume-from, read and write access to --output, and onnxruntime-node's add-on (autograd-ort).`;

/** `encdec train`. */
export const trainCommand: Command = {
  name: "train",
  summary: "fine-tune a model on a .jsonl of text/summary pairs",
  help: TRAIN_HELP,
  async run(args) {
    const p = parseCommandArgs("train", args, {
      model: { type: "string", short: "m" },
      config: { type: "string" },
      tokenizer: { type: "string" },
      data: { type: "string" },
      eval: { type: "string" },
      output: { type: "string", short: "o" },
      resume: { type: "boolean" },
      "resume-from": { type: "string" },
      epochs: { type: "string" },
      "batch-size": { type: "string" },
      "gradient-accumulation-steps": { type: "string" },
      lr: { type: "string" },
      warmup: { type: "string" },
      "weight-decay": { type: "string" },
      "max-grad-norm": { type: "string" },
      seed: { type: "string" },
      "max-source-length": { type: "string" },
      "max-target-length": { type: "string" },
      "log-steps": { type: "string" },
      "eval-steps": { type: "string" },
      "save-steps": { type: "string" },
      device: { type: "string" },
      "group-by-length": { type: "boolean" },
      quiet: { type: "boolean", short: "q" },
    });
    if (p.values.help) {
      await writeOut(TRAIN_HELP + "\n");
      return EXIT_OK;
    }
    if (p.positionals.length > 0) {
      throw new UsageError(
        `train: unexpected argument "${p.positionals[0]}"; see encdec train --help`,
      );
    }
    const data = str(p, "data"), output = str(p, "output");
    const model = str(p, "model"), config = str(p, "config");
    if (!data || !output) {
      throw new UsageError("train: --data and --output are required; see encdec train --help");
    }
    if ((model === undefined) === (config === undefined)) {
      throw new UsageError(
        "train: give exactly one of --model and --config; see encdec train --help",
      );
    }
    const pos = (v: number) => v > 0, nonNeg = (v: number) => v >= 0;
    const opts: TrainOptions = {
      model,
      config,
      tokenizer: str(p, "tokenizer"),
      data,
      eval: str(p, "eval"),
      output,
      resume: str(p, "resume-from") ?? (p.values.resume === true ? true : undefined),
      epochs: num(p, "epochs", "int", pos, "a positive integer"),
      batchSize: num(p, "batch-size", "int", pos, "a positive integer"),
      gradientAccumulationSteps: num(
        p,
        "gradient-accumulation-steps",
        "int",
        pos,
        "a positive integer",
      ),
      lr: num(p, "lr", "float", pos, "a positive number"),
      warmup: num(p, "warmup", "int", nonNeg, "an integer ≥ 0"),
      weightDecay: num(p, "weight-decay", "float", nonNeg, "a number ≥ 0"),
      maxGradNorm: num(p, "max-grad-norm", "float", pos, "a positive number"),
      seed: num(p, "seed", "int", nonNeg, "an integer ≥ 0"),
      maxSourceLength: num(p, "max-source-length", "int", (v) => v >= 2, "an integer ≥ 2"),
      maxTargetLength: num(p, "max-target-length", "int", (v) => v >= 2, "an integer ≥ 2"),
      logSteps: num(p, "log-steps", "int", pos, "a positive integer"),
      evalSteps: num(p, "eval-steps", "int", pos, "a positive integer"),
      saveSteps: num(p, "save-steps", "int", pos, "a positive integer"),
      device: choice(p, "device", ["auto", "autograd", "autograd-ort"] as const),
      groupByLength: p.values["group-by-length"] === true ? true : undefined,
      log: p.values.quiet === true ? () => {} : undefined,
    };
    for (const k of Object.keys(opts) as (keyof TrainOptions)[]) {
      if (opts[k] === undefined) delete opts[k];
    }
    assertReadableFile(data, "training data");
    if (opts.eval) assertReadableFile(opts.eval, "evaluation data");
    assertWritable(output, "the output directory");
    const r = await train(opts);
    await writeOut(
      `trained ${r.steps} steps; train loss ${r.trainLoss.toFixed(4)}` +
        (r.evalLoss !== undefined ? `; eval loss ${r.evalLoss.toFixed(4)}` : "") +
        `; model saved to ${r.output}\n`,
    );
    return EXIT_OK;
  },
};
