// `GET /stats` of the edge handler: the peak RSS (getrusage) next to the current one.
import { assert, assertEquals } from "@std/assert";
import { pipeline } from "@encdec/cli";
import { createHandler, type EdgeStats } from "./handler.ts";

const MODEL = new URL("../../tests/testdata/fixtures/bert2bert", import.meta.url).pathname;

Deno.test("edge /stats: peakRss (getrusage max RSS) is at least the RSS, and grows with a 64 MiB touch", async () => {
  const summarize = await pipeline("summarization", MODEL, { device: "cpu" });
  const handler = createHandler(summarize, {}, { stats: true });
  const get = async () =>
    (await (await handler(new Request("http://x/stats"))).json()) as EdgeStats;
  const before = await get();
  assert(before.peakRss !== undefined && before.peakRss >= before.rss, JSON.stringify(before));
  const touched = new Uint8Array(64 * 2 ** 20).fill(1); // resident now, whatever the peak was
  const after = await get();
  assertEquals(touched[touched.length - 1], 1);
  assert(after.peakRss! >= after.rss && after.rss >= before.rss, JSON.stringify([before, after]));
  assert(after.peakRss! >= before.peakRss!);
});
