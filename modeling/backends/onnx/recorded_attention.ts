/**
 * The attention half of the graph-recording backend (`OnnxRecorder` extends it): masks as
 * additive biases over their 0/1 inputs, and attention as one fused `com.microsoft`
 * `MultiHeadAttention` wherever one of its patterns applies (`fusedAttention`: encoder
 * self-attention, a decoder step's cache append, cross-attention on K/V heads computed once,
 * beams sharing their source's K/V row), else MatMul / Softmax.
 *
 * @module
 */
import type { AttentionOptions } from "../../backend.ts";
import { FLOAT32_MIN, type Tensor } from "../../tensor.ts";
import { OnnxModelError } from "./graph_builder.ts";
import { sameDims, type Sym, SymbolicGraph } from "./symbolic_graph.ts";

/** Masks and attention of the graph-recording backend; see the module docs. */
export abstract class AttentionRecorder extends SymbolicGraph {
  /** A host tensor's graph value (a bound placeholder's input, else a constant). */
  abstract upload(t: Tensor): Sym;

  /** `Backend.maskBias` as nodes over the mask input (padding-only masks are tagged for MHA). */
  maskBias(mask: Tensor, causalQueries?: number): Sym {
    const m = this.placeholders.get(mask) ?? this.upload(mask);
    const [n, s] = m.dims;
    const t = causalQueries;
    const g = this.graph;
    return this.node(t === undefined ? [n, 1, 1, s] : [n, 1, t, s], () => {
      const mf = g.nonzero(m.name, "float32"); // a 0/1 mask (the inputs are checked)
      let keep = this.op("Unsqueeze", [mf, g.constI([1, 2])]); // [n, 1, 1, s]
      if (t !== undefined) {
        const sLen = this.axisLength(m, 1);
        const kPos = this.op("Range", [g.constI(0), sLen, g.constI(1)]); // [s]
        const first = this.op("Sub", [sLen, this.scalar(t)]);
        const qPos = this.op("Unsqueeze", [
          this.op("Range", [first, sLen, g.constI(1)]),
          g.constI([1]),
        ]); // [t, 1]
        const causal = g.indicator(this.op("LessOrEqual", [kPos, qPos]), "float32");
        keep = this.op("Mul", [keep, causal]); // [n, 1, t, s]
      }
      return this.op("Mul", [this.op("Sub", [g.constF(1), keep]), g.constF(FLOAT32_MIN)]);
    }, t === undefined ? { keyMask: m } : {});
  }

  /** Scaled dot-product attention (fused, grouped or plain; see the module docs). */
  attention(q: Sym, k: Sym, v: Sym, opts: AttentionOptions<Sym>): { output: Sym; probs?: Sym } {
    const [n, h, tq, d] = q.dims;
    const mask = opts.mask;
    const fused = opts.returnProbs ? null : this.fusedAttention(q, k, v, opts);
    if (fused) return { output: fused };
    const g = k.dims[0];
    if (g !== n) {
      if (opts.causal || opts.returnProbs) {
        throw new OnnxModelError(
          "onnx-trace.attention: grouped K/V rows take no causal mask and return no probs",
        );
      }
      // [n, h, tq, d] -> [g, h, (n / g) * tq, d]: each group's queries as one sequence.
      const grouped = this.node([g, h, (n / g) * tq, d], () => {
        const r = this.op("Reshape", [q.name, this.shapeValue([g, -1, h, tq, d])]);
        const t = this.op("Transpose", [r], { perm: [0, 2, 1, 3, 4] });
        return this.op("Reshape", [t, this.shapeValue([g, h, -1, d])]);
      });
      const out = this.attention(grouped, k, v, { ...opts, returnProbs: false }).output;
      const output = this.node([n, h, tq, v.dims[3]], () => {
        const r = this.op("Reshape", [out.name, this.shapeValue([g, h, -1, tq, v.dims[3]])]);
        const t = this.op("Transpose", [r], { perm: [0, 2, 1, 3, 4] });
        return this.op("Reshape", [t, this.shapeValue([-1, h, tq, v.dims[3]])]);
      });
      return { output };
    }
    const tk = k.dims[2];
    const probs = this.node([n, h, tq, tk], () => {
      const kt = this.op("Transpose", [k.name], { perm: [0, 1, 3, 2] });
      let s = this.op("Mul", [this.op("MatMul", [q.name, kt]), this.graph.constF(opts.scale)]);
      if (opts.causal) s = this.op("Add", [s, this.causalBias(q, k)]);
      if (mask) s = this.op("Add", [s, mask.name]);
      return this.op("Softmax", [s], { axis: -1 });
    });
    const output = this.node([n, h, tq, v.dims[3]], () => this.op("MatMul", [probs.name, v.name]));
    return { output, probs: opts.returnProbs ? probs : undefined };
  }

