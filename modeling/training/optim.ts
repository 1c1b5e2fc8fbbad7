/**
 * `AdamW` with `torch.optim.AdamW` semantics (decoupled weight decay, bias-corrected moments,
 * `eps` added after the square root), parameter groups, and a state that round-trips through
 * JSON-free typed arrays for checkpoints.
 *
 * Parameters are autograd leaves ({@linkcode Var}) whose value is a host float32 tensor, updated
 * in place, so every model handle that shares it (tied weights) sees the new value.
 *
 * @module
 */
import { EncdecError } from "@encdec/config";
import type { Var } from "../autograd/var.ts";
import type { Tensor } from "../tensor.ts";

/** Bad optimizer / scheduler arguments or state. */
export class OptimizerError extends EncdecError {}

/** A trainable leaf as the optimizer sees it: a float32 value and its gradient. */
export type Parameter = Var;

/** Hyper-parameters of `AdamW` (torch's names, camelCased). */
export interface AdamWOptions {
  /** Learning rate (default 1e-3, torch's default). */
  lr?: number;
  /** Moment decay rates (default `[0.9, 0.999]`). */
  betas?: readonly [number, number];
  /** Added to the denominator (default 1e-8). */
  eps?: number;
  /** Decoupled weight decay (default 1e-2, torch's default). */
  weightDecay?: number;
}

/** A group of parameters sharing hyper-parameters (torch's `param_groups` entry). */
export interface ParamGroup {
  /** The parameters. */
  params: Parameter[];
  /** Current learning rate (schedulers write it). */
  lr: number;
  /** The learning rate the group started with (`initial_lr`). */
  initialLr: number;
  /** Moment decay rates. */
  betas: readonly [number, number];
  /** Denominator epsilon. */
  eps: number;
  /** Decoupled weight decay. */
  weightDecay: number;
}

/** The per-parameter state of `AdamW` (`exp_avg`, `exp_avg_sq`, `step`). */
export interface AdamWParamState {
  /** Number of steps taken. */
  step: number;
  /** First moment, same size as the parameter. */
  expAvg: Float32Array;
  /** Second moment. */
  expAvgSq: Float32Array;
}

/** A serialisable snapshot of the optimizer (moments in parameter order, group lrs). */
export interface AdamWState {
  /** Per parameter, in the order the groups list them. */
  state: (AdamWParamState | null)[];
  /** Per group: `lr` and `initialLr`. */
  groups: { lr: number; initialLr: number }[];
}

/**
 * HF-style parameter groups: weight decay for everything except biases and LayerNorm weights
 * (names ending in `bias` or containing `LayerNorm.` / `layer_norm.` / `ln_`), as the Trainer's
 * `get_decay_parameter_names`.
 *
 * @example
 * ```ts
 * import { decayGroups } from "@encdec/modeling";
 * // const groups = decayGroups(model.namedParameters(), 0.01);
 * // const opt = new AdamW(groups, { lr: 5e-5 });
 * ```
 */
export function decayGroups(
  named: Iterable<readonly [string, Parameter]>,
  weightDecay: number,
): { params: Parameter[]; weightDecay: number }[] {
  const decay: Parameter[] = [], noDecay: Parameter[] = [];
  for (const [name, p] of named) {
    const isNorm = /(^|\.)(LayerNorm|layer_norm|ln_\w+|ln_f)\./.test(name);
    (name.endsWith("bias") || isNorm ? noDecay : decay).push(p);
  }
  return [{ params: decay, weightDecay }, { params: noDecay, weightDecay: 0 }];
}

function f32Data(t: Tensor, what: string): Float32Array {
  if (t.dtype !== "float32") {
    throw new OptimizerError(`${what} has dtype ${t.dtype}, expected float32`);
  }
  return t.data as Float32Array;
}

/**
 * `torch.optim.AdamW`: per step, `p ← p·(1 - lr·wd)`, `m ← β₁m + (1-β₁)g`,
 * `v ← β₂v + (1-β₂)g²`, `p ← p - lr/(1-β₁ᵗ) · m / (√v/√(1-β₂ᵗ) + eps)`. Parameters without a
 * gradient are skipped.
 *
 * @example
 * ```ts
 * import { AdamW, AutogradBackend, cpu, Tensor } from "@encdec/modeling";
 * const ag = new AutogradBackend(cpu);
 * const w = ag.parameter(Tensor.from([1, -1]));
 * const opt = new AdamW([w], { lr: 0.1, weightDecay: 0 });
 * ag.crossEntropy(ag.reshape(w, [1, 2]), ag.upload(Tensor.from([1], "int32"))).backward();
 * opt.step(); // w ≈ [0.9, -0.9]
 * opt.zeroGrad();
 * ```
 */
export class AdamW {
  /** The parameter groups (schedulers set `lr` here). */
  readonly paramGroups: ParamGroup[];
  private readonly state = new Map<Parameter, AdamWParamState>();

