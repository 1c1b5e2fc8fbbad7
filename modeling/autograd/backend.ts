/**
 * Reverse-mode autograd as a backend: {@linkcode AutogradBackend} implements `Backend<Var>` by
 * running each op on a forward backend (the CPU one) and recording, when an input requires a
 * gradient, a tape node with the op's backward rule. The unchanged model code, built over this
 * backend, therefore builds a tape; `loss.backward()` fills `param.grad`.
 *
 * Rules: matmul (transposeB, broadcast batch dims summed), linear (bias, fused activations),
 * add / mul with broadcasting, scale, activation, layerNorm, softmax, logSoftmax, embedding
 * (scatter-add: a weight used twice accumulates both), attention (through the probabilities;
 * masks get no gradient), crossEntropy (ignore index, label smoothing), permute, reshape, slice,
 * concat, indexSelect, topk (values), dropout. Large products of the backward pass (`dA = dO·Bᵀ`,
 * `dB = Aᵀ·dO`, attention's `dV`, `dP`, `dQ`, `dK`) run on the forward backend's `matmul`, so a
 * faster forward backend speeds up both passes.
 *
 * `attention(..., { returnProbs: true })` returns the probabilities detached (no gradient flows
 * back through them; the `output` is fully differentiable).
 *
 * @module
 */
import type { Activation, AttentionOptions, Backend, RandomSource } from "../backend.ts";
import { BackendError } from "../backend.ts";
import { Tensor } from "../tensor.ts";
import {
  activationGrad,
  crossEntropyGrad,
  data,
  embeddingGrad,
  type F32,
  f32,
  indexSelectGrad,
  inversePerm,
  layerNormGrad,
  logSoftmaxGrad,
  sliceGrad,
  softmaxGrad,
  sumToShape,
  swapLast,
  topkGrad,
} from "./_rules.ts";
import { AutogradError, backward, Var } from "./var.ts";

/**
 * An optional kernel of a forward backend: `aᵀ·b` over the last two axes without materialising
 * `aᵀ` ({@linkcode OrtCpuBackend} has it). The autograd backend uses it for weight gradients
 * when the backend it wraps offers it, and a host transpose otherwise.
 */
export interface TransposeAMatmul {
  /** `aᵀ·b` over the last two axes, batch axes broadcast as in `Backend.matmul`. */
  matmulTransposeA(a: Tensor, b: Tensor): Tensor;
}

/**
 * A host tensor read from the autograd backend that still knows the value it came from:
 * `await loss.backward()` back-propagates, as `loss.backward()` in PyTorch.
 *
 * @example
 * ```ts
 * import { AutogradBackend, cpu, GradTensor, Tensor } from "@encdec/modeling";
 * const ag = new AutogradBackend(cpu);
 * const w = ag.parameter(Tensor.from([2]));
 * const loss = await ag.read(ag.mul(w, w)) as GradTensor;
 * await loss.backward(); // w.grad = [4]
 * ```
 */
export class GradTensor extends Tensor {
  /** The tape value this tensor was read from (`null`: read from a backend without a tape). */
  readonly source: Var | null;

  /** Wraps `value` (data shared) as read from `source`. */
  constructor(value: Tensor, source: Var | null) {
    super(value.dtype, value.data, value.dims);
    this.source = source;
  }

  /** Back-propagates from the source value (a scalar unless `grad` is given). */
  backward(grad?: Tensor): Promise<void> {
    if (this.source === null) {
      return Promise.reject(
        new AutogradError(
          "backward: this value was computed without a gradient tape; run the model on the " +
            'autograd device ({ device: "autograd" }) to train',
        ),
      );
    }
    backward(this.source, grad);
    return Promise.resolve();
  }
}

const NO_GRAD: undefined = undefined;

