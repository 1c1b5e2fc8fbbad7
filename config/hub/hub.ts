/**
 * Hugging Face Hub client: downloads model files into the cache shared with Python
 * `huggingface_hub` (`$HF_HOME/hub/models--org--name/{blobs,snapshots,refs}`), verified, resumable
 * and crash-safe. Configured by `HF_ENDPOINT`, `HF_TOKEN`, `HF_HUB_OFFLINE`, `HF_HOME`,
 * `HF_HUB_CACHE` (resolved once by `resolveHubPaths`, as `huggingface_hub` does). Hostile answers
 * are refused with typed errors: redirects other than http(s), a token for another origin, bodies
 * past their announced size, unverifiable files, trickling bodies, cache symlinks out of the cache.
 *
 * @example
 * ```ts
 * import { hfHubDownload, snapshotDownload } from "@encdec/config";
 * const config = await hfHubDownload("org/name", "config.json");
 * const folder = await snapshotDownload("org/name", { allowPatterns: "*.json" });
 * ```
 *
 * @module
 */
export * from "./hub_errors.ts";
export {
  CACHED_NO_EXIST,
  type CacheLookupOptions,
  DEFAULT_ENDPOINT,
  getHubToken,
  hfHome,
  hubCacheDir,
  hubEndpoint,
  type HubPaths,
  isCommitHash,
  isOfflineMode,
  repoFolderName,
  resolveGraphCacheFolder,
  resolveHubPaths,
  tryToLoadFromCache,
  validateRepoId,
} from "./cache.ts";
export {
  getHfFileMetadata,
  hfHubDownload,
  hfHubUrl,
  type HubDownloadOptions,
  type HubFileMetadata,
} from "./download.ts";
export {
  filterRepoFiles,
  globToRegExp,
  type HubModelInfo,
  modelInfo,
  snapshotDownload,
  type SnapshotDownloadOptions,
} from "./snapshot.ts";
