/**
 * `snapshotDownload`: a whole model repository (or the files matching glob patterns) into the
 * shared cache, listed by `/api/models/{repo}/revision/{rev}` as in Python `huggingface_hub`.
 *
 * @module
 */
import { join } from "node:path";
import {
  hubCacheDir,
  isCommitHash,
  isOfflineMode,
  repoFolderName,
  resolveCachedCommit,
  validateRepoId,
  validateRepoPath,
} from "./cache.ts";
import { cacheCommitForRevision, hfHubDownload, type HubDownloadOptions } from "./download.ts";
import { CacheLayoutError, HubError, OfflineModeError } from "./hub_errors.ts";
import {
  hubErrorFromResponse,
  hubGet,
  isHubUnavailable,
  readBounded,
  resolvedEndpoint,
  resolvedToken,
} from "./_http.ts";
import { assertSafeSnapshotDir, ensureCacheDir } from "./_cache_fs.ts";
import { ProgressBar } from "./_progress.ts";

/** Options of `snapshotDownload`: those of `hfHubDownload` plus file filters. */
export interface SnapshotDownloadOptions extends HubDownloadOptions {
  /** Only files matching one of these globs (`*`, `?`, `[abc]`, as Python's `fnmatch`). */
  allowPatterns?: string | string[];
  /** Skip files matching one of these globs. */
  ignorePatterns?: string | string[];
  /** Parallel file downloads; default 4. */
  maxWorkers?: number;
}

/** What the Hub API lists for a model revision. */
export interface HubModelInfo {
  /** The commit hash the revision resolved to. */
  sha: string;
  /** Repository file paths. */
  files: string[];
}

/**
 * Python `fnmatch` as a RegExp: `*` matches anything (including `/`), `?` one character, `[...]`
 * a set (`[!...]` negated). A pattern ending in `/` matches everything under that folder.
 *
 * @example
 * ```ts
 * import { globToRegExp } from "@encdec/config";
 * globToRegExp("*.json").test("config.json"); // true
 * ```
 */
export function globToRegExp(pattern: string): RegExp {
  if (pattern.endsWith("/")) pattern += "*";
  let re = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === "*") re += ".*";
    else if (c === "?") re += ".";
    else if (c === "[") {
      const end = pattern.indexOf("]", i + 2);
      if (end === -1) {
        re += "\\[";
        continue;
      }
      let body = pattern.slice(i + 1, end).replace(/\\/g, "\\\\");
      if (body.startsWith("!")) body = "^" + body.slice(1);
      else if (body.startsWith("^")) body = "\\" + body;
      re += `[${body}]`;
      i = end;
    } else re += c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  }
  return new RegExp(`^${re}$`, "s");
}

function asList(p: string | string[] | undefined): string[] | undefined {
  return p === undefined ? undefined : Array.isArray(p) ? p : [p];
}

/** Keeps the paths matching an allow pattern (when given) and no ignore pattern. */
export function filterRepoFiles(
  files: string[],
  allowPatterns?: string | string[],
  ignorePatterns?: string | string[],
): string[] {
  const allow = asList(allowPatterns)?.map(globToRegExp);
  const ignore = asList(ignorePatterns)?.map(globToRegExp) ?? [];
  return files.filter((f) =>
    (allow === undefined || allow.some((r) => r.test(f))) && !ignore.some((r) => r.test(f))
  );
}

/**
 * Lists a model revision: `GET {endpoint}/api/models/{repoId}/revision/{revision}` → `sha`,
 * `siblings[].rfilename`.
 *
 * @example
 * ```ts
 * import { modelInfo } from "@encdec/config";
 * const info = await modelInfo("org/name", { revision: "main" });
 * console.log(info.sha, info.files);
 * ```
 */
export async function modelInfo(
  repoId: string,
  opts: HubDownloadOptions = {},
): Promise<HubModelInfo> {
  const revision = opts.revision ?? "main";
  validateRepoId(repoId);
  validateRepoPath(revision, "revision", { repoId });
  const endpoint = resolvedEndpoint(opts.endpoint);
  const token = resolvedToken(opts.token);
  const url = `${endpoint}/api/models/${repoId}/revision/${encodeURIComponent(revision)}`;
  const ctx = { repoId, revision };
  const signal = AbortSignal.timeout(opts.etagTimeoutMs ?? 10_000);
  const { res, url: answered } = await hubGet(url, { headers: new Headers(), signal }, {
    token,
    endpoint,
    onWarning: opts.onWarning,
  }, ctx);
  if (!res.ok) {
    throw await hubErrorFromResponse(res, answered, { ...ctx, endpoint, hadToken: !!token });
  }
  const bytes = await readBounded(res, answered, opts.maxMetadataBytes ?? 32 << 20, signal, ctx);
  let body: unknown;
  try {
    body = JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new HubError(`hub: ${answered} did not answer JSON (${(e as Error).message})`, ctx);
  }
  const b = body as { sha?: unknown; siblings?: unknown };
  if (
    typeof b?.sha !== "string" || !isCommitHash(b.sha) || !Array.isArray(b.siblings) ||
    !b.siblings.every((s) => typeof (s as { rfilename?: unknown })?.rfilename === "string")
  ) {
    throw new HubError(
      `hub: ${answered} answered an unexpected model info (expected "sha": a 40-hex commit and ` +
        `"siblings": [{"rfilename": string}])`,
      ctx,
    );
  }
  const files = (b.siblings as { rfilename: string }[]).map((s) => s.rfilename);
  for (const f of files) validateRepoPath(f, "filename", { repoId });
  assertNoPathCollision(files, repoId, revision);
  return { sha: b.sha, files };
}

