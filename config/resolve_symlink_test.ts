// Symlinks in a local model directory may not lead outside it (issue 19 item 7): Deno checks the
// path given, not the link's target, so `config.json` → a file elsewhere would step around
// `--allow-read=<model dir>`. The Hugging Face cache's own snapshot → blobs links stay allowed.
import { assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import { AutoConfig } from "./auto.ts";
import { ResolveError, resolveModelFile } from "./resolve.ts";

const CONFIG = await Deno.readTextFile(
  new URL("../tests/testdata/fixtures/bert2bert/config.json", import.meta.url),
);

async function withTemp(fn: (root: string) => Promise<void>): Promise<void> {
  const root = await Deno.realPath(await Deno.makeTempDir({ prefix: "encdec-symlink-" }));
  try {
    await fn(root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

Deno.test("resolveModelFile: config.json symlinked to a file outside the model directory is refused", async () => {
  await withTemp(async (root) => {
    await Deno.mkdir(`${root}/model`);
    await Deno.writeTextFile(`${root}/secret.json`, CONFIG);
    await Deno.symlink(`${root}/secret.json`, `${root}/model/config.json`);
    await Deno.symlink("../secret.json", `${root}/model/tokenizer.json`);
    for (const f of ["config.json", "tokenizer.json"]) {
      const e = await assertRejects(
        () => resolveModelFile(`${root}/model`, f),
        ResolveError,
        `resolves to ${root}/secret.json, outside the model directory ${root}/model`,
      );
      assertStringIncludes(e.message, `${root}/model/${f}`);
    }
    await assertRejects(() => AutoConfig.fromPretrained(`${root}/model`), ResolveError, "outside");
    // optional lookups refuse too: a hostile file is not "absent"
    await assertRejects(
      () => resolveModelFile(`${root}/model`, "config.json", { optional: true }),
      ResolveError,
    );
  });
});

Deno.test("resolveModelFile: with --allow-read for the model directory only, the outside target stays unread", async () => {
  await withTemp(async (root) => {
    await Deno.mkdir(`${root}/model`);
    await Deno.mkdir(`${root}/private`);
    await Deno.writeTextFile(`${root}/private/secret.json`, CONFIG);
    await Deno.symlink(`${root}/private/secret.json`, `${root}/model/config.json`);
    const code = `
      import { AutoConfig } from ${JSON.stringify(new URL("./mod.ts", import.meta.url).href)};
      try { await AutoConfig.fromPretrained(${
      JSON.stringify(`${root}/model`)
    }); console.log("READ"); }
      catch (e) { console.log(e.name); }`;
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["eval", "--no-prompt", `--allow-read=${root}/model`, "--allow-env", code],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assertEquals(new TextDecoder().decode(out.stdout).trim(), "ResolveError");
  });
});

Deno.test("resolveModelFile: links inside the directory and a Hub cache snapshot's links into its blobs/ load", async () => {
  await withTemp(async (root) => {
    await Deno.mkdir(`${root}/model/real`, { recursive: true });
    await Deno.writeTextFile(`${root}/model/real/config.json`, CONFIG);
    await Deno.symlink("real/config.json", `${root}/model/config.json`);
    assertEquals(
      await resolveModelFile(`${root}/model`, "config.json"),
      `${root}/model/config.json`,
    );
    const repo = `${root}/hub/models--org--m`;
    await Deno.mkdir(`${repo}/blobs`, { recursive: true });
    await Deno.mkdir(`${repo}/snapshots/abc123`, { recursive: true });
    await Deno.writeTextFile(`${repo}/blobs/0123abcd`, CONFIG);
    await Deno.symlink("../../blobs/0123abcd", `${repo}/snapshots/abc123/config.json`);
    const cfg = await AutoConfig.fromPretrained(`${repo}/snapshots/abc123`);
    assertEquals(cfg.modelType, "encoder-decoder");
    // ... but not into another repository's blobs
    await Deno.mkdir(`${root}/hub/models--other--x/blobs`, { recursive: true });
    await Deno.writeTextFile(`${root}/hub/models--other--x/blobs/ffff`, CONFIG);
    await Deno.symlink(
      "../../../models--other--x/blobs/ffff",
      `${repo}/snapshots/abc123/generation_config.json`,
    );
    await assertRejects(
      () => resolveModelFile(`${repo}/snapshots/abc123`, "generation_config.json"),
      ResolveError,
      "outside the model directory",
    );
  });
});
