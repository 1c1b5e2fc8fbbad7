/**
 * HTTP plumbing shared by the Hub client: endpoint, token and headers, the mapping of Hub error
 * answers (`X-Error-Code`, status) to typed errors, and which failures fall back to the cache.
 * Private to `config/hub/`.
 *
 * @module
 */
import {
  EntryNotFoundError,
  GatedRepoError,
  HubConnectionError,
  HubError,
  type HubErrorContext,
  HubHttpError,
  HubTimeoutError,
  RepositoryNotFoundError,
  ResponseTooLargeError,
  RevisionNotFoundError,
  UnauthorizedError,
  UnsafeRedirectError,
} from "./hub_errors.ts";
import { getHubToken, hubEndpoint } from "./cache.ts";

/**
 * The endpoint to call: `endpoint` (default `$HF_ENDPOINT` or the Hub) without a trailing slash;
 * a `HubError` unless it is an `http(s)` URL.
 */
export function resolvedEndpoint(endpoint: string | undefined): string {
  const value = (endpoint ?? hubEndpoint()).replace(/\/+$/, "");
  let url: URL | null = null;
  try {
    url = new URL(value);
  } catch {
    // reported below
  }
  if (url === null || (url.protocol !== "http:" && url.protocol !== "https:")) {
    throw new HubError(
      `hub: the Hub endpoint ${
        JSON.stringify(value)
      } (HF_ENDPOINT or endpoint) is not an http(s) ` +
        `URL; expected e.g. https://huggingface.co or https://hf-mirror.example`,
    );
  }
  return value;
}

/** The token to send: none for `false`, else `token` or the configured one (`getHubToken`). */
export function resolvedToken(token: string | false | undefined): string | undefined {
  if (token === false) return undefined;
  return token ?? getHubToken();
}

/** True for the failures that fall back to the cache: no connection, or a 5xx Hub answer. */
export function isHubUnavailable(e: unknown): e is HubConnectionError | HubHttpError {
  return e instanceof HubConnectionError || (e instanceof HubHttpError && (e.status ?? 0) >= 500);
}

/** Where one-line warnings go (`onWarning`); default: one line on stderr. */
export type HubWarningSink = (message: string) => void;

const stderrSink: HubWarningSink = (message) => {
  try {
    Deno.stderr.writeSync(new TextEncoder().encode(`${message}\n`));
  } catch {
    // no stderr: nothing to do
  }
};
const warned = new WeakMap<HubWarningSink, Set<string>>();

/** Writes `message` once per process (per `key` and sink) to `sink` (default: a stderr line). */
export function warnOnce(key: string, message: string, sink: HubWarningSink = stderrSink): void {
  let keys = warned.get(sink);
  if (!keys) warned.set(sink, keys = new Set());
  if (keys.has(key)) return;
  keys.add(key);
  sink(message);
}

/** True when `url` is on the origin of `endpoint` (scheme, host and port all equal). */
export function sameOrigin(url: string, endpoint: string): boolean {
  return new URL(url).origin === new URL(endpoint).origin;
}

/**
 * Request headers for `url`: user agent, and the bearer token only when `url` is on the endpoint's
 * own origin (never to a CDN or any other host, as `huggingface_hub`). A token sent over plain
 * `http` gets a one-line warning.
 */
export function hubHeaders(
  token: string | undefined,
  url: string,
  endpoint: string,
  onWarning?: HubWarningSink,
): Headers {
  const h = new Headers({ "user-agent": `encdec/0.1.0; deno/${Deno.version.deno}` });
  if (token && sameOrigin(url, endpoint)) {
    h.set("authorization", `Bearer ${token}`);
    const origin = new URL(endpoint).origin;
    if (origin.startsWith("http:")) {
      warnOnce(
        `http-token ${origin}`,
        `hub: warning: HF_ENDPOINT ${origin} is plain http, so the Hub token is sent unencrypted; ` +
          `use an https endpoint`,
        onWarning,
      );
    }
  }
  return h;
}

