/**
 * One blob of the cache (`blobs/<etag>`) downloaded and verified: resume with `Range`, a bound on
 * the bytes written (the announced size, or `maxUnsizedBytes`), an overall deadline, sha256 / git
 * sha1 verification, an OS lock per blob, atomic rename into place. Private to `config/hub/`.
 *
 * @module
 */
import { dirname } from "node:path";
import { exists } from "./cache.ts";
import {
  CorruptDownloadError,
  HubConnectionError,
  HubError,
  type HubErrorContext,
  HubTimeoutError,
  ResponseTooLargeError,
  UnsafeRedirectError,
} from "./hub_errors.ts";
import { describeFile, hubErrorFromResponse, hubGet, type HubWarningSink } from "./_http.ts";
import { etagKind, hashFile } from "./_verify.ts";
import { ProgressBar } from "./_progress.ts";
import { ensureCacheDir, refuseSymlink } from "./_cache_fs.ts";

/** Default bound on a body whose size the server did not announce: 1 GiB. */
export const DEFAULT_MAX_UNSIZED_BYTES = 1 << 30;

/**
 * Default overall deadline of one file's download: 60 s plus 1 s per 64 KiB announced (so any
 * link faster than 64 KiB/s finishes), or 10 minutes when no size was announced.
 */
export function defaultDownloadTimeoutMs(size: number | null): number {
  return size === null ? 600_000 : 60_000 + Math.ceil(size / 65536) * 1000;
}

/** What to download and how (built by `hfHubDownload`). */
export interface FetchPlan {
  /** Where to GET the bytes (validated http(s)). */
  url: string;
  /** The Hub endpoint: the only origin the token is sent to. */
  endpoint: string;
  /** Bearer token, if any. */
  token?: string;
  /** Announced size, `null` when none was announced. */
  size: number | null;
  /** Normalised ETag: names the blob, and is its hash when 40 or 64 hex digits. */
  etag: string;
  /** Repository, file and revision, for messages. */
  ctx: HubErrorContext;
  /** No progress bar. */
  quiet: boolean;
  /** Abort an attempt that receives no byte for this long, ms. */
  readTimeoutMs: number;
  /** Overall deadline of the download (all attempts), ms. */
  downloadTimeoutMs: number;
  /** Bound on the bytes of a body whose size was not announced. */
  maxUnsizedBytes: number;
  /** Resumes of a cut connection within one call. */
  maxRetries: number;
  /** Where warnings go. */
  onWarning?: HubWarningSink;
}

async function fileSize(path: string): Promise<number> {
  try {
    return (await Deno.stat(path)).size;
  } catch {
    return 0;
  }
}

/** Runs `fn` while holding the flock on `lockPath` (the lock of Python's `filelock`, same path). */
async function withFileLock(lockPath: string, fn: () => Promise<void>): Promise<void> {
  using lock = await Deno.open(lockPath, { create: true, write: true });
  await lock.lock(true); // released by the OS if this process dies: never stale
  try {
    await fn();
  } finally {
    await lock.unlock().catch(() => {});
  }
}

/** Writes the body of `res` to `file`, at most up to `bound` bytes in total (`start` already). */
async function writeBody(
  res: Response,
  file: Deno.FsFile,
  start: number,
  bound: number,
  plan: FetchPlan,
  onChunk: (n: number) => void,
): Promise<number> {
  let written = start;
  if (!res.body) return written;
  const reader = res.body.getReader();
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      onChunk(value.length);
      if (written + value.length > bound) {
        const announced = plan.size !== null;
        throw new ResponseTooLargeError(
          `hub: the server sent more than ${bound} bytes for ${describeFile(plan.ctx)} ` +
            (announced
              ? `(its announced size, X-Linked-Size / Content-Length)`
              : `(no size was announced; maxUnsizedBytes)`) +
            `; stopped there, the partial file was deleted and nothing was cached`,
          { ...plan.ctx, limit: bound },
        );
      }
      let off = 0;
      while (off < value.length) off += await file.write(value.subarray(off));
      written += value.length;
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  return written;
}

/**
 * Downloads into `incomplete`, resuming from its current length with `Range: bytes=N-`, retrying a
 * cut connection up to `maxRetries` times within the overall deadline. Leaves the partial file for
 * a later resume when the connection gives up; deletes it when the server sends too much.
 */
