/**
 * The on-disk cache shared with Python `huggingface_hub` (0.22 layout), and the environment
 * variables that configure the Hub client.
 *
 * ```
 * $HF_HUB_CACHE (default $HF_HOME/hub, default ~/.cache/huggingface/hub)
 * └── models--{org}--{name}/
 *     ├── blobs/<etag>                  file contents, named by sha256 (LFS) or git blob sha1
 *     ├── blobs/<etag>.incomplete       a download in progress (resumed with Range)
 *     ├── snapshots/<commit>/<file>     relative symlink to ../../blobs/<etag>
 *     ├── refs/<revision>               the commit hash a branch or tag pointed to
 *     └── .no_exist/<commit>/<file>     empty marker: the file does not exist at that commit
 * $HF_HUB_CACHE/.locks/models--{org}--{name}/<etag>.lock   (flock, as Python's filelock)
 * ```
 *
 * @module
 */
import { join } from "node:path";
import { HubError, InvalidRepoIdError } from "./hub_errors.ts";

/** Default Hub endpoint when `$HF_ENDPOINT` is not set. */
export const DEFAULT_ENDPOINT = "https://huggingface.co";

/** Reads an environment variable; `undefined` when unset or when env access is not permitted. */
export function getEnv(name: string): string | undefined {
  try {
    const v = Deno.env.get(name);
    return v === "" ? undefined : v;
  } catch {
    return undefined;
  }
}

function expandUser(path: string): string {
  if (path === "~" || path.startsWith("~/")) {
    const home = getEnv("HOME") ?? getEnv("USERPROFILE");
    if (home) return home + path.slice(1);
  }
  return path;
}

/**
 * `$HF_HOME`, default `$XDG_CACHE_HOME/huggingface`, default `~/.cache/huggingface`.
 *
 * @example
 * ```ts
 * import { hfHome } from "@encdec/config";
 * console.log(hfHome());
 * ```
 */
export function hfHome(): string {
  const explicit = getEnv("HF_HOME");
  if (explicit) return expandUser(explicit);
  const xdg = getEnv("XDG_CACHE_HOME");
  if (xdg) return join(expandUser(xdg), "huggingface");
  const home = getEnv("HOME") ?? getEnv("USERPROFILE");
  if (!home) {
    throw new HubError(
      "hub: cannot locate the cache: neither HF_HOME, HF_HUB_CACHE nor HOME is set (or env access " +
        "is denied); set HF_HOME or pass cacheDir",
    );
  }
  return join(home, ".cache", "huggingface");
}

/**
 * The Hub cache directory: `$HF_HUB_CACHE`, else `$HF_HOME/hub` (Python's default rules).
 *
 * @example
 * ```ts
 * import { hubCacheDir } from "@encdec/config";
 * console.log(hubCacheDir()); // e.g. /home/me/.cache/huggingface/hub
 * ```
 */
export function hubCacheDir(): string {
  const explicit = getEnv("HF_HUB_CACHE") ?? getEnv("HUGGINGFACE_HUB_CACHE");
  if (explicit) return expandUser(explicit);
  return join(hfHome(), "hub");
}

/**
 * The Hub endpoint: `$HF_ENDPOINT` or `https://huggingface.co`, without a trailing slash.
 *
 * @example
 * ```ts
 * import { hubEndpoint } from "@encdec/config";
 * console.log(hubEndpoint());
 * ```
 */
export function hubEndpoint(): string {
  return (getEnv("HF_ENDPOINT") ?? DEFAULT_ENDPOINT).replace(/\/+$/, "");
}

/**
 * True when `$HF_HUB_OFFLINE` is `1`, `ON`, `YES` or `TRUE` (any case), as in Python.
 *
 * @example
 * ```ts
 * import { isOfflineMode } from "@encdec/config";
 * if (isOfflineMode()) console.log("cache only");
 * ```
 */
export function isOfflineMode(): boolean {
  const v = getEnv("HF_HUB_OFFLINE")?.trim().toUpperCase();
  return v === "1" || v === "ON" || v === "YES" || v === "TRUE";
}

/**
 * The Hub token: `$HF_TOKEN`, else `$HUGGING_FACE_HUB_TOKEN`, else the file `$HF_TOKEN_PATH`
 * (default `$HF_HOME/token`, written by `huggingface-cli login`); `undefined` when none.
 *
 * @example
 * ```ts
 * import { getHubToken } from "@encdec/config";
 * const token = getHubToken();
 * ```
 */
export function getHubToken(): string | undefined {
  const fromEnv = getEnv("HF_TOKEN") ?? getEnv("HUGGING_FACE_HUB_TOKEN");
  if (fromEnv) return fromEnv.trim();
  try {
    const path = getEnv("HF_TOKEN_PATH") ?? join(hfHome(), "token");
    const text = Deno.readTextFileSync(expandUser(path)).trim();
    return text === "" ? undefined : text;
  } catch {
    return undefined;
  }
}

