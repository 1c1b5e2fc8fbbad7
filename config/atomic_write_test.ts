// Tests of the crash-safe directory save (`atomic_write.ts`): what is carried over, what is replaced,
// recovery of a swap interrupted between its two renames, the sweep of stale siblings, and that a
// failed save leaves the directory unchanged. Exact file sets and contents are compared.
import { resolveModelFile } from "./resolve.ts";
import { assert, assertEquals, assertRejects } from "@std/assert";
import { recoverDirectorySwap, SAVE_MARKER, writeDirectoryAtomic } from "./atomic_write.ts";
import { ConfigError } from "./errors.ts";
import { writeJsonFilesAtomic } from "./_util.ts";

/** A pid above Linux's largest `pid_max` (2^22), so never a running process. */
const DEAD_PID = 4_194_304 + 4321;

async function listing(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for await (const e of Deno.readDir(dir)) {
    out[e.name] = e.isDirectory ? "<dir>" : await Deno.readTextFile(`${dir}/${e.name}`);
  }
  return out;
}

async function siblings(parent: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(parent)) out.push(e.name);
  return out.sort();
}

/** A temporary directory as a save of this library leaves it: named `<name>` with its marker. */
async function leftover(path: string): Promise<void> {
  await Deno.mkdir(path);
  const tag = /encdec-(?:tmp|old)-(\d+-\d+-\d+)$/.exec(path)![1];
  await Deno.writeTextFile(`${path}/${SAVE_MARKER}`, tag);
}

