// AdamW, clipGradNorm and the linear warm-up schedule against hand-computed values (torch's
// formulas), exact up to float32 rounding (1e-7 abs), and the optimizer state round trip.
import { assertAlmostEquals, assertEquals, assertThrows } from "@std/assert";
import { Var } from "../autograd/var.ts";
import { Tensor } from "../tensor.ts";
import { AdamW, clipGradNorm, decayGroups, OptimizerError } from "./optim.ts";
import { getLinearScheduleWithWarmup } from "./schedule.ts";

function param(values: number[], grad: number[]): Var {
  const p = new Var(Tensor.from(values), { requiresGrad: true });
  p.grad = Tensor.from(grad) as Tensor<"float32">;
  return p;
}

Deno.test("AdamW: first step moves by lr·sign(g); decoupled decay multiplies by 1 - lr·wd", () => {
  const p = param([1, -2], [0.5, -3]);
  const q = param([1, -2], [0.5, -3]);
  new AdamW([p], { lr: 0.1, weightDecay: 0 }).step();
  new AdamW([q], { lr: 0.1, weightDecay: 0.01 }).step();
  // m̂ = g, v̂ = g², update = lr·g/(|g| + eps)
  assertAlmostEquals(p.value.get(0), 0.9, 1e-7);
  assertAlmostEquals(p.value.get(1), -1.9, 1e-7);
  assertAlmostEquals(q.value.get(0), 1 * (1 - 0.001) - 0.1, 1e-7);
  assertAlmostEquals(q.value.get(1), -2 * (1 - 0.001) + 0.1, 1e-7);
});

Deno.test("AdamW: second step from the torch recurrences; parameters without grad are skipped", () => {
  const p = param([0.3], [0.2]);
  const idle = new Var(Tensor.from([5]), { requiresGrad: true });
  const opt = new AdamW([p, idle], { lr: 0.01, weightDecay: 0, betas: [0.9, 0.99], eps: 1e-6 });
  opt.step();
  p.grad = Tensor.from([-0.4]) as Tensor<"float32">;
  opt.step();
  let w = 0.3, m = 0, v = 0;
  for (const [t, g] of [[1, 0.2], [2, -0.4]]) {
    m = 0.9 * m + 0.1 * g;
    v = 0.99 * v + 0.01 * g * g;
    w -= (0.01 / (1 - 0.9 ** t)) * m / (Math.sqrt(v) / Math.sqrt(1 - 0.99 ** t) + 1e-6);
  }
  assertAlmostEquals(p.value.get(0), w, 1e-7);
  assertEquals(idle.value.get(0), 5);
  opt.zeroGrad();
  assertEquals(p.grad, null);
});

Deno.test("AdamW: stateDict / loadStateDict continue identically", () => {
  const a = param([1, 2, 3], [0.1, -0.2, 0.3]);
  const b = param([1, 2, 3], [0.1, -0.2, 0.3]);
  const oa = new AdamW([a], { lr: 0.05 });
  oa.step();
  const ob = new AdamW([b], { lr: 0.05 });
  (b.value.data as Float32Array).set(a.value.data as Float32Array);
  ob.loadStateDict(oa.stateDict());
  oa.step();
  ob.step();
  assertEquals(Array.from(b.value.data as Float32Array), Array.from(a.value.data as Float32Array));
  assertThrows(
    () => new AdamW([a, b]).loadStateDict(oa.stateDict()),
    OptimizerError,
    "1 parameters",
  );
  assertThrows(() => new AdamW([a], { lr: -1 }), OptimizerError, "lr = -1");
});

Deno.test("clipGradNorm: returns the norm before clipping; scales by maxNorm / (norm + 1e-6)", () => {
  const p = param([0, 0], [3, 0]), q = param([0], [4]);
  assertAlmostEquals(clipGradNorm([p, q], 1), 5, 1e-12);
  assertAlmostEquals(p.grad!.get(0), 3 / (5 + 1e-6), 1e-7);
  assertAlmostEquals(q.grad!.get(0), 4 / (5 + 1e-6), 1e-7);
  const r = param([0], [0.5]);
  assertAlmostEquals(clipGradNorm([r], 1), 0.5, 1e-12);
  assertEquals(r.grad!.get(0), 0.5); // below the max: untouched
});

Deno.test("getLinearScheduleWithWarmup: HF's factors (warm-up 2, total 10)", () => {
  const opt = new AdamW([param([0], [0])], { lr: 1e-3 });
  const sched = getLinearScheduleWithWarmup(opt, 2, 10);
  const lrs: number[] = [];
  for (let i = 0; i < 11; i++) {
    lrs.push(sched.getLastLr()[0]);
    sched.step();
  }
  const want = [0, 0.5, 1, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25, 0.125, 0].map((f) => f * 1e-3);
  lrs.forEach((lr, i) => assertAlmostEquals(lr, want[i], 1e-15));
});

Deno.test("decayGroups: no decay for biases and LayerNorm weights (BERT and GPT-2 names)", () => {
  const names = [
    "encoder.encoder.layer.0.attention.self.query.weight",
    "encoder.encoder.layer.0.attention.self.query.bias",
    "encoder.embeddings.LayerNorm.weight",
    "decoder.transformer.h.0.ln_1.weight",
    "decoder.transformer.ln_f.weight",
    "decoder.transformer.wte.weight",
    "decoder.cls.predictions.bias",
  ];
  const ps = names.map(() => param([0], [0]));
  const [decay, noDecay] = decayGroups(names.map((n, i) => [n, ps[i]] as const), 0.01);
  assertEquals(decay.params, [ps[0], ps[5]]);
  assertEquals(noDecay.params, [ps[1], ps[2], ps[3], ps[4], ps[6]]);
  assertEquals([decay.weightDecay, noDecay.weightDecay], [0.01, 0]);
});
