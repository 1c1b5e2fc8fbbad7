/**
 * `pipeline()` tests: HF's output shapes per task, `task_specific_params` (generation defaults and
 * `prefix`, applied as HF's `Pipeline.__init__` does), truncation to the model's length, the
 * built-in default model. Texts are compared with the Python reference's `decoded` goldens
 * (transformers 4.40.2, `tests/testdata/fixtures/generate.py`) or with a direct
 * tokenize → `generate` → `batchDecode` run of the same model (exact equality).
 */
import { assert, assertEquals, assertRejects } from "@std/assert";
import {
  AutoTokenizer,
  DeviceError,
  EncoderDecoderModel,
  pipeline,
  PipelineError,
  type PipelineOutput,
  selectDevice,
  type TruncationInfo,
  truncationMessage,
} from "@encdec/cli";
import { defaultModelSummary, FIXTURES } from "./cli_util.ts";
import { OnnxModelError } from "../modeling/backends/onnx/mod.ts";

const B2B = `${FIXTURES}/bert2bert`;
const golden = JSON.parse(Deno.readTextFileSync(`${B2B}/goldens.json`)) as {
  inputs: { texts: string[] };
  decoded: Record<string, string[]>;
};

/** A copy of the bert2bert fixture whose config has `task_specific_params`. */
async function modelWithTaskParams(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "encdec_pipeline_" });
  for (const e of Deno.readDirSync(B2B)) {
    if (e.name !== "goldens.json" && e.name !== "grads.json") {
      await Deno.copyFile(`${B2B}/${e.name}`, `${dir}/${e.name}`);
    }
  }
  const cfg = JSON.parse(await Deno.readTextFile(`${dir}/config.json`));
  cfg.task_specific_params = {
    summarization: {
      prefix: "summarize: ",
      num_beams: 4,
      early_stopping: true,
      max_length: 12,
      no_repeat_ngram_size: 2,
      length_penalty: 2.0,
    },
    translation_en_to_de: { prefix: "translate english to german: ", max_length: 9 },
  };
  await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(cfg, null, 2));
  return dir;
}

Deno.test("pipeline summarization: [{summary_text}] equal to the Python decoded greedy/beam4 texts", async () => {
  const summarize = await pipeline("summarization", B2B, { maxInputLength: 9 });
  const texts = golden.inputs.texts;
  assertEquals(await summarize(texts[1], { maxNewTokens: 20 }), [
    { summary_text: golden.decoded.greedy[1] },
  ]);
  assertEquals(
    await summarize(texts, { maxNewTokens: 20, batchSize: 2 }),
    golden.decoded.greedy.map((t) => ({ summary_text: t })),
  );
  assertEquals(
    await summarize(texts, { numBeams: 4, earlyStopping: true, maxLength: 20 }),
    golden.decoded.beam4.map((t) => ({ summary_text: t })),
  );
  // numReturnSequences > 1: one array per input, as HF returns for a list input.
  const two = await summarize(texts, { numBeams: 4, numReturnSequences: 2, maxLength: 20 });
  assertEquals(two.length, 2);
  assert(two.every((r) => Array.isArray(r) && r.length === 2), JSON.stringify(two));
  const single = await summarize(texts[0], { numBeams: 4, numReturnSequences: 2, maxLength: 20 });
  assertEquals(single.length, 2, "a single text → one flat list of its sequences");
});

