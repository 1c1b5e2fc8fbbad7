/**
 * `deno task bench`: runs the side-by-side suite (every available encdec backend and PyTorch on
 * the shared bert2bert-base model), prints the table of median times, ratios to PyTorch,
 * tokens/s and peak RSS, and writes `bench/results/latest.json` (and `<mode>.json`).
 *
 * ```
 * deno task bench                 # the issue's workloads (slow on the plain-TS CPU backend)
 * deno task bench --quick         # 20 new tokens, 2 documents, fewer repetitions
 * deno task bench --contenders encdec-cpu,pytorch --workloads encoder,greedy --reps 3
 * deno task bench --no-overhead   # skip bench/generation_overhead_bench.ts
 * deno task bench --table bench/results/full.json   # print a saved run's table
 * ```
 *
 * @module
 */
import { generationOverhead, runSuite, type SuiteResults } from "./harness.ts";
import { type WorkloadName, WORKLOADS } from "./_workloads.ts";

const fmtMs = (ms: number | null) =>
  ms === null
    ? "–"
    : ms >= 10_000
    ? `${(ms / 1000).toFixed(1)} s`
    : `${ms.toFixed(ms < 10 ? 2 : 0)} ms`;
const fmt = (x: number | null, digits = 2, suffix = "") =>
  x === null ? "–" : `${x.toFixed(digits)}${suffix}`;

/**
 * The results as a Markdown table (also what the README holds).
 *
 * @example
 * ```ts ignore
 * console.log(formatTable(results));
 * ```
 */
export function formatTable(r: SuiteResults): string {
  const head = [
    "workload",
    "contender",
    "median",
    "× PyTorch",
    "tokens/s",
    "peak RSS",
    "RSS / weights",
    "decode step",
    "gen. overhead",
    "ids = PyTorch",
    "reps",
  ];
  const lines = [`| ${head.join(" | ")} |`, `|${head.map(() => " --- ").join("|")}|`];
  for (const x of r.rows) {
    const label = x.contender === "encdec-webgpu"
      ? "encdec-webgpu (lavapipe, CPU; reference)"
      : x.contender;
    lines.push(
      `| ${x.label} | ${label} | ${
        x.error ? `failed: ${x.error.slice(0, 80)}` : fmtMs(x.medianMs)
      } | ${fmt(x.ratioToTorch, 2, "×")} | ${fmt(x.tokensPerS, 1)} | ${
        x.peakRssBytes === null ? "–" : `${(x.peakRssBytes / 2 ** 20).toFixed(0)} MiB`
      } | ${fmt(x.peakRssToWeights, 2, "×")} | ${fmtMs(x.decodeStepMs)} | ${
        fmt(x.overheadPct, 1, " %")
      } | ${x.sameIdsAsTorch === null ? "–" : x.sameIdsAsTorch ? "yes" : "no"} | ${x.reps} |`,
    );
  }
  return lines.join("\n");
}

function parseArgs(args: string[]) {
  const o: {
    mode: "full" | "quick" | "tiny";
    contenders?: string[];
    workloads?: WorkloadName[];
    reps?: number;
    overhead: boolean;
  } = { mode: "full", overhead: true };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const value = () => {
      const v = a.includes("=") ? a.slice(a.indexOf("=") + 1) : args[++i];
      if (v === undefined) throw new Error(`${a}: missing value`);
      return v;
    };
    if (a === "--quick") o.mode = "quick";
    else if (a === "--tiny") o.mode = "tiny";
    else if (a === "--no-overhead") o.overhead = false;
    else if (a.startsWith("--contenders")) o.contenders = value().split(",");
    else if (a.startsWith("--reps")) o.reps = Number(value());
    else if (a.startsWith("--workloads")) {
      o.workloads = value().split(",") as WorkloadName[];
      for (const w of o.workloads) {
        if (!WORKLOADS.includes(w)) {
          throw new Error(`unknown workload "${w}" (${WORKLOADS.join(", ")})`);
        }
      }
    } else throw new Error(`unknown option "${a}"`);
  }
  return o;
}

if (import.meta.main && Deno.args[0] === "--table") {
  // Re-renders a saved results file: `deno task bench --table bench/results/full.json`.
  console.log(formatTable(JSON.parse(await Deno.readTextFile(Deno.args[1]))));
} else if (import.meta.main) {
  const o = parseArgs(Deno.args);
  const t0 = performance.now();
  const log = (l: string) =>
    console.error(`[${((performance.now() - t0) / 1000).toFixed(0).padStart(5)} s] ${l}`);
  const results = await runSuite({ ...o, log });
  results.command = ["deno task bench", ...Deno.args].join(" ");
  if (o.overhead) {
    log("generation overhead bench ...");
    results.generationOverhead = await generationOverhead(results.rows);
  }
  console.log(
    `\n${results.command} — ${results.machine.cpu}, ${results.machine.cores} cores (shared)`,
  );
  for (const [c, p] of Object.entries(results.parity ?? {})) {
    console.log(
      `logits check, PyTorch vs ${c}: max abs diff ${p.maxAbsDiff.toExponential(2)}` +
        ` (fp32 tolerance ${p.tolerance}), same argmax: ${p.sameArgmax}`,
    );
  }
  console.log(formatTable(results));
  for (const u of results.unavailable) console.log(`not run: ${u.contender}: ${u.reason}`);
  const g = results.generationOverhead;
  if (g) {
    console.log(
      `generation overhead (stub model, beam 4): ${fmt(g.beam4StubMsPerStep, 2, " ms")}/step vs ` +
        `${fmtMs(g.fastestDecodeStepMs)} decode step on ${g.fastestContender ?? "–"}: ${
          fmt(g.pct, 2, " %")
        } (target < 5 %)`,
    );
  }
  await Deno.mkdir("bench/results", { recursive: true });
  const json = JSON.stringify(results, null, 2);
  await Deno.writeTextFile("bench/results/latest.json", json);
  await Deno.writeTextFile(`bench/results/${results.settings.mode}.json`, json);
  log(`wrote bench/results/latest.json and bench/results/${results.settings.mode}.json`);
}
