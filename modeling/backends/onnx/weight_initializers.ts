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
 * - int8: linear layers, a tied LM head included, as symmetric per-output-channel int8 for
 *   `DynamicQuantizeMatMul`; embedding tables stay float32 unless `int8Embeddings`: then every
 *   embedding table is int8 with one scale per row, read by a `Gather` of int8 rows times their
 *   scale, and a tied LM head runs on the same int8 matrix instead of its own copy.
 *
 * While a graph is built for onnxruntime-web (`collectWeightsInto`), every array made here
 * (file reads, casts, quantized values) is copied into a buffer of the graph's `WeightBuffers`
 * and freed at once.
 *
 * @module
 */
import { Tensor } from "../../tensor.ts";
import { type CheckpointWeight, halfWordsOf, readFileTensor } from "./checkpoint.ts";
import { activeWeightBuffers } from "./_weight_buffers.ts";
import { quantizeLinearFromFile } from "./_stream_quantize.ts";
import {
  bytesOf,
  type GraphBuilder,
  type OnnxPrecision,
  quantizeHalfLinear,
  quantizePerColumn,
  toFloat32,
  toHalf,
  transpose2d,
} from "./graph_builder.ts";

/** How a graph reads a matrix (separate initializers per use kind when mapped from a file). */
export type WeightUse = "gemm" | "gather" | "generic";

/** Buffers this module allocated (file reads, casts, quantized values): nobody else holds them. */
const owned = new WeakSet<ArrayBufferLike>();

/** Marks `a`'s buffer as allocated here. */
function own<T extends ArrayBufferView>(a: T): T {
  owned.add(a.buffer);
  return a;
}

/** Frees now the buffers of `arrays` that this module allocated (nobody else holds them). */
function releaseOwned(...arrays: ArrayBufferView[]): void {
  for (const a of arrays) {
    const b = a.buffer;
    if (owned.has(b) && b instanceof ArrayBuffer && !b.detached) {
      owned.delete(b);
      b.transfer(0);
    }
  }
}

/**
 * The bytes of `a` for an initializer: while a graph is built for onnxruntime-web
 * (`collectWeightsInto`), values allocated here are copied into the graph's weight buffers and
 * freed at once; anything else (a caller's in-memory tensor) is handed over as it is.
 */
function initBytes(a: ArrayBufferView): Uint8Array {
  const weights = activeWeightBuffers();
  if (weights === null || !owned.has(a.buffer) || weights.locate(bytesOf(a)) !== null) {
    return bytesOf(a);
  }
  const placed = weights.place(bytesOf(a));
  releaseOwned(a);
  return placed;
}

/** `initBytes` of the half words of float32 values `v`, freeing `v` when it was made here. */
function halfInitBytes(v: Float32Array): Uint8Array {
  const half = own(toHalf(v));
  releaseOwned(v);
  return initBytes(half);
}

