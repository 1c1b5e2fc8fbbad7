/**
 * Time to first token (issue 18, goal 2) of the CLI and of the edge example, beside PyTorch's, in
 * fresh processes: wall time from starting the process to the first generated token's text, for the
 * built-in default model and bert2bert-base (`make_model.ts base`), int8 and float32.
 *
 * - CLI: `deno task -q encdec run --model <dir> --device <auto> [--dtype int8] --max-new-tokens 1`
 *   with a one-sentence input on stdin; the time to its exit (it prints the one token).
 * - Edge: `examples/edge/main.ts` as its README starts it (scoped permissions, here with
 *   `ENCDEC_MODEL`, `ENCDEC_DEVICE=onnx-web`, `ENCDEC_DTYPE`), polled on `/health` every 50 ms,
 *   then one `POST /summarize` with `maxNewTokens: 1`: the time from the spawn to that answer.
 * - PyTorch: `/usr/bin/python3 bench/torch_seed.py <dir> --max-new-tokens 1 [--dtype int8]`, the
 *   same work as the CLI in a fresh Python process (load, tokenize, the checkpoint's beam search
 *   for one new token, decode; int8 through `quantize_dynamic` after loading), with
 *   `OPENBLAS_CORETYPE` / `OPENBLAS_L2_SIZE` removed from its environment as the bench does.
 *
 * The CLI's first call for a model fills the graph cache; it is made once, untimed, before the
 * timed runs (which are then a user's later calls). The edge example on onnxruntime-web has no
 * graph cache: every start converts the checkpoint.
 *
 * Usage: `deno run -A bench/first_token.ts [reps] [default|bert2bert-base]`; writes
 * `bench/results/first-token.json`.
 *
 * @module
 */
import { ensureModel } from "./make_model.ts";
import { SYSTEM_PYTHON, TORCH_CLEAR_ENV } from "./harness.ts";

const INPUT = "a python library to read and write excel files, with charts and formulas";
const PORT = 8731;

interface Run {
  target: "cli" | "edge" | "pytorch";
  model: string;
  dtype: string;
  rep: number;
  seconds: number;
  ok: boolean;
  output: string;
  loadavg: string;
}

async function loadavg(): Promise<string> {
  return (await Deno.readTextFile("/proc/loadavg")).trim();
}

/** Runs `cmd` with `INPUT` on stdin: seconds to its exit, success, its output (or errors). */
async function timedRun(
  cmd: string,
  options: Deno.CommandOptions,
): Promise<[number, boolean, string]> {
  const t = performance.now();
  const p = new Deno.Command(cmd, { ...options, stdin: "piped", stdout: "piped", stderr: "piped" })
    .spawn();
  const w = p.stdin.getWriter();
  await w.write(new TextEncoder().encode(INPUT));
  await w.close();
  const out = await p.output();
  const s = (performance.now() - t) / 1000;
  const text = new TextDecoder().decode(out.success ? out.stdout : out.stderr).trim();
  return [s, out.success, text.slice(0, 200)];
}

/** The CLI's first token: the process's whole life with `--max-new-tokens 1`. */
function cli(model: string, dtype: string): Promise<[number, boolean, string]> {
  const args = ["task", "-q", "encdec", "run", "--model", model, "--max-new-tokens", "1"];
  if (dtype === "int8") args.push("--dtype", "int8");
  return timedRun("deno", { args });
}

/** PyTorch's first token: `torch_seed.py` with one new token, the process's whole life. */
function pytorch(model: string, dtype: string): Promise<[number, boolean, string]> {
  const env = Deno.env.toObject();
  for (const k of TORCH_CLEAR_ENV) delete env[k];
  const args = ["bench/torch_seed.py", model, "--max-new-tokens", "1", "--dtype", dtype];
  return timedRun(SYSTEM_PYTHON, { args, env, clearEnv: true });
}

/** The edge example's first token: spawn, `/health`, one request of one new token. */
async function edge(model: string, dtype: string): Promise<[number, boolean, string]> {
  const env = {
    PORT: String(PORT),
    ENCDEC_MODEL: model,
    ENCDEC_DEVICE: "onnx-web",
    ...(dtype === "int8" ? { ENCDEC_DTYPE: "int8" } : {}),
  };
  const t = performance.now();
  const p = new Deno.Command("deno", {
    args: [
      "run",
      "--no-prompt",
      `--allow-read=${model},node_modules`,
      `--allow-net=127.0.0.1:${PORT}`,
      "--allow-env",
      "examples/edge/main.ts",
    ],
    env,
    stdout: "null",
    stderr: "piped",
  }).spawn();
  try {
    const base = `http://127.0.0.1:${PORT}`;
    for (;;) {
      const up = await fetch(`${base}/health`).then((r) => r.ok, () => false);
      if (up) break;
      if (performance.now() - t > 600_000) throw new Error("edge: not up after 600 s");
      await new Promise((r) => setTimeout(r, 50));
    }
    const r = await fetch(`${base}/summarize`, {
      method: "POST",
      body: JSON.stringify({ text: INPUT, options: { maxNewTokens: 1 } }),
    });
    const body = await r.text();
    return [(performance.now() - t) / 1000, r.ok, body.slice(0, 200)];
  } finally {
    p.kill("SIGTERM");
    await p.status;
    await p.stderr.cancel();
  }
}

if (import.meta.main) {
  const reps = Number(Deno.args[0] ?? 2);
  // bert2bert-base with `models/default`'s tokenizer files copied in (as the soak run uses it).
  const { dir: base } = await ensureModel("base");
  for (const f of ["vocab.txt", "tokenizer_config.json", "special_tokens_map.json"]) {
    await Deno.copyFile(`models/default/${f}`, `${base}/${f}`).catch(() => {});
  }
  const models: [string, string][] = [["default", "models/default"], ["bert2bert-base", base]];
  const runs: Run[] = [];
  const only = Deno.args[1];
  for (const [name, dir] of models.filter(([n]) => !only || n === only)) {
    for (const dtype of ["int8", "float32"]) {
      await cli(dir, dtype); // fills the graph cache (a user's first call)
      for (let rep = 0; rep < reps; rep++) {
        for (const target of ["cli", "edge", "pytorch"] as const) {
          const la = await loadavg();
          const [seconds, ok, output] = await { cli, edge, pytorch }[target](dir, dtype);
          const run = { target, model: name, dtype, rep, seconds, ok, output, loadavg: la };
          runs.push(run);
          console.log(JSON.stringify(run));
        }
      }
    }
  }
  await Deno.mkdir("bench/results", { recursive: true });
  await Deno.writeTextFile(
    "bench/results/first-token.json",
    JSON.stringify({ date: new Date().toISOString(), input: INPUT, runs }, null, 2) + "\n",
  );
}
