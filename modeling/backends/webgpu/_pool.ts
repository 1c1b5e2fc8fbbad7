/**
 * Size-bucketed pool of GPU storage buffers. Freed buffers go back to a free list keyed by their
 * bucket size and are handed out again, so repeated forward passes stop allocating after the
 * first one.
 *
 * @module
 */

/** Usage flags of every pooled buffer. */
const USAGE = 0x80 /* STORAGE */ | 0x4 /* COPY_SRC */ | 0x8; /* COPY_DST */

/** Counters of a `BufferPool`, for tests and benchmarks. */
export interface PoolStats {
  /** Buffers handed out and not yet released. */
  live: number;
  /** Buffers waiting on the free lists. */
  free: number;
  /** Buffers created since the pool was made (grows only when no free buffer fits). */
  created: number;
  /** Bytes held by live buffers (bucket sizes). */
  liveBytes: number;
  /** Bytes held by free buffers. */
  freeBytes: number;
}

/**
 * The bucket a request of `bytes` falls in: 8 buckets per power of two (at most 12.5% waste),
 * at least 16 bytes.
 */
export function bucketSize(bytes: number): number {
  if (bytes <= 16) return 16;
  const top = 2 ** Math.ceil(Math.log2(bytes));
  const step = Math.max(16, top / 8);
  return Math.ceil(bytes / step) * step;
}

/** A pool of `STORAGE | COPY_SRC | COPY_DST` buffers on one device. */
export class BufferPool {
  #device: GPUDevice;
  #free = new Map<number, GPUBuffer[]>();
  #stats: PoolStats = { live: 0, free: 0, created: 0, liveBytes: 0, freeBytes: 0 };

  /** A pool on `device`. */
  constructor(device: GPUDevice) {
    this.#device = device;
  }

  /** A buffer of at least `bytes` bytes (its size is `bucketSize(bytes)`). */
  acquire(bytes: number): GPUBuffer {
    const size = bucketSize(bytes);
    const list = this.#free.get(size);
    let buffer = list?.pop();
    if (buffer) {
      this.#stats.free--;
      this.#stats.freeBytes -= size;
    } else {
      buffer = this.#device.createBuffer({ size, usage: USAGE });
      this.#stats.created++;
    }
    this.#stats.live++;
    this.#stats.liveBytes += size;
    return buffer;
  }

  /** Returns `buffer` (from `acquire`) to its free list. */
  release(buffer: GPUBuffer): void {
    const size = buffer.size;
    let list = this.#free.get(size);
    if (!list) this.#free.set(size, list = []);
    list.push(buffer);
    this.#stats.live--;
    this.#stats.liveBytes -= size;
    this.#stats.free++;
    this.#stats.freeBytes += size;
  }

  /** Destroys every free buffer (live ones are untouched). */
  trim(): void {
    for (const list of this.#free.values()) for (const b of list) b.destroy();
    this.#free.clear();
    this.#stats.free = 0;
    this.#stats.freeBytes = 0;
  }

  /** A snapshot of the counters. */
  stats(): PoolStats {
    return { ...this.#stats };
  }
}
