/**
 * Helpers shared by the model tests: fixture paths, golden loading, max-abs-diff.
 *
 * @module
 */
import { assertEquals } from "@std/assert";
import type { Tensor } from "../tensor.ts";

/** A nested golden list (`"-inf"` strings allowed). */
export type Nested = number | string | Nested[];

/** The repo copy of the Python reference fixtures. */
export const FIXTURES = new URL("../../tests/testdata/fixtures/", import.meta.url).pathname;
/** Every fixture model directory. */
export const MODELS = [
  "bert2bert",
  "bert2bert-fp16",
  "bert2bert-bin",
  "bert2gpt2",
  "roberta2roberta",
  "bertgeneration",
];

/** A fixture's goldens.json. */
// deno-lint-ignore no-explicit-any
export async function goldens(name: string): Promise<any> {
  return JSON.parse(await Deno.readTextFile(`${FIXTURES}${name}/goldens.json`));
}

function flat(x: Nested): number[] {
  if (Array.isArray(x)) return x.flatMap(flat);
  return [x === "-inf" ? -Infinity : Number(x)];
}

/** Max |a - b| over a tensor and a nested golden list of the same shape. */
export function maxDiff(t: Tensor | Float32Array, golden: Nested, what: string): number {
  const want = flat(golden);
  const got = t instanceof Float32Array
    ? t
    : Float32Array.from({ length: t.size }, (_, i) => t.get(i));
  assertEquals(got.length, want.length, `${what}: element count`);
  let m = 0;
  for (let i = 0; i < want.length; i++) {
    if (want[i] === -Infinity && got[i] === -Infinity) continue;
    m = Math.max(m, Math.abs(got[i] - want[i]));
  }
  return m;
}
