/**
 * Hub download through the mock Hub (`tests/mock_hub.ts`) into a temporary cache: byte equality
 * with the fixture files, the exact `huggingface_hub` 0.22 cache layout, cache reuse (request log),
 * offline mode, revisions, auth, 404s, resume after a cut, corruption, and concurrent downloads.
 * All comparisons are exact (bytes, strings, request counts); no tolerances.
 */
import { fileURLToPath } from "node:url";
import { createHash } from "node:crypto";
import {
  assert,
  assertEquals,
  assertInstanceOf,
  assertRejects,
  assertStringIncludes,
} from "@std/assert";
import {
  CorruptDownloadError,
  EntryNotFoundError,
  GatedRepoError,
  hfHubDownload,
  HubConnectionError,
  InvalidRepoIdError,
  OfflineModeError,
  RepositoryNotFoundError,
  RevisionNotFoundError,
  snapshotDownload,
  UnauthorizedError,
} from "../config/hub/hub.ts";
import { ResolveError, resolveModelFile } from "@encdec/config";
import { type MockHub, type MockHubOptions, startMockHub } from "./mock_hub.ts";
import { withEnv } from "../testing/env.ts";
import { exists, listDir } from "../testing/fs.ts";

const FIXTURE = fileURLToPath(new URL("./testdata/fixtures/bert2bert", import.meta.url));
const HUB_TS = new URL("../config/hub/hub.ts", import.meta.url).href;
const REPO = "org/bert2bert";
const FILES = [
  "config.json",
  "generation_config.json",
  "goldens.json",
  "grads.json",
  "model.safetensors",
  "special_tokens_map.json",
  "tokenizer_config.json",
  "vocab.txt",
];

/** Runs `fn` with a fresh mock Hub and a fresh temporary cache dir; cleans both up. */
async function withHub(
  opts: Partial<MockHubOptions>,
  fn: (hub: MockHub, cache: string) => Promise<void>,
): Promise<void> {
  const hub = await startMockHub({ repos: { [REPO]: { dir: FIXTURE } }, ...opts });
  const cache = await Deno.makeTempDir({ prefix: "encdec_hub_test_" });
  try {
    await fn(hub, cache);
  } finally {
    await hub.close();
    await Deno.remove(cache, { recursive: true });
  }
}

const gets = (hub: MockHub) => hub.requests.filter((r) => r.method === "GET");
const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const fixtureBytes = (f: string) => Deno.readFile(`${FIXTURE}/${f}`);
const storageOf = (cache: string, repo = REPO) => `${cache}/models--${repo.replaceAll("/", "--")}`;

Deno.test("snapshotDownload via HF_HOME/HF_ENDPOINT: byte-identical files in the Python cache layout", async () => {
  await withHub({}, async (hub, tmp) => {
    await withEnv(
      {
        HF_HOME: tmp,
        HF_ENDPOINT: hub.endpoint,
        HF_HUB_CACHE: undefined,
        HF_HUB_OFFLINE: undefined,
      },
      async () => {
        const folder = await snapshotDownload(REPO, { quiet: true });
        const storage = storageOf(`${tmp}/hub`);
        const commit = hub.commit(REPO);
        assertEquals(folder, `${storage}/snapshots/${commit}`);
        // refs/main holds exactly the commit hash (no newline), as huggingface_hub writes it
        assertEquals(await Deno.readTextFile(`${storage}/refs/main`), commit);
        assertEquals(await listDir(folder), FILES);
        const blobs = await listDir(`${storage}/blobs`);
        assertEquals(blobs, FILES.map((f) => hub.etag(REPO, f)).sort());
        for (const f of FILES) {
          const link = `${folder}/${f}`;
          assert((await Deno.lstat(link)).isSymlink, `${f} is a symlink`);
          assertEquals(await Deno.readLink(link), `../../blobs/${hub.etag(REPO, f)}`);
          assertEquals(await Deno.readFile(link), await fixtureBytes(f), `${f} bytes`);
        }
        // LFS blobs are named by the sha256 of their bytes
        const st = await Deno.readFile(`${storage}/blobs/${hub.etag(REPO, "model.safetensors")}`);
        assertEquals(sha256(st), hub.etag(REPO, "model.safetensors"));
        // the lock lives where Python's filelock puts it
        assert(await exists(`${tmp}/hub/.locks/models--org--bert2bert`));
        assertEquals(gets(hub).filter((r) => r.path.startsWith("/cdn-lfs/")).length, 1);
      },
    );
  });
});

