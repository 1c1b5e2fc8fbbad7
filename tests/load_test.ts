/**
 * A bounded load test of the edge example on 127.0.0.1: 16 concurrent clients send 2 × 200 valid
 * requests (plus 20 warm-up requests) to `POST /summarize` on the built-in tiny model, then it
 * stops. It reports p50/p99 latency and the server's RSS (its own `GET /stats`, enabled with
 * `ENCDEC_STATS=1`) before and after, and asserts 0 errors, every request counted by the server,
 * and no memory growth from the first round of 200 to the second (bounded by 32 MiB, well above
 * V8 heap jitter). Latencies are reported, never asserted.
 */
import { assert, assertEquals } from "@std/assert";
import { startEdge } from "./cli_util.ts";

const CONCURRENCY = 16;
const ROUND = 200;
const WARMUP = 20;

/** The server's RSS from `GET /stats` (`Deno.memoryUsage()`: no /proc access needed). */
async function rssBytes(base: string): Promise<number> {
  const r = await fetch(`${base}/stats`);
  return (await r.json()).rss;
}

const WORDS = "the quick brown fox sat on the old mat hello world big storm people paper".split(
  " ",
);

/** Request `i`: varied text and options, all valid. */
function body(i: number): string {
  const n = 3 + (i * 7) % 20;
  const text = Array.from({ length: n }, (_, j) => WORDS[(i * 31 + j * 17) % WORDS.length]).join(
    " ",
  );
  const options = i % 3 === 0 ? { numBeams: 2, maxLength: 16 } : { maxNewTokens: 12 };
  return JSON.stringify({ text, options });
}

async function round(url: string, start: number, count: number) {
  const latencies: number[] = [];
  let errors = 0;
  let next = start;
  const worker = async () => {
    while (next < start + count) {
      const i = next++;
      const t0 = performance.now();
      const r = await fetch(url, { method: "POST", body: body(i) });
      const j = await r.json();
      latencies.push(performance.now() - t0);
      if (r.status !== 200 || typeof j.summary_text !== "string") errors++;
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  latencies.sort((a, b) => a - b);
  const q = (p: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))];
  return { errors, p50: q(0.5), p99: q(0.99), n: latencies.length };
}

Deno.test("load: 2 × 200 requests, 16 concurrent, 0 errors, p50/p99 reported, no RSS growth", async () => {
  const edge = await startEdge({ ENCDEC_STATS: "1" });
  try {
    const url = `${edge.url}/summarize`;
    await round(url, 0, WARMUP); // JIT, allocator pools
    const rss0 = await rssBytes(edge.url);
    const first = await round(url, 1000, ROUND);
    const rss1 = await rssBytes(edge.url);
    const second = await round(url, 2000, ROUND);
    const rss2 = await rssBytes(edge.url);
    const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
    console.log(
      `load: round 1 p50 ${first.p50.toFixed(1)} ms p99 ${first.p99.toFixed(1)} ms; ` +
        `round 2 p50 ${second.p50.toFixed(1)} ms p99 ${second.p99.toFixed(1)} ms; ` +
        `RSS ${mib(rss0)} → ${mib(rss1)} → ${mib(rss2)}`,
    );
    assertEquals(first.n + second.n, 2 * ROUND);
    assertEquals(first.errors + second.errors, 0, "errors for valid requests");
    assert(rss2 - rss1 < 32 * 2 ** 20, `RSS grew ${mib(rss2 - rss1)} over the second 200 requests`);
    const stats = await (await fetch(`${edge.url}/stats`)).json();
    assertEquals(stats.requests, WARMUP + 2 * ROUND, "every request was served");
  } finally {
    await edge.stop();
  }
});
