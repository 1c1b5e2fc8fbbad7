/**
 * The one place that turns "a local directory or a Hub model id" plus a file name into a local
 * path. Configs, tokenizers and weights all load through `resolveModelFile`, so Hub download and
 * caching (see `hub/`) apply to every loader at once.
 *
 * @module
 */
import { EncdecError } from "./errors.ts";

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

/**
 * Returns the local path of `filename` inside the model `idOrDir` (a local directory for now; Hub
 * ids are resolved by the Hub client), or `null` when `optional` is set and the file is absent.
 *
 * @example
 * ```ts
 * import { resolveModelFile } from "@encdec/config";
 * const path = await resolveModelFile("./my-model", "config.json");
 * ```
 */
export async function resolveModelFile(
  idOrDir: string,
  filename: string,
  opts: ResolveOptions = {},
): Promise<string | null> {
  if (await isLocalDir(idOrDir)) {
    const path = `${idOrDir.replace(/\/+$/, "")}/${filename}`;
    try {
      const st = await Deno.stat(path);
      if (st.isFile) return path;
    } catch {
      // fall through
    }
    if (opts.optional) return null;
    throw new ResolveError(`${path}: file not found in model directory "${idOrDir}"`);
  }
  throw new ResolveError(
    `"${idOrDir}" is not a local directory, and Hub download is not available in this build`,
  );
}
