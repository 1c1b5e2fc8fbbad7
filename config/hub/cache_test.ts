import { assertEquals, assertRejects, assertStringIncludes, assertThrows } from "@std/assert";
import {
  CACHED_NO_EXIST,
  getHubToken,
  hfHome,
  hubCacheDir,
  hubEndpoint,
  isCommitHash,
  isOfflineMode,
  repoFolderName,
  tryToLoadFromCache,
  validateRepoId,
} from "./cache.ts";
import { HubError, InvalidRepoIdError } from "./hub_errors.ts";
import { withEnv } from "../../testing/env.ts";

const CLEAR = {
  HF_HOME: undefined,
  HF_HUB_CACHE: undefined,
  HUGGINGFACE_HUB_CACHE: undefined,
  XDG_CACHE_HOME: undefined,
  HF_TOKEN: undefined,
  HUGGING_FACE_HUB_TOKEN: undefined,
  HF_TOKEN_PATH: undefined,
  HF_ENDPOINT: undefined,
  HF_HUB_OFFLINE: undefined,
};

Deno.test("validateRepoId accepts Hub ids and rejects what huggingface_hub rejects (exact classes)", () => {
  for (const ok of ["bert-base-uncased", "google/bert2bert_L-24_wmt_de_en", "a.b/c_d-1", "x"]) {
    validateRepoId(ok);
  }
  const bad = ["", "a/b/c", "a--b", "a..b", "-a", "a.", "org/na me", "x.git", "a".repeat(97), "/a"];
  for (const id of bad) {
    const e = assertThrows(() => validateRepoId(id), InvalidRepoIdError);
    assertStringIncludes(e.message, JSON.stringify(id));
  }
});

Deno.test("repoFolderName and isCommitHash follow the Python cache naming", () => {
  assertEquals(repoFolderName("org/name"), "models--org--name");
  assertEquals(repoFolderName("gpt2"), "models--gpt2");
  assertEquals(isCommitHash("0123456789abcdef0123456789abcdef01234567"), true);
  assertEquals(isCommitHash("main"), false);
  assertEquals(isCommitHash("0123456789ABCDEF0123456789abcdef01234567"), false);
});

Deno.test("cache dir precedence: HF_HUB_CACHE > HF_HOME/hub > XDG_CACHE_HOME > ~/.cache", async () => {
  await withEnv({ ...CLEAR, HOME: "/home/u" }, () => {
    assertEquals(hubCacheDir(), "/home/u/.cache/huggingface/hub");
  });
  await withEnv({ ...CLEAR, HOME: "/home/u", XDG_CACHE_HOME: "/xdg" }, () => {
    assertEquals(hubCacheDir(), "/xdg/huggingface/hub");
  });
  await withEnv({ ...CLEAR, HOME: "/home/u", HF_HOME: "~/hf" }, () => {
    assertEquals(hfHome(), "/home/u/hf");
    assertEquals(hubCacheDir(), "/home/u/hf/hub");
  });
  await withEnv({ ...CLEAR, HF_HOME: "/hf", HF_HUB_CACHE: "/c" }, () => {
    assertEquals(hubCacheDir(), "/c");
  });
  await withEnv({ ...CLEAR, HOME: undefined, USERPROFILE: undefined }, () => {
    assertThrows(() => hubCacheDir(), HubError, "set HF_HOME");
  });
});

Deno.test("endpoint, offline flag and token come from the environment like in Python", async () => {
  const home = await Deno.makeTempDir();
  try {
    await withEnv({ ...CLEAR, HF_HOME: home }, () => {
      assertEquals(hubEndpoint(), "https://huggingface.co");
      assertEquals(isOfflineMode(), false);
      assertEquals(getHubToken(), undefined);
    });
    await Deno.writeTextFile(`${home}/token`, "hf_from_file\n");
    await withEnv(
      { ...CLEAR, HF_HOME: home, HF_ENDPOINT: "http://mirror/", HF_HUB_OFFLINE: "yes" },
      () => {
        assertEquals(hubEndpoint(), "http://mirror");
        assertEquals(isOfflineMode(), true);
        assertEquals(getHubToken(), "hf_from_file");
      },
    );
    await withEnv({ ...CLEAR, HF_HOME: home, HF_TOKEN: "hf_env", HF_HUB_OFFLINE: "0" }, () => {
      assertEquals(getHubToken(), "hf_env");
      assertEquals(isOfflineMode(), false);
    });
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("tryToLoadFromCache: snapshot path via refs, .no_exist marker, unknown → null", async () => {
  const cache = await Deno.makeTempDir();
  try {
    const commit = "a".repeat(40);
    const storage = `${cache}/models--org--m`;
    await Deno.mkdir(`${storage}/snapshots/${commit}`, { recursive: true });
    await Deno.mkdir(`${storage}/refs`, { recursive: true });
    await Deno.mkdir(`${storage}/.no_exist/${commit}`, { recursive: true });
    await Deno.writeTextFile(`${storage}/refs/main`, commit);
    await Deno.writeTextFile(`${storage}/snapshots/${commit}/config.json`, "{}");
    await Deno.writeFile(`${storage}/.no_exist/${commit}/absent.json`, new Uint8Array());
    const opts = { cacheDir: cache };
    assertEquals(
      await tryToLoadFromCache("org/m", "config.json", opts),
      `${storage}/snapshots/${commit}/config.json`,
    );
    assertEquals(await tryToLoadFromCache("org/m", "absent.json", opts), CACHED_NO_EXIST);
    assertEquals(await tryToLoadFromCache("org/m", "other.json", opts), null);
    assertEquals(await tryToLoadFromCache("org/other", "config.json", opts), null);
    assertEquals(
      await tryToLoadFromCache("org/m", "config.json", { ...opts, revision: commit }),
      `${storage}/snapshots/${commit}/config.json`,
    );
    await assertRejects(
      () => tryToLoadFromCache("org/m", "../../etc/passwd", opts),
      HubError,
      "invalid filename",
    );
  } finally {
    await Deno.remove(cache, { recursive: true });
  }
});