Deno.test("hfHubDownload: a second call finds the cache (HEAD only, no GET)", async () => {
  await withHub({}, async (hub, cache) => {
    const opts = { cacheDir: cache, endpoint: hub.endpoint, quiet: true, localFilesOnly: false };
    const first = await hfHubDownload(REPO, "model.safetensors", opts);
    const getsAfterFirst = gets(hub).length;
    assertEquals(getsAfterFirst, 1);
    const second = await hfHubDownload(REPO, "model.safetensors", opts);
    assertEquals(second, first);
    assertEquals(gets(hub).length, getsAfterFirst);
    assertEquals(hub.requests.at(-1)?.method, "HEAD");
  });
});

Deno.test("a cache laid out by hand as Python writes it is used without any download", async () => {
  await withHub({}, async (hub, cache) => {
    const commit = hub.commit(REPO);
    const storage = storageOf(cache);
    const bytes = await fixtureBytes("config.json");
    const etag = hub.etag(REPO, "config.json");
    await Deno.mkdir(`${storage}/blobs`, { recursive: true });
    await Deno.mkdir(`${storage}/refs`, { recursive: true });
    await Deno.mkdir(`${storage}/snapshots/${commit}`, { recursive: true });
    await Deno.writeFile(`${storage}/blobs/${etag}`, bytes);
    await Deno.writeTextFile(`${storage}/refs/main`, commit);
    await Deno.symlink(`../../blobs/${etag}`, `${storage}/snapshots/${commit}/config.json`);
    const want = `${storage}/snapshots/${commit}/config.json`;

    // offline: no request at all
    assertEquals(
      await hfHubDownload(REPO, "config.json", { cacheDir: cache, localFilesOnly: true }),
      want,
    );
    // a full commit hash whose file is cached: no request either, even online
    const opts = { cacheDir: cache, endpoint: hub.endpoint, quiet: true, localFilesOnly: false };
    assertEquals(await hfHubDownload(REPO, "config.json", { ...opts, revision: commit }), want);
    assertEquals(hub.requests.length, 0);
    // online on "main": one HEAD to resolve the branch, no GET
    assertEquals(await hfHubDownload(REPO, "config.json", opts), want);
    assertEquals(hub.requests.map((r) => r.method), ["HEAD"]);
    assertEquals(await Deno.readFile(want), bytes);
  });
});

Deno.test("HF_HUB_OFFLINE=1: cached files resolve, a missing one is an OfflineModeError naming it", async () => {
  await withHub({}, async (hub, cache) => {
    await hfHubDownload(REPO, "vocab.txt", {
      cacheDir: cache,
      endpoint: hub.endpoint,
      quiet: true,
      localFilesOnly: false,
    });
    const before = hub.requests.length;
    await withEnv(
      { HF_HUB_OFFLINE: "1", HF_HUB_CACHE: cache, HF_ENDPOINT: hub.endpoint },
      async () => {
        const path = await hfHubDownload(REPO, "vocab.txt");
        assertEquals(await Deno.readFile(path), await fixtureBytes("vocab.txt"));
        const e = await assertRejects(() => hfHubDownload(REPO, "config.json"), OfflineModeError);
        assertStringIncludes(e.message, "config.json");
        assertStringIncludes(e.message, REPO);
        assertStringIncludes(e.message, "HF_HUB_OFFLINE");
        // resolveModelFile: optional → null, required → the same typed error
        assertEquals(await resolveModelFile(REPO, "config.json", { optional: true }), null);
        await assertRejects(() => resolveModelFile(REPO, "config.json"), OfflineModeError);
        // snapshotDownload offline returns the cached folder
        assertEquals(
          await snapshotDownload(REPO),
          `${storageOf(cache)}/snapshots/${hub.commit(REPO)}`,
        );
      },
    );
    assertEquals(hub.requests.length, before);
  });
});

Deno.test("revision by commit hash; an unknown revision is a RevisionNotFoundError", async () => {
  await withHub({}, async (hub, cache) => {
    const commit = hub.commit(REPO);
    const opts = {
      cacheDir: cache,
      endpoint: hub.endpoint,
      quiet: true,
      localFilesOnly: false,
      revision: commit,
    };
    const path = await hfHubDownload(REPO, "config.json", opts);
    assertEquals(path, `${storageOf(cache)}/snapshots/${commit}/config.json`);
    assertEquals(await Deno.readFile(path), await fixtureBytes("config.json"));
    assertEquals(await exists(`${storageOf(cache)}/refs/${commit}`), false); // no ref for a hash
    assertStringIncludes(hub.requests[0].path, `/resolve/${commit}/config.json`);
    const e = await assertRejects(
      () => hfHubDownload(REPO, "config.json", { ...opts, revision: "v9.9" }),
      RevisionNotFoundError,
    );
    assertStringIncludes(e.message, '"v9.9"');
  });
});

