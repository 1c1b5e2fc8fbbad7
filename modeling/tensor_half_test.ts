/**
 * Table conversion of half and bfloat16 words to float32 (`halfWordsToFloat32`, used by
 * `Tensor.toFloat32` and the ONNX engine's `toFloat32`): bit for bit what the per-element
 * `halfToFloat` / `bf16ToFloat` stored in a `Float32Array` give, over all 65,536 words.
 */
import { assertEquals, assertThrows } from "@std/assert";
import { bf16ToFloat, halfToFloat, halfWordsToFloat32, Tensor, TensorError } from "./tensor.ts";
import { toFloat32 } from "./backends/onnx/graph_builder.ts";

const ALL_WORDS = Uint16Array.from({ length: 65536 }, (_, i) => i);

/** The float32 bits the per-element path stores. */
function scalarBits(conv: (h: number) => number): Uint32Array {
  const f = new Float32Array(65536);
  for (let i = 0; i < 65536; i++) f[i] = conv(i);
  return new Uint32Array(f.buffer);
}

function bitsOf(f: Float32Array): Uint32Array {
  return new Uint32Array(f.buffer, f.byteOffset, f.length);
}

Deno.test("halfWordsToFloat32: every half word, bit for bit as halfToFloat (NaN included)", () => {
  const want = scalarBits(halfToFloat);
  assertEquals(bitsOf(halfWordsToFloat32("float16", ALL_WORDS)), want);
  assertEquals(bitsOf(toFloat32("float16", ALL_WORDS)), want);
  assertEquals(bitsOf(new Tensor("float16", ALL_WORDS, [65536]).toFloat32().data), want);
});

Deno.test("halfWordsToFloat32: every bfloat16 word, bit for bit as bf16ToFloat", () => {
  const want = scalarBits(bf16ToFloat);
  assertEquals(bitsOf(halfWordsToFloat32("bfloat16", ALL_WORDS)), want);
  assertEquals(bitsOf(toFloat32("bfloat16", ALL_WORDS)), want);
  assertEquals(bitsOf(new Tensor("bfloat16", ALL_WORDS, [65536]).toFloat32().data), want);
});

Deno.test("halfWordsToFloat32: known values", () => {
  const h = halfWordsToFloat32(
    "float16",
    new Uint16Array([0x3c00, 0xc000, 0x0001, 0x03ff, 0x7bff, 0xfbff, 0x7c00, 0xfc00, 0x8000]),
  );
  assertEquals([...h], [1, -2, 2 ** -24, 1023 * 2 ** -24, 65504, -65504, Infinity, -Infinity, -0]);
  assertEquals(Object.is(h[8], -0), true);
  const nan = halfWordsToFloat32("float16", new Uint16Array([0x7e00, 0xfc01]));
  assertEquals([Number.isNaN(nan[0]), Number.isNaN(nan[1])], [true, true]);
  const b = halfWordsToFloat32("bfloat16", new Uint16Array([0x3f80, 0xc049, 0x7f80, 0x0001]));
  assertEquals([...b], [1, -3.140625, Infinity, 2 ** -133]);
});

Deno.test("halfWordsToFloat32: writes into an offset view; a length mismatch is refused", () => {
  const buf = new Float32Array(6).fill(7);
  halfWordsToFloat32("float16", new Uint16Array([0x3c00, 0x4000]), buf.subarray(2, 4));
  assertEquals([...buf], [7, 7, 1, 2, 7, 7]);
  assertThrows(
    () => halfWordsToFloat32("float16", new Uint16Array(3), new Float32Array(2)),
    TensorError,
    "3 words into 2 floats",
  );
});
