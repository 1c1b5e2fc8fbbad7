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
import { HubError, InvalidRepoIdError, InvalidRepoPathError } from "./hub_errors.ts";
import { isSafeCachedFile } from "./_cache_fs.ts";

/** Default Hub endpoint when `$HF_ENDPOINT` is not set. */
export const DEFAULT_ENDPOINT = "https://huggingface.co";

/** Reads an environment variable; `undefined` when unset, empty, or when env access is denied. */
export function getEnv(name: string): string | undefined {
  try {
    const v = Deno.env.get(name);
    return v === "" ? undefined : v;
  } catch {
    return undefined;
  }
}

/** Where the Hub client keeps and finds things, derived from the environment (`resolveHubPaths`). */
export interface HubPaths {
  /** `$HF_HOME`, else `$XDG_CACHE_HOME/huggingface`, else `~/.cache/huggingface`. */
  hfHome: string;
  /** `$HF_HUB_CACHE`, else `$HUGGINGFACE_HUB_CACHE`, else `<hfHome>/hub`. */
  cacheDir: string;
  /** `$HF_TOKEN_PATH`, else `<hfHome>/token` (written by `huggingface-cli login`). */
  tokenPath: string;
  /** `$HF_ENDPOINT` without trailing `/`, else `https://huggingface.co`. */
  endpoint: string;
  /** `$HF_HUB_OFFLINE` (else `$TRANSFORMERS_OFFLINE`) is `1`, `ON`, `YES` or `TRUE` (any case). */
  offline: boolean;
}

/** Python's `os.path.expandvars(os.path.expanduser(path))`: `~`, then `$NAME` / `${NAME}`. */
function expandPath(path: string, get: (name: string) => string | undefined): string {
  const home = get("HOME") ?? get("USERPROFILE");
  if ((path === "~" || path.startsWith("~/")) && home) path = home + path.slice(1);
  return path.replace(
    /\$(\w+|\{([^}]*)\})/g,
    (all, name: string, braced?: string) => get(braced ?? name) ?? all,
  );
}

/**
 * Resolves the Hugging Face environment exactly as `huggingface_hub` does (`constants.py`), so
 * Python and encdec use the same cache and the CLI can grant itself exactly these paths:
 *
 * - `hfHome` = `$HF_HOME`, else `$XDG_CACHE_HOME/huggingface`, else `~/.cache/huggingface`;
 * - `cacheDir` = `$HF_HUB_CACHE`, else `$HUGGINGFACE_HUB_CACHE` (legacy), else `<hfHome>/hub`;
 * - `tokenPath` = `$HF_TOKEN_PATH`, else `<hfHome>/token`;
 * - `endpoint` = `$HF_ENDPOINT` without trailing slashes, else `https://huggingface.co`;
 * - `offline` = `$HF_HUB_OFFLINE` (else `$TRANSFORMERS_OFFLINE`) in `1`/`ON`/`YES`/`TRUE`.
 *
 * Paths are expanded like Python's `expandvars(expanduser(...))`: a leading `~` with `$HOME` (or
 * `$USERPROFILE`), then `$NAME` / `${NAME}` (left as is when unset). One deliberate difference: a variable
 * set to the empty string counts as unset (Python would put the cache in the working directory).
 * Relative values stay relative to the working directory, as in Python.
 *
 * @param env the variables to read; default the process environment (a denied read counts as
 * unset).
 * @throws {HubError} when no variable locates the cache and `HOME` is not set either.
 *
 * @example
 * ```ts
 * import { resolveHubPaths } from "@encdec/config";
 * const { cacheDir, endpoint } = resolveHubPaths({ HF_HOME: "/data/hf" });
 * // cacheDir === "/data/hf/hub", endpoint === "https://huggingface.co"
 * ```
 */
export function resolveHubPaths(env?: Record<string, string | undefined>): HubPaths {
  const get = env ? (name: string) => (env[name] === "" ? undefined : env[name]) : getEnv;
  const home = get("HOME") ?? get("USERPROFILE");
  const cacheVar = get("HF_HUB_CACHE") ?? get("HUGGINGFACE_HUB_CACHE");
  const homeVar = get("HF_HOME");
  const xdg = get("XDG_CACHE_HOME");
  let hfHome: string;
  if (homeVar) hfHome = expandPath(homeVar, get);
  else if (xdg) hfHome = expandPath(join(xdg, "huggingface"), get);
  else if (home) hfHome = join(home, ".cache", "huggingface");
  else if (cacheVar) hfHome = join(expandPath(cacheVar, get), ".."); // only the cache is needed
  else {
    throw new HubError(
      "hub: cannot locate the cache: neither HF_HOME, HF_HUB_CACHE, XDG_CACHE_HOME nor HOME is " +
        "set (or env access is denied); set HF_HOME or pass cacheDir",
    );
  }
  const cacheDir = cacheVar ? expandPath(cacheVar, get) : join(hfHome, "hub");
  const tokenVar = get("HF_TOKEN_PATH");
  const tokenPath = tokenVar ? expandPath(tokenVar, get) : join(hfHome, "token");
  const endpoint = (get("HF_ENDPOINT") ?? "").replace(/\/+$/, "") || DEFAULT_ENDPOINT;
  const off = (get("HF_HUB_OFFLINE") ?? get("TRANSFORMERS_OFFLINE"))?.trim().toUpperCase();
  const offline = off === "1" || off === "ON" || off === "YES" || off === "TRUE";
  return { hfHome, cacheDir, tokenPath, endpoint, offline };
}

