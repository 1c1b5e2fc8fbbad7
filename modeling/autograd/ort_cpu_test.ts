// OrtCpuBackend (onnxruntime-node matmuls) against the plain CPU backend on shapes above its
// size threshold: broadcast batches, transposeB, linear with/without bias and activations.
// onnxruntime accumulates in float32, the reference in float64: |Δ| <= 1e-5 · (1 + |ref|)·√k/8.
import { assert, assertEquals, assertThrows } from "@std/assert";
import { BackendError } from "../backend.ts";
import { cpu } from "../backends/cpu/cpu.ts";
import type { Tensor } from "../tensor.ts";
import { OrtCpuBackend } from "./ort_cpu.ts";
import { randn, seeded } from "./_test_util.ts";

const ort = await OrtCpuBackend.create({ threads: 2, minMacs: 1000 });
const r = seeded(21);

function close(got: Tensor, want: Tensor, k: number, what: string): void {
  assertEquals(got.dims, want.dims, what);
  const tol = 1e-5 * Math.max(1, Math.sqrt(k) / 8);
  for (let i = 0; i < want.size; i++) {
    const d = Math.abs(got.get(i) - want.get(i));
    assert(
      d <= tol * (1 + Math.abs(want.get(i))),
      `${what} [${i}]: ${got.get(i)} vs ${want.get(i)}`,
    );
  }
}

Deno.test("ort matmul equals cpu matmul: 2-D, broadcast batches, transposeB", () => {
  const cases: [number[], number[], boolean][] = [
    [[37, 65], [65, 29], false],
    [[2, 3, 17, 40], [40, 33], false],
    [[2, 1, 17, 40], [3, 25, 40], true],
    [[4, 13, 64], [4, 31, 64], true],
  ];
  for (const [da, db, tb] of cases) {
    const a = randn(da, r), b = randn(db, r);
    const k = da[da.length - 1];
    close(
      ort.matmul(a, b, { transposeB: tb }),
      cpu.matmul(a, b, { transposeB: tb }),
      k,
      `${da} x ${db}`,
    );
  }
  // small products and errors take the reference path
  assertThrows(() => ort.matmul(randn([3, 4], r), randn([5, 6], r)), BackendError, "inner dims");
});

Deno.test("ort linear equals cpu linear with bias, without bias, every activation", () => {
  const x = randn([3, 11, 48], r), w = randn([70, 48], r, 0.2), b = randn([70], r);
  for (const act of ["none", "gelu", "gelu_new", "relu", "tanh"] as const) {
    close(ort.linear(x, w, b, act), cpu.linear(x, w, b, act), 48, `linear ${act}`);
  }
  close(ort.linear(x, w), cpu.linear(x, w), 48, "linear without bias");
  assertThrows(() => ort.linear(x, randn([70, 47], r)), BackendError, "does not fit");
});

Deno.test("ort matmulTransposeA equals cpu matmul of the host transpose: 2-D, batched, broadcast", () => {
  const t = (x: Tensor) => {
    const n = x.dims.length, perm = [...Array(n).keys()];
    [perm[n - 2], perm[n - 1]] = [perm[n - 1], perm[n - 2]];
    return cpu.permute(x, perm);
  };
  const cases: [number[], number[]][] = [
    [[65, 37], [65, 29]], // Gemm with transA
    [[2, 3, 40, 17], [2, 3, 40, 33]], // Transpose -> MatMul
    [[2, 1, 40, 17], [3, 40, 25]], // batch broadcast
    [[3, 4], [3, 5]], // below the size threshold: the host path
  ];
  for (const [da, db] of cases) {
    const a = randn(da, r), b = randn(db, r);
    close(ort.matmulTransposeA(a, b), cpu.matmul(t(a), b), da[da.length - 2], `${da}ᵀ x ${db}`);
  }
  assertThrows(() => ort.matmulTransposeA(randn([3, 4], r), randn([5, 6], r)), BackendError);
});
