/**
 * Typed errors of the Hugging Face Hub client. Each message is one line that names the repository,
 * file and revision involved, what happened and how to fix it.
 *
 * The hierarchy follows `huggingface_hub`: `GatedRepoError` and `UnauthorizedError` are kinds of
 * `RepositoryNotFoundError` (the Hub answers 401 both for a private repository and for one that
 * does not exist), so `catch (e) { if (e instanceof RepositoryNotFoundError) ... }` catches every
 * "cannot see this repository" case.
 *
 * @module
 */
import { EncdecError } from "../errors.ts";

/** Where on the Hub an error happened: any of the fields may be unknown. */
export interface HubErrorContext {
  /** Repository id, `org/name` or `name`. */
  repoId?: string;
  /** File path inside the repository. */
  filename?: string;
  /** Branch, tag or commit hash. */
  revision?: string;
  /** HTTP status of the answer that caused the error, when there was one. */
  status?: number;
  /** The commit the Hub named in `X-Repo-Commit`, when the answer had one. */
  commitHash?: string;
}

/**
 * The root of every Hub error (`HubError extends EncdecError`).
 *
 * @example
 * ```ts
 * import { hfHubDownload, HubError } from "@encdec/config";
 * try {
 *   await hfHubDownload("org/name", "config.json");
 * } catch (e) {
 *   if (e instanceof HubError) console.error(e.message);
 * }
 * ```
 */
export class HubError extends EncdecError {
  /** Repository id, when known. */
  readonly repoId?: string;
  /** File path inside the repository, when known. */
  readonly filename?: string;
  /** Revision, when known. */
  readonly revision?: string;
  /** HTTP status, when the error comes from an HTTP answer. */
  readonly status?: number;
  /** Commit named by the Hub answer (`X-Repo-Commit`), when known. */
  readonly commitHash?: string;

  /** Builds a Hub error with a one-line message and where it happened. */
  constructor(message: string, context: HubErrorContext = {}, options?: ErrorOptions) {
    super(message, options);
    this.repoId = context.repoId;
    this.filename = context.filename;
    this.revision = context.revision;
    this.status = context.status;
    this.commitHash = context.commitHash;
  }
}

/**
 * A repository id or file name that is not valid (`"a/b/c"`, `"../x"`, `"org--name"`, ...).
 *
 * @example
 * ```ts
 * import { InvalidRepoIdError, validateRepoId } from "@encdec/config";
 * try { validateRepoId("a/b/c"); } catch (e) { console.log(e instanceof InvalidRepoIdError); }
 * ```
 */
export class InvalidRepoIdError extends HubError {}

/**
 * The repository does not exist (HTTP 404 `RepoNotFound`), or it cannot be seen with the current
 * credentials.
 *
 * @example
 * ```ts
 * import { RepositoryNotFoundError } from "@encdec/config";
 * const e = new RepositoryNotFoundError("hub: repository \"x/y\" not found", { repoId: "x/y" });
 * console.log(e.repoId);
 * ```
 */
export class RepositoryNotFoundError extends HubError {}

/**
 * HTTP 401: the repository is private (or does not exist) and no valid token was sent.
 * Fix: set `HF_TOKEN` to a token with read access.
 *
 * @example
 * ```ts
 * import { UnauthorizedError } from "@encdec/config";
 * const e = new UnauthorizedError("hub: set HF_TOKEN", { repoId: "org/private", status: 401 });
 * console.log(e.status);
 * ```
 */
export class UnauthorizedError extends RepositoryNotFoundError {}

/**
 * HTTP 403 `GatedRepo`: the repository is gated and its conditions were not accepted with the
 * account of the token in use.
 *
 * @example
 * ```ts
 * import { GatedRepoError } from "@encdec/config";
 * const e = new GatedRepoError("hub: gated", { repoId: "org/gated", status: 403 });
 * console.log(e.status);
 * ```
 */
export class GatedRepoError extends RepositoryNotFoundError {}

/**
 * HTTP 404 `RevisionNotFound`: the branch, tag or commit does not exist in the repository.
 *
 * @example
 * ```ts
 * import { RevisionNotFoundError } from "@encdec/config";
 * const e = new RevisionNotFoundError("hub: no revision", { revision: "v9" });
 * console.log(e.revision);
 * ```
 */
export class RevisionNotFoundError extends HubError {}

/**
 * HTTP 404 `EntryNotFound`: the repository exists but holds no such file at that revision
 * (also thrown when the cache records the file as absent).
 *
 * @example
 * ```ts
 * import { EntryNotFoundError } from "@encdec/config";
 * const e = new EntryNotFoundError("hub: no file", { filename: "x.json" });
 * console.log(e.filename);
 * ```
 */
export class EntryNotFoundError extends HubError {}

/**
 * Offline mode (`HF_HUB_OFFLINE=1` or `localFilesOnly`) and the file is not in the cache.
 *
 * @example
 * ```ts
 * import { OfflineModeError } from "@encdec/config";
 * const e = new OfflineModeError("hub: offline", { filename: "config.json" });
 * console.log(e.filename);
 * ```
 */
export class OfflineModeError extends HubError {}

/**
 * The Hub could not be reached (DNS, refused connection, timeout, connection cut too often) and the
 * file is not in the cache.
 *
 * @example
 * ```ts
 * import { HubConnectionError } from "@encdec/config";
 * const e = new HubConnectionError("hub: cannot reach", {});
 * console.log(e.message);
 * ```
 */
export class HubConnectionError extends HubError {}

/**
 * A downloaded file whose size or hash (sha256 for LFS files, git blob sha1 otherwise) does not
 * match what the Hub announced. The partial file is deleted and never linked into a snapshot.
 *
 * @example
 * ```ts
 * import { CorruptDownloadError } from "@encdec/config";
 * const e = new CorruptDownloadError("hub: sha256 mismatch", { filename: "model.safetensors" });
 * console.log(e.filename);
 * ```
 */
export class CorruptDownloadError extends HubError {}

/**
 * Any other HTTP error answer of the Hub (5xx, 400, a 404 without an error code, ...).
 *
 * @example
 * ```ts
 * import { HubHttpError } from "@encdec/config";
 * const e = new HubHttpError("hub: HTTP 500", { status: 500 });
 * console.log(e.status);
 * ```
 */
export class HubHttpError extends HubError {}
