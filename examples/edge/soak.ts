/**
 * The edge example's soak run (`deno task soak`): starts `main.ts` on 127.0.0.1 with its
 * documented least-privilege flags, then `--concurrency` clients send `--warmup` requests and two
 * rounds of `--requests` valid requests each. It prints p50/p99 latency per round, the server's
 * RSS after start-up and after each round, and its peak RSS (its own `getrusage` max RSS from
 * `/stats`, and `ps` samples), and exits 1 on any error
 * or on RSS growth over 32 MiB from the first round to the second. Latencies are reported, never
 * asserted: this is a measurement, not a test (`tests/load_test.ts` is the test).
 *
 * ```sh
 * deno task soak                                   # models/default on cpu: 20 + 2 × 200 requests, 16 clients
 * deno task soak --model bench/.cache/bert2bert-base --device onnx-web --dtype int8 \
 *   --warmup 0 --requests 50 --concurrency 1        # issue 18 goal 4: bert-base int8 on wasm
 * # the same with two wasm threads (the server's default on onnx-web is one), or with more room
 * # still: a 1 MiB young generation (V8's default grows to tens of MiB) and wasm tier-up on the
 * # main thread (no concurrent compile jobs)
 * deno task soak --model bench/.cache/bert2bert-base --device onnx-web --dtype int8 \
 *   --threads 2 --warmup 0 --requests 50 --concurrency 1
 * deno task soak --model bench/.cache/bert2bert-base --device onnx-web --dtype int8 \
 *   --v8-flags --max-semi-space-size=1,--wasm-sync-tier-up --warmup 0 --requests 50 \
 *   --concurrency 1
 * ```
 *
 * @module
 */

const ROOT = decodeURIComponent(new URL("../..", import.meta.url).pathname).replace(/\/$/, "");

const WORDS = "the quick brown fox sat on the old mat hello world big storm people paper".split(
  " ",
);

/** Request `i`: varied text and options, all valid. */
export function soakBody(i: number): string {
  const n = 3 + (i * 7) % 20;
  const text = Array.from({ length: n }, (_, j) => WORDS[(i * 31 + j * 17) % WORDS.length]).join(
    " ",
  );
  const options = i % 3 === 0 ? { numBeams: 2, maxLength: 16 } : { maxNewTokens: 12 };
  return JSON.stringify({ text, options });
}

/** Latencies and errors of one round of requests. */
export interface RoundResult {
  /** Requests that did not answer 200 with a summary. */
  errors: number;
  /** Median latency in ms. */
  p50: number;
  /** 99th percentile latency in ms. */
  p99: number;
  /** Requests sent. */
  n: number;
}

/** Sends requests `start … start + count - 1` ({@linkcode soakBody}) to `url` from `concurrency` clients. */
export async function soakRound(
  url: string,
  start: number,
  count: number,
  concurrency: number,
): Promise<RoundResult> {
  const latencies: number[] = [];
  let errors = 0;
  let next = start;
  const worker = async () => {
    while (next < start + count) {
      const i = next++;
      const t0 = performance.now();
      const r = await fetch(url, { method: "POST", body: soakBody(i) });
      const j = await r.json();
      latencies.push(performance.now() - t0);
      if (r.status !== 200 || typeof j.summary_text !== "string") errors++;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  latencies.sort((a, b) => a - b);
  const q = (p: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))];
  return { errors, p50: q(0.5), p99: q(0.99), n: latencies.length };
}

/** Parsed command line of the soak run. */
interface SoakArgs {
  model: string;
  device: string;
  dtype?: string;
  /** `ENCDEC_THREADS` of the server (onnx devices: onnxruntime's threads; unset: its default). */
  threads?: string;
  /** V8 flags for the server (`deno run --v8-flags=...`), e.g. `--max-semi-space-size=1`. */
  v8Flags?: string;
  warmup: number;
  requests: number;
  concurrency: number;
}

function parseArgs(args: string[]): SoakArgs {
  const out: SoakArgs = {
    model: `${ROOT}/models/default`,
    device: "cpu",
    warmup: 20,
    requests: 200,
    concurrency: 16,
  };
  for (let i = 0; i < args.length; i += 2) {
    const [flag, value] = [args[i], args[i + 1]];
    if (value === undefined) throw new Error(`soak: ${flag} needs a value`);
    if (flag === "--model") out.model = value;
    else if (flag === "--device") out.device = value;
    else if (flag === "--dtype") out.dtype = value;
    else if (flag === "--v8-flags") out.v8Flags = value;
    else if (flag === "--threads") out.threads = value;
    else if (["--warmup", "--requests", "--concurrency"].includes(flag)) {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 0) throw new Error(`soak: ${flag} ${value}: not a count`);
      out[flag.slice(2) as "warmup" | "requests" | "concurrency"] = n;
    } else {
      throw new Error(
        `soak: unknown flag ${flag}; flags: --model --device --dtype --threads --v8-flags --warmup ` +
          `--requests --concurrency`,
      );
    }
  }
  return out;
}

