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
  type HubError,
  type HubErrorContext,
  HubHttpError,
  RepositoryNotFoundError,
  RevisionNotFoundError,
  UnauthorizedError,
} from "./hub_errors.ts";
import { getHubToken, hubEndpoint } from "./cache.ts";

/** The endpoint to call: `endpoint` (default `$HF_ENDPOINT` or the Hub) without a trailing slash. */
export function resolvedEndpoint(endpoint: string | undefined): string {
  return (endpoint ?? hubEndpoint()).replace(/\/+$/, "");
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

/** Request headers for the Hub: user agent, and the bearer token when there is one. */
export function hubHeaders(token: string | undefined): Headers {
  const h = new Headers({ "user-agent": `encdec/0.1.0; deno/${Deno.version.deno}` });
  if (token) h.set("authorization", `Bearer ${token}`);
  return h;
}

function describe(ctx: HubErrorContext): string {
  const rev = ctx.revision ? ` at revision "${ctx.revision}"` : "";
  return ctx.filename
    ? `file "${ctx.filename}" of "${ctx.repoId}"${rev}`
    : `repository "${ctx.repoId}"${rev}`;
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
