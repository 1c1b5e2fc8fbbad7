/**
 * Learning-rate schedules as `transformers.get_linear_schedule_with_warmup` builds them: a
 * `LambdaLR` whose factor multiplies each group's initial learning rate.
 *
 * @module
 */
import { type AdamW, OptimizerError } from "./optim.ts";

/**
 * torch's `LambdaLR`: after `n` calls of `step()`, every group's `lr = initialLr · factor(n)`.
 * Construction applies `factor(0)`, as torch does.
 */
export class LambdaLR {
  /** Number of `step()` calls so far (torch's `last_epoch`). */
  lastStep = 0;

  /** Applies `factor(0)` to `optimizer`'s groups. */
  constructor(
    /** The optimizer whose groups are scheduled. */
    readonly optimizer: AdamW,
    /** Multiplier of the initial learning rate after `n` steps. */
    readonly factor: (n: number) => number,
  ) {
    this.apply();
  }

  /** Sets every group's learning rate for the current step. */
  private apply(): void {
    const f = this.factor(this.lastStep);
    for (const g of this.optimizer.paramGroups) g.lr = g.initialLr * f;
  }

  /** Advances one step (call after `optimizer.step()`). */
  step(): void {
    this.lastStep++;
    this.apply();
  }

  /** Current learning rate of each group (`get_last_lr()`). */
  getLastLr(): number[] {
    return this.optimizer.paramGroups.map((g) => g.lr);
  }

  /** Moves to step `n` (for resuming). */
  setStep(n: number): void {
    this.lastStep = n;
    this.apply();
  }
}

/**
 * `get_linear_schedule_with_warmup`: the factor rises linearly from 0 to 1 over `warmupSteps`,
 * then falls linearly to 0 at `totalSteps`.
 *
 * @example
 * ```ts
 * import { AdamW, getLinearScheduleWithWarmup } from "@encdec/modeling";
 * const opt = new AdamW([], { lr: 1e-3 });
 * const sched = getLinearScheduleWithWarmup(opt, 2, 10);
 * sched.getLastLr(); // [0]
 * sched.step();
 * sched.getLastLr(); // [0.0005]
 * ```
 */
export function getLinearScheduleWithWarmup(
  optimizer: AdamW,
  warmupSteps: number,
  totalSteps: number,
): LambdaLR {
  if (!(Number.isInteger(warmupSteps) && warmupSteps >= 0)) {
    throw new OptimizerError(`warmupSteps = ${warmupSteps}, expected an integer >= 0`);
  }
  if (!(Number.isInteger(totalSteps) && totalSteps >= 0)) {
    throw new OptimizerError(`totalSteps = ${totalSteps}, expected an integer >= 0`);
  }
  return new LambdaLR(optimizer, (n) => {
    if (n < warmupSteps) return n / Math.max(1, warmupSteps);
    return Math.max(0, (totalSteps - n) / Math.max(1, totalSteps - warmupSteps));
  });
}