async function withTemp(fn: (root: string) => Promise<void>): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "encdec-atomic-" });
  try {
    await fn(root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

const isWeights = (n: string) => /^model(-\d{5}-of-\d{5})?\.safetensors(\.index\.json)?$/.test(n);

Deno.test("writeDirectoryAtomic: new files replace, other files are kept, old shards and temp files are not carried over", async () => {
  await withTemp(async (root) => {
    const dir = `${root}/m`;
    await Deno.mkdir(`${dir}/sub`, { recursive: true });
    await Deno.writeTextFile(`${dir}/config.json`, "old config");
    await Deno.writeTextFile(`${dir}/model-00001-of-00002.safetensors`, "old shard 1");
    await Deno.writeTextFile(`${dir}/model-00002-of-00002.safetensors`, "old shard 2");
    await Deno.writeTextFile(`${dir}/model.safetensors.index.json`, "old index");
    await Deno.writeTextFile(`${dir}/vocab.txt`, "tokens");
    await Deno.writeTextFile(`${dir}/sub/README.md`, "readme");
    await Deno.writeTextFile(`${dir}/.config.json.encdec-tmp-${DEAD_PID}-0-0`, "half");
    await writeDirectoryAtomic(dir, {
      files: { "config.json": "new config" },
      write: (s) => Deno.writeTextFile(`${s}/model.safetensors`, "new weights"),
      replaces: isWeights,
    });
    assertEquals(await listing(dir), {
      "config.json": "new config",
      "model.safetensors": "new weights",
      "vocab.txt": "tokens",
      sub: "<dir>",
    });
    assertEquals(await Deno.readTextFile(`${dir}/sub/README.md`), "readme");
    assertEquals(await siblings(root), ["m"], "no staging or old copy left beside the directory");
  });
});

Deno.test("writeDirectoryAtomic: a failing writer leaves the directory unchanged and no staging", async () => {
  await withTemp(async (root) => {
    const dir = `${root}/m`;
    await Deno.mkdir(dir);
    await Deno.writeTextFile(`${dir}/config.json`, "old");
    await assertRejects(
      () =>
        writeDirectoryAtomic(dir, {
          files: { "config.json": "new" },
          write: () => Promise.reject(new Error("disk full")),
        }),
      ConfigError,
      "disk full",
    );
    assertEquals(await listing(dir), { "config.json": "old" });
    assertEquals(await siblings(root), ["m"]);
  });
});

Deno.test("recoverDirectorySwap: a kill between the two renames (no dir, staging + old of one save) is finished with the new set", async () => {
  await withTemp(async (root) => {
    const dir = `${root}/m`;
    const tag = `${DEAD_PID}-1700000000000-3`;
    await leftover(`${root}/m.encdec-old-${tag}`);
    await Deno.writeTextFile(`${root}/m.encdec-old-${tag}/config.json`, "old");
    await leftover(`${root}/m.encdec-tmp-${tag}`);
    await Deno.writeTextFile(`${root}/m.encdec-tmp-${tag}/config.json`, "new");
    assert(await recoverDirectorySwap(dir), "recovered");
    assertEquals(await listing(dir), { "config.json": "new" });
    assertEquals(await siblings(root), ["m"]);
  });
});

Deno.test("recoverDirectorySwap: a partial old copy alone (user removed the dir) is never resurrected", async () => {
  await withTemp(async (root) => {
    await leftover(`${root}/m.encdec-old-${DEAD_PID}-1-0`);
    await leftover(`${root}/m.encdec-tmp-${DEAD_PID}-2-0`);
    assertEquals(await recoverDirectorySwap(`${root}/m`), false);
    assertEquals(await siblings(root), [
      `m.encdec-old-${DEAD_PID}-1-0`,
      `m.encdec-tmp-${DEAD_PID}-2-0`,
    ]);
  });
});

Deno.test("writeDirectoryAtomic: a save recovers an interrupted swap first, then sweeps siblings of dead processes only", async () => {
  await withTemp(async (root) => {
    const dir = `${root}/m`;
    const tag = `${DEAD_PID}-5-0`;
    await leftover(`${root}/m.encdec-old-${tag}`);
    await Deno.writeTextFile(`${root}/m.encdec-old-${tag}/vocab.txt`, "old vocab");
    await leftover(`${root}/m.encdec-tmp-${tag}`);
    await Deno.writeTextFile(`${root}/m.encdec-tmp-${tag}/vocab.txt`, "new vocab");
    await leftover(`${root}/m.encdec-tmp-${DEAD_PID}-6-0`); // a killed save's partial staging
    const live = `m.encdec-tmp-${Deno.pid}-7-0`; // a save in flight in a running process
    await leftover(`${root}/${live}`);
    await leftover(`${root}/other.encdec-tmp-${DEAD_PID}-8-0`); // not a sibling of this target
    await writeDirectoryAtomic(dir, { files: { "config.json": "c" } });
    assertEquals(await listing(dir), { "config.json": "c", "vocab.txt": "new vocab" });
    assertEquals(await siblings(root), ["m", live, `other.encdec-tmp-${DEAD_PID}-8-0`].sort());
  });
});

Deno.test("writeJsonFilesAtomic: one file is renamed in place; two files go through a directory swap", async () => {
  await withTemp(async (root) => {
    const dir = `${root}/m`;
    await writeJsonFilesAtomic(dir, { "a.json": { x: 1 } });
    await Deno.writeTextFile(`${dir}/.a.json.encdec-tmp-${DEAD_PID}-0-0`, "stale");
    await writeJsonFilesAtomic(dir, { "a.json": { x: 2 } });
    assertEquals(await listing(dir), { "a.json": '{\n  "x": 2\n}\n' }, "stale temp swept");
    await writeJsonFilesAtomic(dir, { "a.json": [], "b.json": null });
    assertEquals(await listing(dir), { "a.json": "[]\n", "b.json": "null\n" });
    assertEquals(await siblings(root), ["m"]);
  });
});

Deno.test("writeDirectoryAtomic: with --allow-write for the directory only (no staging sibling possible), files are replaced one by one", async () => {
  await withTemp(async (root) => {
    const dir = `${root}/m`;
    await Deno.mkdir(dir);
    await Deno.writeTextFile(`${dir}/config.json`, "old");
    await Deno.writeTextFile(`${dir}/vocab.txt`, "tokens");
    const code = `
      import { writeDirectoryAtomic } from ${
      JSON.stringify(new URL("./atomic_write.ts", import.meta.url).href)
    };
      await writeDirectoryAtomic(${JSON.stringify(dir)}, {
        files: { "config.json": "new" },
        write: (d) => Deno.writeTextFile(d + "/model.safetensors", "w"),
      });`;
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["eval", "--no-prompt", `--allow-read=${root}`, `--allow-write=${dir}`, code],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
    assertEquals(await listing(dir), {
      "config.json": "new",
      "model.safetensors": "w",
      "vocab.txt": "tokens",
    });
    assertEquals(await siblings(root), ["m"]);
  });
});

Deno.test("writeDirectoryAtomic: user files that only look like temporaries (notes.old-2023-backup) are kept", async () => {
  await withTemp(async (root) => {
    const dir = `${root}/m`;
    await Deno.mkdir(dir);
    await Deno.writeTextFile(`${dir}/notes.old-2023-backup`, "mine");
    await Deno.writeTextFile(`${dir}/data.tmp-3`, "mine too");
    await writeDirectoryAtomic(dir, { files: { "config.json": "c" } });
    assertEquals(await listing(dir), {
      "config.json": "c",
      "notes.old-2023-backup": "mine",
      "data.tmp-3": "mine too",
    });
  });
});

Deno.test("writeDirectoryAtomic: the sweep keeps a sibling whose save is alive in another process (it holds the lock)", async () => {
  await withTemp(async (root) => {
    const busy = `${root}/m.encdec-tmp-${DEAD_PID}-9-0`; // pid unknown to /proc: only the lock tells
    await leftover(busy);
    const holder = new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        `--allow-read=${root}`,
        `const f = await Deno.open(${
          JSON.stringify(busy)
        }, { read: true }); await f.lock(true); console.log("locked"); await new Promise((r) => setTimeout(r, 60_000));`,
      ],
      stdout: "piped",
      stderr: "null",
    }).spawn();
    try {
      const reader = holder.stdout.getReader();
      assertEquals(new TextDecoder().decode((await reader.read()).value), "locked\n");
      reader.releaseLock();
      await writeDirectoryAtomic(`${root}/m`, { files: { "config.json": "c" } });
      assertEquals(
        await siblings(root),
        ["m", `m.encdec-tmp-${DEAD_PID}-9-0`],
        "locked sibling kept",
      );
    } finally {
      holder.kill("SIGKILL");
      await holder.status;
      await holder.stdout.cancel().catch(() => {});
    }
    await writeDirectoryAtomic(`${root}/m`, { files: { "config.json": "d" } });
    assertEquals(await siblings(root), ["m"], "swept once its holder died");
  });
});

