// Private: the bound on concurrent work. At most `running` generations run at once; at most
// `waiting` more requests are admitted (reading their body or waiting for a turn); any request
// beyond that is refused at once (503 + Retry-After), before its body is read.

/** A place in the {@link WorkQueue}: given back with `release()` (idempotent). */
export interface Ticket {
  /** Waits for a turn to run; rejects with the signal's reason if it aborts first. */
  turn(signal: AbortSignal): Promise<void>;
  /** Leaves the queue (or frees the running slot). */
  release(): void;
}

/** Counters of a {@link WorkQueue}, for `GET /stats`. */
export interface QueueStats {
  /** Generations running now. */
  running: number;
  /** Admitted requests not running yet (reading their body or waiting for a turn). */
  waiting: number;
  /** Requests refused with 503 since start. */
  rejected: number;
}

/** Bounded admission and a FIFO of turns. */
export class WorkQueue {
  #running = 0;
  #admitted = 0;
  #rejected = 0;
  readonly #turns: (() => void)[] = [];
  /** Mean seconds per finished generation (exponential average), for `Retry-After`. */
  #meanSeconds = 1;

  constructor(readonly maxRunning: number, readonly maxWaiting: number) {}

  /** A ticket, or `null` when the queue is full (the caller answers 503). */
  admit(): Ticket | null {
    if (this.#admitted >= this.maxRunning + this.maxWaiting) {
      this.#rejected++;
      return null;
    }
    this.#admitted++;
    let state: "waiting" | "queued" | "running" | "done" = "waiting";
    let wake: (() => void) | null = null;
    let started = 0;
    const ticket: Ticket = {
      turn: (signal) => {
        if (state !== "waiting") throw new Error("turn() called twice");
        if (signal.aborted) return Promise.reject(signal.reason);
        if (this.#running < this.maxRunning) {
          this.#running++;
          state = "running";
          started = performance.now();
          return Promise.resolve();
        }
        state = "queued";
        return new Promise<void>((resolve, reject) => {
          const onAbort = () => {
            const i = this.#turns.indexOf(wake!);
            if (i >= 0) this.#turns.splice(i, 1);
            state = "waiting";
            reject(signal.reason);
          };
          wake = () => {
            signal.removeEventListener("abort", onAbort);
            state = "running";
            started = performance.now();
            resolve();
          };
          signal.addEventListener("abort", onAbort, { once: true });
          this.#turns.push(wake);
        });
      },
      release: () => {
        if (state === "done") return;
        if (state === "queued") {
          const i = this.#turns.indexOf(wake!);
          if (i >= 0) this.#turns.splice(i, 1);
        }
        if (state === "running") {
          const seconds = (performance.now() - started) / 1000;
          this.#meanSeconds = 0.8 * this.#meanSeconds + 0.2 * seconds;
          const next = this.#turns.shift();
          if (next) next(); // the slot passes on: #running stays
          else this.#running--;
        }
        this.#admitted--;
        state = "done";
      },
    };
    return ticket;
  }

  /** Seconds a client should wait before retrying (at least 1). */
  retryAfterSeconds(): number {
    const ahead = this.#admitted / Math.max(1, this.maxRunning);
    return Math.max(1, Math.min(300, Math.ceil(ahead * this.#meanSeconds)));
  }

  /** The counters. */
  stats(): QueueStats {
    return {
      running: this.#running,
      waiting: this.#admitted - this.#running,
      rejected: this.#rejected,
    };
  }
}
