/**
 * End-to-end tests of the `encdec` CLI: each test spawns the real CLI
 * (`deno run <least-privilege flags> cli/main.ts ...`, the flags of `deno task encdec`) on the
 * fixture models, from local directories and through the mock Hub, and compares stdout with the
 * Python reference's generated text (`goldens.json` `decoded`, transformers 4.40.2, made by
 * `tests/testdata/fixtures/generate.py`): exact string equality.
 *
 * The goldens encoded `inputs.texts` with `padding="max_length", max_length=9, truncation=True`,
 * so the runs pass `--max-input-length 9`; `--lines --batch-size 2` pads the short row to 9 as the
 * reference did.
 */
import { assert, assertEquals, assertMatch } from "@std/assert";
import { loadSafetensorsFile, saveSafetensorsFile } from "@encdec/modeling";
import { startMockHub } from "./mock_hub.ts";
import { defaultModelSummary, encdecLines, FIXTURES, ROOT, runCli } from "./cli_util.ts";
import { webgpuForTests } from "../testing/webgpu.ts";

interface Goldens {
  inputs: { texts: string[] };
  decoded: Record<string, string[]>;
}

function goldens(name: string): Goldens {
  return JSON.parse(Deno.readTextFileSync(`${FIXTURES}/${name}/goldens.json`));
}

const GREEDY = ["--max-new-tokens", "20"];
const BEAM4 = ["--num-beams", "4", "--early-stopping", "--max-length", "20"];

/** Asserts a failed run: the exit code, exactly one encdec line on stderr, no stack trace. */
function assertOneLineError(
  r: { code: number; stdout: string; stderr: string },
  code: number,
  pattern: RegExp,
): void {
  assertEquals(r.code, code, `exit code (stderr: ${r.stderr})`);
  const lines = encdecLines(r.stderr);
  assertEquals(lines.length, 1, `one encdec line on stderr, got: ${r.stderr}`);
  assertMatch(lines[0], pattern);
  assert(!/\n\s+at /.test(r.stderr), `no stack trace in: ${r.stderr}`);
  assertEquals(r.stdout, "", "nothing on stdout");
}

function listTree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string) => {
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(d)];
    } catch {
      return;
    }
    for (const e of entries) {
      const p = rel ? `${rel}/${e.name}` : e.name;
      out.push(p);
      if (e.isDirectory) walk(`${d}/${e.name}`, p);
    }
  };
  walk(dir, "");
  return out.sort();
}

for (const name of ["bert2bert", "bertgeneration"]) {
  const g = goldens(name);
  const model = `${FIXTURES}/${name}`;

  Deno.test(`cli run (local ${name}): greedy, one document per call, equals Python decoded text`, async () => {
    for (const [i, text] of g.inputs.texts.entries()) {
      const r = await runCli(["run", "--model", model, "--max-input-length", "9", ...GREEDY], {
        stdin: text,
      });
      assertEquals(r.code, 0, r.stderr);
      assertEquals(r.stdout, g.decoded.greedy[i] + "\n");
    }
  });

  Deno.test(`cli run (local ${name}): beam 4 --lines --batch-size 2 equals Python decoded text`, async () => {
    const r = await runCli(
      [
        "run",
        "--model",
        model,
        "--max-input-length",
        "9",
        "--lines",
        "--batch-size",
        "2",
        ...BEAM4,
      ],
      { stdin: g.inputs.texts.join("\n") + "\n" },
    );
    assertEquals(r.code, 0, r.stderr);
    assertEquals(r.stdout, g.decoded.beam4.map((t) => t + "\n").join(""));
  });
}

Deno.test("cli run --format json / jsonl: HF pipeline shapes with the Python decoded texts", async () => {
  const g = goldens("bert2bert");
  const base = ["run", "--model", `${FIXTURES}/bert2bert`, "--max-input-length", "9", ...GREEDY];
  const stdin = g.inputs.texts.join("\n");
  const json = await runCli([...base, "--lines", "--format", "json"], { stdin });
  assertEquals(json.code, 0, json.stderr);
  assertEquals(JSON.parse(json.stdout), g.decoded.greedy.map((t) => ({ summary_text: t })));
  const jsonl = await runCli([...base, "--lines", "--format", "jsonl"], { stdin });
  assertEquals(jsonl.code, 0, jsonl.stderr);
  assertEquals(
    jsonl.stdout.trim().split("\n").map((l) => JSON.parse(l)),
    g.decoded.greedy.map((t) => ({ summary_text: t })),
  );
  // A blank line in --lines mode gives an empty output line, keeping lines aligned.
  const blank = await runCli([...base, "--lines"], {
    stdin: `${g.inputs.texts[1]}\n\n${g.inputs.texts[1]}\n`,
  });
  assertEquals(blank.code, 0, blank.stderr);
  assertEquals(blank.stdout, `${g.decoded.greedy[1]}\n\n${g.decoded.greedy[1]}\n`);
  const one = await runCli([...base, "--format", "json"], { stdin: g.inputs.texts[1] });
  assertEquals(JSON.parse(one.stdout), [{ summary_text: g.decoded.greedy[1] }]);
});