  /**
   * One `com.microsoft` `MultiHeadAttention` for query heads split from `[n, tq, h * d]` values,
   * or `null` where none of its patterns applies (the caller then records MatMul / Softmax):
   * - K/V heads split the same way, no causal mask, a padding mask or none (encoder
   *   self-attention);
   * - K/V a cache with new heads appended (`AppendedKV`: a decoder step): the cache goes in as
   *   `past_key` / `past_value` and the append comes out as the present outputs, with no
   *   `Concat` or head transposes of its own; the mask as an additive `attention_bias`
   *   `[n, 1, tq, total]`, a padding mask, or the causal bias;
   * - K/V given as heads `[g, h, s, d]` (cross-attention K/V computed once), `g` dividing `n`,
   *   a padding mask or none: each group's `n / g` consecutive query rows are laid end to end
   *   as one sequence `[g, (n / g) * tq, h * d]`, so beams read their source's K/V row without
   *   copies or transposes.
   */
  private fusedAttention(q: Sym, k: Sym, v: Sym, opts: AttentionOptions<Sym>): Sym | null {
    const heads = q.tags.heads;
    if (!heads) return null;
    const [n, h, tq, d] = q.dims;
    const x = heads.x; // [n, tq, h * d]
    const mask = opts.mask;
    const g = k.dims[0];
    const tk = k.dims[2];
    const padding = mask?.tags.keyMask;
    // A padding mask `[rows, 1, 1, tk]` over a 0/1 input `[rows, tk]`: the int32 key mask, made
    // once per graph.
    const keyMask = (rows: number) =>
      padding && sameDims(mask!.dims, [rows, 1, 1, tk])
        ? () =>
          this.derived(`keyMask:${padding.name}`, () => this.graph.nonzero(padding.name, "int32"))
        : null;
    const attrs = {
      num_heads: h,
      scale: { f: opts.scale },
      mask_filter_value: { f: FLOAT32_MIN },
    };
    const merged = (dims: readonly number[], make: () => string) => {
      const fusedValue = this.node(dims, make);
      const output = this.node([n, h, tq, v.dims[3]], () => {
        const r = this.op("Reshape", [fusedValue.name, this.shapeValue([n, tq, h, v.dims[3]])]);
        return this.op("Transpose", [r], { perm: [0, 2, 1, 3] });
      }, { fused: fusedValue });
      return output;
    };
    const inputs = (...xs: string[]) => {
      while (xs[xs.length - 1] === "") xs.pop();
      return xs;
    };

    // Encoder self-attention: K/V split from values like Q.
    if (k.tags.heads && v.tags.heads && g === n && !opts.causal && (!mask || keyMask(n))) {
      const km = mask ? keyMask(n)! : null;
      return merged(x.dims, () =>
        this.op(
          "MultiHeadAttention",
          inputs(x.name, k.tags.heads!.x.name, v.tags.heads!.x.name, "", km ? km() : ""),
          attrs,
          "com.microsoft",
        ));
    }

    // A decoder step: new K/V heads appended to a cache.
    const ka = k.tags.appended, va = v.tags.appended;
    if (
      ka && va && ka.added.tags.heads && va.added.tags.heads && g === n && ka.fused === undefined &&
      va.fused === undefined
    ) {
      let bias: (() => string) | null = null;
      let km: (() => string) | null = null;
      if (mask && opts.causal) return null;
      if (mask && sameDims(mask.dims, [n, 1, tq, tk])) bias = () => mask.name;
      else if (mask) {
        km = keyMask(n);
        if (!km) return null;
      } else if (opts.causal) {
        // The key length from the cache and the rows (reading `k` would emit its Concat).
        bias = () => {
          const t = this.axisLength(x, 1);
          const causal = this.causalBiasOf(t, this.op("Add", [this.axisLength(ka.past, 2), t]));
          return this.op("Unsqueeze", [causal, this.graph.constI([0, 1])]);
        };
      }
      const out = merged(x.dims, () => {
        const [o, presentK, presentV] = this.graph.opN(
          "MultiHeadAttention",
          [
            x.name,
            ka.added.tags.heads!.x.name,
            va.added.tags.heads!.x.name,
            "",
            km ? km() : "",
            bias ? bias() : "",
            ka.past.name,
            va.past.name,
          ],
          3,
          attrs,
          "com.microsoft",
        );
        ka.present = presentK;
        va.present = presentV;
        return o;
      });
      ka.fused = va.fused = out.tags.fused;
      return out;
    }

    // Cross-attention on K/V heads computed once, `g` rows shared by groups of query rows.
    if (
      !k.tags.heads && !ka && !v.tags.heads && !va && v.dims[0] === g &&
      k.dims[1] === h && v.dims[1] === h && k.dims[3] === d && !opts.causal &&
      (!mask || keyMask(g))
    ) {
      const km = mask ? keyMask(g)! : null;
      const width = h * v.dims[3];
      return merged([n, tq, width], () => {
        const query = g === n
          ? x.name
          : this.op("Reshape", [x.name, this.shapeValue([g, -1, h * d])]);
        const o = this.op(
          "MultiHeadAttention",
          inputs(query, k.name, v.name, "", km ? km() : ""),
          attrs,
          "com.microsoft",
        );
        return g === n ? o : this.op("Reshape", [o, this.shapeValue([n, tq, width])]);
      });
    }
    return null;
  }

  /** `[tq, tk]`: 0 where key `j <= tk - tq + i`, `FLOAT32_MIN` elsewhere. */
  protected causalBias(q: Sym, k: Sym): string {
    return this.causalBiasOf(this.axisLength(q, 2), this.axisLength(k, 2));
  }

  /** The size of `x`'s axis `axis` as an int64 scalar (`Squeeze` of a one-axis `Shape`). */
  private axisLength(x: Sym, axis: number): string {
    return this.op("Squeeze", [
      this.op("Shape", [x.name], { start: axis, end: axis + 1 }),
      this.graph.constI([0]),
    ]);
  }

  /** `causalBias` from the lengths (int64 scalars `tq`, `tk`). */
  private causalBiasOf(tq: string, tk: string): string {
    const g = this.graph;
    const kPos = this.op("Range", [g.constI(0), tk, g.constI(1)]);
    const qPos = this.op("Unsqueeze", [
      this.op("Range", [this.op("Sub", [tk, tq]), tk, g.constI(1)]),
      g.constI([1]),
    ]);
    return this.op("Where", [this.op("Greater", [kPos, qPos]), g.constF(FLOAT32_MIN), g.constF(0)]);
  }
}
