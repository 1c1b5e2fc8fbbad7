/**
 * `hfHubDownload`: one file of a Hub model repository into the cache shared with Python
 * `huggingface_hub` 0.22, with the same protocol (HEAD on `/resolve/`, `X-Repo-Commit`,
 * `X-Linked-Etag`, `X-Linked-Size`, CDN redirects), resume with `Range`, content verification,
 * a lock per blob, and atomic rename into place.
 *
 * @module
 */
import { dirname, join, relative } from "node:path";
import {
  CACHED_NO_EXIST,
  exists,
  hubCacheDir,
  isCommitHash,
  isOfflineMode,
  repoFolderName,
  resolveCachedCommit,
  tryToLoadFromCache,
  validateRepoId,
  validateRepoPath,
} from "./cache.ts";
import {
  CorruptDownloadError,
  EntryNotFoundError,
  HubConnectionError,
  HubError,
  type HubErrorContext,
  HubHttpError,
  OfflineModeError,
} from "./hub_errors.ts";
import {
  hubErrorFromResponse,
  hubFetch,
  hubHeaders,
  isHubUnavailable,
  resolvedEndpoint,
  resolvedToken,
} from "./_http.ts";
import { etagKind, hashFile } from "./_verify.ts";
import { ProgressBar } from "./_progress.ts";

/** Options of `hfHubDownload` (and, through it, `snapshotDownload` and `resolveModelFile`). */
export interface HubDownloadOptions {
  /** Branch, tag or full commit hash; default `"main"`. */
  revision?: string;
  /** Cache directory; default `$HF_HUB_CACHE` or `$HF_HOME/hub`. */
  cacheDir?: string;
  /** Bearer token; default `$HF_TOKEN` (or the `huggingface-cli login` token file); `false`: none. */
  token?: string | false;
  /** Hub endpoint; default `$HF_ENDPOINT` or `https://huggingface.co`. */
  endpoint?: string;
  /** Use only the cache, never the network; default `$HF_HUB_OFFLINE`. */
  localFilesOnly?: boolean;
  /** No progress bar (it is drawn only when stderr is a terminal anyway). */
  quiet?: boolean;
  /** Timeout of the metadata (HEAD) request, ms; default 10000. */
  etagTimeoutMs?: number;
  /** Abort a download that receives no byte for this long, ms; default 60000. */
  readTimeoutMs?: number;
  /** How many times a cut connection is resumed within one call; default 5. */
  maxRetries?: number;
}

/** What the Hub announces about a file (`get_hf_file_metadata` in Python). */
export interface HubFileMetadata {
  /** The commit the revision resolved to (`X-Repo-Commit`). */
  commitHash: string;
  /** Normalised ETag: sha256 for LFS files (`X-Linked-Etag`), git blob sha1 otherwise. */
  etag: string;
  /** Size in bytes (`X-Linked-Size` or `Content-Length`), `null` when not announced. */
  size: number | null;
  /** Where to GET the bytes: the CDN `Location` for LFS files, else the resolve URL. */
  location: string;
}

/**
 * The resolve URL of a file: `{endpoint}/{repoId}/resolve/{revision}/{filename}`.
 *
 * @example
 * ```ts
 * import { hfHubUrl } from "@encdec/config";
 * hfHubUrl("org/name", "config.json", { endpoint: "https://huggingface.co" });
 * // "https://huggingface.co/org/name/resolve/main/config.json"
 * ```
 */
export function hfHubUrl(
  repoId: string,
  filename: string,
  opts: { revision?: string; endpoint?: string } = {},
): string {
  const endpoint = resolvedEndpoint(opts.endpoint);
  const file = filename.split("/").map(encodeURIComponent).join("/");
  return `${endpoint}/${repoId}/resolve/${encodeURIComponent(opts.revision ?? "main")}/${file}`;
}