Deno.test("private repo: 401 without token → UnauthorizedError; HF_TOKEN → ok; gated → GatedRepoError", async () => {
  const repos = {
    "org/private": { dir: FIXTURE, private: true, token: "hf_secret" },
    "org/gated": { dir: FIXTURE, gated: true },
  };
  await withHub({ repos }, async (hub, cache) => {
    const opts = { cacheDir: cache, endpoint: hub.endpoint, quiet: true, localFilesOnly: false };
    const e = await assertRejects(
      () => hfHubDownload("org/private", "config.json", { ...opts, token: false }),
      UnauthorizedError,
    );
    assertStringIncludes(e.message, "HF_TOKEN");
    assertStringIncludes(e.message, "org/private");
    assertEquals(e.status, 401);
    assertInstanceOf(e, RepositoryNotFoundError);
    const wrong = await assertRejects(
      () => hfHubDownload("org/private", "config.json", { ...opts, token: "hf_wrong" }),
      UnauthorizedError,
    );
    assertStringIncludes(wrong.message, "rejected");
    await withEnv({ HF_TOKEN: "hf_secret" }, async () => {
      const path = await hfHubDownload("org/private", "model.safetensors", opts);
      assertEquals(await Deno.readFile(path), await fixtureBytes("model.safetensors"));
    });
    const head = hub.requests.find((r) => r.status === 302);
    assertEquals(head?.authorization, "Bearer hf_secret");
    const g = await assertRejects(
      () => hfHubDownload("org/gated", "config.json", opts),
      GatedRepoError,
    );
    assertStringIncludes(g.message, "gated");
    assertEquals(await exists(storageOf(cache, "org/gated")), false);
  });
});

Deno.test("404s: unknown repo → RepositoryNotFoundError; unknown file → EntryNotFoundError (+ .no_exist)", async () => {
  await withHub({}, async (hub, cache) => {
    const opts = { cacheDir: cache, endpoint: hub.endpoint, quiet: true, localFilesOnly: false };
    const r = await assertRejects(
      () => hfHubDownload("org/nope", "config.json", opts),
      RepositoryNotFoundError,
    );
    assertStringIncludes(r.message, '"org/nope" not found');
    assertEquals(r.status, 404);
    const s = await assertRejects(
      () => snapshotDownload("org/nope", opts),
      RepositoryNotFoundError,
    );
    assertStringIncludes(s.message, "org/nope");
    const e = await assertRejects(
      () => hfHubDownload(REPO, "missing.json", opts),
      EntryNotFoundError,
    );
    assertStringIncludes(e.message, '"missing.json"');
    const marker = `${storageOf(cache)}/.no_exist/${hub.commit(REPO)}/missing.json`;
    assert(await exists(marker), "huggingface_hub-style .no_exist marker written");
    // resolveModelFile: optional file absent on the Hub → null; required → EntryNotFoundError
    assertEquals(await resolveModelFile(REPO, "missing.json", { ...opts, optional: true }), null);
    await assertRejects(() => resolveModelFile(REPO, "missing.json", opts), EntryNotFoundError);
  });
});

Deno.test("resolveModelFile: Hub id through the mock; bad ids and missing paths are typed errors", async () => {
  await withHub({}, async (hub, cache) => {
    const opts = { cacheDir: cache, endpoint: hub.endpoint, quiet: true, localFilesOnly: false };
    const path = await resolveModelFile(REPO, "vocab.txt", opts);
    assert(path !== null);
    assertEquals(await Deno.readFile(path), await fixtureBytes("vocab.txt"));
    const bad = await assertRejects(
      () => resolveModelFile("a/b--c", "config.json", opts),
      InvalidRepoIdError,
    );
    assertStringIncludes(bad.message, '"a/b--c"');
    await assertRejects(() => resolveModelFile("-bad", "config.json", opts), InvalidRepoIdError);
    const p = await assertRejects(
      () => resolveModelFile("./no/such/dir", "config.json", opts),
      ResolveError,
    );
    assertStringIncludes(p.message, "./no/such/dir");
    await assertRejects(() => hfHubDownload(REPO, "../escape", opts), Error, "invalid filename");
  });
});

