/**
 * A local mock of the Hugging Face Hub for tests: serves model fixture directories on 127.0.0.1
 * (ephemeral port) with the real routes and headers, so `HF_ENDPOINT=<endpoint>` makes the Hub
 * client (and the CLI) download from it.
 *
 * Routes:
 * - `GET /api/models/{id}` and `/api/models/{id}/revision/{rev}` → `{ id, sha, siblings, private }`
 * - `HEAD|GET /{id}/resolve/{rev}/{file}` → `X-Repo-Commit`, quoted `ETag` (git blob sha1), and
 *   `Content-Length`; for LFS files (`*.safetensors`, `*.bin`, `*.model`, `*.onnx`) a 302 to
 *   `/cdn-lfs/{sha256}` with `X-Linked-Etag` (sha256) and `X-Linked-Size`
 * - `HEAD|GET /cdn-lfs/{sha256}` → the bytes (no auth, like a signed CDN URL)
 * - errors: 401 for a private repo without the right token; 403 `GatedRepo`; 404 with
 *   `X-Error-Code: RepoNotFound | RevisionNotFound | EntryNotFound`; a 307 relative redirect for
 *   renamed repos. Every GET honours `Range: bytes=N-` (206 + `Content-Range`, 416 past the end).
 *
 * Faults: `cutOnce` (first GET of those files sends half the bytes, then drops the connection),
 * `cutAlways` (every GET of those files does),
 * `corrupt` (those files always served with one byte flipped, headers announce the true hash),
 * `chunkDelayMs` (slow bodies, to make downloads overlap), `ignoreRange`.
 *
 * Hostile Hub: `intercept` answers any request its own way (redirects to other hosts or to
 * `file:`, bodies past their size, endless or trickling bodies with `streamBody`, odd ETags); repos
 * may be given in memory (`files`, any names) with extra revision names (`revisions`).
 *
 * @example
 * ```ts
 * import { startMockHub } from "./mock_hub.ts";
 * const hub = await startMockHub({ repos: { "org/bert2bert": { dir: "tests/testdata/fixtures/bert2bert" } } });
 * Deno.env.set("HF_ENDPOINT", hub.endpoint);
 * // ... download ...
 * await hub.close();
 * ```
 *
 * @module
 */
import { createHash } from "node:crypto";

/** One repository served by the mock. */
export interface MockRepo {
  /** Directory whose files (recursively) are the repository files. */
  dir?: string;
  /** Repository files given in memory (path → content), added to those of `dir`. */
  files?: Record<string, string | Uint8Array>;
  /** More revision names (branches, tags) that resolve to the commit of `main`. */
  revisions?: string[];
  /** Commit hash of `main` (40 hex); default derived from the repo id and file hashes. */
  commit?: string;
  /** Require `Authorization: Bearer <token>`; 401 otherwise. */
  private?: boolean;
  /** The token a private repository accepts; default `"hf_mock_token"`. */
  token?: string;
  /** Answer 403 `GatedRepo` to every request for this repository. */
  gated?: boolean;
}

/** Fault injection. */
export interface MockHubFaults {
  /** File names whose first GET sends half of the bytes and then drops the connection. */
  cutOnce?: string[];
  /** File names whose every GET sends half of the remaining bytes, then drops the connection. */
  cutAlways?: string[];
  /** File names always served with one byte flipped (the headers announce the true hash). */
  corrupt?: string[];
  /** Delay between 16 KiB chunks of every GET body, in ms. */
  chunkDelayMs?: number;
  /** Ignore `Range` and always answer 200 with the whole file. */
  ignoreRange?: boolean;
}

/** Options of `startMockHub`. */
export interface MockHubOptions {
  /** Repositories by id (`org/name` or `name`). */
  repos: Record<string, MockRepo>;
  /** Old id → new id: requests for the old id get a 307 relative redirect. */
  renamed?: Record<string, string>;
  /** Fault injection. */
  faults?: MockHubFaults;
  /**
   * A hostile Hub: called first for every request; a `Response` it returns is the answer (and is
   * recorded), `null`/`undefined` lets the mock answer as the Hub would.
   */
  intercept?: (
    req: Request,
    url: URL,
  ) => Response | null | undefined | Promise<Response | null | undefined>;
}