/**
 * Resolves a `Location` header against the URL that answered it, with the URL parser (so
 * `//host`, `/\host`, `\\host` and `" //host"` are the other hosts they are), and refuses
 * anything but `http:` / `https:` with an `UnsafeRedirectError` naming the file and the location.
 */
export function resolveRedirect(location: string, from: string, ctx: HubErrorContext): URL {
  let next: URL | null = null;
  try {
    next = new URL(location, from);
  } catch {
    // reported below
  }
  if (next === null || (next.protocol !== "http:" && next.protocol !== "https:")) {
    throw new UnsafeRedirectError(
      `hub: refusing the redirect of ${describe(ctx)} from ${from} to ` +
        `${JSON.stringify(location)}: only http(s) redirects are followed`,
      { ...ctx, location },
    );
  }
  return next;
}

/** True for a `Location` that is a path on the same server (`/x`, `x`), as Python's `netloc == ""`. */
export function isPathRedirect(location: string): boolean {
  // The URL parser drops leading C0 controls and spaces, and tabs and newlines anywhere.
  // deno-lint-ignore no-control-regex
  return !/^[\x00-\x20]*([A-Za-z][A-Za-z0-9+.-]*:|[\\/][\t\n\r]*[\\/])/.test(location);
}

/**
 * GETs `url`, following up to 10 redirects by hand: each `Location` is resolved with
 * `resolveRedirect` (http(s) only) and the token goes only to the endpoint's origin. Returns the
 * final answer and its URL.
 */
export async function hubGet(
  url: string,
  init: RequestInit & { headers: Headers },
  auth: { token?: string; endpoint: string; onWarning?: HubWarningSink },
  ctx: HubErrorContext,
): Promise<{ res: Response; url: string; hadToken: boolean }> {
  let current = resolveRedirect(url, url, ctx).href;
  for (let hop = 0; hop <= 10; hop++) {
    const headers = new Headers(init.headers);
    headers.delete("authorization");
    const auto = hubHeaders(auth.token, current, auth.endpoint, auth.onWarning);
    const bearer = auto.get("authorization");
    if (bearer) headers.set("authorization", bearer);
    const res = await hubFetch(current, { ...init, headers, redirect: "manual" }, ctx);
    const location = res.headers.get("location");
    if (res.status >= 300 && res.status < 400 && location !== null) {
      await res.body?.cancel().catch(() => {});
      current = resolveRedirect(location, current, ctx).href;
      continue;
    }
    return { res, url: current, hadToken: bearer !== null };
  }
  throw new UnsafeRedirectError(`hub: too many redirects for ${describe(ctx)} (last ${current})`, {
    ...ctx,
    location: current,
  });
}

/**
 * Reads a whole body of at most `limit` bytes before `signal` fires: past the limit a
 * `ResponseTooLargeError`, past the deadline a `HubTimeoutError` (the body is cancelled).
 */
export async function readBounded(
  res: Response,
  url: string,
  limit: number,
  signal: AbortSignal,
  ctx: HubErrorContext,
): Promise<Uint8Array> {
  const announced = res.headers.get("content-length");
  if (announced !== null && Number(announced) > limit) {
    await res.body?.cancel().catch(() => {});
    throw tooLarge(url, limit, `announced ${announced} bytes`, ctx);
  }
  if (!res.body) return new Uint8Array();
  const reader = res.body.getReader();
  const parts: Uint8Array[] = [];
  let total = 0;
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.length;
      if (total > limit) throw tooLarge(url, limit, `sent more than ${limit} bytes`, ctx);
      parts.push(value);
    }
  } catch (e) {
    await reader.cancel().catch(() => {});
    if (e instanceof HubError) throw e;
    if (signal.aborted) {
      throw new HubTimeoutError(
        `hub: the answer of ${url} for ${describe(ctx)} did not finish in time (${total} bytes ` +
          `received); is HF_ENDPOINT a Hugging Face Hub?`,
        ctx,
        { cause: e },
      );
    }
    throw new HubConnectionError(
      `hub: the answer of ${url} for ${describe(ctx)} was cut (${(e as Error).message})`,
      ctx,
      { cause: e },
    );
  }
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