const REPO_PART = /^[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?$/;

/**
 * Throws `InvalidRepoIdError` unless `repoId` is a valid Hub model id (`name` or `org/name`; letters,
 * digits, `_`, `-`, `.`; no `--` or `..`; at most 96 characters), the rules of `huggingface_hub`.
 *
 * @example
 * ```ts
 * import { validateRepoId } from "@encdec/config";
 * validateRepoId("google/bert2bert_L-24_wmt_de_en"); // ok
 * ```
 */
export function validateRepoId(repoId: string): void {
  const parts = repoId.split("/");
  const bad = (why: string) =>
    new InvalidRepoIdError(
      `hub: invalid model id ${JSON.stringify(repoId)}: ${why}; expected "name" or "org/name" ` +
        `(letters, digits, "_", "-", "."), or an existing local directory`,
      { repoId },
    );
  if (repoId.length === 0) throw bad("it is empty");
  if (repoId.length > 96) throw bad("it is longer than 96 characters");
  if (parts.length > 2) throw bad("it has more than one '/'");
  for (const p of parts) {
    if (!REPO_PART.test(p)) {
      throw bad(`part ${JSON.stringify(p)} has a character that is not allowed`);
    }
  }
  if (repoId.includes("--") || repoId.includes("..")) throw bad("'--' and '..' are not allowed");
  if (repoId.endsWith(".git")) throw bad("it ends with '.git'");
}

/** Throws unless `path` is a safe relative path inside a repo or cache folder (no `..`, no `/x`). */
export function validateRepoPath(
  path: string,
  what: "filename" | "revision",
  ctx: { repoId?: string } = {},
): void {
  const segs = path.split("/");
  if (
    path.length === 0 || path.includes("\\") || path.includes("\0") ||
    segs.some((s) => s === "" || s === "." || s === "..")
  ) {
    throw new HubError(
      `hub: invalid ${what} ${JSON.stringify(path)}${ctx.repoId ? ` for "${ctx.repoId}"` : ""}: ` +
        `expected a relative path with "/" separators and no empty, "." or ".." parts`,
      what === "filename"
        ? { repoId: ctx.repoId, filename: path }
        : { repoId: ctx.repoId, revision: path },
    );
  }
}

/**
 * True when `revision` is a full 40-character git commit hash.
 *
 * @example
 * ```ts
 * import { isCommitHash } from "@encdec/config";
 * isCommitHash("main"); // false
 * ```
 */
export function isCommitHash(revision: string): boolean {
  return /^[0-9a-f]{40}$/.test(revision);
}

/**
 * The cache folder name of a model repository: `models--{org}--{name}`.
 *
 * @example
 * ```ts
 * import { repoFolderName } from "@encdec/config";
 * repoFolderName("org/name"); // "models--org--name"
 * ```
 */
export function repoFolderName(repoId: string): string {
  return ["models", ...repoId.split("/")].join("--");
}

/**
 * Marker returned by `tryToLoadFromCache` when the cache records that the file does not exist at
 * that revision (`.no_exist/<commit>/<file>`).
 */
export const CACHED_NO_EXIST: unique symbol = Symbol("CACHED_NO_EXIST");

/** Options of `tryToLoadFromCache`. */
export interface CacheLookupOptions {
  /** Branch, tag or commit; default `"main"`. */
  revision?: string;
  /** Cache directory; default `hubCacheDir()`. */
  cacheDir?: string;
}

/** True when `path` exists; follows symlinks, so a dangling snapshot link counts as absent. */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Reads `refs/<revision>`; the revision itself when no ref is recorded. */
export async function resolveCachedCommit(storage: string, revision: string): Promise<string> {
  try {
    const text = (await Deno.readTextFile(join(storage, "refs", revision))).trim();
    if (isCommitHash(text)) return text;
  } catch {
    // no ref recorded
  }
  return revision;
}

/**
 * Looks `filename` up in the cache without any network access (Python's
 * `try_to_load_from_cache`): the snapshot path, `CACHED_NO_EXIST`, or `null` when unknown.
 *
 * @example
 * ```ts
 * import { tryToLoadFromCache } from "@encdec/config";
 * const hit = await tryToLoadFromCache("org/name", "config.json");
 * if (typeof hit === "string") console.log(await Deno.readTextFile(hit));
 * ```
 */
export async function tryToLoadFromCache(
  repoId: string,
  filename: string,
  opts: CacheLookupOptions = {},
): Promise<string | null | typeof CACHED_NO_EXIST> {
  const revision = opts.revision ?? "main";
  validateRepoId(repoId);
  validateRepoPath(filename, "filename", { repoId });
  validateRepoPath(revision, "revision", { repoId });
  const storage = join(opts.cacheDir ?? hubCacheDir(), repoFolderName(repoId));
  if (!(await exists(storage))) return null;
  const commit = await resolveCachedCommit(storage, revision);
  const pointer = join(storage, "snapshots", commit, filename);
  if (await exists(pointer)) return pointer;
  if (await exists(join(storage, ".no_exist", commit, filename))) return CACHED_NO_EXIST;
  return null;
}