Deno.test("cli run without --model uses models/default: stdout equals the library's output for that model", async () => {
  const text = "GNU Wget is a free utility for non-interactive download of files from the Web. " +
    "It supports HTTP, HTTPS, and FTP protocols, as well as retrieval through HTTP proxies.";
  const r = await runCli(["run", ...GREEDY], { stdin: text });
  assertEquals(r.code, 0, r.stderr);
  assertEquals(r.stdout, (await defaultModelSummary(text, { maxNewTokens: 20 })) + "\n");
});

Deno.test("cli run through the mock Hub: download into a fresh HF_HOME, then offline from the cache", async () => {
  const g = goldens("bert2bert");
  const hub = await startMockHub({
    repos: {
      "org/bert2bert": { dir: `${FIXTURES}/bert2bert` },
      "org/private": { dir: `${FIXTURES}/bert2bert`, private: true },
    },
  });
  const hfHome = await Deno.makeTempDir({ prefix: "encdec_cli_hub_" });
  try {
    const env = { HF_ENDPOINT: hub.endpoint };
    const r = await runCli(
      ["run", "--model", "org/bert2bert", "--max-input-length", "9", ...BEAM4],
      {
        stdin: g.inputs.texts[0],
        env,
        hfHome,
      },
    );
    assertEquals(r.code, 0, r.stderr);
    assertEquals(r.stdout, g.decoded.beam4[0] + "\n", "beam4 text of row 0 via the Hub");
    const snap = listTree(`${hfHome}/hub/models--org--bert2bert/snapshots`);
    assert(snap.some((p) => p.endsWith("/model.safetensors")), `snapshot has weights: ${snap}`);

    // Same model again with the Hub unreachable: served from the cache (HF_HUB_OFFLINE=1).
    const before = hub.requests.length;
    const off = await runCli(["run", "--model", "org/bert2bert", ...GREEDY], {
      stdin: g.inputs.texts[1],
      env: { ...env, HF_HUB_OFFLINE: "1" },
      hfHome,
    });
    assertEquals(off.code, 0, off.stderr);
    assertEquals(off.stdout, g.decoded.greedy[1] + "\n");
    assertEquals(hub.requests.length, before, "no Hub request when offline");

    // encdec download prints the snapshot folder.
    const dl = await runCli(["download", "org/bert2bert", "--quiet"], { env, hfHome });
    assertEquals(dl.code, 0, dl.stderr);
    assertMatch(dl.stdout.trim(), /\/hub\/models--org--bert2bert\/snapshots\/[0-9a-f]{40}$/);

    // Unknown id: 404, one line, exit 1, no cache entry for it.
    const missing = await runCli(["run", "--model", "org/does-not-exist"], {
      stdin: "text",
      env,
      hfHome,
    });
    assertOneLineError(missing, 1, /org\/does-not-exist/);
    assertEquals(listTree(`${hfHome}/hub/models--org--does-not-exist/snapshots`), []);

    // Private repo without a token: 401 naming HF_TOKEN; with the token it works.
    const denied = await runCli(["download", "org/private"], { env, hfHome });
    assertOneLineError(denied, 1, /HF_TOKEN|token/i);
    assertEquals(listTree(`${hfHome}/hub/models--org--private/snapshots`), []);
    const allowed = await runCli(["download", "org/private", "--quiet"], {
      env: { ...env, HF_TOKEN: "hf_mock_token" },
      hfHome,
    });
    assertEquals(allowed.code, 0, allowed.stderr);
  } finally {
    await hub.close();
    await Deno.remove(hfHome, { recursive: true });
  }
});

Deno.test("cli run with a corrupted download: one-line error, no weights linked into the cache", async () => {
  const hub = await startMockHub({
    repos: { "org/corrupt": { dir: `${FIXTURES}/bert2bert` } },
    faults: { corrupt: ["model.safetensors"] },
  });
  const hfHome = await Deno.makeTempDir({ prefix: "encdec_cli_corrupt_" });
  try {
    const r = await runCli(["run", "--model", "org/corrupt"], {
      stdin: "Hello world!",
      env: { HF_ENDPOINT: hub.endpoint },
      hfHome,
    });
    assertOneLineError(r, 1, /model\.safetensors/);
    const tree = listTree(`${hfHome}/hub/models--org--corrupt`);
    assert(!tree.some((p) => p.endsWith("model.safetensors")), `no weights in cache: ${tree}`);
    const etag = hub.etag("org/corrupt", "model.safetensors");
    assert(!tree.some((p) => p.startsWith(`blobs/${etag}`)), `no (partial) blob: ${tree}`);
  } finally {
    await hub.close();
    await Deno.remove(hfHome, { recursive: true });
  }
});

