/**
 * Odd repositories and a tampered cache against the Hub client (mock Hub on 127.0.0.1): a
 * zero-byte file, colliding paths (`a` and `a/b`, revisions `v1` and `v1/x`), names too long for a
 * file system, symlinks planted in the cache that lead outside it, the plain-http token warning,
 * and the offline message naming the cache. Each case asserts the typed error and what is (not)
 * on disk; each failed before these fixes (issue 19 items 5-7, issue 17 item 8).
 */
import { join } from "node:path";
import { assert, assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import {
  CacheLayoutError,
  hfHubDownload,
  type HubDownloadOptions,
  InvalidRepoPathError,
  OfflineModeError,
  snapshotDownload,
  tryToLoadFromCache,
} from "../config/hub/hub.ts";
import { AutoConfig } from "@encdec/config";
import { type MockHub, type MockRepo, startMockHub } from "./mock_hub.ts";
import { withEnv } from "../testing/env.ts";
import { exists, listDir } from "../testing/fs.ts";

const REPO = "org/odd";

async function withRepo(
  repo: MockRepo,
  fn: (ctx: { hub: MockHub; cache: string; opts: HubDownloadOptions }) => Promise<void>,
): Promise<void> {
  const hub = await startMockHub({ repos: { [REPO]: repo } });
  const cache = await Deno.makeTempDir({ prefix: "encdec_hub_cache_hostile_" });
  try {
    await fn({
      hub,
      cache,
      opts: { cacheDir: cache, endpoint: hub.endpoint, quiet: true, localFilesOnly: false },
    });
  } finally {
    await hub.close();
    await Deno.remove(cache, { recursive: true });
  }
}

const gets = (hub: MockHub) => hub.requests.filter((r) => r.method === "GET").length;
const storage = (cache: string) => `${cache}/models--org--odd`;

Deno.test("a zero-byte file (git and LFS) downloads: empty files, blobs named by the empty hashes", async () => {
  await withRepo(
    { files: { "config.json": "{}", "empty.txt": "", "empty.safetensors": "" } },
    async ({ cache, opts }) => {
      const folder = await snapshotDownload(REPO, opts);
      assertEquals(await Deno.readFile(`${folder}/empty.txt`), new Uint8Array());
      assertEquals(await Deno.readFile(`${folder}/empty.safetensors`), new Uint8Array());
      assertEquals(await Deno.readTextFile(`${folder}/config.json`), "{}");
      // `git hash-object /dev/null` and `sha256sum /dev/null`
      assertEquals((await listDir(`${storage(cache)}/blobs`)).sort(), [
        "9e26dfeeb6e641a33dae4961196235bdb965b21b", // "{}"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391",
      ]);
    },
  );
});

Deno.test("'a' and 'a/b' both files: CacheLayoutError naming both, in any order, nothing downloaded by a snapshot", async () => {
  await withRepo({ files: { a: "1", "a/b": "2" } }, async ({ hub, opts }) => {
    const e = await assertRejects(() => snapshotDownload(REPO, opts), CacheLayoutError);
    assertStringIncludes(e.message, `the file "a" and "a/b"`);
    assertEquals(gets(hub), 1); // the listing only
  });
  for (const order of [["a", "a/b"], ["a/b", "a"]]) {
    await withRepo({ files: { a: "1", "a/b": "2" } }, async ({ opts }) => {
      const first = await hfHubDownload(REPO, order[0], opts);
      assertEquals(await Deno.readTextFile(first), order[0] === "a" ? "1" : "2");
      const e = await assertRejects(() => hfHubDownload(REPO, order[1], opts), CacheLayoutError);
      assertStringIncludes(e.message, `"${order[1]}" of "${REPO}"`);
    });
  }
});

Deno.test("a 300-character name and a 2000-deep path: InvalidRepoPathError before any download", async () => {
  const long = "n".repeat(300) + ".json";
  const deep = "d/".repeat(2000) + "f.json";
  for (const name of [long, deep]) {
    await withRepo({ files: { "config.json": "{}", [name]: "x" } }, async ({ hub, opts }) => {
      const e = await assertRejects(() => snapshotDownload(REPO, opts), InvalidRepoPathError);
      assertStringIncludes(e.message, `for "${REPO}"`);
      assertStringIncludes(e.message, name === long ? "305 bytes long" : "4006 bytes long");
      assertEquals(gets(hub), 1); // the listing only
      await assertRejects(() => hfHubDownload(REPO, name, opts), InvalidRepoPathError);
    });
  }
});

Deno.test("revisions 'v1' and 'v1/x': the second is a CacheLayoutError naming the ref", async () => {
  await withRepo(
    { files: { "config.json": "{}" }, revisions: ["v1", "v1/x"] },
    async ({ cache, opts }) => {
      await hfHubDownload(REPO, "config.json", { ...opts, revision: "v1" });
      const e = await assertRejects(
        () => hfHubDownload(REPO, "config.json", { ...opts, revision: "v1/x" }),
        CacheLayoutError,
      );
      assertEquals(e.path, `${storage(cache)}/refs/v1`);
      assertEquals(e.revision, "v1/x");
    },
  );
});

Deno.test("a 'blobs' or '.locks' symlink out of the cache: CacheLayoutError, nothing written outside", async () => {
  for (const link of ["models--org--odd/blobs", ".locks"]) {
    await withRepo({ files: { "config.json": "{}" } }, async ({ cache, opts }) => {
      const outside = await Deno.makeTempDir({ prefix: "encdec_outside_" });
      try {
        await Deno.mkdir(join(cache, link, ".."), { recursive: true });
        await Deno.symlink(outside, join(cache, link));
        const e = await assertRejects(
          () => hfHubDownload(REPO, "config.json", opts),
          CacheLayoutError,
        );
        assertStringIncludes(e.message, `resolves to ${await Deno.realPath(outside)}`);
        assertEquals(await listDir(outside), []);
      } finally {
        await Deno.remove(outside, { recursive: true });
      }
    });
  }
});

Deno.test("a snapshot file linked outside the cache is refused; Python's ../../blobs links stay allowed", async () => {
  await withRepo(
    { files: { "config.json": "{}", "vocab.txt": "a\nb\n" } },
    async ({ hub, cache, opts }) => {
      const outside = await Deno.makeTempDir({ prefix: "encdec_outside_" });
      const commit = hub.commit(REPO);
      const snap = `${storage(cache)}/snapshots/${commit}`;
      try {
        await Deno.writeTextFile(`${outside}/secret.json`, '{"secret": true}');
        await Deno.mkdir(snap, { recursive: true });
        await Deno.mkdir(`${storage(cache)}/refs`, { recursive: true });
        await Deno.mkdir(`${storage(cache)}/blobs`, { recursive: true });
        await Deno.writeTextFile(`${storage(cache)}/refs/main`, commit);
        await Deno.symlink(`${outside}/secret.json`, `${snap}/config.json`);
        const etag = hub.etag(REPO, "vocab.txt");
        await Deno.writeTextFile(`${storage(cache)}/blobs/${etag}`, "a\nb\n");
        await Deno.symlink(`../../blobs/${etag}`, `${snap}/vocab.txt`);

        for (const offline of [false, true]) {
          const e = await assertRejects(
            () => hfHubDownload(REPO, "config.json", { ...opts, localFilesOnly: offline }),
            CacheLayoutError,
          );
          assertEquals(e.path, `${snap}/config.json`);
          assertEquals(
            await Deno.readTextFile(
              await hfHubDownload(REPO, "vocab.txt", { ...opts, localFilesOnly: offline }),
            ),
            "a\nb\n",
          );
        }
        await assertRejects(
          () => tryToLoadFromCache(REPO, "config.json", { cacheDir: cache }),
          CacheLayoutError,
        );
        await assertRejects(
          () => snapshotDownload(REPO, { ...opts, localFilesOnly: true }),
          CacheLayoutError,
        );
        assertEquals(gets(hub), 0);
      } finally {
        await Deno.remove(outside, { recursive: true });
      }
    },
  );
});

Deno.test("plain-http endpoint with a token: one warning line; none without a token", async () => {
  await withRepo(
    { files: { "config.json": "{}" }, private: true, token: "hf_tok" },
    async ({ hub, opts }) => {
      const warnings: string[] = [];
      await hfHubDownload(REPO, "config.json", {
        ...opts,
        token: "hf_tok",
        onWarning: (m) => warnings.push(m),
      });
      assertEquals(warnings, [
        `hub: warning: HF_ENDPOINT ${hub.endpoint} is plain http, so the Hub token is sent ` +
        `unencrypted; use an https endpoint`,
      ]);
      const none: string[] = [];
      await hfHubDownload(REPO, "config.json", {
        ...opts,
        token: false,
        onWarning: (m) => none.push(m),
      }).catch(() => {});
      assertEquals(none, []);
    },
  );
});

Deno.test("HF_HUB_OFFLINE=1 and a model never downloaded: OfflineModeError naming the cache directory", async () => {
  const cache = await Deno.makeTempDir({ prefix: "encdec_hub_offline_" });
  try {
    await withEnv(
      { HF_HUB_OFFLINE: "1", HF_HUB_CACHE: cache, HF_HOME: undefined, HF_ENDPOINT: undefined },
      async () => {
        const e = await assertRejects(
          () => AutoConfig.fromPretrained("org/never-downloaded"),
          OfflineModeError,
        );
        assertEquals(e.cacheDir, cache);
        assertEquals(e.repoCached, false);
        assertStringIncludes(e.message, `not in the cache directory ${cache}`);
        assertStringIncludes(e.message, "HF_HUB_CACHE or HF_HOME");
        assert(!(await exists(`${cache}/models--org--never-downloaded`)));
      },
    );
  } finally {
    await Deno.remove(cache, { recursive: true });
  }
});