/**
 * `Backend<Var>` that records a tape over a forward `Backend<Tensor>`.
 *
 * @example
 * ```ts
 * import { AutogradBackend, cpu, Tensor } from "@encdec/modeling";
 * const ag = new AutogradBackend(cpu);
 * const w = ag.parameter(Tensor.from([[1, 2], [3, 4]]));
 * const x = ag.upload(Tensor.from([[1, 1]]));
 * const y = ag.linear(x, w); // [1, 2] = [[3, 7]]
 * ag.crossEntropy(y, ag.upload(Tensor.from([1], "int32"))).backward();
 * w.grad?.dims; // [2, 2]
 * ```
 */
export class AutogradBackend implements Backend<Var> {
  /** `"autograd(<inner name>)"`. */
  readonly name: string;
  private gradEnabled = true;

  /** Wraps `inner`, the backend every forward op (and the big backward products) runs on. */
  constructor(
    /** The forward backend. */
    readonly inner: Backend<Tensor>,
  ) {
    this.name = `autograd(${inner.name})`;
  }

  // ---- tape plumbing ---------------------------------------------------------------------------

  /** A value computed from `inputs`; recorded with `rule` when one of them requires grad. */
  private record(
    op: string,
    value: Tensor,
    inputs: readonly Var[],
    rule: (g: F32) => readonly (F32 | undefined)[],
  ): Var {
    if (!this.gradEnabled || !inputs.some((v) => v.requiresGrad)) return new Var(value);
    return new Var(value, { node: { op, inputs, backward: rule } });
  }

  /** Runs `fn` without recording (values made inside require no grad), as `torch.no_grad()`. */
  noGrad<R>(fn: () => R): R {
    const prev = this.gradEnabled;
    this.gradEnabled = false;
    try {
      return fn();
    } finally {
      this.gradEnabled = prev;
    }
  }

  /** A trainable leaf: `t` uploaded with `requiresGrad`. */
  parameter(t: Tensor): Var {
    return new Var(this.inner.upload(t), { requiresGrad: true });
  }

  /** `v` as a `Var` of this backend, or a `BackendError` naming the op. */
  private check(op: string, v: unknown): Var {
    if (!(v instanceof Var)) {
      throw new BackendError(
        `${this.name}.${op}: expected a Var (a handle of this backend), got ${
          v instanceof Tensor ? "a Tensor (upload it first)" : typeof v
        }`,
      );
    }
    return v;
  }

  /** The inner backend's matmul. */
  private mm(a: Tensor, b: Tensor, transposeB = false): F32 {
    return this.inner.matmul(a, b, { transposeB }) as F32;
  }

  /** `aᵀ·b` over the last two axes: the inner backend's own kernel when it has one. */
  private mmTA(a: Tensor, b: Tensor): F32 {
    const fast = (this.inner as Partial<TransposeAMatmul>).matmulTransposeA;
    if (typeof fast === "function") return fast.call(this.inner, a, b) as F32;
    return this.mm(this.t(a), b);
  }

  /** `x` with its last two axes swapped. */
  private t(x: Tensor): Tensor {
    return this.inner.permute(x, swapLast(x.dims.length));
  }

  // ---- data movement ---------------------------------------------------------------------------

  /** A constant leaf (inputs, masks; no gradient). Use {@linkcode parameter} for weights. */
  upload(t: Tensor): Var {
    return new Var(this.inner.upload(t));
  }

  /** The value as a host {@linkcode GradTensor} (which can start `backward`). */
  async read(v: Var): Promise<Tensor> {
    this.check("read", v);
    return new GradTensor(await this.inner.read(v.value), v);
  }

  /** HF's additive mask from a host 0/1 mask (a constant: no gradient). */
  maskBias(mask: Tensor, causalQueries?: number): Var {
    return new Var(this.inner.maskBias(mask, causalQueries));
  }

  /** Position ids (a constant: no gradient). */
  positionIds(start: number, length: number, padded?: { ids: Tensor; paddingIdx: number }): Var {
    return new Var(this.inner.positionIds(start, length, padded));
  }

  /** Shape of the value. */
  dims(v: Var): readonly number[] {
    return this.check("dims", v).dims;
  }

  /** Frees the value on the forward backend. */
  dispose(v: Var): void {
    this.inner.dispose(this.check("dispose", v).value);
  }

