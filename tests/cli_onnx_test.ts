/**
 * End-to-end tests of `encdec run --device onnx|auto` and `encdec env`'s onnxruntime lines: each
 * test spawns the real CLI with the least-privilege flags of `deno task encdec` (read `.` = the
 * repository, run from its root; no `--allow-ffi`), so onnx runs on onnxruntime-web (wasm, read
 * from `node_modules`). stdout is compared with the Python reference's generated text
 * (`goldens.json` `decoded`, transformers 4.40.2, `tests/testdata/fixtures/generate.py`): exact
 * string equality. With `--allow-ffi` added, onnxruntime-node runs instead.
 *
 * As in `cli_e2e_test.ts`, runs pass `--max-input-length 9` (the goldens' padding length).
 */
import { assert, assertEquals, assertMatch } from "@std/assert";
import { encdecLines, FIXTURES, ROOT, runCli } from "./cli_util.ts";

const golden = JSON.parse(Deno.readTextFileSync(`${FIXTURES}/bert2bert/goldens.json`)) as {
  inputs: { texts: string[] };
  decoded: Record<string, string[]>;
};
const HF_HOME = `${ROOT}/tests/.no-hf-home`;
/** `deno task encdec`'s scope (`--allow-read=.` from the repository root), no network. */
const TASK_SCOPE = { read: ["."], hfHome: HF_HOME, net: [] };
const MODEL = ["--model", `${FIXTURES}/bert2bert`, "--max-input-length", "9"];
const GREEDY = ["--max-new-tokens", "20"];
const BEAM4 = ["--num-beams", "4", "--early-stopping", "--max-length", "20"];
const STDIN = golden.inputs.texts.join("\n") + "\n";
/** encdec's stderr lines about the device (the truncation notes are `cli_e2e_test.ts`'s). */
const deviceLines = (stderr: string) =>
  encdecLines(stderr).filter((l) => l.startsWith("encdec: --device"));

Deno.test("cli run --device onnx under deno task encdec's flags (no --allow-ffi): onnxruntime-web, greedy and beam 4 equal the Python decoded texts", async () => {
  const greedy = await runCli(["run", "--device", "onnx", ...MODEL, "--lines", ...GREEDY], {
    stdin: STDIN,
    scope: TASK_SCOPE,
  });
  assertEquals(greedy.code, 0, greedy.stderr);
  assertEquals(greedy.stdout, golden.decoded.greedy.map((t) => t + "\n").join(""));
  // One line says which runtime, and how to get the native one.
  assertEquals(deviceLines(greedy.stderr), [
    "encdec: --device onnx → onnx-web (onnxruntime-web, wasm; onnx-node: needs --allow-ffi " +
    "(native add-on))",
  ]);
  const beam = await runCli(
    ["run", "--device", "onnx", ...MODEL, "--lines", "--batch-size", "2", "--quiet", ...BEAM4],
    { stdin: STDIN, scope: TASK_SCOPE },
  );
  assertEquals(beam.code, 0, beam.stderr);
  assertEquals(beam.stdout, golden.decoded.beam4.map((t) => t + "\n").join(""));
  assertEquals(encdecLines(beam.stderr), [], "--quiet: nothing from encdec on stderr");
});

Deno.test("cli run --device onnx with --allow-ffi: onnxruntime-node, beam 4 equals the Python decoded texts", async () => {
  const r = await runCli(
    ["run", "--device", "onnx", ...MODEL, "--lines", "--batch-size", "2", ...BEAM4],
    { stdin: STDIN, scope: TASK_SCOPE, extraFlags: ["--allow-ffi"] },
  );
  assertEquals(r.code, 0, r.stderr);
  assertEquals(r.stdout, golden.decoded.beam4.map((t) => t + "\n").join(""));
  assertEquals(deviceLines(r.stderr), [
    "encdec: --device onnx → onnx-node (onnxruntime-node, native)",
  ]);
});

Deno.test("cli run --device auto: one stderr line names the pick (WebGPU only on a real adapter, else onnx); the text equals Python's", async () => {
  const r = await runCli(["run", "--device", "auto", ...MODEL, ...GREEDY], {
    stdin: golden.inputs.texts[1],
    scope: TASK_SCOPE,
  });
  assertEquals(r.code, 0, r.stderr);
  assertEquals(r.stdout, golden.decoded.greedy[1] + "\n");
  const lines = encdecLines(r.stderr);
  assertEquals(lines.length, 1, r.stderr);
  // Which one depends on the machine: a real GPU → webgpu; otherwise onnx (web here: no ffi).
  assertMatch(
    lines[0],
    /^encdec: --device auto → (webgpu \(.+\)|onnx-web \(onnxruntime-web, wasm; .+\))$/,
  );
});

Deno.test("cli run --device onnx without read access to onnxruntime-web's wasm and without --allow-ffi: one-line error naming both flags", async () => {
  // runCli's default scope reads only models/ and the fixtures, not node_modules.
  const r = await runCli(["run", "--device", "onnx", ...MODEL, ...GREEDY], {
    stdin: golden.inputs.texts[1],
  });
  assertEquals(r.code, 1, r.stderr);
  const lines = encdecLines(r.stderr);
  assertEquals(lines.length, 1, r.stderr);
  assertMatch(lines[0], /^encdec: error: device "onnx" cannot run here: /);
  assertMatch(lines[0], /--allow-ffi/);
  assertMatch(lines[0], /--allow-read=\/\S+\/onnxruntime-web\/dist /);
  assert(!/\n\s+at /.test(r.stderr), "no stack trace");
  assertEquals(r.stdout, "");
});

Deno.test("cli run --dtype int8 is onnx-only; bfloat16 is not on onnx: usage errors (exit 2)", async () => {
  const int8 = await runCli(["run", "--device", "cpu", "--dtype", "int8", ...MODEL], {
    stdin: "x",
  });
  assertEquals(int8.code, 2, int8.stderr);
  assertEquals(encdecLines(int8.stderr), [
    'encdec: error: --dtype: dtype "int8" needs device onnx (or auto); device "cpu" has no int8',
  ]);
  const bf16 = await runCli(["run", "--device", "onnx", "--dtype", "bfloat16", ...MODEL], {
    stdin: "x",
  });
  assertEquals(bf16.code, 2, bf16.stderr);
  assertMatch(
    encdecLines(bf16.stderr)[0],
    /--dtype: dtype "bfloat16" is not supported on device onnx; it runs float32, float16, int8$/,
  );
});

Deno.test("cli env lists onnxruntime-node (needs --allow-ffi) and onnxruntime-web availability", async () => {
  const r = await runCli(["env", "--format", "json"], { scope: TASK_SCOPE });
  assertEquals(r.code, 0, r.stderr);
  const { onnxruntime, devices } = JSON.parse(r.stdout);
  assertEquals(onnxruntime.node, { available: false, detail: "needs --allow-ffi (native add-on)" });
  assertEquals(onnxruntime.web.available, true, onnxruntime.web.detail);
  assertEquals(devices.onnx, { available: true, detail: "runs on onnxruntime-web" });
  const ffi = await runCli(["env"], { scope: TASK_SCOPE, extraFlags: ["--allow-ffi"] });
  assertEquals(ffi.code, 0, ffi.stderr);
  assertMatch(ffi.stdout, /\nonnxruntime-node\s+available: onnxruntime-node 1\.30\.0\n/);
  assertMatch(ffi.stdout, /\nonnxruntime-web\s+available: /);
  const none = await runCli(["env"]);
  assertMatch(none.stdout, /\nonnxruntime-web\s+unavailable: .*--allow-read=/);
});
