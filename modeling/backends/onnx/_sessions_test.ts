// Which graphs onnxruntime-node pre-packs and spins for (`prepacks`, `spins` in `_sessions.ts`):
// known-answer tables.
import { assertEquals } from "@std/assert";
import { prepacks, spins } from "./_sessions.ts";
import { CACHED_GRAPHS } from "./graph_cache.ts";

Deno.test("prepacks: the decoder step always, every int8 graph; float32 and fp16 encoder and cross-K/V stay mapped", () => {
  const table = (["fp32", "fp16", "int8"] as const).map((p) =>
    CACHED_GRAPHS.map((g) => `${p} ${g}: ${prepacks(g, p)}`)
  );
  assertEquals(table, [
    ["fp32 encoder: false", "fp32 cross_kv: false", "fp32 decoder: true"],
    ["fp16 encoder: false", "fp16 cross_kv: false", "fp16 decoder: true"],
    ["int8 encoder: true", "int8 cross_kv: true", "int8 decoder: true"],
  ]);
});

Deno.test("spins: intra-op threads spin in the decoder step's session only", () => {
  assertEquals(CACHED_GRAPHS.map((g) => `${g}: ${spins(g)}`), [
    "encoder: false",
    "cross_kv: false",
    "decoder: true",
  ]);
});
