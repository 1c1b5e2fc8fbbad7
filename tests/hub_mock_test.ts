/**
 * The mock Hub itself (`tests/mock_hub.ts`), probed with raw `fetch`: the routes, status codes and
 * headers the real Hub sends, which other suites (and the CLI end-to-end tests) rely on. Exact
 * comparisons of statuses, headers and bytes.
 */
import { fileURLToPath } from "node:url";
import { createHash } from "node:crypto";
import { assertEquals } from "@std/assert";
import { startMockHub } from "./mock_hub.ts";

const FIXTURE = fileURLToPath(new URL("./testdata/fixtures/bert2bert", import.meta.url));

Deno.test("mock hub: API listing, resolve headers, LFS redirect, Range, error codes", async () => {
  const hub = await startMockHub({
    repos: {
      "org/m": { dir: FIXTURE, commit: "c".repeat(40) },
      "org/p": { dir: FIXTURE, private: true },
    },
  });
  try {
    const e = hub.endpoint;
    const info = await (await fetch(`${e}/api/models/org/m/revision/main`)).json();
    assertEquals(info.sha, "c".repeat(40));
    assertEquals(info.siblings.length, 8);
    assertEquals(info.siblings[0], { rfilename: "config.json" });

    const cfg = await Deno.readFile(`${FIXTURE}/config.json`);
    const head = await fetch(`${e}/org/m/resolve/main/config.json`, { method: "HEAD" });
    assertEquals(head.status, 200);
    assertEquals(head.headers.get("x-repo-commit"), "c".repeat(40));
    assertEquals(head.headers.get("content-length"), String(cfg.length));
    const gitSha = createHash("sha1").update(`blob ${cfg.length}\0`).update(cfg).digest("hex");
    assertEquals(head.headers.get("etag"), `"${gitSha}"`);

    const lfs = await fetch(`${e}/org/m/resolve/main/model.safetensors`, {
      method: "HEAD",
      redirect: "manual",
    });
    const st = await Deno.readFile(`${FIXTURE}/model.safetensors`);
    const sha = createHash("sha256").update(st).digest("hex");
    assertEquals(lfs.status, 302);
    assertEquals(lfs.headers.get("x-linked-etag"), `"${sha}"`);
    assertEquals(lfs.headers.get("x-linked-size"), String(st.length));
    assertEquals(lfs.headers.get("location"), `${e}/cdn-lfs/${sha}`);

    const part = await fetch(`${e}/cdn-lfs/${sha}`, { headers: { range: "bytes=100-" } });
    assertEquals(part.status, 206);
    assertEquals(part.headers.get("content-range"), `bytes 100-${st.length - 1}/${st.length}`);
    assertEquals(new Uint8Array(await part.arrayBuffer()), st.subarray(100));
    const past = await fetch(`${e}/cdn-lfs/${sha}`, { headers: { range: `bytes=${st.length}-` } });
    await past.body?.cancel();
    assertEquals(past.status, 416);

    const codes: [string, number, string | null][] = [
      [`${e}/org/none/resolve/main/config.json`, 404, "RepoNotFound"],
      [`${e}/org/m/resolve/v2/config.json`, 404, "RevisionNotFound"],
      [`${e}/org/m/resolve/main/nope.json`, 404, "EntryNotFound"],
      [`${e}/org/p/resolve/main/config.json`, 401, null],
    ];
    for (const [url, status, code] of codes) {
      const r = await fetch(url, { method: "HEAD" });
      assertEquals([r.status, r.headers.get("x-error-code")], [status, code], url);
    }
    const ok = await fetch(`${e}/org/p/resolve/main/config.json`, {
      method: "HEAD",
      headers: { authorization: "Bearer hf_mock_token" },
    });
    assertEquals(ok.status, 200);
    assertEquals(hub.requests.length, 10);
    assertEquals(hub.requests[3], {
      method: "GET",
      path: `/cdn-lfs/${sha}`,
      range: "bytes=100-",
      authorization: null,
      status: 206,
    });
  } finally {
    await hub.close();
  }
});
