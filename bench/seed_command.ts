/**
 * The seed's command as a user types it (issue 18, goal 1), against the same work in PyTorch,
 * each in a fresh process, alternating, on the full-size replica of the seed's model
 * (`make_seed_replica.ts`: bert-base × 2, fp16 `pytorch_model.bin`, beam 4, max length 142,
 * min length 56, no-repeat 3, length penalty 2) and one ~420-token news-style article
 * (`seed_article.txt`):
 *
 * - `encdec`: `deno task -q encdec run --task summarization --model <dir> --device 0 < article`
 *   (the launcher's scoped permissions; `--device 0` falls back to onnxruntime-node here);
 * - `encdec -A cached`: `deno run -A cli/main.ts run ...` with the graph cache in
 *   `bench/.cache/graphs-cli` (the launcher does not grant a graph cache folder yet), after one
 *   untimed run that fills it;
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
  const deno = `${Deno.cwd()}/node_modules/.bin/deno`;
  const cache = `${Deno.cwd()}/bench/.cache/graphs-cli`;
  const cliArgs = ["run", "--task", "summarization", "--model", bin, "--device", "0"];
  const contenders: [string, () => Promise<[string, string[], Record<string, string>]>][] = [
    ["encdec", () => Promise.resolve([deno, ["task", "-q", "encdec", ...cliArgs], {}])],
    [
      "encdec -A cached",
      () =>
        Promise.resolve([deno, ["run", "-A", "cli/main.ts", ...cliArgs], {
          ENCDEC_GRAPH_CACHE: cache,
        }]),
    ],
    ["pytorch", () => Promise.resolve(["/usr/bin/python3", ["bench/torch_seed.py", bin], {}])],
  ];
  const runs: Run[] = [];
  // Fill the graph cache once (untimed).
  const fill = await timed("encdec -A fill cache", -1, deno, [
    "run",
    "-A",
    "cli/main.ts",
    ...cliArgs,
  ], {
    ENCDEC_GRAPH_CACHE: cache,
  });
  runs.push(fill);
  console.error(JSON.stringify(fill));
  for (let r = 0; r < reps; r++) {
    for (const [name, make] of contenders) {
      const [cmd, args, env] = await make();
      const run = await timed(name, r, cmd, args, env);
      runs.push(run);
      console.error(JSON.stringify(run));
    }
  }
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