/**
 * A body of `count` copies of `chunk`, one every `delayMs` ms (0: as fast as the reader takes
 * them); `count: Infinity` never ends. For hostile answers: endless, oversized or trickling bodies.
 *
 * @example
 * ```ts
 * import { streamBody } from "./mock_hub.ts";
 * new Response(streamBody({ chunk: new Uint8Array(1), count: 10, delayMs: 2000 }));
 * ```
 */
export function streamBody(
  opts: { chunk: Uint8Array; count: number; delayMs?: number },
): ReadableStream<Uint8Array> {
  let sent = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  return new ReadableStream<Uint8Array>({
    async pull(ctrl) {
      if (sent >= opts.count) return ctrl.close();
      if (opts.delayMs) await new Promise((r) => timer = setTimeout(r, opts.delayMs));
      sent++;
      ctrl.enqueue(opts.chunk);
    },
    cancel() {
      clearTimeout(timer);
    },
  });
}

/** One request the mock answered. */
export interface MockRequest {
  /** HTTP method. */
  method: string;
  /** Decoded URL path. */
  path: string;
  /** The `Range` header, if any. */
  range: string | null;
  /** The `Authorization` header, if any. */
  authorization: string | null;
  /** Status code of the answer. */
  status: number;
}

/** A running mock Hub. */
export interface MockHub {
  /** `http://127.0.0.1:<port>`: the value for `HF_ENDPOINT`. */
  endpoint: string;
  /** Every request answered, in order. */
  requests: MockRequest[];
  /** Commit hash of a repository's `main`. */
  commit(repoId: string): string;
  /** Normalised ETag of a file (sha256 for LFS files, git blob sha1 otherwise). */
  etag(repoId: string, file: string): string;
  /** The live fault settings: tests may change them between requests. */
  faults: MockHubFaults;
  /** Whether the mock serves `file` as an LFS file. */
  isLfs(file: string): boolean;
  /** Stops the server and waits until it is closed. */
  close(): Promise<void>;
}

interface ServedFile {
  bytes: Uint8Array;
  lfs: boolean;
  etag: string;
}

interface ServedRepo extends Omit<MockRepo, "files"> {
  commit: string;
  files: Map<string, ServedFile>;
}

const LFS = /\.(safetensors|bin|model|onnx|h5|msgpack|pt)$/;

function hex(algo: string, ...parts: (string | Uint8Array)[]): string {
  const h = createHash(algo);
  for (const p of parts) h.update(p);
  return h.digest("hex");
}

async function listFiles(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory) out.push(...await listFiles(`${dir}/${e.name}`, rel));
    else if (e.isFile) out.push(rel);
  }
  return out.sort();
}

async function loadRepo(id: string, repo: MockRepo): Promise<ServedRepo> {
  const files = new Map<string, ServedFile>();
  const add = (rel: string, bytes: Uint8Array) => {
    const lfs = LFS.test(rel);
    const etag = lfs ? hex("sha256", bytes) : hex("sha1", `blob ${bytes.length}\0`, bytes);
    files.set(rel, { bytes, lfs, etag });
  };
  if (repo.dir) {
    for (const rel of await listFiles(repo.dir)) {
      add(rel, await Deno.readFile(`${repo.dir}/${rel}`));
    }
  }
  for (const [rel, content] of Object.entries(repo.files ?? {})) {
    add(rel, typeof content === "string" ? new TextEncoder().encode(content) : content);
  }
  const commit = repo.commit ??
    hex("sha1", id, ...[...files].map(([name, f]) => `${name}:${f.etag}`));
  return { ...repo, commit, files };
}

/**
 * Starts the mock Hub on 127.0.0.1 with an ephemeral port.
 *
 * @example
 * ```ts
 * import { startMockHub } from "./mock_hub.ts";
 * const hub = await startMockHub({ repos: { "org/m": { dir: "tests/testdata/fixtures/bert2bert" } } });
 * await hub.close();
 * ```
 */
