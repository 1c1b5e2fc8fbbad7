/**
 * Large shared buffers ("slabs") that the initializer bytes of one traced graph are copied into
 * while it is built for onnxruntime-web, so the host copies of a graph's weights can be handed
 * to the runtime as a few in-memory external data files and freed at once afterwards.
 *
 * Why not one buffer per initializer: a graph's weights are hundreds of buffers of 0.5–10 MB
 * alive together until its session exists. glibc's malloc serves such sizes from its heap once
 * its mmap threshold has grown (it does after the first freed buffer of that size), and freed
 * holes in the middle of the heap are never returned to the OS: loading bert2bert-base int8 left
 * ~165 MiB of freed heap resident. Chunks of at least 64 MiB are always mmapped by glibc, so
 * freeing them returns their pages.
 *
 * @module
 */
import { releaseData } from "./_host.ts";

/** Bytes per slab chunk (above glibc's largest mmap threshold, 32 MiB on 64-bit). */
export const SLAB_CHUNK_BYTES = 64 * 2 ** 20;

/** Alignment of each placed tensor in its chunk. */
const ALIGN = 64;

/**
 * Chunks that tensors' bytes are copied into, in order; a tensor larger than a chunk gets a
 * chunk of its own size.
 *
 * @example
 * ```ts
 * import { WeightSlab } from "./_weight_slab.ts";
 * const slab = new WeightSlab();
 * const copy = slab.place(new Uint8Array([1, 2, 3]));
 * slab.locate(copy); // { chunk: 0, offset: 0 }
 * slab.release();
 * ```
 */
export class WeightSlab {
  /** The chunks, in the order they were opened. */
  readonly chunks: Uint8Array[] = [];
  private readonly index = new Map<ArrayBufferLike, number>();
  private used = 0;

  /** Copies `bytes` into the slab and returns the copy (a view into a chunk). */
  place(bytes: Uint8Array): Uint8Array {
    const view = this.reserve(bytes.byteLength);
    view.set(bytes);
    return view;
  }

  /** `n` zeroed bytes in the slab, to be filled in place (a view into a chunk). */
  reserve(n: number): Uint8Array {
    let chunk = this.chunks.at(-1);
    let at = Math.ceil(this.used / ALIGN) * ALIGN;
    if (chunk === undefined || at + n > chunk.byteLength) {
      chunk = new Uint8Array(Math.max(SLAB_CHUNK_BYTES, n));
      this.index.set(chunk.buffer, this.chunks.length);
      this.chunks.push(chunk);
      at = 0;
    }
    this.used = at + n;
    return chunk.subarray(at, at + n);
  }

  /** The chunk and byte offset of a view `place` returned, or `null` for any other bytes. */
  locate(view: Uint8Array): { chunk: number; offset: number } | null {
    const chunk = this.index.get(view.buffer);
    return chunk === undefined ? null : { chunk, offset: view.byteOffset };
  }

  /** Frees every chunk now (`ArrayBuffer.prototype.transfer(0)`); the views become empty. */
  release(): void {
    releaseData(this.chunks);
    this.chunks.length = 0;
    this.index.clear();
    this.used = 0;
  }
}

let active: WeightSlab | null = null;

/**
 * Runs the synchronous `build` (a graph's tracing and `GraphBuilder.build`) with `slab`
 * receiving the bytes of the initializers `WeightInitializers` makes (see
 * {@linkcode activeWeightSlab}).
 */
export function collectWeightsInto<R>(slab: WeightSlab, build: () => R): R {
  const outer = active;
  active = slab;
  try {
    return build();
  } finally {
    active = outer;
  }
}

/** The slab of the graph being built by {@linkcode collectWeightsInto}, or `null`. */
export function activeWeightSlab(): WeightSlab | null {
  return active;
}
