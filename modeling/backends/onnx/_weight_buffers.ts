/**
 * Buffers that the initializer bytes of one traced graph are copied into while it is built for
 * onnxruntime-web, one per tensor, so each can be handed to the runtime as an in-memory external
 * data file and freed as soon as the runtime has copied it (`_sessions.ts`).
 *
 * Each buffer is a resizable `ArrayBuffer` (of fixed size in practice): V8 maps those with mmap
 * whatever their size, so freeing one returns its pages at once. A plain `ArrayBuffer` of
 * 0.5–10 MB comes from glibc's malloc, whose heap serves such sizes once its mmap threshold has
 * grown (it does after the first freed buffer of that size) and never returns freed holes in
 * its middle: loading bert2bert-base int8 that way left ~165 MiB of freed heap resident.
 *
 * @module
 */
import { releaseData } from "./_host.ts";

/**
 * The bytes of a graph's tensors, one mmapped buffer each, freed together by `release` (or one
 * at a time by whoever frees a buffer's `ArrayBuffer`).
 *
 * @example
 * ```ts
 * import { WeightBuffers } from "./_weight_buffers.ts";
 * const weights = new WeightBuffers();
 * const copy = weights.place(new Uint8Array([1, 2, 3]));
 * weights.locate(copy); // 0
 * weights.release(); // copy.byteLength === 0
 * ```
 */
export class WeightBuffers {
  /** The buffers, in the order they were made. */
  readonly buffers: Uint8Array<ArrayBuffer>[] = [];
  private readonly index = new Map<ArrayBufferLike, number>();

  /** Copies `bytes` into a buffer of its own and returns the copy. */
  place(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
    const view = this.reserve(bytes.byteLength);
    view.set(bytes);
    return view;
  }

  /** A buffer of `n` zeroed bytes, to be filled in place. */
  reserve(n: number): Uint8Array<ArrayBuffer> {
    const view = new Uint8Array(new ArrayBuffer(n, { maxByteLength: n }), 0, n);
    this.index.set(view.buffer, this.buffers.length);
    this.buffers.push(view);
    return view;
  }

  /** The index of the buffer `view` (from `place` or `reserve`) is, or `null` for other bytes. */
  locate(view: Uint8Array): number | null {
    return this.index.get(view.buffer) ?? null;
  }

  /** Frees every buffer now (`releaseData`; those freed already are skipped). */
  release(): void {
    releaseData(this.buffers);
    this.buffers.length = 0;
    this.index.clear();
  }
}

let active: WeightBuffers | null = null;

/**
 * Runs the synchronous `build` (a graph's tracing and `GraphBuilder.build`) with `weights`
 * receiving the bytes of the initializers `WeightInitializers` makes (see
 * {@linkcode activeWeightBuffers}).
 */
export function collectWeightsInto<R>(weights: WeightBuffers, build: () => R): R {
  const outer = active;
  active = weights;
  try {
    return build();
  } finally {
    active = outer;
  }
}

/** The buffers of the graph being built by {@linkcode collectWeightsInto}, or `null`. */
export function activeWeightBuffers(): WeightBuffers | null {
  return active;
}