export async function startMockHub(opts: MockHubOptions): Promise<MockHub> {
  const repos = new Map<string, ServedRepo>();
  for (const [id, r] of Object.entries(opts.repos)) repos.set(id, await loadRepo(id, r));
  const byLfsSha = new Map<string, { file: string; served: ServedFile }>();
  for (const r of repos.values()) {
    for (const [name, f] of r.files) if (f.lfs) byLfsSha.set(f.etag, { file: name, served: f });
  }
  const faults = opts.faults ?? {};
  const cutPending = new Set(faults.cutOnce ?? []);
  const requests: MockRequest[] = [];

  function error(status: number, code: string | null, message: string, extra?: HeadersInit) {
    const h = new Headers(extra);
    if (code) h.set("x-error-code", code);
    h.set("x-error-message", message);
    h.set("content-type", "application/json");
    return new Response(JSON.stringify({ error: message }), { status, headers: h });
  }

  function body(req: Request, file: string, f: ServedFile, headers: Headers): Response {
    let bytes = f.bytes;
    if (faults.corrupt?.includes(file)) {
      bytes = bytes.slice();
      bytes[bytes.length >> 1] ^= 0xff;
    }
    headers.set("accept-ranges", "bytes");
    let start = 0;
    let status = 200;
    const range = req.headers.get("range");
    if (range && !faults.ignoreRange) {
      const m = /^bytes=(\d+)-(\d*)$/.exec(range);
      if (m) {
        start = Number(m[1]);
        if (start >= bytes.length) {
          headers.set("content-range", `bytes */${bytes.length}`);
          return new Response(null, { status: 416, headers });
        }
        const end = m[2] ? Math.min(Number(m[2]) + 1, bytes.length) : bytes.length;
        bytes = bytes.subarray(0, end);
        status = 206;
        headers.set("content-range", `bytes ${start}-${end - 1}/${f.bytes.length}`);
      }
    }
    const part = bytes.subarray(start);
    headers.set("content-length", String(part.length));
    if (req.method === "HEAD") return new Response(null, { status, headers });
    const cut = cutPending.delete(file) || faults.cutAlways?.includes(file) ? part.length >> 1 : -1;
    const delay = faults.chunkDelayMs ?? 0;
    let off = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const stream = new ReadableStream<Uint8Array>({
      async pull(ctrl) {
        if (off >= part.length || (cut >= 0 && off >= cut)) {
          ctrl.close();
          return;
        }
        if (delay > 0) await new Promise((r) => timer = setTimeout(r, delay));
        let end = Math.min(off + 16384, part.length);
        if (cut >= 0) end = Math.min(end, cut);
        ctrl.enqueue(part.slice(off, end));
        off = end;
      },
      cancel() {
        clearTimeout(timer);
      },
    });
    return new Response(stream, { status, headers });
  }

  function authorize(id: string, repo: ServedRepo, req: Request): Response | null {
    if (repo.gated) {
      return error(
        403,
        "GatedRepo",
        `Access to model ${id} is restricted and you are not in the authorized list.`,
      );
    }
    if (!repo.private) return null;
    const auth = req.headers.get("authorization");
    if (auth === `Bearer ${repo.token ?? "hf_mock_token"}`) return null;
    return error(
      401,
      null,
      auth ? "Invalid credentials in Authorization header" : `Access to model ${id} is restricted.`,
    );
  }

  function resolveRev(repo: ServedRepo, rev: string): string | null {
    return rev === "main" || rev === repo.commit || repo.revisions?.includes(rev)
      ? repo.commit
      : null;
  }

  /** Repository `id` and the commit of `rev`, or the Hub's answer when either is not served. */
  function locate(
    id: string,
    rev: string,
    req: Request,
  ): { repo: ServedRepo; sha: string } | Response {
    const repo = repos.get(id);
    if (!repo) return error(404, "RepoNotFound", "Repository not found");
    const denied = authorize(id, repo, req);
    if (denied) return denied;
    const sha = resolveRev(repo, rev);
    if (!sha) return error(404, "RevisionNotFound", `Invalid rev id: ${rev}`);
    return { repo, sha };
  }

  function handle(req: Request): Response {
    const url = new URL(req.url);
    const path = decodeURIComponent(url.pathname);
    const isGet = req.method === "GET" || req.method === "HEAD";
    if (!isGet) return error(405, null, "method not allowed");

    const cdn = /^\/cdn-lfs\/([0-9a-f]{64})$/.exec(url.pathname);
    if (cdn) {
      const hit = byLfsSha.get(cdn[1]);
      if (!hit) return error(404, null, "no such object");
      return body(req, hit.file, hit.served, new Headers({ etag: `"${cdn[1]}"` }));
    }

    const api = /^\/api\/models\/(.+?)(?:\/revision\/([^/]+))?$/.exec(url.pathname);
    if (api) {
      const id = decodeURIComponent(api[1]);
      const rev = api[2] ? decodeURIComponent(api[2]) : "main";
      const found = locate(id, rev, req);
      if (found instanceof Response) return found;
      const { repo, sha } = found;
      return Response.json({
        _id: hex("sha1", id).slice(0, 24),
        id,
        modelId: id,
        sha,
        private: !!repo.private,
        gated: false,
        siblings: [...repo.files.keys()].map((rfilename) => ({ rfilename })),
      });
    }

    const i = url.pathname.indexOf("/resolve/");
    if (i > 0) {
      const id = decodeURIComponent(url.pathname.slice(1, i));
      const rest = url.pathname.slice(i + "/resolve/".length);
      const slash = rest.indexOf("/");
      const rev = decodeURIComponent(rest.slice(0, slash));
      const file = decodeURIComponent(rest.slice(slash + 1));
      const renamedTo = opts.renamed?.[id];
      if (renamedTo) {
        return new Response(null, {
          status: 307,
          headers: { location: `/${renamedTo}/resolve/${rest}${url.search}` },
        });
      }
      const found = locate(id, rev, req);
      if (found instanceof Response) return found;
      const { repo, sha } = found;
      const f = repo.files.get(file);
      if (!f) {
        return error(404, "EntryNotFound", `${file} does not exist on "${rev}"`, {
          "x-repo-commit": sha,
        });
      }
      const headers = new Headers({ "x-repo-commit": sha });
      if (f.lfs) {
        headers.set("x-linked-etag", `"${f.etag}"`);
        headers.set("x-linked-size", String(f.bytes.length));
        headers.set("etag", `"${hex("sha1", f.etag)}"`); // the redirect's own ETag, not the file's
        headers.set("location", `${url.origin}/cdn-lfs/${f.etag}`);
        return new Response(null, { status: 302, headers });
      }
      headers.set("etag", `"${f.etag}"`);
      return body(req, file, f, headers);
    }
    return error(404, null, `no route for ${path}`);
  }

  const server = Deno.serve({
    port: 0,
    hostname: "127.0.0.1",
    onListen: () => {},
  }, async (req) => {
    const url = new URL(req.url);
    const record: MockRequest = {
      method: req.method,
      path: decodeURIComponent(url.pathname),
      range: req.headers.get("range"),
      authorization: req.headers.get("authorization"),
      status: 0,
    };
    requests.push(record);
    const res = (await opts.intercept?.(req, url)) ?? handle(req);
    record.status = res.status;
    return res;
  });
  const addr = server.addr as Deno.NetAddr;
  return {
    endpoint: `http://127.0.0.1:${addr.port}`,
    requests,
    faults,
    commit(repoId) {
      const r = repos.get(repoId);
      if (!r) throw new Error(`mock hub: no repo ${repoId}`);
      return r.commit;
    },
    etag(repoId, file) {
      const f = repos.get(repoId)?.files.get(file);
      if (!f) throw new Error(`mock hub: no file ${repoId}/${file}`);
      return f.etag;
    },
    isLfs(file) {
      return LFS.test(file);
    },
    async close() {
      await server.shutdown();
    },
  };
}