/**
 * Throws `CacheLayoutError` when one listed path is a folder of another (`a` and `a/b` both
 * files): a file system, and so the cache, cannot hold both.
 */
function assertNoPathCollision(files: string[], repoId: string, revision: string): void {
  const set = new Set(files);
  for (const f of files) {
    for (let i = f.indexOf("/"); i > 0; i = f.indexOf("/", i + 1)) {
      const dir = f.slice(0, i);
      if (set.has(dir)) {
        throw new CacheLayoutError(
          `hub: "${repoId}" at revision "${revision}" lists both the file "${dir}" and "${f}" ` +
            `inside it; a file system (and so the cache) cannot hold both`,
          { repoId, revision, filename: f },
        );
      }
    }
  }
}

async function isDir(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch {
    return false;
  }
}

/**
 * Downloads every file of a model revision (filtered by `allowPatterns` / `ignorePatterns`) into
 * the cache and returns the snapshot folder `…/models--org--name/snapshots/<commit>`. Offline, or
 * when the Hub cannot be reached, returns the cached snapshot folder of that revision if any.
 *
 * @example
 * ```ts
 * import { snapshotDownload } from "@encdec/config";
 * const dir = await snapshotDownload("org/name", { allowPatterns: ["*.json", "*.safetensors"] });
 * ```
 */
export async function snapshotDownload(
  repoId: string,
  opts: SnapshotDownloadOptions = {},
): Promise<string> {
  const revision = opts.revision ?? "main";
  validateRepoId(repoId);
  validateRepoPath(revision, "revision", { repoId });
  const cacheDir = opts.cacheDir ?? hubCacheDir();
  const storage = join(cacheDir, repoFolderName(repoId));
  const ctx = { repoId, revision };
  const cachedFolder = async (err: HubError): Promise<string> => {
    const folder = join(storage, "snapshots", await resolveCachedCommit(storage, revision));
    if (!(await isDir(folder))) throw err;
    await assertSafeSnapshotDir(folder, cacheDir, ctx);
    return folder;
  };
  if (opts.localFilesOnly ?? isOfflineMode()) {
    return await cachedFolder(
      new OfflineModeError(
        `hub: offline mode (HF_HUB_OFFLINE=1 or localFilesOnly) and "${repoId}" at revision ` +
          `"${revision}" is not in the cache directory ${cacheDir} (no snapshot under ${storage}; ` +
          `set by HF_HUB_CACHE or HF_HOME); download it once while online, or unset HF_HUB_OFFLINE`,
        { ...ctx, cacheDir, repoCached: await isDir(storage) },
      ),
    );
  }
  let info: HubModelInfo;
  try {
    info = await modelInfo(repoId, { ...opts, revision });
  } catch (e) {
    if (isHubUnavailable(e)) {
      return await cachedFolder(e);
    }
    throw e;
  }
  const files = filterRepoFiles(info.files, opts.allowPatterns, opts.ignorePatterns);
  const queue = [...files];
  // One bar counting files: per-file byte bars of parallel downloads would overwrite each other.
  const bar = new ProgressBar(
    `Fetching ${files.length} files`,
    files.length,
    0,
    opts.quiet ?? false,
    {
      unit: "files",
    },
  );
  const worker = async () => {
    for (let f = queue.shift(); f !== undefined; f = queue.shift()) {
      await hfHubDownload(repoId, f, { ...opts, cacheDir, revision: info.sha, quiet: true });
      bar.add(1);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, opts.maxWorkers ?? 4) }, worker));
  } finally {
    bar.close();
  }
  await cacheCommitForRevision(storage, revision, info.sha);
  const folder = join(storage, "snapshots", info.sha);
  await ensureCacheDir(folder, cacheDir, ctx); // an empty selection still has its folder
  return folder;
}
