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
  EntryNotFoundError,
  HubError,
  type HubErrorContext,
  OfflineModeError,
  UnsafeRedirectError,
  UnverifiableDownloadError,
} from "./hub_errors.ts";
import {
  describeFile,
  hubErrorFromResponse,
  hubFetch,
  hubHeaders,
  isHubUnavailable,
  isPathRedirect,
  resolvedEndpoint,
  resolvedToken,
  resolveRedirect,
  warnOnce,
} from "./_http.ts";
import { etagKind } from "./_verify.ts";
import { DEFAULT_MAX_UNSIZED_BYTES, defaultDownloadTimeoutMs, ensureBlob } from "./_blob.ts";
import { cacheStep, ensureCacheDir, isSafeCachedFile, refuseSymlink } from "./_cache_fs.ts";

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
  /**
   * Overall deadline of one file's download (all resumes together), ms; default 60 s plus 1 s per
   * 64 KiB announced, or 10 minutes when the server announced no size. Past it: `HubTimeoutError`.
   */
  downloadTimeoutMs?: number;
  /**
   * Most bytes accepted for a file whose size the server did not announce; default 1 GiB. Past it:
   * `ResponseTooLargeError`. (A file with an announced size is always cut at that size.)
   */
  maxUnsizedBytes?: number;
  /** Most bytes accepted for an API answer (`/api/models/...`); default 32 MiB. */
  maxMetadataBytes?: number;
  /** Where one-line warnings go; default a line on stderr (once per process for each). */
  onWarning?: (message: string) => void;
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
  for (let hop = 0; hop < 10; hop++) {
    // The token goes only to the endpoint's origin: a redirect elsewhere never carries it.
    const headers = hubHeaders(token, url, endpoint, opts.onWarning);
    headers.set("accept-encoding", "identity");
    const res = await hubFetch(url, {
      method: "HEAD",
      headers,
      redirect: "manual",
      signal: AbortSignal.timeout(opts.etagTimeoutMs ?? 10_000),
    }, ctx);
    await res.body?.cancel().catch(() => {});
    const raw = res.headers.get("location");
    // Resolved with the URL parser: "//host", "/\\host", "\\host" are other hosts, "file:" is refused.
    const location = res.status >= 300 && res.status < 400 && raw !== null
      ? resolveRedirect(raw, url, ctx)
      : null;
    if (location && isPathRedirect(raw ?? "") && location.origin === new URL(url).origin) {
      url = location.href; // a path on the same server: renamed repository (as Python follows)
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
    if (
      !etag || !/^[A-Za-z0-9._-]{1,128}$/.test(etag) || etag === "." || etag === ".." ||
      etag.endsWith(".incomplete")
    ) {
      throw new HubError(
        `hub: ${url} answered without a usable ETag (got ${JSON.stringify(etag)}); ` +
          `cannot name the cached blob`,
        ctx,
      );
    }
    const size = sizeText !== null && /^\d{1,15}$/.test(sizeText) ? Number(sizeText) : null;
    return { commitHash, etag, size, location: location?.href ?? url };
  }
  throw new UnsafeRedirectError(`hub: too many redirects for ${describeFile(ctx)} (last ${url})`, {
    ...ctx,
    location: url,
  });
}

/**
 * Writes `refs/<revision>` = `commit` unless it already holds that (as Python does). The folder
 * must be inside the cache and the ref no symlink; a ref that collides with another (`v1` and
 * `v1/x`) is a `CacheLayoutError`.
 */