  // ---- shape ops -------------------------------------------------------------------------------

  /** Same data, new shape; gradient reshaped back. */
  reshape(x: Var, dims: readonly number[]): Var {
    const xd = this.check("reshape", x).dims;
    return this.record("reshape", this.inner.reshape(x.value, dims), [x], (g) => [
      g.reshape(xd),
    ]);
  }

  /** Axis permutation; gradient permuted by the inverse. */
  permute(x: Var, perm: readonly number[]): Var {
    this.check("permute", x);
    const inv = inversePerm(perm);
    return this.record("permute", this.inner.permute(x.value, perm), [x], (g) => [
      this.inner.permute(g, inv) as F32,
    ]);
  }

  /** Slice along `axis`; gradient written into zeros. */
  slice(x: Var, axis: number, start: number, end: number): Var {
    this.check("slice", x);
    const value = this.inner.slice(x.value, axis, start, end);
    const ax = axis < 0 ? axis + x.dims.length : axis;
    return this.record("slice", value, [x], (g) => [sliceGrad(g, x.dims, ax, start)]);
  }

  /** Concatenation; gradient sliced back per input. */
  concat(xs: readonly Var[], axis: number): Var {
    xs.forEach((x) => this.check("concat", x));
    const value = this.inner.concat(xs.map((x) => x.value), axis);
    const ax = axis < 0 ? axis + value.dims.length : axis;
    return this.record("concat", value, xs, (g) => {
      let at = 0;
      return xs.map((x) => {
        const n = x.dims[ax];
        at += n;
        return x.requiresGrad ? this.inner.slice(g, ax, at - n, at) as F32 : NO_GRAD;
      });
    });
  }

  /** Rows `indices` along `axis`; gradient scatter-added back. */
  indexSelect(x: Var, axis: number, indices: readonly number[]): Var {
    this.check("indexSelect", x);
    const value = this.inner.indexSelect(x.value, axis, indices);
    const ax = axis < 0 ? axis + x.dims.length : axis;
    const idx = [...indices];
    return this.record("indexSelect", value, [x], (g) => [
      indexSelectGrad(g, x.dims, ax, idx),
    ]);
  }

  // ---- arithmetic ------------------------------------------------------------------------------

  /** Batched matmul: `dA = dO·Bᵀ`, `dB = Aᵀ·dO` (or `dOᵀ·A` with `transposeB`), batch dims summed. */
  matmul(a: Var, b: Var, opts: { transposeB?: boolean } = {}): Var {
    this.check("matmul", a);
    this.check("matmul", b);
    const tb = opts.transposeB ?? false;
    const value = this.inner.matmul(a.value, b.value, { transposeB: tb });
    return this.record("matmul", value, [a, b], (g) => {
      const ga = a.requiresGrad
        ? sumToShape(tb ? this.mm(g, b.value) : this.mm(g, b.value, true), a.dims)
        : NO_GRAD;
      const gb = b.requiresGrad
        ? sumToShape(tb ? this.mmTA(g, a.value) : this.mmTA(a.value, g), b.dims)
        : NO_GRAD;
      return [ga, gb];
    });
  }

  /** `act(x·Wᵀ + b)`: `dz = g·act'(z)`, `dx = dz·W`, `dW = dzᵀ·x`, `db = Σ dz`. */
  linear(x: Var, weight: Var, bias?: Var, activation: Activation = "none"): Var {
    this.check("linear", x);
    this.check("linear", weight);
    if (bias !== undefined) this.check("linear", bias);
    const z = this.inner.linear(x.value, weight.value, bias?.value, "none"); // [..., out]
    const y = activation === "none" ? z : this.inner.activation(z, activation);
    const inputs = bias ? [x, weight, bias] : [x, weight];
    return this.record("linear", y, inputs, (g) => {
      const dz = activationGrad(g, data(z), activation);
      const [nOut, nIn] = weight.dims;
      const rows = dz.size / Math.max(nOut, 1);
      const dz2 = dz.reshape([rows, nOut]);
      const gx = x.requiresGrad ? this.mm(dz2, weight.value).reshape(x.dims) : NO_GRAD;
      const gw = weight.requiresGrad ? this.mmTA(dz2, x.value.reshape([rows, nIn])) : NO_GRAD;
      const out: (F32 | undefined)[] = [gx, gw];
      if (bias) out.push(bias.requiresGrad ? sumToShape(dz2, [nOut]) : NO_GRAD);
      return out;
    });
  }

