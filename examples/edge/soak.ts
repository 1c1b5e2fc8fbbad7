/**
 * The edge example's soak run (`deno task soak`): starts `main.ts` on 127.0.0.1 with its
 * documented flags, then 16 concurrent clients send 20 warm-up and 2 × 200 valid requests. It
 * prints p50/p99 latency per round and the server's RSS before and after each round, and exits 1
 * on any error or on RSS growth over 32 MiB from the first round to the second. Latencies are
 * reported, never asserted: this is a measurement, not a test (`tests/load_test.ts` is the test).
 *
 * ```sh
 * deno task soak
 * ```
 *
 * @module
 */
import { startEdge } from "../../tests/cli_util.ts";

const CONCURRENCY = 16;
const ROUND = 200;
const WARMUP = 20;

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

/** Latencies and errors of `count` requests from `concurrency` clients. */
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

/** Sends requests `start … start + count - 1` to `url` from `concurrency` clients. */
export async function soakRound(
  url: string,
  start: number,
  count: number,
  concurrency: number = CONCURRENCY,
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

async function rss(base: string): Promise<number> {
  return (await (await fetch(`${base}/stats`)).json()).rss;
}

if (import.meta.main) {
  // MAX_QUEUE above the client count: the soak measures service, not refusals.
  const edge = await startEdge({ ENCDEC_STATS: "1", MAX_QUEUE: String(2 * CONCURRENCY) });
  let failed = false;
  try {
    const url = `${edge.url}/summarize`;
    await soakRound(url, 0, WARMUP); // JIT, allocator pools
    const rss0 = await rss(edge.url);
    const first = await soakRound(url, 1000, ROUND);
    const rss1 = await rss(edge.url);
    const second = await soakRound(url, 2000, ROUND);
    const rss2 = await rss(edge.url);
    const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
    console.log(
      `soak: ${CONCURRENCY} clients; round 1 p50 ${first.p50.toFixed(1)} ms p99 ${
        first.p99.toFixed(1)
      } ms; round 2 p50 ${second.p50.toFixed(1)} ms p99 ${second.p99.toFixed(1)} ms; ` +
        `RSS ${mib(rss0)} → ${mib(rss1)} → ${mib(rss2)}`,
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
    await edge.stop();
  }
  if (failed) Deno.exit(1);
}
