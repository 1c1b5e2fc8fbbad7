/**
 * Test helpers: seeded random tensors and a central finite-difference gradient check of the
 * autograd backend against its own forward ops.
 *
 * @module
 */
import { assert } from "@std/assert";
import type { RandomSource } from "../backend.ts";
import { cpu } from "../backends/cpu/cpu.ts";
import { NormalRng } from "../random.ts";
import { numel, Tensor } from "../tensor.ts";
import { AutogradBackend } from "./backend.ts";
import type { Var } from "./var.ts";

/** A seeded `RandomSource` (the library's one generator, via `NormalRng`). */
export function seeded(seed: number): RandomSource & { normal(): number } {
  const r = new NormalRng(seed);
  return { random: () => r.uniform(), normal: () => r.normal() };
}

/** A float32 tensor of normal(0, std) samples. */
export function randn(dims: readonly number[], rng: { normal(): number }, std = 1): Tensor {
  const d = new Float32Array(numel(dims));
  for (let i = 0; i < d.length; i++) d[i] = rng.normal() * std;
  return new Tensor("float32", d, dims);
}

/** Options of `gradCheck`. */
export interface GradCheckOptions {
  /** Finite-difference step (default 5e-3). */
  h?: number;
  /** Absolute tolerance (default 1e-3). */
  atol?: number;
  /** Relative tolerance (default 1e-2). */
  rtol?: number;
  /** Indices of float inputs that are constants (uploaded, not differentiated), e.g. masks. */
  constants?: readonly number[];
  /** Elements checked per input (default: all, up to 60, evenly spread). */
  maxElements?: number;
}

/**
 * Checks the tape's gradients of `L = Σ f(inputs) · W` (W a fixed random weight of the output's
 * shape) against central differences `(L(x + h) - L(x - h)) / 2h` evaluated in float64 over the
 * float32 forward, for every float input (`trainable[i]` true).
 */
export function gradCheck(
  build: (ag: AutogradBackend, xs: Var[]) => Var,
  inputs: readonly Tensor[],
  opts: GradCheckOptions = {},
): void {
  const h = opts.h ?? 5e-3, atol = opts.atol ?? 1e-3, rtol = opts.rtol ?? 1e-2;
  const ag = new AutogradBackend(cpu);
  const trainable = (t: Tensor, i: number) =>
    t.dtype === "float32" && !(opts.constants ?? []).includes(i);
  const params = inputs.map((t, i) => trainable(t, i) ? ag.parameter(t) : ag.upload(t));
  const out = build(ag, params);
  const w = randn(out.dims, seeded(99));
  out.backward(w);
  const loss = (xs: readonly Tensor[]): number => {
    const fresh = new AutogradBackend(cpu);
    const y = fresh.noGrad(() => build(fresh, xs.map((t) => fresh.upload(t)))).value;
    let s = 0;
    for (let i = 0; i < y.size; i++) s += y.get(i) * w.get(i);
    return s;
  };
  inputs.forEach((t, i) => {
    if (!trainable(t, i)) return;
    const g = params[i].grad;
    assert(g !== null, `input ${i} got no gradient`);
    const n = t.size;
    const max = Math.min(n, opts.maxElements ?? 60);
    for (let c = 0; c < max; c++) {
      const j = Math.floor((c * n) / max);
      const plus = t.toFloat32(), minus = t.toFloat32();
      plus.data[j] += h;
      minus.data[j] -= h;
      const xsP = inputs.map((u, k) => k === i ? plus : u);
      const xsM = inputs.map((u, k) => k === i ? minus : u);
      const num = (loss(xsP) - loss(xsM)) / (2 * h);
      const got = g.data[j];
      assert(
        Math.abs(got - num) <= atol + rtol * Math.abs(num),
        `input ${i} [${t.dims}] element ${j}: tape ${got} vs finite difference ${num}`,
      );
    }
  });
}