  /** `a + b` with broadcasting; gradients summed to each input's shape. */
  add(a: Var, b: Var): Var {
    this.check("add", a);
    this.check("add", b);
    return this.record("add", this.inner.add(a.value, b.value), [a, b], (g) => [
      a.requiresGrad ? sumToShape(g, a.dims) : NO_GRAD,
      b.requiresGrad ? sumToShape(g, b.dims) : NO_GRAD,
    ]);
  }

  /** `a * b` with broadcasting: `da = Σ g·b`, `db = Σ g·a`. */
  mul(a: Var, b: Var): Var {
    this.check("mul", a);
    this.check("mul", b);
    return this.record("mul", this.inner.mul(a.value, b.value), [a, b], (g) => [
      a.requiresGrad ? sumToShape(this.inner.mul(g, b.value) as F32, a.dims) : NO_GRAD,
      b.requiresGrad ? sumToShape(this.inner.mul(g, a.value) as F32, b.dims) : NO_GRAD,
    ]);
  }

  /** `x * s`: gradient `g * s`. */
  scale(x: Var, s: number): Var {
    this.check("scale", x);
    return this.record("scale", this.inner.scale(x.value, s), [x], (g) => [
      this.inner.scale(g, s) as F32,
    ]);
  }

  /** Elementwise activation: gradient `g · act'(x)`. */
  activation(x: Var, kind: Activation): Var {
    this.check("activation", x);
    return this.record("activation", this.inner.activation(x.value, kind), [x], (g) => [
      activationGrad(g, data(x.value), kind),
    ]);
  }

  /** Layer norm over the last axis: gradients of x, weight and bias. */
  layerNorm(x: Var, weight: Var, bias: Var, eps: number): Var {
    this.check("layerNorm", x);
    this.check("layerNorm", weight);
    this.check("layerNorm", bias);
    const value = this.inner.layerNorm(x.value, weight.value, bias.value, eps);
    return this.record("layerNorm", value, [x, weight, bias], (g) => {
      const r = layerNormGrad(g, data(x.value), data(weight.value), eps);
      return [r.dx, r.dw, r.db];
    });
  }

  /** Softmax over the last axis: `dx = y·(g - Σ g·y)`. */
  softmax(x: Var): Var {
    this.check("softmax", x);
    const y = this.inner.softmax(x.value);
    return this.record("softmax", y, [x], (g) => [softmaxGrad(g, data(y))]);
  }

  /** Log-softmax over the last axis: `dx = g - exp(y)·Σ g`. */
  logSoftmax(x: Var): Var {
    this.check("logSoftmax", x);
    const y = this.inner.logSoftmax(x.value);
    return this.record("logSoftmax", y, [x], (g) => [logSoftmaxGrad(g, data(y))]);
  }

  /** `weight[ids]`: gradient rows scatter-added into `[vocab, hidden]` (ids get none). */
  embedding(weight: Var, ids: Var): Var {
    this.check("embedding", weight);
    this.check("embedding", ids);
    const value = this.inner.embedding(weight.value, ids.value);
    return this.record("embedding", value, [weight, ids], (g) => [
      embeddingGrad(g, ids.value, weight.dims[0]),
      NO_GRAD,
    ]);
  }

