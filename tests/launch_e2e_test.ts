/**
 * `deno task -q encdec ...` end to end, typed as a user types it (`runEncdec`): the launcher
 * grants each invocation what it needs, so the ordinary Hugging Face set-ups work with no flag
 * typed — a model outside the repository, a path relative to a subdirectory, `HF_HOME` and
 * `HF_ENDPOINT` elsewhere (a mock Hub on 127.0.0.1), `encdec train` with data and output in a
 * temporary directory — and the messages name the real cause. Outputs are compared with the
 * Python goldens (fixtures) or with the library's own output for the default model.
 */
import { assert, assertEquals, assertMatch } from "@std/assert";
import { startMockHub } from "./mock_hub.ts";
import { defaultModelSummary, encdecLines, FIXTURES, ROOT, runCli, runEncdec } from "./cli_util.ts";

const TEXT = "GNU Wget is a free utility for non-interactive download of files from the Web. " +
  "It supports HTTP, HTTPS, and FTP protocols, as well as retrieval through HTTP proxies.";

function goldens(name: string): { inputs: { texts: string[] }; decoded: Record<string, string[]> } {
  return JSON.parse(Deno.readTextFileSync(`${FIXTURES}/${name}/goldens.json`));
}

Deno.test("encdec from a subdirectory: --model ../models/default resolves from there; stderr stays empty (no task echo, no XDG_RUNTIME_DIR noise)", async () => {
  const r = await runEncdec(["run", "--model", "../models/default", "--max-new-tokens", "12"], {
    cwd: `${ROOT}/tests`,
    stdin: TEXT,
    env: { XDG_RUNTIME_DIR: "" }, // invalid: Vulkan drivers would complain without the launcher
  });
  assertEquals(r.code, 0, r.stderr);
  assertEquals(r.stdout, (await defaultModelSummary(TEXT, { maxNewTokens: 12 })) + "\n");
  assertEquals(r.stderr, "", "nothing on stderr");
});

Deno.test("encdec run: a model directory outside the repository, no flag typed", async () => {
  const outside = await Deno.makeTempDir({ prefix: "encdec_outside_" });
  try {
    for (const f of ["config.json", "model.safetensors", "vocab.txt", "tokenizer_config.json"]) {
      await Deno.copyFile(`${FIXTURES}/bert2bert/${f}`, `${outside}/${f}`);
    }
    const g = goldens("bert2bert");
    const r = await runEncdec(
      ["run", "--model", ".", "--max-input-length", "9", "--max-new-tokens", "20"],
      { cwd: outside, stdin: g.inputs.texts[1] },
    );
    assertEquals(r.code, 0, r.stderr);
    assertEquals(r.stdout, g.decoded.greedy[1] + "\n");
  } finally {
    await Deno.remove(outside, { recursive: true });
  }
});

Deno.test("encdec with HF_HOME and HF_ENDPOINT elsewhere: downloads through the mirror into that cache; models/nope is a path; offline names the cache", async () => {
  const hub = await startMockHub({ repos: { "org/bert2bert": { dir: `${FIXTURES}/bert2bert` } } });
  const hfHome = await Deno.makeTempDir({ prefix: "encdec_launch_hf_" });
  try {
    const g = goldens("bert2bert");
    const env = { HF_HOME: hfHome, HF_ENDPOINT: hub.endpoint };
    const r = await runEncdec(
      ["run", "--model", "org/bert2bert", "--max-input-length", "9", "--max-new-tokens", "20"],
      { stdin: g.inputs.texts[0], env },
    );
    assertEquals(r.code, 0, r.stderr);
    assertEquals(r.stdout, g.decoded.greedy[0] + "\n");
    assert(Deno.statSync(`${hfHome}/hub/models--org--bert2bert`).isDirectory);

    // `models/nope` (next to the repository's `models/`) is a missing directory, not a Hub id.
    const before = hub.requests.length;
    const nope = await runEncdec(["run", "--model", "models/nope"], { stdin: "x", env });
    assertEquals(nope.code, 1, nope.stderr);
    assert(
      encdecLines(nope.stderr)[0].includes(
        `model directory "./models/nope" does not exist (relative paths are taken from ${ROOT})`,
      ),
      nope.stderr,
    );
    assertEquals(hub.requests.length, before, "no Hub request for a path");

    // Offline with an id that is not cached: the message names the cache it looked in.
    const off = await runEncdec(["run", "--model", "org/other"], {
      stdin: "x",
      env: { ...env, HF_HUB_OFFLINE: "1" },
    });
    assertEquals(off.code, 1, off.stderr);
    assert(encdecLines(off.stderr)[0].includes(`${hfHome}/hub`), off.stderr);
    assertEquals(hub.requests.length, before, "offline: no Hub request");
  } finally {
    await hub.close();
    await Deno.remove(hfHome, { recursive: true });
  }
});