Deno.test("a connection cut halfway resumes with Range; the result is byte-identical", async () => {
  await withHub(
    { faults: { cutOnce: ["model.safetensors", "grads.json"] } },
    async (hub, cache) => {
      const opts = { cacheDir: cache, endpoint: hub.endpoint, quiet: true, localFilesOnly: false };
      for (const f of ["model.safetensors", "grads.json"]) {
        const path = await hfHubDownload(REPO, f, opts);
        const want = await fixtureBytes(f);
        assertEquals(await Deno.readFile(path), want, `${f} bytes`);
        const fileGets = gets(hub).filter((r) =>
          r.path.endsWith(f) || r.path.endsWith(hub.etag(REPO, f))
        );
        assertEquals(fileGets.map((r) => r.range), [null, `bytes=${want.length >> 1}-`]);
        assertEquals(fileGets.map((r) => r.status), [200, 206]);
      }
      assertEquals((await listDir(`${storageOf(cache)}/blobs`)).filter((b) => b.includes(".")), []);
    },
  );
});

Deno.test("cut on every try: HubConnectionError keeps the .incomplete; the next call resumes it", async () => {
  await withHub({ faults: { cutAlways: ["model.safetensors"] } }, async (hub, cache) => {
    const opts = {
      cacheDir: cache,
      endpoint: hub.endpoint,
      quiet: true,
      localFilesOnly: false,
      maxRetries: 1,
    };
    const e = await assertRejects(
      () => hfHubDownload(REPO, "model.safetensors", opts),
      HubConnectionError,
    );
    assertStringIncludes(e.message, "was cut 2 times");
    const want = await fixtureBytes("model.safetensors");
    const blob = `${storageOf(cache)}/blobs/${hub.etag(REPO, "model.safetensors")}`;
    // half, then half of the remaining half
    const kept = (want.length >> 1) + ((want.length - (want.length >> 1)) >> 1);
    assertEquals((await Deno.stat(`${blob}.incomplete`)).size, kept);
    assertEquals(await exists(blob), false);
    assertEquals(await exists(`${storageOf(cache)}/snapshots/${hub.commit(REPO)}`), false);
    hub.faults.cutAlways = [];
    const path = await hfHubDownload(REPO, "model.safetensors", opts);
    assertEquals(await Deno.readFile(path), want);
    assertEquals(gets(hub).at(-1)?.range, `bytes=${kept}-`);
  });
});

Deno.test("an .incomplete left by an earlier process is resumed; a server ignoring Range restarts", async () => {
  for (const ignoreRange of [false, true]) {
    await withHub({ faults: { ignoreRange } }, async (hub, cache) => {
      const want = await fixtureBytes("model.safetensors");
      const etag = hub.etag(REPO, "model.safetensors");
      await Deno.mkdir(`${storageOf(cache)}/blobs`, { recursive: true });
      await Deno.writeFile(`${storageOf(cache)}/blobs/${etag}.incomplete`, want.subarray(0, 1000));
      const path = await hfHubDownload(REPO, "model.safetensors", {
        cacheDir: cache,
        endpoint: hub.endpoint,
        quiet: true,
        localFilesOnly: false,
      });
      assertEquals(await Deno.readFile(path), want);
      assertEquals(gets(hub).map((r) => [r.range, r.status]), [[
        "bytes=1000-",
        ignoreRange ? 200 : 206,
      ]]);
      assertEquals(await exists(`${storageOf(cache)}/blobs/${etag}.incomplete`), false);
    });
  }
});

Deno.test("corrupted bytes → CorruptDownloadError; no snapshot link, no blob, no partial file", async () => {
  await withHub({ faults: { corrupt: ["model.safetensors", "vocab.txt"] } }, async (hub, cache) => {
    const opts = { cacheDir: cache, endpoint: hub.endpoint, quiet: true, localFilesOnly: false };
    for (const [f, kind] of [["model.safetensors", "sha256"], ["vocab.txt", "git-sha1"]]) {
      const e = await assertRejects(() => hfHubDownload(REPO, f, opts), CorruptDownloadError);
      assertStringIncludes(e.message, f);
      assertStringIncludes(e.message, `${kind} `);
      assertStringIncludes(e.message, `expected ${hub.etag(REPO, f)}`);
      const storage = storageOf(cache);
      assertEquals(await exists(`${storage}/snapshots/${hub.commit(REPO)}/${f}`), false);
      assertEquals(await exists(`${storage}/blobs/${hub.etag(REPO, f)}`), false);
      assertEquals(await exists(`${storage}/blobs/${hub.etag(REPO, f)}.incomplete`), false);
    }
  });
});

