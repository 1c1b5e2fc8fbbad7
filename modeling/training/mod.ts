/**
 * Fine-tuning pieces: `AdamW` (torch semantics, HF decay groups), `clipGradNorm`, and
 * `getLinearScheduleWithWarmup`.
 *
 * @example
 * ```ts
 * import { AdamW, clipGradNorm, getLinearScheduleWithWarmup } from "@encdec/modeling";
 * // const opt = new AdamW(decayGroups(model.namedParameters(), 0.01), { lr: 5e-5 });
 * // const sched = getLinearScheduleWithWarmup(opt, 100, 1000);
 * // loss.backward(); clipGradNorm(params, 1); opt.step(); sched.step(); opt.zeroGrad();
 * ```
 *
 * @module
 */
export * from "./optim.ts";
export * from "./schedule.ts";
