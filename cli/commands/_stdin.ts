/**
 * Reads stdin as UTF-8 text for `encdec run`, refusing binary data and oversized input with a
 * usage error instead of a crash.
 *
 * @module
 */
import { UsageError } from "../_cli.ts";

/** Largest stdin accepted (bytes); longer documents are truncated to the model's length anyway. */
export const MAX_STDIN_BYTES = 64 * 1024 * 1024;

/** Reads all of `stream` (default stdin) as UTF-8 text (a leading BOM dropped). */
export async function readStdinText(
  stream: ReadableStream<Uint8Array> = Deno.stdin.readable,
): Promise<string> {
  const parts: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of stream) {
    total += chunk.length;
    if (total > MAX_STDIN_BYTES) {
      throw new UsageError(
        `run: stdin is larger than ${MAX_STDIN_BYTES / 1024 / 1024} MiB; split the input ` +
          `(e.g. one document per line with --lines)`,
      );
    }
    parts.push(chunk);
  }
  const bytes = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    bytes.set(p, off);
    off += p.length;
  }
  if (bytes.includes(0)) {
    throw new UsageError("run: stdin contains NUL bytes (binary data?); pipe UTF-8 text");
  }
  try {
    return new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    throw new UsageError("run: stdin is not valid UTF-8 text (binary data?); pipe UTF-8 text");
  }
}