/**
 * Samples the resident set size of `pid` with `ps` every 200 ms (other processes' `/proc` files
 * need `--allow-all` in Deno); `stop()` ends the sampling and returns the largest sample in bytes.
 */
function sampleRss(pid: number): { peak(): number; stop(): Promise<number> } {
  let peak = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      try {
        const out = await new Deno.Command("ps", {
          args: ["-o", "rss=", "-p", String(pid)],
          stdout: "piped",
          stderr: "null",
        }).output();
        const kib = Number(new TextDecoder().decode(out.stdout).trim());
        if (Number.isFinite(kib)) peak = Math.max(peak, kib * 1024);
      } catch { /* no ps here: no peak */ }
      await new Promise((r) => setTimeout(r, 200));
    }
  })();
  return {
    peak: () => peak,
    async stop() {
      running = false;
      await loop;
      return peak;
    },
  };
}

if (import.meta.main) {
  const a = parseArgs(Deno.args);
  // The documented flags; onnx-web also reads onnxruntime-web's wasm file from node_modules.
  const read = [a.model, ...(a.device.startsWith("onnx") ? [`${ROOT}/node_modules`] : [])];
  const t0 = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...(a.v8Flags ? [`--v8-flags=${a.v8Flags}`] : []),
      "--no-prompt",
      "--unstable-no-legacy-abort",
      `--allow-read=${read.join(",")}`,
      "--allow-net=127.0.0.1",
      "--allow-env=PORT,HOSTNAME,ENCDEC_MODEL,ENCDEC_DEVICE,ENCDEC_DTYPE,ENCDEC_THREADS,MAX_QUEUE,MAX_TIME_S,ENCDEC_STATS",
      `${ROOT}/examples/edge/main.ts`,
    ],
    env: {
      PORT: "0",
      HOSTNAME: "127.0.0.1",
      ENCDEC_MODEL: a.model,
      ENCDEC_DEVICE: a.device,
      ...(a.dtype ? { ENCDEC_DTYPE: a.dtype } : {}),
      ...(a.threads ? { ENCDEC_THREADS: a.threads } : {}),
      ENCDEC_STATS: "1",
      // The soak measures service, not refusals or time-outs.
      MAX_QUEUE: String(2 * a.concurrency),
      MAX_TIME_S: "60",
    },
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const sampler = sampleRss(child.pid);
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  let base: string | null = null;
  while (base === null) {
    const { done, value } = await reader.read();
    if (done) {
      console.error(`soak: the edge example exited before listening: ${seen}`);
      Deno.exit(1);
    }
    seen += value;
    base = /listening on (http:\/\/127\.0\.0\.1:\d+)\//.exec(seen)?.[1] ?? null;
  }
  const startSeconds = (performance.now() - t0) / 1000;
  const stats = async () =>
    (await (await fetch(`${base}/stats`)).json()) as { rss: number; peakRss?: number };
  const rss = async () => (await stats()).rss;
  const mib = (b: number | null) => b === null ? "?" : `${(b / 2 ** 20).toFixed(1)} MiB`;
  let failed = false;
  try {
    const url = `${base}/summarize`;
    const atStart = await stats();
    const rssStart = atStart.rss;
    const peakStart = atStart.peakRss ?? sampler.peak();
    if (a.warmup > 0) await soakRound(url, 0, a.warmup, a.concurrency); // JIT, allocator pools
    const rss0 = await rss();
    const first = await soakRound(url, 1000, a.requests, a.concurrency);
    const rss1 = await rss();
    const second = await soakRound(url, 2000, a.requests, a.concurrency);
    const end = await stats();
    const rss2 = end.rss;
    const ms = (x: number) => `${x.toFixed(1)} ms`;
    console.log(
      `soak: ${a.model} on ${a.device}${a.dtype ? ` ${a.dtype}` : ""}, ${a.concurrency} clients, ` +
        `${a.warmup} + 2 × ${a.requests} requests; start-up ${startSeconds.toFixed(1)} s\n` +
        `  round 1 p50 ${ms(first.p50)} p99 ${ms(first.p99)}; round 2 p50 ${ms(second.p50)} ` +
        `p99 ${ms(second.p99)}\n` +
        `  RSS after start ${mib(rssStart)} (peak so far ${mib(peakStart)}), after warm-up ` +
        `${mib(rss0)}, round 1 ${mib(rss1)}, round 2 ${mib(rss2)}; peak ${
          mib(await sampler.stop())
        } (ps, every 200 ms), max RSS (getrusage) ${mib(end.peakRss ?? null)}`,
    );
    if (first.errors + second.errors > 0) {
      console.error(`soak: ${first.errors + second.errors} errors for valid requests`);
      failed = true;
    }
    if (rss2 - rss1 >= 32 * 2 ** 20) {
      console.error(`soak: RSS grew ${mib(rss2 - rss1)} over the second round`);
      failed = true;
    }
  } finally {
    await sampler.stop();
    child.kill("SIGTERM");
    await child.status;
    await reader.cancel().catch(() => {});
  }
  if (failed) Deno.exit(1);
}
