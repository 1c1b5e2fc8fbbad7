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

  /** The initializer made for `key`, made once by `make`. */
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
    const get = () => (made ??= this.quantizedValues(w));
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

  /**
   * Linear weights of one input fused along their outputs, built on the host: `[Σ out, in]`
   * (`nn.Linear`) or `[in, Σ out]` (Conv1D), stored fp32 or half (+ `Cast`) as `matrix`.
   */
  fusedMatrix(ws: readonly CheckpointWeight[]): string {
    return this.memo(`fm:${ws.map((w) => w.key).join("|")}`, () => {
      const conv1d = ws[0].conv1d;
      const inF = conv1d ? ws[0].entry.dims[0] : ws[0].entry.dims[1];
      const outs = ws.map((w) => (conv1d ? w.entry.dims[1] : w.entry.dims[0]));
      const total = outs.reduce((a, o) => a + o, 0);
      const dims = conv1d ? [inF, total] : [total, inF];
      const values = () => {
        const out = new Float32Array(inF * total);
        let off = 0;
        ws.forEach((w, k) => {
          const v = hostValues(w);
          if (!conv1d) out.set(v, off * inF); // rows [out_k, in] one after another
          else {
            for (let i = 0; i < inF; i++) {
              out.set(v.subarray(i * outs[k], (i + 1) * outs[k]), i * total + off);
            }
          }
          off += outs[k];
        });
        return out;
      };
      if (this.precision === "fp16") {
        const stored = this.g.initializer(
          { dtype: "float16", dims, bytes: () => bytesOf(toHalf(values())) },
          "wf16",
        );
        return this.g.op("Cast", [stored], { to: 1 });
      }
      return this.g.initializer({ dtype: "float32", dims, bytes: () => bytesOf(values()) }, "wf");
    });
  }

  /** `quantized` of several linear weights of one input, concatenated along their outputs. */
  fusedQuantized(ws: readonly CheckpointWeight[]): { q: string; scale: string } {
    const parts = () => ws.map((w) => this.quantizedValues(w));
    let made: ReturnType<typeof parts> | null = null;
    const get = () => (made ??= parts());
    const inF = ws[0].conv1d ? ws[0].entry.dims[0] : ws[0].entry.dims[1];
    const outs = ws.map((w) => (w.conv1d ? w.entry.dims[1] : w.entry.dims[0]));
    const total = outs.reduce((a, o) => a + o, 0);
    const key = ws.map((w) => w.key).join("|");
    const q = this.memo(`fq:${key}`, () =>
      this.g.initializer({
        dtype: "int8",
        dims: [inF, total],
        bytes: () => {
          const out = new Int8Array(inF * total);
          let off = 0;
          get().forEach((p, k) => {
            for (let i = 0; i < inF; i++) {
              out.set(p.q.subarray(i * outs[k], (i + 1) * outs[k]), i * total + off);
            }
            off += outs[k];
          });
          return bytesOf(out);
        },
      }, "wfq"));
    const scale = this.memo(`fs:${key}`, () =>
      this.g.initializer({
        dtype: "float32",
        dims: [total],
        bytes: () => {
          const out = new Float32Array(total);
          let off = 0;
          get().forEach((p) => {
            out.set(p.scale, off);
            off += p.scale.length;
          });
          return bytesOf(out);
        },
      }, "wfs"));
    return { q, scale };
  }

  /** Bias vectors concatenated (float32). */
  fusedVector(ws: readonly CheckpointWeight[]): string {
    return this.memo(`fv:${ws.map((w) => w.key).join("|")}`, () => {
      const total = ws.reduce((a, w) => a + w.entry.dims[0], 0);
      return this.g.initializer({
        dtype: "float32",
        dims: [total],
        bytes: () => {
          const out = new Float32Array(total);
          let off = 0;
          for (const w of ws) {
            out.set(hostValues(w), off);
            off += w.entry.dims[0];
          }
          return bytesOf(out);
        },
      }, "wfb");
    });
  }

  /** Per-column int8 quantization of a linear weight, `[in, out]`. */
  private quantizedValues(w: CheckpointWeight): { q: Int8Array; scale: Float32Array } {
    const [r, c] = w.entry.dims;
    const [inF, outF] = w.conv1d ? [r, c] : [c, r];
    const v = hostValues(w);
    return quantizePerColumn(w.conv1d ? v : transpose2d(v, r, c), inF, outF);
  }
}