Deno.test("pipeline task_specific_params: prefix and generation defaults from the config, call options win", async () => {
  const dir = await modelWithTaskParams();
  try {
    const summarize = await pipeline("summarization", dir);
    assertEquals(summarize.prefix, "summarize: ");
    assertEquals(summarize.generationConfig.numBeams, 4);
    assertEquals(summarize.generationConfig.maxLength, 12);
    assertEquals(summarize.generationConfig.noRepeatNgramSize, 2);
    assertEquals(summarize.generationConfig.lengthPenalty, 2);
    assertEquals(summarize.generationConfig.eosTokenId, 3, "generation_config.json values kept");

    // Same as: tokenizer("summarize: " + text) → generate(numBeams 4, ...) → batch_decode.
    const tok = await AutoTokenizer.fromPretrained(dir);
    const model = await EncoderDecoderModel.fromPretrained(dir);
    const text = golden.inputs.texts[0];
    const ids = tok.call("summarize: " + text).inputIds;
    const direct = await model.generate([ids], {
      numBeams: 4,
      earlyStopping: true,
      maxLength: 12,
      noRepeatNgramSize: 2,
      lengthPenalty: 2,
    });
    const expected = tok.batchDecode(direct.sequences, { skipSpecialTokens: true })[0];
    assertEquals(await summarize(text), [{ summary_text: expected }]);

    // Call options override the task defaults.
    const greedy = await model.generate([ids], { maxNewTokens: 5 });
    assertEquals(await summarize(text, { numBeams: 1, maxNewTokens: 5, noRepeatNgramSize: 0 }), [
      { summary_text: tok.batchDecode(greedy.sequences, { skipSpecialTokens: true })[0] },
    ]);

    // "translation" picks the first translation_* entry, like HF.
    const translate = await pipeline("translation", dir);
    assertEquals(translate.task, "translation_en_to_de");
    assertEquals(translate.prefix, "translate english to german: ");
    assertEquals(translate.generationConfig.maxLength, 9);
    const out = await translate("hello world");
    assertEquals(Object.keys(out[0]), ["translation_text"]);

    // A task without params keeps the model's generation config and has no prefix.
    const t2t = await pipeline("text2text-generation", dir);
    assertEquals(t2t.prefix, "");
    assertEquals(t2t.generationConfig.numBeams, 1);
    const g = (await t2t("hello world")) as PipelineOutput[];
    assertEquals(Object.keys(g[0]), ["generated_text"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("pipeline truncates to the encoder's max_position_embeddings (64) when the tokenizer has no limit", async () => {
  const summarize = await pipeline("summarization", B2B);
  assertEquals(summarize.maxInputLength, 64);
  const long = "the quick brown fox sat on the old mat . ".repeat(50_000); // 2 MB
  const tok = summarize.tokenizer;
  const ids = tok.call(long.slice(0, 2000), { truncation: true, maxLength: 64 }).inputIds;
  assertEquals(ids.length, 64);
  const direct = await summarize.model.generate([ids], { maxNewTokens: 6 });
  assertEquals(await summarize(long, { maxNewTokens: 6 }), [
    { summary_text: tok.batchDecode(direct.sequences, { skipSpecialTokens: true })[0] },
  ]);
});

Deno.test("pipeline says when an input was cut: onTruncate gets both counts; by default one stderr line per pipeline", async () => {
  const seen: TruncationInfo[] = [];
  const summarize = await pipeline("summarization", B2B, { onTruncate: (i) => seen.push(i) });
  const tok = summarize.tokenizer;
  const mid = "the quick brown fox sat on the old mat . ".repeat(20); // ~200 tokens
  const huge = "the quick brown fox sat on the old mat . ".repeat(50_000); // 2 MB
  await summarize(["hello world", mid, huge], { maxNewTokens: 2 });
  const midCount = (tok.call(mid).inputIds as number[]).length;
  assert(midCount > 64, `${midCount} tokens`);
  // Over 1 MB only the first MiB (cut at whitespace) is counted: a lower bound.
  const mib = huge.slice(0, 1 << 20).replace(/\S*$/, "");
  const hugeCount = (tok.call(mib).inputIds as number[]).length;
  assertEquals(seen, [
    { index: 1, from: midCount, fromAtLeast: false, to: 64, modelMaximum: true },
    { index: 2, from: hugeCount, fromAtLeast: true, to: 64, modelMaximum: true },
  ]);
  assertEquals(
    truncationMessage(seen[0]),
    `encdec: input truncated from ${midCount} to 64 tokens (the model's maximum)`,
  );
  assertEquals(
    truncationMessage({ ...seen[1], modelMaximum: false }, "--max-input-length"),
    `encdec: input truncated from more than ${hugeCount} to 64 tokens (--max-input-length)`,
  );

  // Default: the first cut input is reported on stderr, once for the pipeline's lifetime.
  const lines: string[] = [];
  const original = console.error;
  console.error = (...a: unknown[]) => lines.push(a.join(" "));
  try {
    const quiet = await pipeline("summarization", B2B, { maxInputLength: 16 });
    await quiet([mid, mid], { maxNewTokens: 2 });
    await quiet(mid, { maxNewTokens: 2 });
    await quiet("hello world", { maxNewTokens: 2 });
  } finally {
    console.error = original;
  }
  assertEquals(lines, [`encdec: input truncated from ${midCount} to 16 tokens (maxInputLength)`]);
});

Deno.test("pipeline without a model loads models/default: same text as the library computes from that directory", async () => {
  const summarize = await pipeline("summarization");
  const text = "GNU Wget is a free utility for non-interactive download of files from the Web. " +
    "It supports HTTP, HTTPS, and FTP protocols, as well as retrieval through HTTP proxies.";
  const expected = await defaultModelSummary(text, { maxNewTokens: 12 });
  assert(expected.length > 0, "the default model generates text");
  assertEquals(await summarize(text, { maxNewTokens: 12 }), [{ summary_text: expected }]);
});

Deno.test("pipeline rejects an unknown task, bad inputs and an unavailable device with typed errors", async () => {
  await assertRejects(() => pipeline("sentiment-analysis", B2B), PipelineError, "unknown task");
  await assertRejects(
    () => pipeline("summarization", B2B, { device: "tpu" }),
    DeviceError,
    'unknown device "tpu"',
  );
  await assertRejects(
    () => pipeline("summarization", B2B, { device: "cpu", dtype: "int8" }),
    DeviceError,
    'dtype "int8" needs device onnx',
  );
  await assertRejects(
    () => pipeline("summarization", B2B, { device: "onnx", dtype: "bfloat16" }),
    DeviceError,
    'dtype "bfloat16" is not supported on device onnx',
  );
  const summarize = await pipeline("summarization", B2B);
  await assertRejects(
    () => summarize([1 as unknown as string]),
    PipelineError,
    "expected a string or an array of strings",
  );
  await assertRejects(() => summarize("x", { batchSize: 0 }), PipelineError, "batchSize");
});

Deno.test("pipeline device onnx: the one EncoderDecoderModel on onnxruntime-node (ffi granted), texts equal the Python decoded greedy/beam4", async () => {
  const summarize = await pipeline("summarization", B2B, { device: "onnx", maxInputLength: 9 });
  try {
    assert(summarize.model instanceof EncoderDecoderModel);
    // `deno task test` grants --allow-ffi, so the native runtime is picked over wasm.
    assertEquals(summarize.device.name, "onnx");
    assertEquals(summarize.device.device, "onnx-node");
    assertEquals(summarize.model.device.runtime, "node");
    assertEquals(summarize.model.dtype, "float32");
    const texts = golden.inputs.texts;
    assertEquals(
      await summarize(texts, { maxNewTokens: 20 }),
      golden.decoded.greedy.map((t) => ({ summary_text: t })),
    );
    assertEquals(
      await summarize(texts, { numBeams: 4, earlyStopping: true, maxLength: 20, batchSize: 2 }),
      golden.decoded.beam4.map((t) => ({ summary_text: t })),
    );
  } finally {
    await (summarize.model as EncoderDecoderModel).dispose();
  }
});

Deno.test("pipeline device: auto by default, and GPUs as Python writes them (0, cuda; -1 = cpu) run everywhere; texts equal the Python greedy golden", async () => {
  const auto = await selectDevice("auto");
  for (const device of [undefined, 0, "cuda", -1] as const) {
    const summarize = await pipeline("summarization", B2B, { device, maxInputLength: 9 });
    try {
      const d = summarize.device;
      assertEquals(d.requested, String(device ?? "auto"));
      if (device === undefined) assertEquals(d.device, auto.device);
      if (device === -1) assertEquals([d.device, d.fallback], ["cpu", undefined]);
      if (device === 0 || device === "cuda") {
        // WebGPU on a hardware adapter; else auto's choice without WebGPU, said in one line.
        assert(d.device === "webgpu" || /^device (0|cuda): .* running on /.test(d.fallback!));
      }
      assertEquals(
        await summarize(golden.inputs.texts, { maxNewTokens: 20 }),
        golden.decoded.greedy.map((t) => ({ summary_text: t })),
      );
    } finally {
      await summarize.model.dispose();
    }
  }
});

Deno.test("pipeline device onnx + dtype int8: per-channel int8 weights, same greedy texts as the Python fp32 ones on bert2bert", async () => {
  const summarize = await pipeline("summarization", B2B, {
    device: "onnx",
    dtype: "int8",
    maxInputLength: 9,
  });
  try {
    assert(summarize.model instanceof EncoderDecoderModel);
    assertEquals(summarize.model.dtype, "int8");
    // modeling/backends/onnx/README.md: int8 keeps every greedy golden of the fixtures.
    assertEquals(
      await summarize(golden.inputs.texts, { maxNewTokens: 20 }),
      golden.decoded.greedy.map((t) => ({ summary_text: t })),
    );
  } finally {
    await (summarize.model as EncoderDecoderModel).dispose();
  }
});

Deno.test("pipeline numThreads reaches the onnx engine: 0 is the engine's OnnxModelError", async () => {
  await assertRejects(
    () => pipeline("summarization", B2B, { device: "onnx-node", numThreads: 0 }),
    OnnxModelError,
    "numThreads = 0",
  );
});