  /**
   * Attention through the probabilities `P`: `dV = Pᵀ·dO`, `dP = dO·Vᵀ`,
   * `dS = P·(dP - Σ dP·P)` (zero where the causal mask hides a key), `dQ = scale·dS·K`,
   * `dK = scale·dSᵀ·Q`. The mask gets no gradient; returned `probs` are detached.
   */
  attention(
    q: Var,
    k: Var,
    v: Var,
    opts: AttentionOptions<Var>,
  ): { output: Var; probs?: Var } {
    this.check("attention", q);
    this.check("attention", k);
    this.check("attention", v);
    if (opts.mask !== undefined) this.check("attention", opts.mask);
    const r = this.inner.attention(q.value, k.value, v.value, {
      mask: opts.mask?.value,
      causal: opts.causal,
      scale: opts.scale,
      returnProbs: true,
    });
    const P = r.probs!; // [b, h, tq, tk]
    const causal = opts.causal ?? false;
    const output = this.record("attention", r.output, [q, k, v], (g) => {
      const gv = v.requiresGrad ? this.mmTA(P, g) : NO_GRAD; // [b, h, tk, dv]
      if (!q.requiresGrad && !k.requiresGrad) return [NO_GRAD, NO_GRAD, gv];
      const dP = this.mm(g, v.value, true); // [b, h, tq, tk]
      const dS = softmaxGrad(dP, data(P));
      const [, , tq, tk] = P.dims;
      if (causal) {
        const shift = tk - tq;
        const sd = dS.data;
        for (let o = 0; o < sd.length; o += tk) {
          const i = (o / tk) % tq;
          const visible = Math.max(0, Math.min(tk, i + shift + 1));
          sd.fill(0, o + visible, o + tk);
        }
      }
      const gq = q.requiresGrad
        ? this.inner.scale(this.mm(dS, k.value), opts.scale) as F32
        : NO_GRAD;
      const gk = k.requiresGrad
        ? this.inner.scale(this.mmTA(dS, q.value), opts.scale) as F32
        : NO_GRAD;
      return [gq, gk, gv];
    });
    const out: { output: Var; probs?: Var } = { output };
    if (opts.returnProbs) out.probs = new Var(P);
    return out;
  }

  /** Mean cross-entropy: `d logits = g/count·(softmax - q)`, ignored rows zero. */
  crossEntropy(
    logits: Var,
    labels: Var,
    opts: { ignoreIndex?: number; labelSmoothing?: number } = {},
  ): Var {
    this.check("crossEntropy", logits);
    this.check("crossEntropy", labels);
    const value = this.inner.crossEntropy(logits.value, labels.value, opts);
    const ignore = opts.ignoreIndex ?? -100, eps = opts.labelSmoothing ?? 0;
    return this.record("crossEntropy", value, [logits, labels], (g) => [
      crossEntropyGrad(g.data[0], f32(data(logits.value), logits.dims), labels.value, ignore, eps),
      NO_GRAD,
    ]);
  }

  /** Top-k values (differentiable: gradient added at the chosen indices) and indices. */
  topk(x: Var, k: number): { values: Var; indices: Var } {
    this.check("topk", x);
    const r = this.inner.topk(x.value, k);
    const values = this.record("topk", r.values, [x], (g) => [topkGrad(g, r.indices, x.dims)]);
    return { values, indices: new Var(r.indices) };
  }

  /**
   * Inverted dropout: one `rng.random()` per element in row-major order (the same draws and
   * values as the CPU backend's `dropout`); gradient `g · keep / (1 - p)`.
   */
  dropout(x: Var, p: number, rng: RandomSource): Var {
    this.check("dropout", x);
    if (!(p >= 0 && p <= 1)) {
      throw new BackendError(
        `${this.name}.dropout: p = ${p} is out of range (expected 0 <= p <= 1)`,
      );
    }
    if (p === 0) return x;
    const n = x.value.size;
    const m = new Float32Array(n);
    if (p < 1) {
      const s = 1 / (1 - p);
      for (let i = 0; i < n; i++) m[i] = rng.random() >= p ? s : 0;
    }
    const mask = f32(m, x.dims);
    return this.record("dropout", this.inner.mul(x.value, mask), [x], (g) => [
      this.inner.mul(g, mask) as F32,
    ]);
  }
}
