// Private: reading a request body under a size limit and a deadline (slow-body clients).
import { HttpError } from "./_http.ts";

/**
 * Reads the body as UTF-8, refusing more than `limit` bytes (413, from `Content-Length` or while
 * streaming) and a body that has not fully arrived `timeoutMs` after the call (408: slow-body
 * clients, "slowloris", cannot hold a request open). Invalid UTF-8 → 400.
 */
export async function readBody(req: Request, limit: number, timeoutMs: number): Promise<string> {
  const declared = Number(req.headers.get("content-length") ?? "NaN");
  if (declared > limit) {
    throw new HttpError(413, `request body is ${declared} bytes; the limit is ${limit} bytes`);
  }
  if (!req.body) return "";
  const reader = req.body.getReader();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new HttpError(
            408,
            `request body did not arrive within ${timeoutMs / 1000} s; send the whole body at once`,
          ),
        ),
      timeoutMs,
    );
  });
  const parts: Uint8Array[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await Promise.race([reader.read(), deadline]);
      if (done) break;
      total += value.length;
      if (total > limit) {
        throw new HttpError(
          413,
          `request body is over ${limit} bytes; the limit is ${limit} bytes`,
        );
      }
      parts.push(value);
    }
  } catch (e) {
    reader.cancel().catch(() => {});
    throw e;
  } finally {
    clearTimeout(timer);
  }
  const bytes = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    bytes.set(p, off);
    off += p.length;
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new HttpError(400, "request body is not valid UTF-8");
  }
}