function tooLarge(url: string, limit: number, what: string, ctx: HubErrorContext) {
  return new ResponseTooLargeError(
    `hub: the answer of ${url} for ${describe(ctx)} ${what}, over the limit of ${limit} bytes ` +
      `(maxMetadataBytes); is HF_ENDPOINT a Hugging Face Hub?`,
    { ...ctx, limit },
  );
}

function describe(ctx: HubErrorContext): string {
  const rev = ctx.revision ? ` at revision "${ctx.revision}"` : "";
  return ctx.filename
    ? `file "${ctx.filename}" of "${ctx.repoId}"${rev}`
    : `repository "${ctx.repoId}"${rev}`;
}

/** `"file" of "org/name" at revision "main"`, for messages. */
export function describeFile(ctx: HubErrorContext): string {
  return `"${ctx.filename}" of "${ctx.repoId}" at revision "${ctx.revision}"`;
}

/**
 * Turns a non-2xx Hub answer into a typed error (the body, if any, is cancelled). Mirrors
 * `huggingface_hub.utils.hf_raise_for_status`.
 */
export async function hubErrorFromResponse(
  res: Response,
  url: string,
  ctx: HubErrorContext & { endpoint: string; hadToken: boolean },
): Promise<HubError> {
  await res.body?.cancel().catch(() => {});
  const code = res.headers.get("x-error-code");
  const serverMsg = res.headers.get("x-error-message");
  const commit = res.headers.get("x-repo-commit");
  const c: HubErrorContext = {
    repoId: ctx.repoId,
    filename: ctx.filename,
    revision: ctx.revision,
    status: res.status,
    commitHash: commit && /^[0-9a-f]{40}$/.test(commit) ? commit : undefined,
  };
  const tail = ` (HTTP ${res.status}${code ? ` ${code}` : ""} from ${url})`;
  if (code === "RevisionNotFound") {
    return new RevisionNotFoundError(
      `hub: revision "${ctx.revision}" not found in "${ctx.repoId}"${tail}; ` +
        `use an existing branch, tag or full commit hash`,
      c,
    );
  }
  if (code === "EntryNotFound") {
    return new EntryNotFoundError(
      `hub: ${describe(ctx)} does not exist${tail}; check the file name and revision`,
      c,
    );
  }
  if (code === "GatedRepo") {
    return new GatedRepoError(
      `hub: "${ctx.repoId}" is a gated repository${tail}; accept its conditions at ` +
        `${ctx.endpoint}/${ctx.repoId} and set HF_TOKEN to a token of that account`,
      c,
    );
  }
  if (res.status === 401) {
    const why = ctx.hadToken
      ? "the token in HF_TOKEN was rejected or has no access to it; check the token"
      : "it is private, gated or does not exist; set HF_TOKEN to a token with read access";
    return new UnauthorizedError(
      `hub: cannot access "${ctx.repoId}": ${why}${tail}`,
      c,
    );
  }
  if (code === "RepoNotFound") {
    return new RepositoryNotFoundError(
      `hub: repository "${ctx.repoId}" not found${tail}; check the model id ` +
        `(or set HF_TOKEN if it is private)`,
      c,
    );
  }
  if (res.status === 403) {
    return new UnauthorizedError(
      `hub: access to "${ctx.repoId}" is forbidden${tail}` +
        `${serverMsg ? `: ${serverMsg}` : ""}; set HF_TOKEN to a token with read access`,
      c,
    );
  }
  return new HubHttpError(
    `hub: request for ${describe(ctx)} failed${tail}${serverMsg ? `: ${serverMsg}` : ""}`,
    c,
  );
}

/** `fetch` that turns network failures and timeouts into `HubConnectionError`. */
export async function hubFetch(
  url: string,
  init: RequestInit,
  ctx: HubErrorContext,
): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (e) {
    const why = e instanceof Error ? e.message : String(e);
    throw new HubConnectionError(
      `hub: cannot reach ${new URL(url).origin} for "${ctx.repoId}" (${why}); check the network ` +
        `or HF_ENDPOINT, or set HF_HUB_OFFLINE=1 to use only the cache`,
      ctx,
      { cause: e },
    );
  }
}
