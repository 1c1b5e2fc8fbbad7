/**
 * The decoder's self-attention K/V as an append-only history on the host (issue 18, goal 3):
 * each decode step returns only the K/V of its new tokens, which are appended as rows
 * `[heads, headDim]` (position-major: all rows of position `p` before those of `p + 1`), and the
 * next step reads the rows a cache names through its index `[rows, pastLen]` with one in-graph
 * `Gather`. So a step neither copies the past into a new present tensor on the host nor
 * allocates one (onnxruntime-node hands every output back in a fresh `ArrayBuffer`, and a
 * beam-4 cache of a base-size model is ~18 MB at 60 positions), and beam reordering is an index copy.
 *
 * Rows are never overwritten, so caches stay valid after the step they were passed to: two
 * continuations of one cache (or of its reorderings) append their own rows. The buffers grow by
 * doubling (one copy of what is stored) and are freed by `release`.
 *
 * @module
 */
import { releaseData } from "./_host.ts";

/** Rows the buffers are made for at first, per row of the cache. */
const INITIAL_POSITIONS = 32;

/** One lineage's K/V rows: `tensors` buffers (key and value of each layer) of `rowSize` floats per row. */
export class KvHistory {
  private buffers: Float32Array[];
  private capacity = 0;
  /** Rows stored (in each buffer). */
  rows = 0;
  /** Whether `release` freed the buffers. */
  released = false;
  /** Times the buffers were (re)allocated. */
  grows = 0;

  /**
   * An empty history.
   *
   * @param tensors buffers (2 × layers)
   * @param rowSize floats per row (heads × headDim)
   */
  constructor(readonly tensors: number, readonly rowSize: number) {
    this.buffers = Array.from({ length: tensors }, () => new Float32Array(0));
  }

  /**
   * Appends a step's new K/V: `added[i]` is `[batch, t, heads, headDim]`; position `j` of row `b`
   * becomes history row `first + j * batch + b`. Returns `first`.
   */
  append(added: readonly Float32Array[], batch: number, t: number): number {
    const first = this.rows;
    const need = first + batch * t;
    if (need > this.capacity) {
      this.grow(Math.max(need, 2 * this.capacity, INITIAL_POSITIONS * batch));
    }
    const r = this.rowSize;
    added.forEach((src, i) => {
      const dst = this.buffers[i];
      if (t === 1) {
        dst.set(src.subarray(0, batch * r), first * r); // `[batch, 1, ...]` is already row order
        return;
      }
      for (let b = 0; b < batch; b++) {
        for (let j = 0; j < t; j++) {
          const from = (b * t + j) * r;
          dst.set(src.subarray(from, from + r), (first + j * batch + b) * r);
        }
      }
    });
    this.rows = need;
    return first;
  }

  /** The stored rows of buffer `i`, `[rows, rowSize]` floats (a view; valid until the next append). */
  stored(i: number): Float32Array {
    return this.buffers[i].subarray(0, this.rows * this.rowSize);
  }

  /** Frees the buffers now (see `releaseData`); the caches of this lineage become unusable. */
  release(): void {
    releaseData(this.buffers);
    this.buffers = this.buffers.map(() => new Float32Array(0));
    this.capacity = 0;
    this.rows = 0;
    this.released = true;
  }

  private grow(rows: number): void {
    this.buffers = this.buffers.map((old) => {
      const next = new Float32Array(rows * this.rowSize);
      next.set(old.subarray(0, this.rows * this.rowSize));
      releaseData([old]);
      return next;
    });
    this.capacity = rows;
    this.grows++;
  }
}
