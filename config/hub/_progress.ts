/**
 * A one-line download progress bar on stderr, drawn only when stderr is a terminal; colour unless
 * `NO_COLOR` is set. Private to the Hub client.
 *
 * @module
 */
import { getEnv } from "./cache.ts";

function human(n: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${i === 0 ? n.toFixed(0) : n.toFixed(1)}${units[i]}`;
}

/** Where a bar draws: stderr by default; tests pass their own. */
export interface ProgressSink {
  /** Whether the sink is an interactive terminal (bars are drawn only then). */
  isTerminal(): boolean;
  /** Writes raw text. */
  write(text: string): void;
}

const encoder = new TextEncoder();
const stderrSink: ProgressSink = {
  isTerminal: () => Deno.stderr.isTerminal(),
  write: (text) => {
    Deno.stderr.writeSync(encoder.encode(text));
  },
};

/** Extra settings of a bar. */
export interface ProgressOptions {
  /** What is counted: bytes (default, shown as kB/MB) or files. */
  unit?: "bytes" | "files";
  /** Output; default stderr. */
  sink?: ProgressSink;
}

/** Progress of one download (bytes) or of a set of files; a no-op when disabled. */
export class ProgressBar {
  #label: string;
  #total: number | null;
  #done = 0;
  #enabled: boolean;
  #color: boolean;
  #lastDraw = 0;
  #start = performance.now();
  #sink: ProgressSink;
  #fmt: (n: number) => string;

  /** Starts a bar for `label` (`total` when known, `initial` already done). */
  constructor(
    label: string,
    total: number | null,
    initial: number,
    quiet: boolean,
    opts: ProgressOptions = {},
  ) {
    this.#label = label.length > 40 ? "…" + label.slice(-39) : label;
    this.#total = total;
    this.#done = initial;
    this.#sink = opts.sink ?? stderrSink;
    this.#fmt = opts.unit === "files" ? (n) => String(n) : human;
    let tty = false;
    try {
      tty = this.#sink.isTerminal();
    } catch {
      tty = false;
    }
    this.#enabled = !quiet && tty;
    this.#color = getEnv("NO_COLOR") === undefined;
  }

  /** Sets the byte count (after a resume restart, for example). */
  set(done: number): void {
    this.#done = done;
    this.#draw(false);
  }

  /** Adds `n` downloaded bytes. */
  add(n: number): void {
    this.#done += n;
    this.#draw(false);
  }

  /** Draws the final state and ends the line. */
  close(): void {
    if (!this.#enabled) return;
    this.#draw(true);
    this.#write("\n");
    this.#enabled = false;
  }

  #draw(force: boolean): void {
    if (!this.#enabled) return;
    const now = performance.now();
    if (!force && now - this.#lastDraw < 100) return;
    this.#lastDraw = now;
    const secs = Math.max((now - this.#start) / 1000, 1e-3);
    const rate = this.#fmt === human ? ` [${human(this.#done / secs)}/s]` : "";
    let line: string;
    if (this.#total && this.#total > 0) {
      const frac = Math.min(this.#done / this.#total, 1);
      const width = 24;
      const filled = Math.round(frac * width);
      let bar = "█".repeat(filled) + " ".repeat(width - filled);
      if (this.#color) bar = `\x1b[32m${bar}\x1b[0m`;
      line = `${this.#label}: ${(frac * 100).toFixed(0).padStart(3)}%|${bar}| ` +
        `${this.#fmt(this.#done)}/${this.#fmt(this.#total)}${rate}`;
    } else {
      line = `${this.#label}: ${this.#fmt(this.#done)}${rate}`;
    }
    this.#write(`\r${line}\x1b[K`);
  }

  #write(s: string): void {
    try {
      this.#sink.write(s);
    } catch {
      this.#enabled = false;
    }
  }
}
