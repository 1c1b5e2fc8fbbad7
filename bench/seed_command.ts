/**
 * The seed's command as a user types it (issue 18, goal 1), against the same work in PyTorch,
 * each in a fresh process, alternating, on the full-size replica of the seed's model
 * (`make_seed_replica.ts`: bert-base × 2, fp16 `pytorch_model.bin`, beam 4, max length 142,
 * min length 56, no-repeat 3, length penalty 2) and one ~420-token news-style article
 * (`seed_article.txt`):
 *
 * - `encdec`: `deno task -q encdec run --task summarization --model <dir> --device 0 < article`
 *   (the launcher's scoped permissions; `--device 0` falls back to onnxruntime-node here);
 *   with the graph cache (next to the HF cache) filled by one untimed call first: a user's
 *   second and later calls;
 * - `encdec first call`: the same command with `ENCDEC_GRAPH_CACHE` pointing at an empty
 *   folder each time: a user's first call, which converts the fp16 `.bin` and fills the cache;
 * - `pytorch`: `/usr/bin/python3 bench/torch_seed.py <dir> < article` (2 threads).
 *
 * Wall time is measured from outside (process start to exit). Usage:
 * `deno run -A bench/seed_command.ts [reps]`; writes `bench/results/seed-command.json`.
 *
 * @module
 */
import { ensureSeedReplica } from "./make_seed_replica.ts";

const ARTICLE = "bench/seed_article.txt";

interface Run {
  contender: string;
  rep: number;
  loadavg: string;
  seconds: number;
  ok: boolean;
  summary: string;
  stderr: string;
}

async function timed(
  contender: string,
  rep: number,
  cmd: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<Run> {
  const loadavg = (await Deno.readTextFile("/proc/loadavg")).trim();
  const input = await Deno.readFile(ARTICLE);
  const t = performance.now();
  const p = new Deno.Command(cmd, { args, env, stdin: "piped", stdout: "piped", stderr: "piped" })
    .spawn();
  const w = p.stdin.getWriter();
  await w.write(input);
  await w.close();
  const out = await p.output();
  const seconds = (performance.now() - t) / 1000;
  const dec = new TextDecoder();
  return {
    contender,
    rep,
    loadavg,
    seconds,
    ok: out.success,
    summary: dec.decode(out.stdout).trim(),
    stderr: dec.decode(out.stderr).trim().slice(-1500),
  };
}

if (import.meta.main) {
  const reps = Number(Deno.args[0] ?? 2);
  const { bin } = await ensureSeedReplica();
  const deno = `${Deno.cwd()}/bin/deno`;
  const cliArgs = ["task", "-q", "encdec", "run", "--task", "summarization", "--model", bin];
  const seedArgs = [...cliArgs, "--device", "0"];
  const scratch = await Deno.makeTempDir({ prefix: "encdec-seed-graphs-" });
  let fresh = 0;
  const contenders: [string, () => [string, string[], Record<string, string>]][] = [
    // A user's second and later calls: the graph cache (in the HF cache) is filled.
    ["encdec", () => [deno, seedArgs, {}]],
    // A user's first call: an empty graph cache, so the fp16 `.bin` is converted and cached.
    ["encdec first call", () => [deno, seedArgs, {
      ENCDEC_GRAPH_CACHE: `${scratch}/${fresh++}`,
    }]],
    ["pytorch", () => ["/usr/bin/python3", ["bench/torch_seed.py", bin], {}]],
  ];
  const runs: Run[] = [];
  // Fill the default graph cache once (untimed), as a user's first call does.
  const fill = await timed("encdec fill cache", -1, deno, seedArgs);
  runs.push(fill);
  console.error(JSON.stringify(fill));
  for (let r = 0; r < reps; r++) {
    for (const [name, make] of contenders) {
      const [cmd, args, env] = make();
      const run = await timed(name, r, cmd, args, env);
      runs.push(run);
      console.error(JSON.stringify({ ...run, stderr: run.stderr.slice(-300) }));
    }
  }
  await Deno.remove(scratch, { recursive: true });
  await Deno.mkdir("bench/results", { recursive: true });
  await Deno.writeTextFile(
    "bench/results/seed-command.json",
    JSON.stringify(
      { date: new Date().toISOString(), model: bin, article: ARTICLE, runs },
      null,
      2,
    ) +
      "\n",
  );
}
