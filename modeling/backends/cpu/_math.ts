/**
 * Scalar math of the CPU backend: `erf` in float64 and the elementwise activations, applied in
 * place on float32 buffers.
 *
 * @module
 */
import type { Activation } from "../../backend.ts";

const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);
const INV_SQRT_PI = 1 / Math.sqrt(Math.PI);
const INV_SQRT2 = 1 / Math.SQRT2;
const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/**
 * The error function in float64, accurate to ~1e-15 absolute.
 *
 * `|x| < 2.5`: the Maclaurin series `2/√π Σ (-1)^n x^(2n+1) / (n! (2n+1))` (largest term ~83, so
 * cancellation costs < 1e-13). `2.5 ≤ |x| < 6`: `1 - erfc(x)` with the continued fraction
 * `erfc(x) = e^(-x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + ...))))`, evaluated backwards from a
 * fixed depth. `|x| ≥ 6`: `±1` (erfc(6) ≈ 2e-17).
 */
export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const ax = Math.abs(x);
  if (ax >= 6) return x > 0 ? 1 : -1;
  if (ax < 2.5) {
    const x2 = x * x;
    let term = x; // (-1)^n x^(2n+1) / n!
    let sum = x;
    for (let n = 1; n < 80; n++) {
      term *= -x2 / n;
      const t = term / (2 * n + 1);
      sum += t;
      if (Math.abs(t) < 1e-17 * Math.abs(sum)) break;
    }
    return TWO_OVER_SQRT_PI * sum;
  }
  let f = ax;
  for (let n = 60; n >= 1; n--) f = ax + (n / 2) / f;
  const erfc = Math.exp(-ax * ax) * INV_SQRT_PI / f;
  return x > 0 ? 1 - erfc : erfc - 1;
}

// ---- a fast erf for GELU: cubic Hermite interpolation of `erf` on [0, 6] ----------------------
// Nodes every H; values and exact derivatives (2/√π e^(-x²)) from the float64 `erf` above. The
// interpolation error is ≤ H⁴/384 · max|erf⁗| ≈ 1e-10, far below float32 resolution.
const H = 1 / 64;
const NODES = 6 * 64 + 1;
const ERF_VAL = new Float64Array(NODES + 1);
const ERF_DER = new Float64Array(NODES + 1);
for (let i = 0; i <= NODES; i++) {
  const x = i * H;
  ERF_VAL[i] = erf(x);
  ERF_DER[i] = TWO_OVER_SQRT_PI * Math.exp(-x * x) * H; // derivative scaled to the unit interval
}

/** Clamp for `erfAbs`: erf(5.99) = 1 - 2e-17, which is 1 in float64. */
const ERF_CLAMP = 5.99;

/**
 * `erf(a)` for `a ∈ [0, 6)` by cubic Hermite interpolation of the table, |error| < 1e-9. NaN in,
 * NaN out. Branch-free on the hot path (GELU inputs have random signs).
 */
function erfAbs(a: number): number {
  const u = a * 64;
  const i = u | 0;
  const t = u - i;
  const t2 = t * t, t3 = t2 * t;
  return (2 * t3 - 3 * t2 + 1) * ERF_VAL[i] + (t3 - 2 * t2 + t) * ERF_DER[i] +
    (3 * t2 - 2 * t3) * ERF_VAL[i + 1] + (t3 - t2) * ERF_DER[i + 1];
}

/**
 * Exact GELU, `x/2 · (1 + erf(x/√2))` (HF `"gelu"`, `torch.nn.functional.gelu`), computed as
 * `x/2 + |x|/2 · erf(|x|/√2)` (equal, since erf is odd) with the table erf: |error| < 1e-9·|x|.
 */
export function geluErf(x: number): number {
  const ax = Math.abs(x);
  return 0.5 * x + 0.5 * ax * erfAbs(Math.min(ax * INV_SQRT2, ERF_CLAMP));
}

/**
 * Tanh GELU, `x/2 · (1 + tanh(√(2/π)(x + 0.044715x³)))` (HF `"gelu_new"`,
 * `"gelu_pytorch_tanh"`), computed as the equal `x / (1 + exp(-2u))` with
 * `u = √(2/π)(x + 0.044715x³)` (one `exp`, no cancellation, saturates cleanly).
 */
export function geluTanh(x: number): number {
  return x / (1 + Math.exp(-2 * SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)));
}

/** Is `kind` one of the activations this backend knows? */
export function isActivation(kind: string): kind is Activation {
  return kind === "gelu" || kind === "gelu_new" || kind === "gelu_pytorch_tanh" ||
    kind === "relu" || kind === "tanh" || kind === "none";
}

/** Applies `kind` in place to `buf[start, end)`. */
export function applyActivation(
  buf: Float32Array,
  kind: Activation,
  start = 0,
  end = buf.length,
): void {
  switch (kind) {
    case "none":
      return;
    case "gelu":
      for (let i = start; i < end; i++) buf[i] = geluErf(buf[i]);
      return;
    case "gelu_new":
    case "gelu_pytorch_tanh":
      for (let i = start; i < end; i++) buf[i] = geluTanh(buf[i]);
      return;
    case "relu":
      // Math.max keeps NaN, as torch.relu does.
      for (let i = start; i < end; i++) buf[i] = Math.max(buf[i], 0);
      return;
    case "tanh":
      for (let i = start; i < end; i++) buf[i] = Math.tanh(buf[i]);
      return;
  }
}