Deno.test("two concurrent async downloads of one file: one GET, one good blob", async () => {
  await withHub({ faults: { chunkDelayMs: 5 } }, async (hub, cache) => {
    const opts = { cacheDir: cache, endpoint: hub.endpoint, quiet: true, localFilesOnly: false };
    const [a, b] = await Promise.all([
      hfHubDownload(REPO, "model.safetensors", opts),
      hfHubDownload(REPO, "model.safetensors", opts),
    ]);
    assertEquals(a, b);
    assertEquals(await Deno.readFile(a), await fixtureBytes("model.safetensors"));
    assertEquals(gets(hub).length, 1);
    assertEquals(await listDir(`${storageOf(cache)}/blobs`), [hub.etag(REPO, "model.safetensors")]);
  });
});

Deno.test("two processes downloading the same file at once end with one good copy (flock)", async () => {
  await withHub({ faults: { chunkDelayMs: 20 } }, async (hub, cache) => {
    // A lock file left behind by a killed process must not block (the OS drops flocks on exit).
    const lockDir = `${cache}/.locks/models--org--bert2bert`;
    await Deno.mkdir(lockDir, { recursive: true });
    await Deno.writeTextFile(`${lockDir}/${hub.etag(REPO, "model.safetensors")}.lock`, "");
    const code = `
      import { hfHubDownload } from ${JSON.stringify(HUB_TS)};
      const p = await hfHubDownload(${JSON.stringify(REPO)}, "model.safetensors",
        { cacheDir: ${JSON.stringify(cache)}, endpoint: ${
      JSON.stringify(hub.endpoint)
    }, quiet: true, localFilesOnly: false });
      console.log(p);`;
    const run = () =>
      new Deno.Command(Deno.execPath(), {
        args: ["eval", "--no-check", code],
        stdout: "piped",
        stderr: "piped",
        env: { NO_COLOR: "1" },
      }).output();
    const [x, y] = await Promise.all([run(), run()]);
    const dec = new TextDecoder();
    assertEquals([x.code, y.code], [0, 0], dec.decode(x.stderr) + dec.decode(y.stderr));
    const path = dec.decode(x.stdout).trim();
    assertEquals(dec.decode(y.stdout).trim(), path);
    assertEquals(await Deno.readFile(path), await fixtureBytes("model.safetensors"));
    assertEquals(gets(hub).length, 1, "the second process waited on the lock and reused the blob");
    assertEquals(await listDir(`${storageOf(cache)}/blobs`), [hub.etag(REPO, "model.safetensors")]);
  });
});

Deno.test("renamed repo: the relative redirect is followed, the cache is under the requested id", async () => {
  await withHub({ renamed: { "old/name": REPO } }, async (hub, cache) => {
    const path = await hfHubDownload("old/name", "config.json", {
      cacheDir: cache,
      endpoint: hub.endpoint,
      quiet: true,
      localFilesOnly: false,
    });
    assertEquals(path, `${storageOf(cache, "old/name")}/snapshots/${hub.commit(REPO)}/config.json`);
    assertEquals(await Deno.readFile(path), await fixtureBytes("config.json"));
  });
});

Deno.test("Hub unreachable: cached files are still used; otherwise a HubConnectionError", async () => {
  await withHub({}, async (hub, cache) => {
    const opts = { cacheDir: cache, endpoint: hub.endpoint, quiet: true, localFilesOnly: false };
    const path = await hfHubDownload(REPO, "config.json", opts);
    const dead = { ...opts, endpoint: "http://127.0.0.1:9" };
    assertEquals(await hfHubDownload(REPO, "config.json", dead), path);
    const e = await assertRejects(() => hfHubDownload(REPO, "vocab.txt", dead), HubConnectionError);
    assertStringIncludes(e.message, "127.0.0.1:9");
    assertStringIncludes(e.message, "HF_HUB_OFFLINE");
  });
});

Deno.test("snapshotDownload: allowPatterns selects files; the ref of the branch is written", async () => {
  await withHub({}, async (hub, cache) => {
    const folder = await snapshotDownload(REPO, {
      cacheDir: cache,
      endpoint: hub.endpoint,
      quiet: true,
      localFilesOnly: false,
      allowPatterns: ["*.json", "vocab.txt"],
      ignorePatterns: "*grads*",
    });
    assertEquals(await listDir(folder), [
      "config.json",
      "generation_config.json",
      "goldens.json",
      "special_tokens_map.json",
      "tokenizer_config.json",
      "vocab.txt",
    ]);
    assertEquals(await Deno.readTextFile(`${storageOf(cache)}/refs/main`), hub.commit(REPO));
  });
});
