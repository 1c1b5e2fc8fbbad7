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
 * A file name or revision that cannot become a path in the cache: `..`, an absolute path, a
 * backslash, a part longer than 255 bytes, a path longer than 1024 bytes.
 *
 * @example
 * ```ts
 * import { InvalidRepoPathError } from "@encdec/config";
 * const e = new InvalidRepoPathError("hub: invalid filename \"../x\"", { filename: "../x" });
 * console.log(e.filename);
 * ```
 */
export class InvalidRepoPathError extends HubError {}

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
export class OfflineModeError extends HubError {
  /** The cache directory that was looked in, when known. */
  readonly cacheDir?: string;
  /**
   * Whether the cache holds anything of the repository at all: `false` means the model was never
   * downloaded into `cacheDir` (so no file of it can be found offline), `undefined` when unknown.
   */
  readonly repoCached?: boolean;

  /** Builds the error; `context.cacheDir` and `context.repoCached` say where it looked. */
  constructor(
    message: string,
    context: HubErrorContext & { cacheDir?: string; repoCached?: boolean } = {},
    options?: ErrorOptions,
  ) {
    super(message, context, options);
    this.cacheDir = context.cacheDir;
    this.repoCached = context.repoCached;
  }
}

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

/**
 * A redirect the client refuses to follow: a `Location` that is not `http:` or `https:`
 * (`file:`, `data:`, ...), that cannot be parsed, or too many hops. The message names the file and
 * the location.
 *
 * @example
 * ```ts
 * import { UnsafeRedirectError } from "@encdec/config";
 * const e = new UnsafeRedirectError("hub: refused redirect to file:///etc/passwd", {});
 * console.log(e.location);
 * ```
 */
export class UnsafeRedirectError extends HubError {
  /** The `Location` header as the server sent it. */
  readonly location?: string;

  /** Builds the error; `context.location` is the refused `Location`. */
  constructor(
    message: string,
    context: HubErrorContext & { location?: string } = {},
    options?: ErrorOptions,
  ) {
    super(message, context, options);
    this.location = context.location;
  }
}

/**
 * An answer larger than allowed: a file body longer than its announced size (`X-Linked-Size` /
 * `Content-Length`), a body with no announced size past `maxUnsizedBytes`, or an API answer past
 * `maxMetadataBytes`. Nothing past the limit is written; the partial file is deleted.
 *
 * @example
 * ```ts
 * import { ResponseTooLargeError } from "@encdec/config";
 * const e = new ResponseTooLargeError("hub: body past 100 bytes", { filename: "config.json" });
 * console.log(e.limit);
 * ```
 */
export class ResponseTooLargeError extends HubError {
  /** The limit in bytes that was exceeded. */
  readonly limit?: number;

  /** Builds the error; `context.limit` is the byte limit that was passed. */
  constructor(
    message: string,
    context: HubErrorContext & { limit?: number } = {},
    options?: ErrorOptions,
  ) {
    super(message, context, options);
    this.limit = context.limit;
  }
}

/**
 * A request or download that did not finish within its overall deadline (`downloadTimeoutMs` for
 * a file, `etagTimeoutMs` for metadata), e.g. a body trickling a byte at a time.
 *
 * @example
 * ```ts
 * import { HubTimeoutError } from "@encdec/config";
 * const e = new HubTimeoutError("hub: download of config.json took over 60 s", {});
 * console.log(e.message);
 * ```
 */
export class HubTimeoutError extends HubError {}

/**
 * A file whose bytes cannot be checked: its ETag is neither a sha256 (64 hex) nor a git blob sha1
 * (40 hex) and the server announced no size. Nothing is downloaded.
 *
 * @example
 * ```ts
 * import { UnverifiableDownloadError } from "@encdec/config";
 * const e = new UnverifiableDownloadError("hub: cannot verify", { filename: "config.json" });
 * console.log(e.filename);
 * ```
 */
export class UnverifiableDownloadError extends HubError {}

/**
 * The cache cannot hold a file safely: a path in the cache (`blobs`, a snapshot file, `refs`, the
 * lock folder) is a symlink that leads outside the cache or the repository's folder, or a listing
 * whose paths collide in a file system (`a` and `a/b` both files, revisions `v1` and `v1/x`).
 *
 * @example
 * ```ts
 * import { CacheLayoutError } from "@encdec/config";
 * const e = new CacheLayoutError("hub: blobs is a symlink out of the cache", { repoId: "org/m" });
 * console.log(e.path);
 * ```
 */
export class CacheLayoutError extends HubError {
  /** The cache path involved. */
  readonly path?: string;

  /** Builds the error; `context.path` is the cache path involved. */
  constructor(
    message: string,
    context: HubErrorContext & { path?: string } = {},
    options?: ErrorOptions,
  ) {
    super(message, context, options);
    this.path = context.path;
  }
}