  /** Takes a flat parameter list or groups (`{ params, lr?, weightDecay?, ... }`). */
  constructor(
    params:
      | Iterable<Parameter>
      | readonly ({ params: Parameter[] } & AdamWOptions)[],
    options: AdamWOptions = {},
  ) {
    const lr = options.lr ?? 1e-3;
    const betas = options.betas ?? [0.9, 0.999];
    const eps = options.eps ?? 1e-8;
    const weightDecay = options.weightDecay ?? 1e-2;
    const list = [...params] as unknown[];
    const groups = list.length > 0 && typeof list[0] === "object" && list[0] !== null &&
        "params" in (list[0] as object) && Array.isArray((list[0] as { params: unknown }).params)
      ? list as ({ params: Parameter[] } & AdamWOptions)[]
      : [{ params: list as Parameter[] }];
    this.paramGroups = groups.map((g) => {
      const group: ParamGroup = {
        params: g.params,
        lr: g.lr ?? lr,
        initialLr: g.lr ?? lr,
        betas: g.betas ?? betas,
        eps: g.eps ?? eps,
        weightDecay: g.weightDecay ?? weightDecay,
      };
      if (!(group.lr >= 0)) throw new OptimizerError(`AdamW: lr = ${group.lr}, expected >= 0`);
      if (!(group.eps >= 0)) throw new OptimizerError(`AdamW: eps = ${group.eps}, expected >= 0`);
      for (const b of group.betas) {
        if (!(b >= 0 && b < 1)) {
          throw new OptimizerError(`AdamW: beta ${b} out of range, expected 0 <= beta < 1`);
        }
      }
      if (!(group.weightDecay >= 0)) {
        throw new OptimizerError(`AdamW: weightDecay = ${group.weightDecay}, expected >= 0`);
      }
      return group;
    });
  }

  /** Applies one update to every parameter that has a gradient. */
  step(): void {
    for (const group of this.paramGroups) {
      const { lr, eps, weightDecay } = group;
      const [b1, b2] = group.betas;
      for (const p of group.params) {
        if (p.grad === null) continue;
        const w = f32Data(p.value, "parameter");
        const g = f32Data(p.grad, "gradient");
        let s = this.state.get(p);
        if (!s) {
          s = { step: 0, expAvg: new Float32Array(w.length), expAvgSq: new Float32Array(w.length) };
          this.state.set(p, s);
        }
        s.step++;
        const bc1 = 1 - b1 ** s.step;
        const bc2Sqrt = Math.sqrt(1 - b2 ** s.step);
        const stepSize = lr / bc1;
        const decay = 1 - lr * weightDecay;
        const m = s.expAvg, v = s.expAvgSq;
        for (let i = 0; i < w.length; i++) {
          const gi = g[i];
          w[i] = w[i] * decay;
          m[i] = m[i] * b1 + (1 - b1) * gi;
          v[i] = v[i] * b2 + (1 - b2) * gi * gi;
          w[i] = w[i] - stepSize * m[i] / (Math.sqrt(v[i]) / bc2Sqrt + eps);
        }
      }
    }
  }

  /** Clears every parameter's gradient (`set_to_none`). */
  zeroGrad(): void {
    for (const g of this.paramGroups) for (const p of g.params) p.grad = null;
  }

  /** A snapshot of the moments and learning rates (copies). */
  stateDict(): AdamWState {
    const state: (AdamWParamState | null)[] = [];
    for (const g of this.paramGroups) {
      for (const p of g.params) {
        const s = this.state.get(p);
        state.push(
          s ? { step: s.step, expAvg: s.expAvg.slice(), expAvgSq: s.expAvgSq.slice() } : null,
        );
      }
    }
    return { state, groups: this.paramGroups.map((g) => ({ lr: g.lr, initialLr: g.initialLr })) };
  }

  /** Restores a snapshot taken from an optimizer over the same parameters, in the same order. */
  loadStateDict(sd: AdamWState): void {
    const params = this.paramGroups.flatMap((g) => g.params);
    if (sd.state.length !== params.length || sd.groups.length !== this.paramGroups.length) {
      throw new OptimizerError(
        `AdamW.loadStateDict: state has ${sd.state.length} parameters in ${sd.groups.length} ` +
          `groups, this optimizer has ${params.length} in ${this.paramGroups.length}`,
      );
    }
    params.forEach((p, i) => {
      const s = sd.state[i];
      if (s === null) return void this.state.delete(p);
      if (s.expAvg.length !== p.value.size || s.expAvgSq.length !== p.value.size) {
        throw new OptimizerError(
          `AdamW.loadStateDict: parameter ${i} has ${p.value.size} elements, state has ` +
            `${s.expAvg.length}`,
        );
      }
      this.state.set(p, { step: s.step, expAvg: s.expAvg.slice(), expAvgSq: s.expAvgSq.slice() });
    });
    sd.groups.forEach((g, i) => {
      this.paramGroups[i].lr = g.lr;
      this.paramGroups[i].initialLr = g.initialLr;
    });
  }
}

/**
 * `torch.nn.utils.clip_grad_norm_`: the global L2 norm of all gradients; when it exceeds
 * `maxNorm`, every gradient is scaled by `maxNorm / (norm + 1e-6)`. Returns the norm before
 * clipping. Parameters without a gradient are skipped.
 *
 * @example
 * ```ts
 * import { clipGradNorm } from "@encdec/modeling";
 * // const norm = clipGradNorm(params, 1.0);
 * ```
 */
export function clipGradNorm(params: Iterable<Parameter>, maxNorm: number): number {
  const list = [...params].filter((p) => p.grad !== null);
  let sq = 0;
  for (const p of list) {
    const g = f32Data(p.grad!, "gradient");
    let s = 0;
    for (let i = 0; i < g.length; i++) s += g[i] * g[i];
    sq += s;
  }
  const norm = Math.sqrt(sq);
  const coef = maxNorm / (norm + 1e-6);
  if (coef < 1) {
    const c = Math.fround(coef);
    for (const p of list) {
      const g = p.grad!.data as Float32Array;
      for (let i = 0; i < g.length; i++) g[i] *= c;
    }
  }
  return norm;
}
