// Private numeric helpers over row-major float32 score matrices `[rows, vocab]`.

// exp(t), t <= 0, as 2^(-n/32) * exp(r): t = -n ln2/32 + r, |r| <= ln2/64 (Cody-Waite split of
// ln2/32 so n * LN2_32_HI is exact), exp(r) by a degree-6 polynomial (error ~1e-17), 2^(-n/32)
// from two tables. About twice as fast as Math.exp here; relative error below 1e-15.
const EXP_TAB = Float64Array.from({ length: 32 }, (_, i) => Math.pow(2, -i / 32));
const EXP_POW = Float64Array.from({ length: 1100 }, (_, i) => Math.pow(2, -i));
const LN2_32_HI = Math.round((Math.LN2 / 32) * 2 ** 32) / 2 ** 32;
const LN2_32_LO = Math.LN2 / 32 - LN2_32_HI;
const INV_LN2_32 = 32 / Math.LN2;

/** `sum_j exp(x[j] - max)` over `x[o .. o+v)`, every `x[j] <= max` (terms below e^-700 dropped). */
export function sumExpBelow(x: Float32Array, o: number, v: number, max: number): number {
  let s = 0;
  for (let j = o, e = o + v; j < e; j++) {
    const t = x[j] - max;
    if (!(t > -700)) continue;
    const n = (-t * INV_LN2_32 + 0.5) | 0;
    const r = (t + n * LN2_32_HI) + n * LN2_32_LO;
    const r2 = r * r;
    const p = (1 + r) + r2 * (0.5 + r * (1 / 6)) +
      r2 * r2 * (1 / 24 + r * (1 / 120) + r2 * (1 / 720));
    s += p * EXP_POW[n >> 5] * EXP_TAB[n & 31];
  }
  return s;
}

/** In-place float32 log-softmax of each row of `x` `[rows, v]`. */
export function logSoftmaxRows(x: Float32Array, v: number): Float32Array {
  for (let o = 0; o < x.length; o += v) {
    let max = -Infinity;
    for (let j = 0; j < v; j++) if (x[o + j] > max) max = x[o + j];
    if (max === -Infinity) continue; // all -inf: stays -inf
    const sum = sumExpBelow(x, o, v, max);
    const lse = max + Math.log(sum);
    for (let j = 0; j < v; j++) x[o + j] = x[o + j] - lse;
  }
  return x;
}

/** Softmax of one row (`x[o .. o+v)`) in double precision. */
export function softmaxRow(x: Float32Array, o: number, v: number): Float64Array {
  const p = new Float64Array(v);
  let max = -Infinity;
  for (let j = 0; j < v; j++) if (x[o + j] > max) max = x[o + j];
  let sum = 0;
  for (let j = 0; j < v; j++) {
    const e = max === -Infinity ? 0 : Math.exp(x[o + j] - max);
    p[j] = e;
    sum += e;
  }
  if (sum > 0) { for (let j = 0; j < v; j++) p[j] /= sum; }
  return p;
}

/**
 * The `k` largest entries of `x[o .. o+n)`, sorted descending; ties keep the lower index first.
 * Returns positions relative to `o`.
 */
export function topK(
  x: Float32Array,
  o: number,
  n: number,
  k: number,
): { values: number[]; indices: number[] } {
  const values: number[] = [];
  const indices: number[] = [];
  for (let j = 0; j < n; j++) {
    const val = x[o + j];
    if (values.length === k && !(val > values[k - 1])) continue;
    // insertion point after equal values (stable)
    let pos = values.length;
    while (pos > 0 && val > values[pos - 1]) pos--;
    values.splice(pos, 0, val);
    indices.splice(pos, 0, j);
    if (values.length > k) {
      values.pop();
      indices.pop();
    }
  }
  return { values, indices };
}

/** Index of the first maximum of `x[o .. o+n)` (torch.argmax picks the first). */
export function argmax(x: Float32Array, o: number, n: number): number {
  let best = 0;
  let bv = x[o];
  for (let j = 1; j < n; j++) {
    if (x[o + j] > bv || (Number.isNaN(x[o + j]) && !Number.isNaN(bv))) {
      bv = x[o + j];
      best = j;
    }
  }
  return best;
}

/** Stable argsort of `x[o .. o+n)`, ascending (or descending). */
export function argsort(x: Float32Array, o: number, n: number, descending = false): number[] {
  const idx = Array.from({ length: n }, (_, j) => j);
  idx.sort((a, b) => {
    const d = descending ? x[o + b] - x[o + a] : x[o + a] - x[o + b];
    return d > 0 ? 1 : d < 0 ? -1 : (Number.isNaN(d) ? 0 : a - b);
  });
  return idx;
}

/** Log-softmax of one row (`x[o .. o+v)`) in double precision. */
export function logSoftmaxRow(x: Float32Array, o: number, v: number): Float64Array {
  const out = new Float64Array(v);
  let max = -Infinity;
  for (let j = 0; j < v; j++) if (x[o + j] > max) max = x[o + j];
  let sum = 0;
  for (let j = 0; j < v; j++) sum += Math.exp(x[o + j] - max);
  const lse = max + Math.log(sum);
  for (let j = 0; j < v; j++) out[j] = x[o + j] - lse;
  return out;
}

/**
 * Top `k` of `fround(x[o + r*v + j] + add[addOffset + r])` over `rows` rows of `v` (the running
 * beam score added to each row's log-probabilities, without materialising the sums); sorted
 * descending, ties keep the lower flat index first. Indices are `r * v + j`.
 */
export function topKPlusRowScore(
  x: Float32Array,
  o: number,
  rows: number,
  v: number,
  add: Float32Array,
  addOffset: number,
  k: number,
): { values: number[]; indices: number[] } {
  const values: number[] = [];
  const indices: number[] = [];
  let floor = -Infinity; // k-th best so far once full
  for (let r = 0; r < rows; r++) {
    const b = add[addOffset + r];
    const base = o + r * v;
    for (let j = 0; j < v; j++) {
      const sum = x[base + j] + b;
      // rounding to float32 is monotonic, so a double sum <= floor cannot beat it either
      if (values.length === k && !(sum > floor)) continue;
      const val = Math.fround(sum);
      if (values.length === k && !(val > floor)) continue;
      let pos = values.length;
      while (pos > 0 && val > values[pos - 1]) pos--;
      values.splice(pos, 0, val);
      indices.splice(pos, 0, r * v + j);
      if (values.length > k) {
        values.pop();
        indices.pop();
      }
      if (values.length === k) floor = values[k - 1];
    }
  }
  return { values, indices };
}