Deno.test("cli bad input: one clear line on stderr and the documented exit code", async () => {
  const model = ["--model", `${FIXTURES}/bert2bert`];
  assertOneLineError(
    await runCli(["run", "--task", "poetry", ...model], { stdin: "x" }),
    2,
    /unknown task "poetry"/,
  );
  assertOneLineError(await runCli(["run", ...model], { stdin: "" }), 2, /stdin is empty/);
  assertOneLineError(await runCli(["run", ...model], { stdin: " \n\t\n" }), 2, /stdin is empty/);
  const binary = new Uint8Array(4096).map((_, i) => (i * 131 + 7) % 256);
  assertOneLineError(await runCli(["run", ...model], { stdin: binary }), 2, /binary/);
  assertOneLineError(
    await runCli(["run", "--num-beams", "zero", ...model], { stdin: "x" }),
    2,
    /--num-beams/,
  );
  assertOneLineError(await runCli(["run", "--frobnicate"], { stdin: "x" }), 2, /--frobnicate/);
  assertOneLineError(await runCli(["summarise"]), 2, /unknown command "summarise"/);
  assertOneLineError(
    await runCli(["run", "--device", "tpu", ...model], { stdin: "x" }),
    2,
    /--device/,
  );
  assertOneLineError(
    await runCli(["run", "--num-return-sequences", "3", ...model], { stdin: "x" }),
    2,
    /num_return_sequences/,
  );
  assertOneLineError(
    await runCli(["run", "--model", "./no/such/dir"], { stdin: "x" }),
    1,
    /no\/such\/dir/,
  );
  // ENCDEC_DEBUG=1 adds the stack trace after the one line.
  const debug = await runCli(["run", "--model", "./no/such/dir"], {
    stdin: "x",
    env: { ENCDEC_DEBUG: "1" },
  });
  assertEquals(debug.code, 1);
  assert(/\n\s+at /.test(debug.stderr), `stack trace with ENCDEC_DEBUG=1: ${debug.stderr}`);
});

Deno.test("cli run on a 10 MB document: truncated to the model's 64 tokens, one output line", async () => {
  const doc = "The quick brown fox sat on the old mat. ".repeat(262_144); // 10 MiB
  const r = await runCli(["run", "--model", `${FIXTURES}/bert2bert`, "--max-new-tokens", "5"], {
    stdin: doc,
  });
  assertEquals(r.code, 0, r.stderr);
  assertEquals(r.stdout.split("\n").length, 2, "one line of output");
  assert(r.stdout.trim().length > 0);
});