export async function cacheCommitForRevision(
  storage: string,
  revision: string,
  commit: string,
): Promise<void> {
  if (revision === commit) return;
  const refPath = join(storage, "refs", revision);
  const ctx = { repoId: repoIdOf(storage), revision };
  await ensureCacheDir(dirname(refPath), dirname(storage), ctx);
  await refuseSymlink(refPath, ctx);
  await cacheStep("record the revision in", refPath, ctx, async () => {
    try {
      if ((await Deno.readTextFile(refPath)).trim() === commit) return;
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    await Deno.writeTextFile(refPath, commit);
  });
}

function repoIdOf(storage: string): string {
  const name = storage.split(/[\\/]/).pop() ?? "";
  return name.replace(/^models--/, "").replace("--", "/");
}

let linkSeq = 0;

/**
 * Links `snapshots/<commit>/<file>` to `../../blobs/<etag>` (relative), or copies where links fail.
 * The link is made under a temporary name and renamed over the pointer, so a concurrent reader
 * (or another process linking the same file) never sees it missing.
 */
async function linkIntoSnapshot(
  blobPath: string,
  pointerPath: string,
  cacheDir: string,
  ctx: HubErrorContext,
): Promise<void> {
  await ensureCacheDir(dirname(pointerPath), cacheDir, ctx);
  const tmp = join(dirname(pointerPath), `.encdec-link-${Deno.pid}-${linkSeq++}`);
  await cacheStep("link the file at", pointerPath, ctx, async () => {
    try {
      try {
        await Deno.symlink(relative(dirname(pointerPath), blobPath), tmp, { type: "file" });
      } catch {
        await Deno.copyFile(blobPath, tmp); // no symlink support (Windows without developer mode)
      }
      await Deno.rename(tmp, pointerPath);
    } finally {
      await Deno.remove(tmp).catch(() => {});
    }
  });
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
    if (await isSafeCachedFile(pointer, cacheDir, ctx)) return pointer;
  }

  if (opts.localFilesOnly ?? isOfflineMode()) {
    const commit = await resolveCachedCommit(storage, revision);
    const repoCached = await exists(storage);
    return await fromCacheOr(
      repoId,
      filename,
      revision,
      cacheDir,
      new OfflineModeError(
        `hub: offline mode (HF_HUB_OFFLINE=1 or localFilesOnly) and ${describeFile(ctx)} is not ` +
          `in the cache directory ${cacheDir} (${
            repoCached
              ? `looked for ${join(storage, "snapshots", commit, filename)}`
              : `it holds nothing of "${repoId}": no ${storage}`
          }; set by HF_HUB_CACHE or HF_HOME); download it once while online, or unset ` +
          `HF_HUB_OFFLINE`,
        { ...ctx, cacheDir, repoCached },
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
      await recordNoExist(storage, cacheDir, revision, filename, e).catch(() => {});
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
  if (await isSafeCachedFile(pointer, cacheDir, ctx)) return pointer;

  if (etagKind(meta.etag) === null) {
    if (meta.size === null) {
      throw new UnverifiableDownloadError(
        `hub: cannot verify ${describeFile(ctx)}: its ETag ${JSON.stringify(meta.etag)} is ` +
          `neither a sha256 (64 hex) nor a git blob sha1 (40 hex) and no size was announced ` +
          `(X-Linked-Size / Content-Length); nothing was downloaded. Is HF_ENDPOINT (${endpoint}) ` +
          `a Hugging Face Hub?`,
        ctx,
      );
    }
    warnOnce(
      `unverifiable ${repoId} ${filename} ${meta.etag}`,
      `hub: warning: ${describeFile(ctx)} has an ETag (${meta.etag}) that is no content hash; ` +
        `only its size (${meta.size} bytes) can be checked`,
      opts.onWarning,
    );
  }
  await ensureBlob(
    blobPath,
    join(cacheDir, ".locks", repoFolderName(repoId), `${meta.etag}.lock`),
    cacheDir,
    {
      url: meta.location,
      endpoint,
      token,
      size: meta.size,
      etag: meta.etag,
      ctx,
      quiet: opts.quiet ?? false,
      readTimeoutMs: opts.readTimeoutMs ?? 60_000,
      downloadTimeoutMs: opts.downloadTimeoutMs ?? defaultDownloadTimeoutMs(meta.size),
      maxUnsizedBytes: opts.maxUnsizedBytes ?? DEFAULT_MAX_UNSIZED_BYTES,
      maxRetries: opts.maxRetries ?? 5,
      onWarning: opts.onWarning,
    },
  );
  await linkIntoSnapshot(blobPath, pointer, cacheDir, ctx);
  if (!(await isSafeCachedFile(pointer, cacheDir, ctx))) {
    throw new HubError(
      `hub: ${pointer} vanished right after it was linked for ${describeFile(ctx)}`,
    );
  }
  return pointer;
}

/** Records `.no_exist/<commit>/<file>` after a 404 EntryNotFound that named its commit. */
async function recordNoExist(
  storage: string,
  cacheDir: string,
  revision: string,
  filename: string,
  e: EntryNotFoundError,
): Promise<void> {
  const commit = e.commitHash;
  if (!commit) return;
  await cacheCommitForRevision(storage, revision, commit);
  const marker = join(storage, ".no_exist", commit, filename);
  const ctx = { repoId: e.repoId, filename, revision };
  await ensureCacheDir(dirname(marker), cacheDir, ctx);
  await refuseSymlink(marker, ctx);
  await Deno.writeFile(marker, new Uint8Array());
}