Deno.test("resolveModelFile finishes a directory swap interrupted between its two renames", async () => {
  const d = await Deno.makeTempDir({ prefix: "encdec_swap_" });
  try {
    // The state a SIGKILL between `dir → dir.encdec-old-T` and `dir.encdec-tmp-T → dir` leaves behind.
    await leftover(`${d}/m.encdec-tmp-4242-1-0`);
    await Deno.writeTextFile(`${d}/m.encdec-tmp-4242-1-0/config.json`, '{"v":"new"}');
    await leftover(`${d}/m.encdec-old-4242-1-0`);
    await Deno.writeTextFile(`${d}/m.encdec-old-4242-1-0/config.json`, '{"v":"old"}');
    const path = await resolveModelFile(`${d}/m`, "config.json");
    assertEquals(path, `${d}/m/config.json`);
    assertEquals(JSON.parse(await Deno.readTextFile(path!)), { v: "new" });
    assertEquals([...Deno.readDirSync(d)].map((e) => e.name), ["m"]);
  } finally {
    await Deno.remove(d, { recursive: true });
  }
});

Deno.test("writeDirectoryAtomic: a user's sibling folders that look like temporaries are never removed (model.old-2024-01-15)", async () => {
  await withTemp(async (root) => {
    const dir = `${root}/model`;
    await Deno.mkdir(dir);
    // Names the old sweep pattern matched, and library-like names without the marker.
    const mine = [
      "model.old-2024-01-15",
      "model.tmp-1-2",
      `model.old-${DEAD_PID}-1-2`,
      `model.encdec-old-${DEAD_PID}-1-2`,
      `model.encdec-tmp-${DEAD_PID}-3-4`,
    ];
    for (const n of mine) {
      await Deno.mkdir(`${root}/${n}`);
      await Deno.writeTextFile(`${root}/${n}/notes.txt`, "keep me");
    }
    // A marker naming another tag does not prove ownership either.
    await Deno.writeTextFile(`${root}/model.encdec-tmp-${DEAD_PID}-3-4/${SAVE_MARKER}`, "1-2-3");
    await writeDirectoryAtomic(dir, { files: { "config.json": "c" } });
    await writeJsonFilesAtomic(dir, { "config.json": { v: 2 } });
    assertEquals(await siblings(root), ["model", ...mine].sort());
    for (const n of mine) {
      assertEquals(await Deno.readTextFile(`${root}/${n}/notes.txt`), "keep me");
    }
    assertEquals(
      await listing(dir),
      { "config.json": '{\n  "v": 2\n}\n' },
      "no marker left inside",
    );
    // With both halves unmarked, a missing dir is not "recovered" from the user's folders.
    await Deno.remove(dir, { recursive: true });
    assertEquals(await recoverDirectorySwap(dir), false);
    assertEquals(await siblings(root), mine.slice().sort());
  });
});

Deno.test("writeDirectoryAtomic: leftovers of a kill before the marker was written, or during a removal, are still swept", async () => {
  await withTemp(async (root) => {
    // killed between mkdir(staging) and writing the marker: an empty directory
    await Deno.mkdir(`${root}/m.encdec-tmp-${DEAD_PID}-1-0`);
    // killed while removing an old copy: everything but the marker already gone
    await Deno.mkdir(`${root}/m.encdec-old-${DEAD_PID}-2-0`);
    await Deno.writeTextFile(`${root}/m.encdec-old-${DEAD_PID}-2-0/${SAVE_MARKER}`, "");
    await writeDirectoryAtomic(`${root}/m`, { files: { "config.json": "c" } });
    assertEquals(await siblings(root), ["m"]);
  });
});