Deno.test("cli run with a checkpoint missing a weight: HF's newly-initialised warning on stderr, names the key", async () => {
  const dir = await Deno.makeTempDir({ prefix: "encdec_missing_" });
  try {
    for (const f of ["config.json", "vocab.txt", "tokenizer_config.json"]) {
      await Deno.copyFile(`${FIXTURES}/bert2bert/${f}`, `${dir}/${f}`);
    }
    const { tensors, metadata } = await loadSafetensorsFile(
      `${FIXTURES}/bert2bert/model.safetensors`,
    );
    const dropped = "decoder.bert.encoder.layer.0.crossattention.output.dense.bias";
    assert(tensors.delete(dropped));
    await saveSafetensorsFile(`${dir}/model.safetensors`, tensors, metadata);
    const r = await runCli(["run", "--model", dir, ...GREEDY], {
      stdin: "Hello world!",
      scope: { read: [`${ROOT}/models`, dir] },
    });
    assertEquals(r.code, 0, r.stderr);
    assertEquals(encdecLines(r.stderr), [
      `encdec: warning: Some weights of EncoderDecoderModel were not initialized from the model ` +
      `checkpoint at ${dir} and are newly initialized (1): [${dropped}]. You should probably ` +
      `TRAIN this model on a down-stream task to be able to use it for predictions and inference.`,
    ]);
    // The complete fixture: no warning.
    const ok = await runCli(["run", "--model", `${FIXTURES}/bert2bert`, ...GREEDY], {
      stdin: "Hello world!",
    });
    assertEquals(encdecLines(ok.stderr), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("cli least privilege: a model outside the allowed read paths is denied with a clear line", async () => {
  // A valid model copied to a directory the flags do not allow: denied, not "not found".
  const outside = await Deno.makeTempDir({ prefix: "encdec_outside_" });
  try {
    for (const f of ["config.json", "model.safetensors", "vocab.txt", "tokenizer_config.json"]) {
      await Deno.copyFile(`${FIXTURES}/bert2bert/${f}`, `${outside}/${f}`);
    }
    const r = await runCli(["run", "--model", outside], { stdin: "Hello world!" });
    assertOneLineError(r, 1, new RegExp(`--allow-read=${outside}`));
    assertOneLineError(
      await runCli(["run", "--model", "/etc"], { stdin: "x" }),
      1,
      /--allow-read=\/etc/,
    );
    // With the path added to --allow-read it runs.
    const ok = await runCli(["run", "--model", outside, ...GREEDY], {
      stdin: "Hello world!",
      scope: { read: [`${ROOT}/models`, outside] },
    });
    assertEquals(ok.code, 0, ok.stderr);
    assertEquals(ok.stdout, goldens("bert2bert").decoded.greedy[1] + "\n");
  } finally {
    await Deno.remove(outside, { recursive: true });
  }
});

Deno.test("cli --help for every command exits 0 and names its options; env reports devices", async () => {
  const top = await runCli(["--help"]);
  assertEquals(top.code, 0);
  for (const c of ["run", "download", "env", "train", "eval"]) {
    assertMatch(top.stdout, new RegExp(`\\n  ${c}\\s`));
  }
  const run = await runCli(["run", "--help"]);
  assertEquals(run.code, 0);
  for (const o of ["--num-beams", "--max-length", "--lines", "--format", "--device", "--seed"]) {
    assert(run.stdout.includes(o), `run --help names ${o}`);
  }
  assertEquals((await runCli(["download", "--help"])).code, 0);
  const env = await runCli(["env", "--format", "json"]);
  assertEquals(env.code, 0, env.stderr);
  const report = JSON.parse(env.stdout);
  assertEquals(report.devices.cpu.available, true);
  assertEquals(typeof report.devices.webgpu.available, "boolean");
  assertEquals(report.cacheDir, `${ROOT}/tests/.no-hf-home/hub`);
  assertEquals(report.tokenSet, false);
});

Deno.test("cli train / eval are wired: eval prints ROUGE; train writes only where --allow-write allows", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "encdec_cli_train_" });
  try {
    const preds = `${tmp}/preds.jsonl`;
    await Deno.writeTextFile(
      preds,
      JSON.stringify({ prediction: "the cat sat", reference: "the cat sat on the mat" }) + "\n",
    );
    const scope = { read: [`${ROOT}/models`, tmp] };
    const ev = await runCli(["eval", "--predictions", preds, "--format", "json"], { scope });
    assertEquals(ev.code, 0, ev.stderr);
    const report = JSON.parse(ev.stdout);
    assertEquals(report.count, 1);
    // ROUGE-1 F of "the cat sat" vs "the cat sat on the mat": P 1, R 1/2 → F 2/3.
    assertEquals(Math.round(report.rouge.rouge1.fmeasure * 1e6), 666667);

    const data = `${tmp}/train.jsonl`;
    await Deno.writeTextFile(
      data,
      [{ text: "the quick brown fox", summary: "fox" }, { text: "hello world", summary: "world" }]
        .map((r) => JSON.stringify(r)).join("\n") + "\n",
    );
    const args = [
      "train",
      "--model",
      `${ROOT}/models/default`,
      "--data",
      data,
      "--output",
      `${tmp}/out`,
    ];
    const denied = await runCli([...args, "--quiet"], { scope });
    assertOneLineError(denied, 1, new RegExp(`--allow-write=${tmp}/out`));
    const ok = await runCli([
      ...args,
      "--quiet",
      "--batch-size",
      "2",
      "--device",
      "autograd",
      "--group-by-length",
    ], {
      scope,
      extraFlags: [`--allow-write=${tmp}/out`],
    });
    assertEquals(ok.code, 0, ok.stderr);
    assertMatch(ok.stdout, /^trained 1 steps; train loss \d+\.\d{4}; model saved to /);
    assert(Deno.statSync(`${tmp}/out/model.safetensors`).isFile, "final model written");
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

const gpu = await webgpuForTests("cli_e2e_test webgpu");

Deno.test({
  name:
    "cli run --device webgpu: beam 4 texts equal the Python decoded text (needs a WebGPU adapter)",
  ignore: !gpu.available,
  async fn() {
    const g = goldens("bert2bert");
    const r = await runCli(
      ["run", "--device", "webgpu", "--model", `${FIXTURES}/bert2bert`, "--max-input-length", "9"]
        .concat(["--lines", "--batch-size", "2", ...BEAM4]),
      { stdin: g.inputs.texts.join("\n") },
    );
    assertEquals(r.code, 0, r.stderr);
    assertEquals(r.stdout, g.decoded.beam4.map((t) => t + "\n").join(""));
  },
});