function normalizeEtag(etag: string | null): string | null {
  if (etag === null) return null;
  return etag.replace(/^W\//, "").replace(/^"|"$/g, "");
}

/**
 * HEADs the resolve URL without following absolute redirects (relative ones, used for renamed
 * repositories, are followed) and reads the commit, ETag, size and download location.
 *
 * @example
 * ```ts
 * import { getHfFileMetadata } from "@encdec/config";
 * const meta = await getHfFileMetadata("org/name", "model.safetensors");
 * console.log(meta.commitHash, meta.etag, meta.size);
 * ```
 */
export async function getHfFileMetadata(
  repoId: string,
  filename: string,
  opts: HubDownloadOptions = {},
): Promise<HubFileMetadata> {
  const revision = opts.revision ?? "main";
  const endpoint = resolvedEndpoint(opts.endpoint);
  const token = resolvedToken(opts.token);
  const ctx = { repoId, filename, revision };
  let url = hfHubUrl(repoId, filename, { revision, endpoint });
  const headers = hubHeaders(token);
  headers.set("accept-encoding", "identity");
  for (let hop = 0; hop < 10; hop++) {
    const res = await hubFetch(url, {
      method: "HEAD",
      headers,
      redirect: "manual",
      signal: AbortSignal.timeout(opts.etagTimeoutMs ?? 10_000),
    }, ctx);
    await res.body?.cancel().catch(() => {});
    const location = res.headers.get("location");
    if (
      res.status >= 300 && res.status < 400 && location && !/^[a-z][a-z0-9+.-]*:/i.test(location)
    ) {
      url = new URL(location, url).href; // relative redirect: renamed repository
      continue;
    }
    if (res.status >= 400) {
      throw await hubErrorFromResponse(res, url, { ...ctx, endpoint, hadToken: !!token });
    }
    const commitHash = res.headers.get("x-repo-commit");
    const etag = normalizeEtag(res.headers.get("x-linked-etag") ?? res.headers.get("etag"));
    const sizeText = res.headers.get("x-linked-size") ?? res.headers.get("content-length");
    if (!commitHash || !isCommitHash(commitHash)) {
      throw new HubError(
        `hub: ${url} answered without a valid X-Repo-Commit header (got ${
          JSON.stringify(commitHash)
        }); is HF_ENDPOINT (${endpoint}) a Hugging Face Hub?`,
        ctx,
      );
    }
    if (!etag || !/^[A-Za-z0-9._-]+$/.test(etag) || etag === "." || etag === "..") {
      throw new HubError(
        `hub: ${url} answered without a usable ETag (got ${JSON.stringify(etag)}); ` +
          `cannot name the cached blob`,
        ctx,
      );
    }
    const size = sizeText !== null && /^\d+$/.test(sizeText) ? Number(sizeText) : null;
    return { commitHash, etag, size, location: location ? new URL(location, url).href : url };
  }
  throw new HubHttpError(`hub: too many redirects for ${describeFile(ctx)}`, ctx);
}

function describeFile(ctx: HubErrorContext): string {
  return `"${ctx.filename}" of "${ctx.repoId}" at revision "${ctx.revision}"`;
}

async function fileSize(path: string): Promise<number> {
  try {
    return (await Deno.stat(path)).size;
  } catch {
    return 0;
  }
}

/** Writes `refs/<revision>` = `commit` unless it already holds that (as Python does). */
export async function cacheCommitForRevision(
  storage: string,
  revision: string,
  commit: string,
): Promise<void> {
  if (revision === commit) return;
  const refPath = join(storage, "refs", revision);
  try {
    if ((await Deno.readTextFile(refPath)).trim() === commit) return;
  } catch {
    // no ref yet
  }
  await Deno.mkdir(dirname(refPath), { recursive: true });
  await Deno.writeTextFile(refPath, commit);
}

/** Links `snapshots/<commit>/<file>` to `../../blobs/<etag>` (relative), or copies where links fail. */
async function linkIntoSnapshot(blobPath: string, pointerPath: string): Promise<void> {
  await Deno.mkdir(dirname(pointerPath), { recursive: true });
  try {
    await Deno.remove(pointerPath); // a dangling or stale link
  } catch {
    // absent
  }
  const target = relative(dirname(pointerPath), blobPath);
  try {
    await Deno.symlink(target, pointerPath, { type: "file" });
  } catch (e) {
    if (e instanceof Deno.errors.AlreadyExists && (await exists(pointerPath))) return; // a racer won
    // No symlink support (Windows without developer mode): copy, via a temporary sibling.
    const tmp = `${pointerPath}.tmp-${Deno.pid}`;
    await Deno.copyFile(blobPath, tmp);
    await Deno.rename(tmp, pointerPath);
  }
}

const inflight = new Map<string, Promise<void>>();

/** Runs `fn` while holding the flock on `lockPath` (the lock of Python's `filelock`, same path). */
async function withFileLock(lockPath: string, fn: () => Promise<void>): Promise<void> {
  await Deno.mkdir(dirname(lockPath), { recursive: true });
  using lock = await Deno.open(lockPath, { create: true, write: true });
  await lock.lock(true); // released by the OS if this process dies: never stale
  try {
    await fn();
  } finally {
    await lock.unlock().catch(() => {});
  }
}

interface FetchPlan {
  url: string;
  headers: Headers;
  size: number | null;
  etag: string;
  ctx: HubErrorContext;
  quiet: boolean;
  readTimeoutMs: number;
  maxRetries: number;
}

/**
 * Downloads into `incomplete`, resuming from its current length with `Range: bytes=N-`, retrying a
 * cut connection up to `maxRetries` times. Leaves the partial file for a later resume when it
 * gives up.
 */
async function downloadToIncomplete(incomplete: string, plan: FetchPlan): Promise<void> {
  const { size, ctx } = plan;
  const bar = new ProgressBar(ctx.filename ?? "", size, await fileSize(incomplete), plan.quiet);
  let lastError: unknown = null;
  try {
    for (let attempt = 0; attempt <= plan.maxRetries; attempt++) {
      if (attempt > 1) await new Promise((r) => setTimeout(r, Math.min(100 * 2 ** attempt, 2000)));
      let resume = await fileSize(incomplete);
      if (size !== null && resume > size) {
        await Deno.truncate(incomplete, 0);
        resume = 0;
      }
      if (size !== null && resume === size) return;
      bar.set(resume);
      const headers = new Headers(plan.headers);
      if (resume > 0) headers.set("range", `bytes=${resume}-`);
      const ctrl = new AbortController();
      let timer = setTimeout(() => ctrl.abort(), plan.readTimeoutMs);
      try {
        const res = await hubFetch(plan.url, { headers, signal: ctrl.signal }, ctx);
        if (res.status === 416) {
          await res.body?.cancel().catch(() => {});
          await Deno.truncate(incomplete, 0); // the partial file is longer than the remote one
          continue;
        }
        if (!res.ok) {
          throw await hubErrorFromResponse(res, plan.url, {
            ...ctx,
            endpoint: new URL(plan.url).origin,
            hadToken: headers.has("authorization"),
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
        await Deno.mkdir(dirname(incomplete), { recursive: true });
        using file = await Deno.open(incomplete, {
          create: true,
          write: true,
          append,
          truncate: !append,
        });
        if (!res.body) continue;
        const reader = res.body.getReader();
        try {
          while (true) {
            const { done, value } = await reader.read();
            if (done) break;
            clearTimeout(timer);
            timer = setTimeout(() => ctrl.abort(), plan.readTimeoutMs);
            let off = 0;
            while (off < value.length) off += await file.write(value.subarray(off));
            bar.add(value.length);
          }
        } finally {
          reader.releaseLock();
        }
        if (size === null) return;
        if ((await fileSize(incomplete)) >= size) return;
        lastError = new Error("the connection ended before the announced size");
      } catch (e) {
        if (e instanceof HubError && !(e instanceof HubConnectionError)) throw e;
        lastError = e; // cut connection or read timeout: resume on the next attempt
      } finally {
        clearTimeout(timer);
      }
    }
  } finally {
    bar.close();
  }
  const why = lastError instanceof Error ? lastError.message : String(lastError);
  throw new HubConnectionError(
    `hub: download of ${describeFile(ctx)} was cut ${plan.maxRetries + 1} times (${why}); ` +
      `run the command again to resume from ${await fileSize(incomplete)} bytes`,
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

/** Makes sure `blobs/<etag>` exists and is verified, downloading it under the blob lock. */
async function ensureBlob(blobPath: string, lockPath: string, plan: FetchPlan): Promise<void> {
  while (true) {
    const pending = inflight.get(blobPath);
    if (!pending) break;
    await pending.catch(() => {});
    if (await exists(blobPath)) return;
  }
  const job = withFileLock(lockPath, async () => {
    if (await exists(blobPath)) return; // another process finished it while we waited
    const incomplete = `${blobPath}.incomplete`;
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

async function fromCacheOr(
  repoId: string,
  filename: string,
  revision: string,
  cacheDir: string,
  error: HubError,
): Promise<string> {
  const hit = await tryToLoadFromCache(repoId, filename, { revision, cacheDir });
  if (typeof hit === "string") return hit;
  if (hit === CACHED_NO_EXIST) {
    throw new EntryNotFoundError(
      `hub: file "${filename}" of "${repoId}" at revision "${revision}" does not exist ` +
        `(recorded in the cache under .no_exist)`,
      { repoId, filename, revision },
    );
  }
  throw error;
}

/**
 * Downloads `filename` of the model repository `repoId` into the shared cache (or finds it there)
 * and returns its snapshot path `…/models--org--name/snapshots/<commit>/<filename>`.
 *
 * Online, one HEAD request resolves the revision; a file already cached (by this library or by
 * Python) is not downloaded again, and a full commit hash whose snapshot file exists needs no
 * request at all. Offline (`localFilesOnly`, `HF_HUB_OFFLINE=1`), only the cache is used.
 *
 * @example
 * ```ts
 * import { hfHubDownload } from "@encdec/config";
 * const path = await hfHubDownload("org/name", "config.json", { revision: "main" });
 * const config = JSON.parse(await Deno.readTextFile(path));
 * ```
 */
export async function hfHubDownload(
  repoId: string,
  filename: string,
  opts: HubDownloadOptions = {},
): Promise<string> {
  const revision = opts.revision ?? "main";
  validateRepoId(repoId);
  validateRepoPath(filename, "filename", { repoId });
  validateRepoPath(revision, "revision", { repoId });
  const cacheDir = opts.cacheDir ?? hubCacheDir();
  const storage = join(cacheDir, repoFolderName(repoId));
  const ctx = { repoId, filename, revision };

  if (isCommitHash(revision)) {
    const pointer = join(storage, "snapshots", revision, filename);
    if (await exists(pointer)) return pointer;
  }

  if (opts.localFilesOnly ?? isOfflineMode()) {
    const commit = await resolveCachedCommit(storage, revision);
    return await fromCacheOr(
      repoId,
      filename,
      revision,
      cacheDir,
      new OfflineModeError(
        `hub: offline mode (HF_HUB_OFFLINE=1 or localFilesOnly) and ${describeFile(ctx)} is not ` +
          `in the cache (looked for ${join(storage, "snapshots", commit, filename)}); download ` +
          `it once while online, or unset HF_HUB_OFFLINE`,
        ctx,
      ),
    );
  }

  const endpoint = resolvedEndpoint(opts.endpoint);
  const token = resolvedToken(opts.token);
  let meta: HubFileMetadata;
  try {
    meta = await getHfFileMetadata(repoId, filename, { ...opts, endpoint, revision, token });
  } catch (e) {
    if (e instanceof EntryNotFoundError) {
      await recordNoExist(storage, revision, filename, e).catch(() => {});
      throw e;
    }
    if (isHubUnavailable(e)) {
      return await fromCacheOr(repoId, filename, revision, cacheDir, e);
    }
    throw e;
  }

  await cacheCommitForRevision(storage, revision, meta.commitHash);
  const blobPath = join(storage, "blobs", meta.etag);
  const pointer = join(storage, "snapshots", meta.commitHash, filename);
  if (await exists(pointer)) return pointer;

  const headers = hubHeaders(token);
  const resolveUrl = hfHubUrl(repoId, filename, { revision, endpoint });
  if (new URL(meta.location).host !== new URL(resolveUrl).host) headers.delete("authorization");
  await ensureBlob(
    blobPath,
    join(cacheDir, ".locks", repoFolderName(repoId), `${meta.etag}.lock`),
    {
      url: meta.location,
      headers,
      size: meta.size,
      etag: meta.etag,
      ctx,
      quiet: opts.quiet ?? false,
      readTimeoutMs: opts.readTimeoutMs ?? 60_000,
      maxRetries: opts.maxRetries ?? 5,
    },
  );
  await linkIntoSnapshot(blobPath, pointer);
  return pointer;
}

/** Records `.no_exist/<commit>/<file>` after a 404 EntryNotFound that named its commit. */
async function recordNoExist(
  storage: string,
  revision: string,
  filename: string,
  e: EntryNotFoundError,
): Promise<void> {
  const commit = e.commitHash;
  if (!commit) return;
  await cacheCommitForRevision(storage, revision, commit);
  const marker = join(storage, ".no_exist", commit, filename);
  await Deno.mkdir(dirname(marker), { recursive: true });
  await Deno.writeFile(marker, new Uint8Array());
}
