/**
 * A malicious Hub on 127.0.0.1 (`tests/mock_hub.ts` with `intercept`) against the Hub client:
 * redirects that try to take the token to another host or read local files, bodies past their
 * announced size or without one, unverifiable files, endless and trickling answers. Each case
 * asserts the typed error (class, limit, named file/location) and what reached the other host or
 * the disk, byte for byte; each failed on the client before these fixes (issue 19, items 1-4, 6).
 */
import { createHash } from "node:crypto";
import { assert, assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import {
  hfHubDownload,
  type HubDownloadOptions,
  HubError,
  HubTimeoutError,
  ResponseTooLargeError,
  snapshotDownload,
  UnsafeRedirectError,
  UnverifiableDownloadError,
} from "../config/hub/hub.ts";
import { type MockHub, startMockHub, streamBody } from "./mock_hub.ts";
import { listDir } from "../testing/fs.ts";

const REPO = "org/m";
const COMMIT = "0123456789abcdef0123456789abcdef01234567";
const TOKEN = "hf_secret_token";
const WEIGHTS = "model.safetensors";
const BYTES = new TextEncoder().encode("the real weights, 33 bytes long.\n");
const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const storage = (cache: string) => `${cache}/models--org--m`;

type Intercept = (req: Request, url: URL, other: string) => Response | null | undefined;

/**
 * Runs `fn` against a hostile Hub (`intercept` sees every request first, with the other host's
 * origin) and a second server, "the other host", that serves `BYTES` at `/blob` and records what
 * reaches it; a fresh cache each time.
 */
async function withHostileHub(
  intercept: Intercept,
  fn: (ctx: { hub: MockHub; other: MockHub; cache: string; opts: HubDownloadOptions }) => Promise<
    void
  >,
  otherIntercept?: (req: Request, url: URL, hubEndpoint: string) => Response | null,
): Promise<void> {
  let hubEndpoint = "";
  const other = await startMockHub({
    repos: {},
    intercept: (req, url) =>
      otherIntercept?.(req, url, hubEndpoint) ??
        (url.pathname === "/blob" ? new Response(BYTES) : null),
  });
  const hub = await startMockHub({
    repos: { [REPO]: { files: { "config.json": "{}" } } },
    intercept: (req, url) => intercept(req, url, other.endpoint),
  });
  hubEndpoint = hub.endpoint;
  const cache = await Deno.makeTempDir({ prefix: "encdec_hub_hostile_" });
  const opts: HubDownloadOptions = {
    cacheDir: cache,
    endpoint: hub.endpoint,
    token: TOKEN,
    // Explicit, not $HF_HUB_OFFLINE: tests in other files set it for a moment (same process).
    localFilesOnly: false,
    quiet: true,
    onWarning: () => {},
  };
  try {
    await fn({ hub, other, cache, opts });
  } finally {
    await hub.close();
    await other.close();
    await Deno.remove(cache, { recursive: true });
  }
}

/** The HEAD answer of an LFS file: commit, sha256 ETag, size (unless `null`), and a redirect. */
function lfsAnswer(location: string, opts: { etag?: string; size?: number | null } = {}) {
  const headers = new Headers({
    "x-repo-commit": COMMIT,
    "x-linked-etag": `"${opts.etag ?? sha256(BYTES)}"`,
    location,
  });
  const size = opts.size === undefined ? BYTES.length : opts.size;
  if (size !== null) headers.set("x-linked-size", String(size));
  return new Response(null, { status: 302, headers });
}

const isWeights = (url: URL) => url.pathname === `/${REPO}/resolve/main/${WEIGHTS}`;

Deno.test("token leak: Location //host, /\\host, \\\\host and ' //host' go to the other host without the token", async () => {
  for (const prefix of ["//", "/\\", "\\\\", " //"]) {
    await withHostileHub(
      (_req, url, other) =>
        isWeights(url) ? lfsAnswer(`${prefix}${new URL(other).host}/blob`) : null,
      async ({ hub, other, opts }) => {
        const path = await hfHubDownload(REPO, WEIGHTS, opts);
        assertEquals(await Deno.readFile(path), BYTES, `Location ${JSON.stringify(prefix)}`);
        // The Hub got the token; the other host got the GET, never the token (nor the HEAD).
        assertEquals(hub.requests.map((r) => [r.method, r.authorization]), [
          ["HEAD", `Bearer ${TOKEN}`],
        ]);
        assertEquals(
          other.requests.map((r) => [r.method, r.path, r.authorization]),
          [["GET", "/blob", null]],
          `Location ${JSON.stringify(prefix)}`,
        );
      },
    );
  }
});

Deno.test("token leak: a CDN redirecting elsewhere never gets the token; back on the endpoint it does", async () => {
  await withHostileHub(
    (_req, url, other) => {
      if (isWeights(url)) return lfsAnswer(`${other}/hop`);
      if (url.pathname === "/final") return new Response(BYTES); // back on the endpoint
      return null;
    },
    async ({ hub, other, opts }) => {
      await hfHubDownload(REPO, WEIGHTS, opts);
      assertEquals(other.requests.map((r) => [r.path, r.authorization]), [["/hop", null]]);
      assertEquals(hub.requests.map((r) => [r.method, r.path, r.authorization]), [
        ["HEAD", `/${REPO}/resolve/main/${WEIGHTS}`, `Bearer ${TOKEN}`],
        ["GET", "/final", `Bearer ${TOKEN}`],
      ]);
    },
    (_req, url, hubEndpoint) =>
      url.pathname === "/hop"
        ? new Response(null, { status: 302, headers: { location: `${hubEndpoint}/final` } })
        : null,
  );
});

Deno.test("file: and data: redirects are refused (HEAD and GET) with UnsafeRedirectError naming file and location", async () => {
  const dir = await Deno.makeTempDir();
  const secret = `${dir}/secret.txt`;
  await Deno.writeFile(secret, BYTES); // same bytes and hash: only the scheme can stop it
  const b64 = btoa(String.fromCharCode(...BYTES));
  try {
    for (const location of [`file://${secret}`, `data:application/octet-stream;base64,${b64}`]) {
      await withHostileHub(
        (_req, url) => isWeights(url) ? lfsAnswer(location) : null,
        async ({ cache, opts }) => {
          const e = await assertRejects(
            () => hfHubDownload(REPO, WEIGHTS, opts),
            UnsafeRedirectError,
          );
          assertStringIncludes(e.message, WEIGHTS);
          assertStringIncludes(e.message, location.slice(0, 20));
          assertEquals(e.location, location);
          assertEquals(await listDir(`${storage(cache)}/blobs`).catch(() => []), []);
        },
      );
    }
    // The CDN itself redirects the GET to a local file.
    await withHostileHub(
      (_req, url, other) => isWeights(url) ? lfsAnswer(`${other}/blob`) : null,
      async ({ cache, opts }) => {
        const e = await assertRejects(
          () => hfHubDownload(REPO, WEIGHTS, { ...opts, maxRetries: 1 }),
          UnsafeRedirectError,
        );
        assertEquals(e.location, `file://${secret}`);
        assertEquals(await listDir(`${storage(cache)}/blobs`), []);
      },
      (_req, url) =>
        url.pathname === "/blob"
          ? new Response(null, { status: 302, headers: { location: `file://${secret}` } })
          : null,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("size bound: a body past its announced size stops there (ResponseTooLargeError), nothing kept", async () => {
  const chunk = new Uint8Array(65536).fill(0x41);
  await withHostileHub(
    (_req, url, other) => isWeights(url) ? lfsAnswer(`${other}/endless`, { size: 100 }) : null,
    async ({ cache, opts }) => {
      const e = await assertRejects(
        () => hfHubDownload(REPO, WEIGHTS, opts),
        ResponseTooLargeError,
      );
      assertEquals(e.limit, 100);
      assertStringIncludes(e.message, `"${WEIGHTS}" of "${REPO}"`);
      assertEquals(await listDir(`${storage(cache)}/blobs`), []); // no blob, no .incomplete
    },
    (_req, url) =>
      url.pathname === "/endless"
        ? new Response(streamBody({ chunk, count: 128 })) // 8 MiB, no Content-Length
        : null,
  );
});

Deno.test("size bound: a body with no announced size is cut at maxUnsizedBytes", async () => {
  const chunk = new Uint8Array(65536).fill(0x42);
  await withHostileHub(
    (req, url) => {
      if (url.pathname !== `/${REPO}/resolve/main/config.json`) return null;
      const headers = { "x-repo-commit": COMMIT, etag: `"${"ab".repeat(20)}"` };
      if (req.method === "HEAD") {
        return new Response(streamBody({ chunk, count: 0 }), { headers }); // no Content-Length
      }
      return new Response(streamBody({ chunk, count: 64 }), { headers }); // 4 MiB, chunked
    },
    async ({ cache, opts }) => {
      const e = await assertRejects(
        () => hfHubDownload(REPO, "config.json", { ...opts, maxUnsizedBytes: 1 << 20 }),
        ResponseTooLargeError,
      );
      assertEquals(e.limit, 1 << 20);
      assertStringIncludes(e.message, "maxUnsizedBytes");
      assertEquals(await listDir(`${storage(cache)}/blobs`), []);
    },
  );
});

Deno.test("unverifiable: ETag neither sha256 nor git sha1 and no size → UnverifiableDownloadError, no GET", async () => {
  const odd = (req: Request, url: URL, withSize: boolean) => {
    if (url.pathname !== `/${REPO}/resolve/main/config.json`) return null;
    const headers = { "x-repo-commit": COMMIT, etag: `W/"5f3c-1a2b"` };
    if (req.method === "HEAD" && !withSize) {
      return new Response(streamBody({ chunk: BYTES, count: 0 }), { headers });
    }
    return new Response(req.method === "HEAD" ? null : "{}", {
      headers: { ...headers, "content-length": "2" },
    });
  };
  await withHostileHub((req, url) => odd(req, url, false), async ({ hub, opts }) => {
    const e = await assertRejects(
      () => hfHubDownload(REPO, "config.json", opts),
      UnverifiableDownloadError,
    );
    assertStringIncludes(e.message, `"config.json" of "${REPO}"`);
    assertStringIncludes(e.message, "5f3c-1a2b");
    assertEquals(hub.requests.map((r) => r.method), ["HEAD"]);
  });
  // With a size, the size is checked and one warning names the file.
  await withHostileHub((req, url) => odd(req, url, true), async ({ opts }) => {
    const warnings: string[] = [];
    const path = await hfHubDownload(REPO, "config.json", {
      ...opts,
      token: false,
      onWarning: (m) => warnings.push(m),
    });
    assertEquals(await Deno.readTextFile(path), "{}");
    assertEquals(warnings.length, 1);
    assertStringIncludes(warnings[0], `"config.json" of "${REPO}"`);
    assertStringIncludes(warnings[0], "only its size (2 bytes)");
  });
});

Deno.test("a body trickling one byte at a time hits downloadTimeoutMs (HubTimeoutError)", async () => {
  const bytes = new Uint8Array(20).fill(0x78);
  await withHostileHub(
    (_req, url, other) =>
      isWeights(url) ? lfsAnswer(`${other}/slow`, { etag: sha256(bytes), size: 20 }) : null,
    async ({ opts }) => {
      const t0 = Date.now();
      const e = await assertRejects(
        () => hfHubDownload(REPO, WEIGHTS, { ...opts, downloadTimeoutMs: 600 }),
        HubTimeoutError,
      );
      const took = Date.now() - t0;
      assert(took < 2500, `gave up after ${took} ms; the whole trickle takes 3000 ms`);
      assertStringIncludes(e.message, "downloadTimeoutMs");
      assertStringIncludes(e.message, `"${WEIGHTS}" of "${REPO}"`);
    },
    (_req, url) =>
      url.pathname === "/slow"
        ? new Response(streamBody({ chunk: bytes.subarray(0, 1), count: 20, delayMs: 150 }))
        : null,
  );
});

Deno.test("/api/models: an endless answer is cut at maxMetadataBytes, a trickling one at etagTimeoutMs", async () => {
  const api = (url: URL) => url.pathname.startsWith(`/api/models/${REPO}`);
  const spaces = new Uint8Array(65536).fill(0x20);
  await withHostileHub(
    (_req, url) => api(url) ? new Response(streamBody({ chunk: spaces, count: 1024 })) : null,
    async ({ opts }) => {
      const e = await assertRejects(
        () => snapshotDownload(REPO, { ...opts, maxMetadataBytes: 1 << 20 }),
        ResponseTooLargeError,
      );
      assertEquals(e.limit, 1 << 20);
      assertStringIncludes(e.message, `/api/models/${REPO}`);
    },
  );
  await withHostileHub(
    (_req, url) =>
      api(url)
        ? new Response(streamBody({ chunk: spaces.subarray(0, 1), count: 30, delayMs: 100 }))
        : null,
    async ({ opts }) => {
      const t0 = Date.now();
      const e = await assertRejects(
        () => snapshotDownload(REPO, { ...opts, etagTimeoutMs: 500 }),
        HubTimeoutError,
      );
      assert(Date.now() - t0 < 2500);
      assertStringIncludes(e.message, `/api/models/${REPO}`);
    },
  );
});

Deno.test("an HF_ENDPOINT that is not http(s) (file:, data:, junk) is a HubError before any request", async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (const endpoint of [`file://${dir}`, "data:,x", "not a url"]) {
      const opts = {
        cacheDir: dir,
        endpoint,
        quiet: true,
        token: false as const,
        localFilesOnly: false,
      };
      for (
        const call of [
          () => hfHubDownload(REPO, "config.json", opts),
          () => snapshotDownload(REPO, opts),
        ]
      ) {
        const e = await assertRejects(call, HubError);
        assertStringIncludes(
          e.message,
          `${JSON.stringify(endpoint)} (HF_ENDPOINT or endpoint) is not an http(s) URL`,
        );
      }
    }
    assertEquals(await listDir(dir), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
