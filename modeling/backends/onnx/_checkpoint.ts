/**
 * Checked access to checkpoint tensors by HF key, with tie aliases (`tie_encoder_decoder`
 * stores `encoder.*` once under `decoder.<base>.*`) and layout conversion for linear layers
 * (`nn.Linear` `[out, in]` is transposed to `[in, out]`; GPT-2 `Conv1D` is already `[in, out]`).
 *
 * @module
 */
import type { Tensor } from "../../tensor.ts";
import { type HostMatrix, OnnxModelError, transpose } from "./_graph.ts";

/** A linear layer as `x @ w + b`: `w` `[in, out]`. */
export interface LinearWeights {
  /** `[in, out]`. */
  w: HostMatrix;
  /** `[out]`, or `null` for a bias-free layer. */
  b: Tensor | null;
}

/**
 * The state dict of one model with checked getters.
 *
 * @example
 * ```ts ignore
 * import { Checkpoint } from "./_checkpoint.ts";
 * const ck = new Checkpoint(tensors, "model.safetensors", [{ from: "encoder.", to: "decoder.bert." }]);
 * const { w, b } = ck.linear("encoder.encoder.layer.0.attention.self.query", 768, 768); // w [in, out]
 * ```
 */
export class Checkpoint {
  /**
   * Wraps a state dict.
   *
   * @param tensors tensors by checkpoint key
   * @param source where they came from (for error messages)
   * @param aliases key-prefix fallbacks: a missing key starting with `from` is looked up with
   *   `to` instead (tied encoder/decoder weights)
   */
  constructor(
    readonly tensors: Map<string, Tensor>,
    readonly source: string,
    readonly aliases: readonly { from: string; to: string }[] = [],
  ) {}

  /** Whether `key` (or its alias) is present. */
  has(key: string): boolean {
    return this.find(key) !== undefined;
  }

  /** The tensor at `key`, else at its first matching alias. */
  private find(key: string): Tensor | undefined {
    const t = this.tensors.get(key);
    if (t) return t;
    for (const { from, to } of this.aliases) {
      if (key.startsWith(from)) {
        const a = this.tensors.get(to + key.slice(from.length));
        if (a) return a;
      }
    }
    return undefined;
  }

  /** The first present key of `keys` (alternatives), checked against `shape`. */
  get(keys: string | readonly string[], shape: readonly number[]): Tensor {
    const list = typeof keys === "string" ? [keys] : keys;
    for (const k of list) {
      const t = this.find(k);
      if (!t) continue;
      if (t.dims.length !== shape.length || t.dims.some((d, i) => d !== shape[i])) {
        throw new OnnxModelError(
          `${this.source}: "${k}" has shape [${t.dims}]; expected [${shape}] from the config`,
        );
      }
      if (t.dtype !== "float32" && t.dtype !== "float16" && t.dtype !== "bfloat16") {
        throw new OnnxModelError(`${this.source}: "${k}" has dtype ${t.dtype}; expected a float`);
      }
      return t;
    }
    throw new OnnxModelError(
      `${this.source}: missing weight "${list[0]}"` +
        (list.length > 1
          ? ` (also looked for ${list.slice(1).map((k) => `"${k}"`).join(", ")})`
          : ""),
    );
  }

  /** A 2-D tensor as a host matrix, as stored. */
  matrix(keys: string | readonly string[], rows: number, cols: number): HostMatrix {
    const t = this.get(keys, [rows, cols]);
    return {
      dims: [rows, cols],
      dtype: t.dtype as HostMatrix["dtype"],
      data: t.data as Float32Array | Uint16Array,
    };
  }

  /** `nn.Linear` at `prefix` (`weight` `[out, in]`, `bias` `[out]`) as `[in, out]`. */
  linear(prefix: string, inDim: number, outDim: number, bias = true): LinearWeights {
    return {
      w: transpose(this.matrix(`${prefix}.weight`, outDim, inDim)),
      b: bias ? this.get(`${prefix}.bias`, [outDim]) : null,
    };
  }

  /** GPT-2 `Conv1D` at `prefix` (`weight` `[in, out]`, `bias` `[out]`). */
  conv1d(prefix: string, inDim: number, outDim: number): LinearWeights {
    return {
      w: this.matrix(`${prefix}.weight`, inDim, outDim),
      b: this.get(`${prefix}.bias`, [outDim]),
    };
  }
}
