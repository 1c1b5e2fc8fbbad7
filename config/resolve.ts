/**
 * The one place that turns "a local directory or a Hub model id" plus a file name into a local
 * path. Configs, tokenizers and weights all load through `resolveModelFile`, so Hub download and
 * caching (see `hub/`) apply to every loader at once.
 *
 * @module
 */
import { recoverDirectorySwap } from "./atomic_write.ts";
import { EncdecError } from "./errors.ts";
import { containedRealPath } from "./_contained.ts";
import { hfHubDownload } from "./hub/download.ts";
import { validateRepoId } from "./hub/cache.ts";
import { EntryNotFoundError, OfflineModeError } from "./hub/hub_errors.ts";

/** Options for resolving a model file. */
export interface ResolveOptions {
  /** Git revision (branch, tag or commit) on the Hub; default `"main"`. */
  revision?: string;
  /** Return `null` instead of throwing when the file does not exist. */
  optional?: boolean;
  /** Override of `$HF_HOME/hub` for the cache. */
  cacheDir?: string;
  /** Hub token (default `$HF_TOKEN`). */
  token?: string;
  /** Only use the cache (default `$HF_HUB_OFFLINE=1`). */
  localFilesOnly?: boolean;
  /** Hub endpoint (default `$HF_ENDPOINT` or `https://huggingface.co`). */
  endpoint?: string;
  /** No download progress bar (it is drawn only when stderr is a terminal anyway). */
  quiet?: boolean;
}

/** A model file or directory that cannot be found or read. */
export class ResolveError extends EncdecError {}

/** True when `idOrDir` names an existing local directory. */
export async function isLocalDir(idOrDir: string): Promise<boolean> {
  try {
    return (await Deno.stat(idOrDir)).isDirectory;
  } catch {
    return false;
  }
}

/** True when `idOrDir` can only be meant as a filesystem path (so it is never a Hub id). */
function looksLikePath(idOrDir: string): boolean {
  return /^(\.{1,2}([\/]|$)|[\/~]|[A-Za-z]:[\\/])/.test(idOrDir) || idOrDir.includes("\\") ||
    idOrDir.split("/").length > 2;
}

/**
 * Returns the local path of `filename` inside the model `idOrDir`, or `null` when `optional` is set
 * and the file is absent.
 *
 * `idOrDir` is an existing local directory, or else a Hub model id (`org/name` or `name`) that is
 * resolved through the shared Hub cache (`hfHubDownload`: downloaded once, then found in the cache,
 * also when Python downloaded it). For a Hub id, `optional` turns "the repository has no such file"
 * (HTTP 404 `EntryNotFound`) and "offline, the model is cached but not this file" into `null`;
 * every other failure (also "offline and nothing of the model cached") throws a typed `HubError`.
 *
 * @example
 * ```ts
 * import { resolveModelFile } from "@encdec/config";
 * const path = await resolveModelFile("./my-model", "config.json");
 * const gen = await resolveModelFile("org/name", "generation_config.json", { optional: true });
 * ```
 */
export async function resolveModelFile(
  idOrDir: string,
  filename: string,
  opts: ResolveOptions = {},
): Promise<string | null> {
  // A save killed between the two renames of its directory swap leaves `<dir>` missing with both
  // complete versions beside it: finish the swap (the new set) before looking (see `atomic_write.ts`).
  if (!(await isLocalDir(idOrDir))) await recoverDirectorySwap(idOrDir).catch(() => false);
  if (await isLocalDir(idOrDir)) {
    const path = `${idOrDir.replace(/\/+$/, "")}/${filename}`;
    let isFile = false;
    try {
      isFile = (await Deno.stat(path)).isFile;
    } catch {
      // fall through
    }
    if (isFile) {
      await containedRealPath(idOrDir, path); // a symlink may not lead outside the directory
      return path;
    }
    if (opts.optional) return null;
    throw new ResolveError(`${path}: file not found in model directory "${idOrDir}"`);
  }
  if (looksLikePath(idOrDir)) {
    throw new ResolveError(
      `"${idOrDir}": no such model directory (and it is not a Hub model id "org/name"); ` +
        `check the path`,
    );
  }
  validateRepoId(idOrDir);
  try {
    return await hfHubDownload(idOrDir, filename, {
      revision: opts.revision,
      cacheDir: opts.cacheDir,
      token: opts.token,
      endpoint: opts.endpoint,
      localFilesOnly: opts.localFilesOnly,
      quiet: opts.quiet,
    });
  } catch (e) {
    // Offline, an optional file of a cached model is just absent; a model the cache holds nothing
    // of stays an OfflineModeError, which names the cache directory that was looked in.
    const absent = e instanceof EntryNotFoundError ||
      (e instanceof OfflineModeError && e.repoCached !== false);
    if (opts.optional && absent) {
      return null;
    }
    throw e;
  }
}
