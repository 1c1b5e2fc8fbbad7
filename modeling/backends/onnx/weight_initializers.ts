/**
 * Checkpoint weights as ONNX initializers in the engine's storage precision, one rule for every
 * architecture:
 *
 * - fp32: a float32 tensor in a mapped safetensors file stays there (external data, which
 *   onnxruntime memory-maps); each use kind (`gemm`, `gather`, `generic`) gets its own
 *   initializer over the same bytes, so a tied word embedding is packed once for the LM head's
 *   Gemm while the embedding Gather maps only the rows it reads. In-memory (and upcast half)
 *   weights share one initializer per key.
 * - fp16: matrices stored half (half checkpoints left in their file), then a `Cast` to float32;
 *   vectors (biases, LayerNorm) stay float32.
 * - int8: linear layers as symmetric per-output-channel int8 for `DynamicQuantizeMatMul`
 *   (weights also used as an embedding table, such as a tied LM head, stay float32).
 *
 * @module
 */
import { Tensor } from "../../tensor.ts";
import { type CheckpointWeight, readFileTensor } from "./checkpoint.ts";
import {
  bytesOf,
  type GraphBuilder,
  type OnnxPrecision,
  quantizePerColumn,
  toFloat32,
  toHalf,
  transpose2d,
} from "./graph_builder.ts";

/** How a graph reads a matrix (separate initializers per use kind when mapped from a file). */
export type WeightUse = "gemm" | "gather" | "generic";

/** The float32 values of a weight as stored (read from its file when left there). */
export function hostValues(w: CheckpointWeight): Float32Array {
  const t = w.entry instanceof Tensor ? w.entry : readFileTensor(w.entry);
  return toFloat32(t.dtype, t.data as ArrayLike<number>);
}

/**
 * Makes initializers of checkpoint weights in one graph, in `precision`.
 *
 * @example
 * ```ts ignore
 * import { WeightInitializers } from "./weight_initializers.ts";
 * const inits = new WeightInitializers(graph, "fp16");
 * const name = inits.matrix(weights.get(key), "gemm"); // half initializer + Cast
 * ```
 */
export class WeightInitializers {
  private readonly cache = new Map<string, string>();

  /** Initializers of graph `g` stored in `precision`. */
  constructor(readonly g: GraphBuilder, readonly precision: OnnxPrecision) {}

  private memo(key: string, make: () => string): string {
    let name = this.cache.get(key);
    if (name === undefined) {
      name = make();
      this.cache.set(key, name);
    }
    return name;
  }

  /** A float32 value of a 1-D (or any non-matrix) weight: bias, LayerNorm. */
  vector(w: CheckpointWeight): string {
    return this.memo(`v:${w.key}`, () =>
      this.g.initializer({
        dtype: "float32",
        dims: w.entry.dims,
        bytes: () => bytesOf(hostValues(w)),
      }, "w"));
  }

  /** A float32 value of a matrix weight as stored (`[out, in]`, Conv1D `[in, out]`). */
  matrix(w: CheckpointWeight, use: WeightUse): string {
    const mapped = w.external !== undefined;
    const key = mapped ? `m:${w.key}:${use}` : `m:${w.key}`;
    return this.memo(key, () => {
      const dims = w.entry.dims;
      const dtype = w.entry.dtype as "float32" | "float16" | "bfloat16";
      if (this.precision === "fp16") {
        const half = dtype === "float32" ? "float16" : dtype;
        const stored = this.g.initializer({
          dtype: half,
          dims,
          external: dtype !== "float32" ? w.external : undefined,
          bytes: () => {
            if (dtype !== "float32") {
              const t = w.entry instanceof Tensor ? w.entry : readFileTensor(w.entry);
              return bytesOf(t.data as Uint16Array);
            }
            return bytesOf(toHalf(hostValues(w)));
          },
        }, "w16");
        return this.g.op("Cast", [stored], { to: 1 });
      }
      return this.g.initializer({
        dtype: "float32",
        dims,
        external: dtype === "float32" ? w.external : undefined,
        bytes: () => bytesOf(hostValues(w)),
      }, "w");
    });
  }

  /**
   * A linear weight quantized for `DynamicQuantizeMatMul`: int8 `[in, out]` and per-column
   * float32 scales `[out]`.
   */
  quantized(w: CheckpointWeight): { q: string; scale: string } {
    const [r, c] = w.entry.dims;
    const [inF, outF] = w.conv1d ? [r, c] : [c, r];
    let made: { q: Int8Array; scale: Float32Array } | null = null;
    const get = () => {
      if (made === null) {
        const v = hostValues(w);
        made = quantizePerColumn(w.conv1d ? v : transpose2d(v, r, c), inF, outF);
      }
      return made;
    };
    const q = this.memo(
      `q:${w.key}`,
      () =>
        this.g.initializer(
          { dtype: "int8", dims: [inF, outF], bytes: () => bytesOf(get().q) },
          "wq",
        ),
    );
    const scale = this.memo(
      `s:${w.key}`,
      () =>
        this.g.initializer(
          { dtype: "float32", dims: [outF], bytes: () => bytesOf(get().scale) },
          "ws",
        ),
    );
    return { q, scale };
  }
}
