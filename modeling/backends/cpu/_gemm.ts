/**
 * The matrix-product kernels of the CPU backend, on flat float32 buffers with offsets.
 * Accumulation is in float64 (JS numbers); each output is rounded to float32 once.
 *
 * @module
 */

/** Rows of `b` per cache block in `gemmNT` (64 rows of 768 floats ≈ 192 KiB stay in L2). */
const BLOCK_ROWS = 64;

/**
 * `out[m, n] = a[m, k] @ b[n, k]^T (+ bias[n])`: every output is a dot product of a row of `a`
 * and a row of `b`, both read contiguously. `b` is walked in blocks of `BLOCK_ROWS` rows that stay
 * in cache while all of `a` streams past; inside a block, 2 rows of `a` × 4 rows of `b` give 8
 * independent float64 accumulators per pass (6 loads per 8 multiply-adds).
 */
export function gemmNT(
  a: Float32Array,
  aOff: number,
  b: Float32Array,
  bOff: number,
  out: Float32Array,
  outOff: number,
  m: number,
  n: number,
  k: number,
  bias?: Float32Array,
): void {
  const m2 = m & ~1;
  for (let j0 = 0; j0 < n; j0 += BLOCK_ROWS) {
    const j1 = Math.min(n, j0 + BLOCK_ROWS);
    const j4 = j0 + ((j1 - j0) & ~3);
    for (let i = 0; i < m2; i += 2) {
      const a0 = aOff + i * k, a1 = a0 + k;
      const o0 = outOff + i * n, o1 = o0 + n;
      let j = j0;
      for (; j < j4; j += 4) {
        const b0 = bOff + j * k, b1 = b0 + k, b2 = b1 + k, b3 = b2 + k;
        let s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0;
        for (let p = 0; p < k; p++) {
          const x = a[a0 + p], y = a[a1 + p];
          const c0 = b[b0 + p], c1 = b[b1 + p], c2 = b[b2 + p], c3 = b[b3 + p];
          s00 += x * c0;
          s01 += x * c1;
          s02 += x * c2;
          s03 += x * c3;
          s10 += y * c0;
          s11 += y * c1;
          s12 += y * c2;
          s13 += y * c3;
        }
        if (bias) {
          const e0 = bias[j], e1 = bias[j + 1], e2 = bias[j + 2], e3 = bias[j + 3];
          s00 += e0;
          s01 += e1;
          s02 += e2;
          s03 += e3;
          s10 += e0;
          s11 += e1;
          s12 += e2;
          s13 += e3;
        }
        out[o0 + j] = s00;
        out[o0 + j + 1] = s01;
        out[o0 + j + 2] = s02;
        out[o0 + j + 3] = s03;
        out[o1 + j] = s10;
        out[o1 + j + 1] = s11;
        out[o1 + j + 2] = s12;
        out[o1 + j + 3] = s13;
      }
      for (; j < j1; j++) {
        const br = bOff + j * k;
        let s0 = 0, s1 = 0;
        for (let p = 0; p < k; p++) {
          const c = b[br + p];
          s0 += a[a0 + p] * c;
          s1 += a[a1 + p] * c;
        }
        out[o0 + j] = bias ? s0 + bias[j] : s0;
        out[o1 + j] = bias ? s1 + bias[j] : s1;
      }
    }
    if (m2 < m) rowNT(a, aOff + m2 * k, b, bOff, out, outOff + m2 * n, j0, j1, k, bias);
  }
}

/** One row of `gemmNT`: `out[j] = a·b[j]` for `j ∈ [j0, j1)`, four rows of `b` per pass. */
function rowNT(
  a: Float32Array,
  ar: number,
  b: Float32Array,
  bOff: number,
  out: Float32Array,
  orow: number,
  j0: number,
  j1: number,
  k: number,
  bias?: Float32Array,
): void {
  const j4 = j0 + ((j1 - j0) & ~3);
  let j = j0;
  for (; j < j4; j += 4) {
    const b0 = bOff + j * k, b1 = b0 + k, b2 = b1 + k, b3 = b2 + k;
    let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (let p = 0; p < k; p++) {
      const x = a[ar + p];
      s0 += x * b[b0 + p];
      s1 += x * b[b1 + p];
      s2 += x * b[b2 + p];
      s3 += x * b[b3 + p];
    }
    if (bias) {
      s0 += bias[j];
      s1 += bias[j + 1];
      s2 += bias[j + 2];
      s3 += bias[j + 3];
    }
    out[orow + j] = s0;
    out[orow + j + 1] = s1;
    out[orow + j + 2] = s2;
    out[orow + j + 3] = s3;
  }
  for (; j < j1; j++) {
    const br = bOff + j * k;
    let s = 0;
    for (let p = 0; p < k; p++) s += a[ar + p] * b[br + p];
    out[orow + j] = bias ? s + bias[j] : s;
  }
}

/**
 * `out[m, n] = a[m, k] @ b[k, n]`: for each row of `a`, rows of `b` are scaled and summed into a
 * float64 accumulator row, four rows of `b` per pass (all reads contiguous).
 */
export function gemmNN(
  a: Float32Array,
  aOff: number,
  b: Float32Array,
  bOff: number,
  out: Float32Array,
  outOff: number,
  m: number,
  n: number,
  k: number,
): void {
  const acc = new Float64Array(n);
  const k4 = k & ~3;
  for (let i = 0; i < m; i++) {
    acc.fill(0);
    const ar = aOff + i * k;
    let p = 0;
    for (; p < k4; p += 4) {
      const x0 = a[ar + p], x1 = a[ar + p + 1], x2 = a[ar + p + 2], x3 = a[ar + p + 3];
      const r0 = bOff + p * n, r1 = r0 + n, r2 = r1 + n, r3 = r2 + n;
      for (let j = 0; j < n; j++) {
        acc[j] += x0 * b[r0 + j] + x1 * b[r1 + j] + x2 * b[r2 + j] + x3 * b[r3 + j];
      }
    }
    for (; p < k; p++) {
      const x = a[ar + p];
      const br = bOff + p * n;
      for (let j = 0; j < n; j++) acc[j] += x * b[br + j];
    }
    out.set(acc, outOff + i * n);
  }
}