/**
 * `$HF_HOME`, default `$XDG_CACHE_HOME/huggingface`, default `~/.cache/huggingface`
 * (`resolveHubPaths().hfHome`).
 *
 * @example
 * ```ts
 * import { hfHome } from "@encdec/config";
 * console.log(hfHome());
 * ```
 */
export function hfHome(): string {
  return resolveHubPaths().hfHome;
}

/**
 * The Hub cache directory: `$HF_HUB_CACHE`, else `$HUGGINGFACE_HUB_CACHE`, else `$HF_HOME/hub`
 * (Python's rules; `resolveHubPaths().cacheDir`).
 *
 * @example
 * ```ts
 * import { hubCacheDir } from "@encdec/config";
 * console.log(hubCacheDir()); // e.g. /home/me/.cache/huggingface/hub
 * ```
 */
export function hubCacheDir(): string {
  return resolveHubPaths().cacheDir;
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
  return (getEnv("HF_ENDPOINT") ?? "").replace(/\/+$/, "") || DEFAULT_ENDPOINT;
}

/**
 * True when `$HF_HUB_OFFLINE` (else `$TRANSFORMERS_OFFLINE`) is `1`, `ON`, `YES` or `TRUE` (any
 * case), as in Python.
 *
 * @example
 * ```ts
 * import { isOfflineMode } from "@encdec/config";
 * if (isOfflineMode()) console.log("cache only");
 * ```
 */
export function isOfflineMode(): boolean {
  const v = (getEnv("HF_HUB_OFFLINE") ?? getEnv("TRANSFORMERS_OFFLINE"))?.trim().toUpperCase();
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
    const text = Deno.readTextFileSync(resolveHubPaths().tokenPath).trim();
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

/** Longest file name part most file systems accept, in UTF-8 bytes. */
const MAX_PART_BYTES = 255;
/** Longest repository path (or revision) accepted, in UTF-8 bytes: leaves room for the cache dir. */
const MAX_PATH_BYTES = 1024;

/**
 * Throws `InvalidRepoPathError` unless `path` can be a path inside a repo or cache folder: relative,
 * `/`-separated, no empty, `.` or `..` parts, no backslash or NUL, each part at most 255 bytes and
 * the whole at most 1024 bytes (UTF-8).
 */
export function validateRepoPath(
  path: string,
  what: "filename" | "revision",
  ctx: { repoId?: string } = {},
): void {
  const segs = path.split("/");
  const bytes = (s: string) => new TextEncoder().encode(s).length;
  let why: string | null = null;
  if (
    path.length === 0 || path.includes("\\") || path.includes("\0") ||
    segs.some((s) => s === "" || s === "." || s === "..")
  ) {
    why = `expected a relative path with "/" separators and no empty, "." or ".." parts`;
  } else if (bytes(path) > MAX_PATH_BYTES) {
    why = `it is ${bytes(path)} bytes long (${segs.length} parts); the cache holds paths of at ` +
      `most ${MAX_PATH_BYTES} bytes`;
  } else {
    const long = segs.find((s) => bytes(s) > MAX_PART_BYTES);
    if (long !== undefined) {
      why = `its part "${long.slice(0, 40)}…" is ${bytes(long)} bytes long; file systems hold ` +
        `names of at most ${MAX_PART_BYTES} bytes`;
    }
  }
  if (why === null) return;
  const shown = path.length > 120 ? `${JSON.stringify(path.slice(0, 120))}…` : JSON.stringify(path);
  throw new InvalidRepoPathError(
    `hub: invalid ${what} ${shown}${ctx.repoId ? ` for "${ctx.repoId}"` : ""}: ${why}`,
    what === "filename"
      ? { repoId: ctx.repoId, filename: path }
      : { repoId: ctx.repoId, revision: path },
  );
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
 * A snapshot file that resolves outside the cache (a planted symlink) is a `CacheLayoutError`.
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
  const cacheDir = opts.cacheDir ?? hubCacheDir();
  const storage = join(cacheDir, repoFolderName(repoId));
  if (!(await exists(storage))) return null;
  const commit = await resolveCachedCommit(storage, revision);
  const pointer = join(storage, "snapshots", commit, filename);
  if (await isSafeCachedFile(pointer, cacheDir, { repoId, filename, revision })) return pointer;
  if (await exists(join(storage, ".no_exist", commit, filename))) return CACHED_NO_EXIST;
  return null;
}

/**
 * The folder of encdec's ONNX graph cache for `env`: `ENCDEC_GRAPH_CACHE` when set (`0` or `off`:
 * no cache), else `<HF_HOME>/encdec/graphs` with `HF_HOME` resolved as {@linkcode resolveHubPaths}
 * does; `null` for no cache, or when no variable locates a home for it. One rule for the library
 * (where the cache is) and the CLI's launcher (what it grants).
 *
 * @example
 * ```ts
 * import { resolveGraphCacheFolder } from "@encdec/config";
 * resolveGraphCacheFolder({ HF_HOME: "/data/hf" }); // "/data/hf/encdec/graphs"
 * resolveGraphCacheFolder({ ENCDEC_GRAPH_CACHE: "off", HOME: "/home/me" }); // null
 * ```
 */
export function resolveGraphCacheFolder(env: Record<string, string | undefined>): string | null {
  const set = env.ENCDEC_GRAPH_CACHE;
  if (set === "0" || set?.toLowerCase() === "off") return null;
  if (set) return set;
  try {
    return `${resolveHubPaths(env).hfHome}/encdec/graphs`;
  } catch {
    return null; // no variable locates a home for it: no cache
  }
}
