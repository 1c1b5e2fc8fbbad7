import { assert, assertEquals } from "@std/assert";
import { logSoftmaxRows, sumExpBelow, topK, topKPlusRowScore } from "./_math.ts";

Deno.test("sumExpBelow matches Math.exp sums within 1e-14 relative (max |x - max| up to 700)", () => {
  for (const scale of [1e-3, 1, 10, 100, 700]) {
    const x = Float32Array.from(
      { length: 1000 },
      (_, i) => -Math.abs(Math.sin(i * 12.9898)) * scale,
    );
    let ref = 0;
    for (const t of x) ref += Math.exp(t);
    const got = sumExpBelow(x, 0, x.length, 0);
    assert(Math.abs(got / ref - 1) < 1e-14, `scale ${scale}: ${got} vs ${ref}`);
  }
});

Deno.test("logSoftmaxRows: rows sum to 1 in probability; -inf rows stay -inf", () => {
  const x = Float32Array.from([0, Math.LN2, -Infinity, -Infinity, -Infinity, -Infinity]);
  logSoftmaxRows(x, 3);
  assert(Math.abs(x[0] - Math.log(1 / 3)) < 1e-7 && Math.abs(x[1] - Math.log(2 / 3)) < 1e-7);
  assertEquals([x[2], x[3], x[4], x[5]], [-Infinity, -Infinity, -Infinity, -Infinity]);
});

Deno.test("topKPlusRowScore equals topK of the materialised float32 sums, -inf candidates included", () => {
  const v = 50, rows = 3;
  const x = Float32Array.from(
    { length: rows * v },
    (_, i) => (i % 7 === 0 ? -Infinity : Math.sin(i) * 3),
  );
  const add = Float32Array.from([0.5, -1e9, -0.25]);
  const sums = Float32Array.from(x, (val, i) => val + add[Math.floor(i / v)]);
  for (const k of [1, 6, 20]) {
    assertEquals(topKPlusRowScore(x, 0, rows, v, add, 0, k), topK(sums, 0, rows * v, k));
  }
  // only 2 finite values: the rest of the top 4 are -inf, as torch.topk returns them
  const few = Float32Array.from([-Infinity, 1, -Infinity, 2]);
  assertEquals(topKPlusRowScore(few, 0, 1, 4, Float32Array.of(0), 0, 4).values, [
    2,
    1,
    -Infinity,
    -Infinity,
  ]);
});