Deno.test("encdec train: data and --output in any directory, granted by the launcher", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "encdec_launch_train_" });
  try {
    await Deno.writeTextFile(
      `${tmp}/train.jsonl`,
      [{ text: "the quick brown fox", summary: "fox" }, { text: "hello world", summary: "world" }]
        .map((r) => JSON.stringify(r)).join("\n") + "\n",
    );
    const r = await runEncdec(
      ["train", "--model", `${ROOT}/models/default`, "--data", "train.jsonl", "--output", "out"]
        .concat(["--batch-size", "2", "--device", "autograd", "--quiet"]),
      { cwd: tmp },
    );
    assertEquals(r.code, 0, r.stderr);
    assertMatch(r.stdout, /^trained 1 steps; train loss \d+\.\d{4}; model saved to /);
    assert(Deno.statSync(`${tmp}/out/model.safetensors`).isFile, "final model written");
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("encdec --version / no arguments / usage errors: version on stdout; usage on stderr, exit 2", async () => {
  const manifest = JSON.parse(Deno.readTextFileSync(`${ROOT}/cli/deno.json`));
  const v = await runEncdec(["--version"]);
  assertEquals([v.code, v.stdout, v.stderr], [0, `encdec ${manifest.version}\n`, ""]);
  const bare = await runEncdec([]);
  assertEquals(bare.code, 2);
  assertEquals(bare.stdout, "");
  assertMatch(bare.stderr, /^encdec: .*\n\nUsage: encdec \[-q\] <command>/);
  const bad = await runEncdec(["run", "--frobnicate"], { stdin: "x" });
  assertEquals(bad.code, 2);
  assertEquals(bad.stderr.trim().split("\n").map((l) => l.split(":")[0]), ["encdec", "Usage"]);
});

Deno.test("encdec run says once on stderr that an input was cut, to how many tokens of how many; -q silences it", async () => {
  const long = Array.from({ length: 30 }, () => TEXT).join(" ");
  const { AutoTokenizer } = await import("@encdec/cli");
  const tok = await AutoTokenizer.fromPretrained(`${ROOT}/models/default`);
  const whole = (tok.call(long).inputIds as number[]).length; // special tokens included
  const r = await runEncdec(["run", "--max-new-tokens", "3", "--lines"], {
    stdin: `${long}\n${long}\n`,
  });
  assertEquals(r.code, 0, r.stderr);
  assertEquals(r.stderr.trim().split("\n"), [
    `encdec: input truncated from ${whole} to 64 tokens (the model's maximum)`,
    "encdec: 2 of 2 inputs were truncated",
  ]);
  const q = await runEncdec(["-q", "run", "--max-new-tokens", "3"], { stdin: long });
  assertEquals([q.code, q.stderr], [0, ""]);
});

Deno.test("encdec under the task's grant reaches the native onnxruntime (scoped --allow-ffi to its add-on), and nothing broader", async () => {
  const r = await runEncdec(["env", "--format", "json"]);
  assertEquals(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  assertEquals(report.onnxruntime.node.available, true, JSON.stringify(report.onnxruntime));
  // The same CLI started with every grant but FFI cannot load it: the grant is what enables it.
  const without = await runCli(["env", "--format", "json"]);
  assertEquals(JSON.parse(without.stdout).onnxruntime.node.available, false);
});

Deno.test("encdec run fills the ONNX graph cache under HF_HOME (granted by the launcher) and the warm run gives the same text", async () => {
  const hfHome = await Deno.makeTempDir({ prefix: "encdec_launch_graphs_" });
  try {
    const g = goldens("bert2bert");
    const args = [
      "run",
      "--model",
      `${FIXTURES}/bert2bert`,
      "--device",
      "onnx-node",
      "--max-input-length",
      "9",
      "--max-new-tokens",
      "20",
    ];
    const env = { HF_HOME: hfHome, ENCDEC_GRAPH_CACHE: "" };
    const cold = await runEncdec(args, { stdin: g.inputs.texts[1], env });
    assertEquals(cold.code, 0, cold.stderr);
    assertEquals(cold.stdout, g.decoded.greedy[1] + "\n");
    const entries = await Array.fromAsync(Deno.readDir(`${hfHome}/encdec/graphs`));
    assert(entries.some((e) => e.isDirectory), `no cache entry: ${entries.map((e) => e.name)}`);
    const warm = await runEncdec(args, { stdin: g.inputs.texts[1], env });
    assertEquals(warm.code, 0, warm.stderr);
    assertEquals(warm.stdout, cold.stdout);
  } finally {
    await Deno.remove(hfHome, { recursive: true });
  }
});
