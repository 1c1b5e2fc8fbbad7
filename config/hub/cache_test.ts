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
  resolveGraphCacheFolder,
  resolveHubPaths,
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
  TRANSFORMERS_OFFLINE: undefined,
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

Deno.test("resolveHubPaths follows huggingface_hub constants.py for every variable (table)", async () => {
  // Expected values worked out from huggingface_hub's constants.py (x = expandvars(expanduser(.))):
  //   HF_HOME = x(getenv("HF_HOME", join(getenv("XDG_CACHE_HOME", "~/.cache"), "huggingface")))
  //   HF_HUB_CACHE = x(getenv("HF_HUB_CACHE", getenv("HUGGINGFACE_HUB_CACHE", HF_HOME/hub)))
  //   HF_TOKEN_PATH = x(getenv("HF_TOKEN_PATH", join(HF_HOME, "token")))
  //   ENDPOINT = getenv("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
  //   HF_HUB_OFFLINE = is_true(getenv("HF_HUB_OFFLINE") or getenv("TRANSFORMERS_OFFLINE"))
  const H = "/home/u";
  const table: [Record<string, string>, Partial<ReturnType<typeof resolveHubPaths>>][] = [
    [{}, {
      hfHome: `${H}/.cache/huggingface`,
      cacheDir: `${H}/.cache/huggingface/hub`,
      tokenPath: `${H}/.cache/huggingface/token`,
      endpoint: "https://huggingface.co",
      offline: false,
    }],
    [{ XDG_CACHE_HOME: "/xdg" }, { hfHome: "/xdg/huggingface", cacheDir: "/xdg/huggingface/hub" }],
    [{ XDG_CACHE_HOME: "~/xdg" }, { cacheDir: `${H}/xdg/huggingface/hub` }],
    [{ HF_HOME: "/hf", XDG_CACHE_HOME: "/xdg" }, { hfHome: "/hf", tokenPath: "/hf/token" }],
    [{ HF_HOME: "rel/hf" }, { cacheDir: "rel/hf/hub" }],
    [{ HUGGINGFACE_HUB_CACHE: "/legacy" }, {
      cacheDir: "/legacy",
      hfHome: `${H}/.cache/huggingface`,
    }],
    [{ HF_HUB_CACHE: "/new", HUGGINGFACE_HUB_CACHE: "/legacy", HF_HOME: "/hf" }, {
      cacheDir: "/new",
      hfHome: "/hf",
    }],
    [{ HF_HUB_CACHE: "~/c" }, { cacheDir: `${H}/c` }],
    [{ HF_TOKEN_PATH: "~/tok" }, { tokenPath: `${H}/tok` }],
    [{ HF_ENDPOINT: "https://mirror.example///" }, { endpoint: "https://mirror.example" }],
    [{ HF_ENDPOINT: "" }, { endpoint: "https://huggingface.co" }],
    [{ HF_HUB_OFFLINE: "ON" }, { offline: true }],
    [{ HF_HUB_OFFLINE: "true" }, { offline: true }],
    [{ HF_HUB_OFFLINE: "1" }, { offline: true }],
    [{ HF_HUB_OFFLINE: "0" }, { offline: false }],
    [{ HF_HUB_OFFLINE: "no" }, { offline: false }],
    [{ TRANSFORMERS_OFFLINE: "1" }, { offline: true }],
    [{ HF_HUB_OFFLINE: "0", TRANSFORMERS_OFFLINE: "1" }, { offline: false }],
    [{ DATA: "/data", HF_HOME: "$DATA/hf", HF_HUB_CACHE: "${DATA}/hub-$NOPE" }, {
      hfHome: "/data/hf",
      cacheDir: "/data/hub-$NOPE",
    }],
  ];
  for (const [env, want] of table) {
    const got = resolveHubPaths({ HOME: H, ...env });
    const picked = Object.fromEntries(
      Object.keys(want).map((k) => [k, got[k as keyof typeof got]]),
    );
    assertEquals(picked, want, JSON.stringify(env));
  }
  // Without an argument it reads the process environment (the same rules).
  await withEnv({ ...CLEAR, HOME: H, HF_HOME: "/from/env", HF_ENDPOINT: "http://m/" }, () => {
    assertEquals(resolveHubPaths(), {
      hfHome: "/from/env",
      cacheDir: "/from/env/hub",
      tokenPath: "/from/env/token",
      endpoint: "http://m",
      offline: false,
    });
  });
  assertThrows(() => resolveHubPaths({}), HubError, "set HF_HOME");
});

Deno.test("resolveGraphCacheFolder: ENCDEC_GRAPH_CACHE, off / 0, else <HF_HOME>/encdec/graphs; null without a home", () => {
  assertEquals(
    resolveGraphCacheFolder({ HOME: "/home/me" }),
    "/home/me/.cache/huggingface/encdec/graphs",
  );
  assertEquals(
    resolveGraphCacheFolder({ HOME: "/home/me", HF_HOME: "/data/hf" }),
    "/data/hf/encdec/graphs",
  );
  assertEquals(resolveGraphCacheFolder({ HOME: "/h", ENCDEC_GRAPH_CACHE: "/fast/g" }), "/fast/g");
  assertEquals(resolveGraphCacheFolder({ HOME: "/h", ENCDEC_GRAPH_CACHE: "OFF" }), null);
  assertEquals(resolveGraphCacheFolder({ HOME: "/h", ENCDEC_GRAPH_CACHE: "0" }), null);
  assertEquals(
    resolveGraphCacheFolder({ HOME: "/h", ENCDEC_GRAPH_CACHE: "" }),
    "/h/.cache/huggingface/encdec/graphs",
  );
  assertEquals(resolveGraphCacheFolder({}), null);
});
