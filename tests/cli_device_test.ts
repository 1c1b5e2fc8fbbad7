/**
 * `encdec run --device` as Python users write it, end to end (the real CLI spawned): `--device 0`
 * (the seed's line) runs everywhere — WebGPU on a hardware adapter, else one stderr line saying
 * there is none and the fastest CPU path runs instead; `-1` is the CPU; `cuda:1` reads like a
 * GPU number; junk is a usage error (exit 2). stdout is compared with the Python reference's
 * decoded greedy text (tests/testdata/fixtures/bert2bert/goldens.json `decoded`, transformers
 * 4.40.2, made by tests/testdata/fixtures/generate.py): exact string equality.
 */
import { assertEquals, assertMatch } from "@std/assert";
import { encdecLines, FIXTURES, ROOT, runCli, runEncdec } from "./cli_util.ts";

const golden = JSON.parse(Deno.readTextFileSync(`${FIXTURES}/bert2bert/goldens.json`)) as {
  inputs: { texts: string[] };
  decoded: Record<string, string[]>;
};
/** `deno task encdec`'s read scope (the repository), no network. */
const SCOPE = { read: ["."], hfHome: `${ROOT}/tests/.no-hf-home`, net: [] };
const MODEL = ["--model", `${FIXTURES}/bert2bert`, "--max-input-length", "9"];
const ARGS = ["run", "--task", "summarization", ...MODEL, "--max-new-tokens", "20"];
/** The one line a GPU spelling writes when no hardware adapter is here. */
const FALLBACK =
  /^encdec: --device 0: no (hardware )?GPU: .+; running on (onnx-node|onnx-web|cpu) instead$/;

Deno.test("cli run --device 0 (WebGPU visible, software adapter here): the text equals Python's; one line says which device ran", async () => {
  for (const device of ["0"]) {
    const r = await runCli([...ARGS, "--device", device], {
      stdin: golden.inputs.texts[1],
      scope: SCOPE,
      extraFlags: ["--unstable-webgpu"],
    });
    assertEquals(r.code, 0, r.stderr);
    assertEquals(r.stdout, golden.decoded.greedy[1] + "\n");
    const lines = encdecLines(r.stderr);
    assertEquals(lines.length, 1, r.stderr);
    // A hardware GPU runs WebGPU; lavapipe (this machine) is software: auto's CPU-side choice.
    if (!lines[0].includes("→ webgpu")) assertMatch(lines[0], FALLBACK);
  }
});

Deno.test("cli run --device -1 is the CPU, silently; junk is a usage error naming what is accepted", async () => {
  const cpu = await runCli([...ARGS, "--device", "-1"], {
    stdin: golden.inputs.texts[1],
    scope: SCOPE,
  });
  assertEquals(cpu.code, 0, cpu.stderr);
  assertEquals(cpu.stdout, golden.decoded.greedy[1] + "\n");
  assertEquals(encdecLines(cpu.stderr), []);
  const junk = await runCli([...ARGS, "--device", "tpu"], { stdin: "x", scope: SCOPE });
  assertEquals(junk.code, 2, junk.stderr);
  const lines = encdecLines(junk.stderr);
  assertEquals(lines.length, 1, junk.stderr);
  assertMatch(lines[0], /^encdec: error: --device: unknown device "tpu": expected one of cpu, /);
  assertMatch(lines[0], /a GPU number N ≥ 0 \(or cuda, cuda:N, gpu, gpu:N\) or -1 for the CPU$/);
});

Deno.test("the seed's line as written: echo text | deno task encdec run --task summarization --device 0", async () => {
  const r = await runEncdec([...ARGS, "--device", "0"], { stdin: golden.inputs.texts[1] });
  assertEquals(r.code, 0, r.stderr);
  assertEquals(r.stdout, golden.decoded.greedy[1] + "\n");
  const lines = encdecLines(r.stderr);
  assertEquals(lines.length, 1, r.stderr);
  if (!lines[0].includes("→ webgpu")) assertMatch(lines[0], FALLBACK);
});

/** onnxruntime-node's add-on file, as `deno task encdec` grants it (`--allow-ffi=<file>`). */
function nodeAddon(): string {
  const entry = decodeURIComponent(new URL(import.meta.resolve("onnxruntime-node")).pathname);
  const pkg = entry.slice(0, entry.lastIndexOf("/onnxruntime-node/") + "/onnxruntime-node".length);
  const arch = Deno.build.arch === "x86_64" ? "x64" : "arm64";
  return `${pkg}/bin/napi-v6/${Deno.build.os}/${arch}/onnxruntime_binding.node`;
}

Deno.test("cli run --device auto with FFI scoped to onnxruntime-node's add-on (the launcher's grant) picks onnxruntime-node", async () => {
  const r = await runCli([...ARGS, "--device", "auto"], {
    stdin: golden.inputs.texts[1],
    scope: SCOPE,
    extraFlags: [`--allow-ffi=${nodeAddon()}`],
  });
  assertEquals(r.code, 0, r.stderr);
  assertEquals(r.stdout, golden.decoded.greedy[1] + "\n");
  const lines = encdecLines(r.stderr).filter((l) => l.startsWith("encdec: --device"));
  assertEquals(lines.length, 1, r.stderr);
  assertMatch(lines[0], /^encdec: --device auto → onnx-node \(onnxruntime-node, native(; .+)?\)$/);
});
