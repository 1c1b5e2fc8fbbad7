/**
 * The handle of the autograd backend: a {@linkcode Var} holds a forward value (a host `Tensor`),
 * its gradient, and the tape node that made it. {@linkcode backward} walks the tape from a scalar
 * back to every leaf that requires a gradient, as `torch.Tensor.backward()`.
 *
 * @module
 */
import { EncdecError } from "@encdec/config";
import { Tensor } from "../tensor.ts";

/** Misuse of autograd: backward from a non-scalar without a seed gradient, shapes that disagree. */
export class AutogradError extends EncdecError {}

/**
 * One recorded op: its inputs and the rule that turns the gradient of its output into gradients
 * of its inputs (`undefined` where an input gets none).
 */
export interface TapeNode {
  /** Op name, for error messages (`"matmul"`, `"layerNorm"`, ...). */
  readonly op: string;
  /** The op's inputs (in the order `backward` returns their gradients). */
  readonly inputs: readonly Var[];
  /** Gradient of the output `[out dims]` → gradients of the inputs `[their dims]`. */
  backward(grad: Tensor<"float32">): readonly (Tensor<"float32"> | undefined)[];
}

/**
 * A value on the tape: `value` (float32 for differentiable values; ids stay int), the
 * accumulated `grad` of a leaf that `requiresGrad`, and the `node` that produced it.
 *
 * @example
 * ```ts
 * import { Tensor, Var } from "@encdec/modeling";
 * const w = new Var(Tensor.from([1, 2, 3]), { requiresGrad: true });
 * w.dims; // [3]
 * w.grad; // null until backward reaches it
 * ```
 */
export class Var {
  /** The forward value. */
  readonly value: Tensor;
  /** The tape node that made this value (`null` for a leaf). */
  readonly node: TapeNode | null;
  /** Accumulated gradient (leaves only, as torch), same shape as `value`; `null` until reached. */
  grad: Tensor<"float32"> | null = null;
  /** True for leaves whose gradient is wanted and for every value computed from one. */
  requiresGrad: boolean;

  /** Wraps `value`; a leaf unless `node` is given. */
  constructor(value: Tensor, opts: { requiresGrad?: boolean; node?: TapeNode | null } = {}) {
    this.value = value;
    this.node = opts.node ?? null;
    this.requiresGrad = opts.requiresGrad ?? this.node !== null;
  }

  /** Shape of the value. */
  get dims(): readonly number[] {
    return this.value.dims;
  }

  /** True when no op made this value. */
  get isLeaf(): boolean {
    return this.node === null;
  }

  /** Back-propagates from this value (a scalar unless `grad` is given); see {@linkcode backward}. */
  backward(grad?: Tensor): void {
    backward(this, grad);
  }
}

function sameDims(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

function float32Copy(t: Tensor): Tensor<"float32"> {
  return t.toFloat32();
}

/** `acc += g` in place (float32). */
function accumulate(acc: Tensor<"float32">, g: Tensor<"float32">): void {
  const a = acc.data, b = g.data;
  for (let i = 0; i < a.length; i++) a[i] += b[i];
}

/**
 * Reverse-mode sweep from `root`: every node reachable from it runs its rule once, in reverse
 * topological order, and every leaf with `requiresGrad` gets the gradient added to its `grad`
 * (accumulating across calls, as torch; clear with `zeroGrad`). `grad` seeds the sweep and
 * defaults to 1 for a one-element `root`.
 *
 * @example
 * ```ts
 * import { AutogradBackend, cpu, Tensor } from "@encdec/modeling";
 * const ag = new AutogradBackend(cpu);
 * const x = ag.parameter(Tensor.from([1, 2, 3]));
 * const y = ag.scale(ag.mul(x, x), 0.5); // [3]
 * ag.reshape(y, [3]).backward(Tensor.from([1, 1, 1])); // x.grad = x
 * ```
 */
export function backward(root: Var, grad?: Tensor): void {
  let seed: Tensor<"float32">;
  if (grad === undefined) {
    if (root.value.size !== 1) {
      throw new AutogradError(
        `backward: the value has shape [${
          root.dims.join(", ")
        }]; without a seed gradient it must ` +
          `be a scalar (one element)`,
      );
    }
    seed = new Tensor("float32", new Float32Array([1]), root.dims);
  } else {
    if (!sameDims(grad.dims, root.dims)) {
      throw new AutogradError(
        `backward: seed gradient has shape [${grad.dims.join(", ")}], expected [${
          root.dims.join(", ")
        }]`,
      );
    }
    seed = float32Copy(grad);
  }
  if (!root.requiresGrad) {
    throw new AutogradError(
      "backward: the value does not require grad (no parameter reaches it: mark leaves with " +
        "requiresGrad / AutogradBackend.parameter)",
    );
  }

  // Topological order by iterative DFS (models are thousands of ops deep).
  const order: Var[] = [];
  const seen = new Set<Var>();
  const stack: [Var, number][] = [[root, 0]];
  seen.add(root);
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    const [v, i] = top;
    const inputs = v.node?.inputs ?? [];
    if (i < inputs.length) {
      top[1]++;
      const u = inputs[i];
      if (u.requiresGrad && !seen.has(u)) {
        seen.add(u);
        stack.push([u, 0]);
      }
    } else {
      stack.pop();
      order.push(v);
    }
  }

  const grads = new Map<Var, Tensor<"float32">>([[root, seed]]);
  for (let o = order.length - 1; o >= 0; o--) {
    const v = order[o];
    const g = grads.get(v);
    grads.delete(v);
    if (g === undefined) continue;
    if (v.node === null) {
      if (v.requiresGrad) {
        if (v.grad === null) v.grad = ownedBuffers.has(g) ? g : float32Copy(g);
        else accumulate(v.grad, g);
      }
      continue;
    }
    const gin = v.node.backward(g);
    v.node.inputs.forEach((u, k) => {
      const gu = gin[k];
      if (gu === undefined || !u.requiresGrad) return;
      if (!sameDims(gu.dims, u.dims)) {
        throw new AutogradError(
          `backward: rule of ${v.node!.op} gave input ${k} a gradient of shape [${
            gu.dims.join(", ")
          }], expected [${u.dims.join(", ")}]`,
        );
      }
      const prev = grads.get(u);
      if (prev === undefined) {
        // Own the buffer before accumulating into it later (rules may return shared views).
        grads.set(u, gu);
      } else {
        if (!ownedBuffers.has(prev)) {
          const copy = float32Copy(prev);
          ownedBuffers.add(copy);
          accumulate(copy, gu);
          grads.set(u, copy);
        } else accumulate(prev, gu);
      }
    });
  }
}

/** Gradient buffers created by the sweep itself (safe to add into). */
const ownedBuffers = new WeakSet<Tensor>();