async function downloadToIncomplete(incomplete: string, plan: FetchPlan): Promise<void> {
  const { size, ctx } = plan;
  // The file exists from here on, also for an empty file that needs no request at all.
  (await Deno.open(incomplete, { create: true, write: true })).close();
  const bound = size ?? plan.maxUnsizedBytes;
  const bar = new ProgressBar(ctx.filename ?? "", size, await fileSize(incomplete), plan.quiet);
  const overall = new AbortController();
  const overallTimer = setTimeout(() => overall.abort(), plan.downloadTimeoutMs);
  let lastError: unknown = null;
  try {
    for (let attempt = 0; attempt <= plan.maxRetries; attempt++) {
      if (attempt > 1) await new Promise((r) => setTimeout(r, Math.min(100 * 2 ** attempt, 2000)));
      if (overall.signal.aborted) break;
      let resume = await fileSize(incomplete);
      if (resume > bound) {
        await Deno.truncate(incomplete, 0);
        resume = 0;
      }
      if (size !== null && resume === size) return;
      bar.set(resume);
      const headers = new Headers({ "accept-encoding": "identity" });
      if (resume > 0) headers.set("range", `bytes=${resume}-`);
      const ctrl = new AbortController();
      const onOverall = () => ctrl.abort();
      overall.signal.addEventListener("abort", onOverall);
      let timer = setTimeout(() => ctrl.abort(), plan.readTimeoutMs);
      try {
        const { res, url, hadToken } = await hubGet(plan.url, { headers, signal: ctrl.signal }, {
          token: plan.token,
          endpoint: plan.endpoint,
          onWarning: plan.onWarning,
        }, ctx);
        if (res.status === 416) {
          await res.body?.cancel().catch(() => {});
          await Deno.truncate(incomplete, 0); // the partial file is longer than the remote one
          continue;
        }
        if (!res.ok) {
          throw await hubErrorFromResponse(res, url, {
            ...ctx,
            endpoint: new URL(url).origin,
            hadToken,
          });
        }
        let append = resume > 0;
        if (append && res.status === 206) {
          const start = /^bytes (\d+)-/.exec(res.headers.get("content-range") ?? "")?.[1];
          if (start === undefined || Number(start) !== resume) {
            await res.body?.cancel().catch(() => {});
            await Deno.truncate(incomplete, 0);
            continue;
          }
        } else if (append) {
          append = false; // server ignored Range: start over
          bar.set(0);
        }
        using file = await Deno.open(incomplete, { write: true, append, truncate: !append });
        await writeBody(res, file, append ? resume : 0, bound, plan, (n) => {
          clearTimeout(timer);
          timer = setTimeout(() => ctrl.abort(), plan.readTimeoutMs);
          bar.add(n);
        });
        if (size === null) return;
        if ((await fileSize(incomplete)) >= size) return;
        lastError = new Error("the connection ended before the announced size");
      } catch (e) {
        if (e instanceof HubError && !(e instanceof HubConnectionError)) {
          // A hostile answer leaves nothing behind; an HTTP error keeps a resumable partial file.
          const hostile = e instanceof ResponseTooLargeError || e instanceof UnsafeRedirectError;
          if (hostile || (await fileSize(incomplete)) === 0) {
            await Deno.remove(incomplete).catch(() => {});
          }
          throw e;
        }
        if (overall.signal.aborted) break;
        lastError = e; // cut connection or read timeout: resume on the next attempt
      } finally {
        clearTimeout(timer);
        overall.signal.removeEventListener("abort", onOverall);
      }
    }
  } finally {
    clearTimeout(overallTimer);
    bar.close();
  }
  const got = await fileSize(incomplete);
  if (overall.signal.aborted) {
    throw new HubTimeoutError(
      `hub: download of ${describeFile(ctx)} did not finish within ${plan.downloadTimeoutMs} ms ` +
        `(downloadTimeoutMs; ${got} of ${size ?? "?"} bytes); the server is too slow or ` +
        `trickling, run the command again to resume`,
      ctx,
    );
  }
  const why = lastError instanceof Error ? lastError.message : String(lastError);
  throw new HubConnectionError(
    `hub: download of ${describeFile(ctx)} was cut ${plan.maxRetries + 1} times (${why}); ` +
      `run the command again to resume from ${got} bytes`,
    ctx,
    { cause: lastError },
  );
}

/** Size and hash check of a finished `.incomplete`; deletes it and throws when it is wrong. */
async function verifyIncomplete(incomplete: string, plan: FetchPlan): Promise<void> {
  const got = await fileSize(incomplete);
  const { size, etag, ctx } = plan;
  let problem: string | null = null;
  if (size !== null && got !== size) {
    problem = `size ${got} bytes, expected ${size} (X-Linked-Size / Content-Length)`;
  } else {
    const kind = etagKind(etag);
    if (kind !== null) {
      const actual = await hashFile(incomplete, kind);
      if (actual !== etag) problem = `${kind} ${actual}, expected ${etag} (ETag)`;
    }
  }
  if (problem !== null) {
    await Deno.remove(incomplete).catch(() => {});
    throw new CorruptDownloadError(
      `hub: downloaded ${describeFile(ctx)} is corrupt: ${problem}; the partial file was ` +
        `deleted and nothing was cached, run the command again to retry`,
      ctx,
    );
  }
}

const inflight = new Map<string, Promise<void>>();

/**
 * Makes sure `blobs/<etag>` exists and is verified, downloading it under the blob lock. Every
 * folder written is checked to be inside the real cache (`cacheDir`) and no file is written
 * through a symlink.
 */
export async function ensureBlob(
  blobPath: string,
  lockPath: string,
  cacheDir: string,
  plan: FetchPlan,
): Promise<void> {
  const { ctx } = plan;
  while (true) {
    const pending = inflight.get(blobPath);
    if (!pending) break;
    await pending.catch(() => {});
    if (await exists(blobPath)) return;
  }
  const incomplete = `${blobPath}.incomplete`;
  await ensureCacheDir(dirname(blobPath), cacheDir, ctx);
  await ensureCacheDir(dirname(lockPath), cacheDir, ctx);
  for (const p of [blobPath, incomplete, lockPath]) await refuseSymlink(p, ctx);
  const job = withFileLock(lockPath, async () => {
    if (await exists(blobPath)) return; // another process finished it while we waited
    await downloadToIncomplete(incomplete, plan);
    await verifyIncomplete(incomplete, plan);
    await Deno.rename(incomplete, blobPath);
  });
  inflight.set(blobPath, job);
  try {
    await job;
  } finally {
    if (inflight.get(blobPath) === job) inflight.delete(blobPath);
  }
}