/** The float32 values of a weight as stored (read from its file when left there). */
export function hostValues(w: CheckpointWeight): Float32Array {
  if (w.entry instanceof Tensor) {
    const t = w.entry;
    if (t.dtype === "float32") return t.data as Float32Array;
    return own(toFloat32(t.dtype, t.data as ArrayLike<number>));
  }
  const t = readFileTensor(w.entry);
  if (t.dtype === "float32") return own(t.data as Float32Array);
  const v = own(toFloat32(t.dtype, t.data as ArrayLike<number>));
  releaseOwned(own(t.data as ArrayBufferView));
  return v;
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

  /**
   * With precision int8: store embedding tables int8 too (one scale per row; see
   * {@linkcode quantizedGather}); a tied LM head then reads the same int8 matrix. Set before
   * tracing.
   */
  int8Embeddings = false;

  /** Initializers of graph `g` stored in `precision`. */
  constructor(readonly g: GraphBuilder, readonly precision: OnnxPrecision) {}

  /** Whether embedding table `w` is stored int8 (a linear layer tied to it is int8 anyway). */
  quantizesTable(w: CheckpointWeight): boolean {
    return this.precision === "int8" && this.int8Embeddings && !w.conv1d &&
      w.entry.dims.length === 2;
  }

  /**
   * Rows `ids` of embedding table `w` (`[rows, width]`) from its int8 form, float32
   * `[...ids, width]`: the table is stored as `quantized` stores a linear weight (int8
   * `[width, rows]`, one float32 scale per table row), so a tied LM head's
   * `DynamicQuantizeMatMul` reads the same initializer; `Gather` along axis 1 and a
   * `DequantizeLinear` by the gathered scales dequantize only the rows read, then `Transpose`
   * (the values of `Cast` and `Mul`, without a `Cast`: see `GraphBuilder.indicator`).
   */
  quantizedGather(w: CheckpointWeight, ids: string, idsRank: number): string {
    const { q, scale } = this.quantized(w);
    const g = this.g;
    const flat = idsRank === 1 ? ids : g.op("Reshape", [ids, g.constI([-1])]);
    const cols = g.op("Gather", [q, flat], { axis: 1 }); // [width, n]
    const s = g.op("Gather", [scale, flat], { axis: 0 }); // [n]
    const rows = g.op("Transpose", [g.op("DequantizeLinear", [cols, s], { axis: 1 })], {
      perm: [1, 0],
    }); // [n, width]
    if (idsRank === 1) return rows;
    const width = g.constI([w.entry.dims[1]]);
    return g.op("Reshape", [rows, g.op("Concat", [g.op("Shape", [ids]), width], { axis: 0 })]);
  }

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
        bytes: () => initBytes(hostValues(w)),
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
              if (w.entry instanceof Tensor) return bytesOf(w.entry.data as Uint16Array);
              return initBytes(own(readFileTensor(w.entry).data as Uint16Array));
            }
            return halfInitBytes(hostValues(w));
          },
        }, "w16");
        return this.g.op("Cast", [stored], { to: 1 });
      }
      return this.g.initializer({
        dtype: "float32",
        dims,
        external: dtype === "float32" ? w.external : undefined,
        bytes: () => initBytes(hostValues(w)),
        upcast: halfWordsOf(w), // half words in memory: the graph cache converts them itself
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
          { dtype: "int8", dims: [inF, outF], bytes: () => initBytes(get().q) },
          "wq",
        ),
    );
    const scale = this.memo(
      `s:${w.key}`,
      () =>
        this.g.initializer(
          { dtype: "float32", dims: [outF], bytes: () => initBytes(get().scale) },
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
          releaseOwned(v);
          off += outs[k];
        });
        return own(out);
      };
      if (this.precision === "fp16") {
        const stored = this.g.initializer(
          {
            dtype: "float16",
            dims,
            bytes: () => halfInitBytes(values()),
          },
          "wf16",
        );
        return this.g.op("Cast", [stored], { to: 1 });
      }
      return this.g.initializer(
        { dtype: "float32", dims, bytes: () => initBytes(values()), upcast: halfWordsOf(...ws) },
        "wf",
      );
    });
  }

  /** `quantized` of several linear weights of one input, concatenated along their outputs. */
  fusedQuantized(ws: readonly CheckpointWeight[]): { q: string; scale: string } {
    const parts = () => ws.map((w) => this.quantizedValues(w, false));
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
            releaseOwned(p.q); // the scale initializer reads only p.scale
          });
          return initBytes(own(out));
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
            releaseOwned(p.scale);
          });
          return initBytes(own(out));
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
            const v = hostValues(w);
            out.set(v, off);
            releaseOwned(v);
            off += w.entry.dims[0];
          }
          return initBytes(own(out));
        },
      }, "wfb");
    });
  }

  /**
   * Per-column int8 quantization of a linear weight, `[in, out]`; `final`: the initializer's own
   * values (not parts of a fused one), placed in the graph's weight buffers when it has them.
   */
  private quantizedValues(
    w: CheckpointWeight,
    final = true,
  ): { q: Int8Array; scale: Float32Array } {
    const [r, c] = w.entry.dims;
    const [inF, outF] = w.conv1d ? [r, c] : [c, r];
    if (!(w.entry instanceof Tensor) && w.entry.dtype === "float32" && !w.conv1d) {
      // Streamed from the file; `final` values straight into the buffers of the graph being built.
      const at = final ? activeWeightBuffers()?.reserve(r * c) : undefined;
      const q = at ? new Int8Array(at.buffer, at.byteOffset, at.length) : own(new Int8Array(r * c));
      const scale = own(new Float32Array(outF));
      quantizeLinearFromFile(w.entry, q, scale);
      return { q, scale };
    }
    const half = halfWordsOf(w)?.[0];
    if (half && !w.conv1d) {
      // Half words in memory (a half .bin): quantized from them, no float32 copy.
      const { q, scale } = quantizeHalfLinear(half.dtype, half.words, r, c);
      return { q: own(q), scale: own(scale) };
    }
    const v = hostValues(w);
    const t = w.conv1d ? v : own(transpose2d(v, r, c));
    const { q, scale } = quantizePerColumn(t, inF, outF);
    releaseOwned(v, t); // the float32 copies, as soon as they are quantized
    return { q: own(q), scale: own(scale) };
  }
}
