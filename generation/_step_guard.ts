// Private: what generation does between and around model calls so one call never owns the
// process: an abort check (`signal`) and a macrotask yield between decode steps (the event loop
// runs timers, I/O and other requests). `maxTime` is HF's stopping criterion (stopping.ts),
// checked after every step.
import { GenerationAbortedError } from "./errors.ts";

/**
 * Work (ms) after which a yield is a `setTimeout(0)` turn (Deno polls sockets then) instead of a
 * `MessageChannel` message: the most a server's other requests wait for I/O during a generation
 * (plus one decode step), and at most ~2 ms / 50 ms = 4 % of the generation's time.
 */
const TIMER_TURN_MS = 50;

/**
 * One per `generate()` call. `between()` is awaited before every decode step; `check()` is
 * called after each model call and between batch chunks. `close()` frees the channel.
 */
export class StepGuard {
  /** Decode steps completed (the step count reported in an abort). */
  steps = 0;
  private channel: MessageChannel | null = null;
  private wake: (() => void) | null = null;

  /** `signal` cancels the call (none: never). */
  constructor(private readonly signal?: AbortSignal) {}

  /** Throws {@link GenerationAbortedError} when the signal has aborted. */
  check(): void {
    if (this.signal?.aborted) throw new GenerationAbortedError(this.signal.reason, this.steps);
  }

  /**
   * Counts a finished step, lets the event loop run one macrotask turn (a `MessageChannel`
   * message: ~15 µs, where `setTimeout(0)` is clamped to ~2 ms), then checks the signal.
   */
  async between(): Promise<void> {
    this.steps++;
    await this.macrotask();
    this.check();
  }

  /** When the last timer yield happened (`performance.now()`). */
  private lastTimer = performance.now();

  private macrotask(): Promise<void> {
    // A MessageChannel message alone does not let Deno poll sockets (Deno.serve starves: the
    // edge example's /health took seconds during a generation), so a timer turn is taken at
    // least every TIMER_TURN_MS of work. Not every step: a setTimeout(0) turn costs ~2 ms in
    // Deno, which was 8-13 % of a generation whose steps take ~10-20 ms (bench/README.md).
    const now = performance.now();
    if (typeof MessageChannel === "undefined" || now - this.lastTimer >= TIMER_TURN_MS) {
      this.lastTimer = now;
      return new Promise((resolve) => setTimeout(resolve, 0));
    }
    if (this.channel === null) {
      this.channel = new MessageChannel();
      this.channel.port1.onmessage = () => {
        const w = this.wake;
        this.wake = null;
        w?.();
      };
    }
    const ch = this.channel;
    return new Promise((resolve) => {
      this.wake = resolve;
      ch.port2.postMessage(0);
    });
  }

  /** Closes the channel (an open port would keep the process alive). */
  close(): void {
    this.channel?.port1.close();
    this.channel?.port2.close();
    this.channel = null;
  }
}
