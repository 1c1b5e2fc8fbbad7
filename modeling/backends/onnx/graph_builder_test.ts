/**
 * The weight transforms of `graph_builder.ts` against the straightforward code they replaced:
 * tiled `transpose2d` and `quantizePerColumn` (round half to even by the 1.5 × 2^52 trick) give
 * the same bits.
 */
import { assertEquals } from "@std/assert";
import { quantizeHalfLinear, quantizePerColumn, toFloat32, transpose2d } from "./graph_builder.ts";
import { floatToBf16, floatToHalf } from "../../tensor.ts";

/** The row-by-row transpose this file had before. */
function transposeRef(src: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) out[j * rows + i] = src[i * cols + j];
  }
  return out;
}

function roundHalfEvenRef(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** The per-column quantizer this file had before (Math.round, then ties to even). */
function quantizeRef(w: Float32Array, rows: number, cols: number) {
  const scale = new Float32Array(cols);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      const a = Math.abs(w[i * cols + j]);
      if (a > scale[j]) scale[j] = a;
    }
  }
  for (let j = 0; j < cols; j++) scale[j] = scale[j] > 0 ? scale[j] / 127 : 1;
  const q = new Int8Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      q[i * cols + j] = Math.max(-127, Math.min(127, roundHalfEvenRef(w[i * cols + j] / scale[j])));
    }
  }
  return { q, scale };
}

/** Deterministic pseudo-random floats in [-1, 1) (xorshift32). */
function randoms(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = ((s >>> 0) / 2 ** 31) - 1;
  }
  return out;
}

Deno.test("transpose2d: tiled, the same matrix as the row walk (edge tiles included)", () => {
  for (const [r, c] of [[1, 1], [1, 70], [70, 1], [33, 65], [64, 32], [100, 37]]) {
    const src = randoms(r * c, r * 1000 + c);
    assertEquals(transpose2d(src, r, c), transposeRef(src, r, c), `[${r}, ${c}]`);
  }
});

Deno.test("quantizePerColumn: the same int8 values and scales as Math.round with ties to even", () => {
  for (const [r, c, seed] of [[37, 53, 1], [128, 96, 7], [5, 3, 9]]) {
    const w = randoms(r * c, seed);
    for (let i = 0; i < w.length; i += 7) w[i] *= 1000; // columns of different ranges
    assertEquals(quantizePerColumn(w, r, c), quantizeRef(w, r, c), `[${r}, ${c}]`);
  }
  // Column max 127 (scale 1): exact ties go to the even integer; a zero column has scale 1; a
  // column with NaN or an infinity quantizes as before (NaN and Inf/Inf store 0).
  const ties = [127, 2.5, -2.5, 3.5, -3.5, 0.5, -0.5, 126.5, -126.5, 1.5];
  const rows = ties.length;
  const w = new Float32Array(rows * 4);
  for (let i = 0; i < rows; i++) {
    w[i * 4] = ties[i];
    w[i * 4 + 1] = 0;
    w[i * 4 + 2] = i === 3 ? NaN : ties[i];
    w[i * 4 + 3] = i === 2 ? -Infinity : ties[i];
  }
  const got = quantizePerColumn(w, rows, 4);
  assertEquals(got, quantizeRef(w, rows, 4));
  assertEquals([...got.q.filter((_, k) => k % 4 === 0)], [127, 2, -2, 4, -4, 0, 0, 126, -126, 2]);
  assertEquals([...got.scale], [1, 1, 1, Infinity]);
});

Deno.test("quantizeHalfLinear: the bits of quantizePerColumn(transpose2d(toFloat32(words)))", () => {
  for (const dtype of ["float16", "bfloat16"] as const) {
    const toWord = dtype === "float16" ? floatToHalf : floatToBf16;
    for (const [r, c, seed] of [[1, 5, 3], [33, 17, 4], [70, 64, 5], [96, 40, 6]]) {
      const w = randoms(r * c, seed);
      for (let i = 0; i < w.length; i += 5) w[i] *= 300;
      const words = Uint16Array.from(w, toWord);
      words[3] = 0; // a zero, and (below) a zero row and a row with a NaN
      if (r > 2) {
        words.fill(0, c, 2 * c);
        words[2 * c + 1] = dtype === "float16" ? 0x7e00 : 0x7fc0;
      }
      const want = quantizePerColumn(transpose2d(toFloat32(dtype, words), r, c), c, r);
      assertEquals(quantizeHalfLinear(dtype, words, r, c), want, `${dtype} [${r}, ${c}]`);
    }
  }
});
