import { assert, assertEquals, assertNotEquals } from "@std/assert";
import { createRng } from "./rng.ts";

Deno.test("createRng: same seed same stream, other seed other stream, values in [0, 1)", () => {
  const a = createRng(123), b = createRng(123), c = createRng(124);
  const xa = Array.from({ length: 100 }, () => a.random());
  assertEquals(xa, Array.from({ length: 100 }, () => b.random()));
  assertNotEquals(xa, Array.from({ length: 100 }, () => c.random()));
  assert(xa.every((x) => x >= 0 && x < 1));
});

Deno.test("createRng: uniform over 10 bins (chi-square < 27.88, the 0.999 quantile for 9 df)", () => {
  const r = createRng(5);
  const n = 50000;
  const bins = new Array(10).fill(0);
  for (let i = 0; i < n; i++) bins[Math.floor(r.random() * 10)]++;
  const chi = bins.reduce((s, c) => s + (c - n / 10) ** 2 / (n / 10), 0);
  assert(chi < 27.88, `chi-square ${chi}`);
});
