/**
 * Smoke test of the benchmark harness (benchmarks are not tests: this only checks the harness
 * works): the `tiny` preset (2-layer, 32-wide bert2bert), 1 repetition, encdec-cpu only, no
 * PyTorch; the results object must be well formed and the table must render.
 */
import { assert, assertEquals } from "@std/assert";
import { runSuite } from "../bench/harness.ts";
import { formatTable } from "../bench/run.ts";
import { WORKLOADS } from "../bench/_workloads.ts";

Deno.test("bench harness: tiny preset on encdec-cpu gives a well-formed results object", async () => {
  const cacheDir = await Deno.makeTempDir({ prefix: "encdec-bench-smoke-" });
  try {
    const r = await runSuite({ mode: "tiny", contenders: ["encdec-cpu"], cacheDir });
    assertEquals(r.schema, "encdec-bench/1");
    assertEquals(r.settings.mode, "tiny");
    assertEquals(r.contenders, ["encdec-cpu"]);
    assertEquals(r.parity, null); // no PyTorch
    assert(r.model.weightBytes > 0, "weight bytes");
    assertEquals(r.rows.map((x) => x.workload), [...WORKLOADS]);
    for (const row of r.rows) {
      assertEquals(row.error, undefined, `${row.workload}: ${row.error}`);
      assertEquals(row.reps, 1);
      assert(row.medianMs !== null && row.medianMs > 0, `${row.workload}: median`);
      assert(row.tokensPerS !== null && row.tokensPerS > 0, `${row.workload}: tokens/s`);
      assert(row.peakRssBytes !== null && row.peakRssBytes > 0, `${row.workload}: peak RSS`);
      assertEquals(row.ratioToTorch, null);
      if (row.workload !== "encoder") {
        assert(row.decodeStepMs !== null && row.decodeStepMs > 0, `${row.workload}: step`);
        assert(row.overheadPct !== null, `${row.workload}: overhead`);
      }
    }
    const table = formatTable(r);
    assertEquals(table.split("\n").length, 2 + r.rows.length);
    JSON.parse(JSON.stringify(r)); // serialisable as bench/results/latest.json
  } finally {
    await Deno.remove(cacheDir, { recursive: true });
  }
});
