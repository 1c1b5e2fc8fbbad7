/**
 * Crash safety of `EncoderDecoderModel.savePretrained`: a child process saves two different
 * models (A and B) into the same directory over and over, and is killed with SIGKILL at seeded
 * random moments. After every kill, each file under its final name must be byte-for-byte the
 * complete old or the complete new version, the three files must be one version (the save swaps
 * a staging sibling directory in, `config/atomic_write.ts`), the directory must still load, and
 * nothing but the final names may be inside it. A kill in the instant between the swap's two
 * renames leaves no directory but both complete versions beside it; `recoverDirectorySwap` (what
 * the next save does first) must then restore it. A last successful save sweeps the temporary
 * siblings the killed savers left.
 *
 * Run as `deno run -A tests/crash_safety_test.ts --child DIR REF_A REF_B` it is that child.
 *
 * @module
 */
import { assert, assertEquals } from "@std/assert";
import { EncoderDecoderModel, readSafetensors } from "@encdec/modeling";
import { createRng } from "@encdec/generation";
import { recoverDirectorySwap, SAVE_MARKER } from "@encdec/config";
import { exists } from "../testing/fs.ts";

const FIXTURE = new URL("./testdata/fixtures/bert2bert/", import.meta.url).pathname;
const ROOT = new URL("../", import.meta.url).pathname;
const FILES = ["config.json", "generation_config.json", "model.safetensors"] as const;

/** Model A is the bert2bert fixture; B differs in every file (pad id, beams, random weights). */
async function models(): Promise<[EncoderDecoderModel, EncoderDecoderModel]> {
  const a = await EncoderDecoderModel.fromPretrained(FIXTURE);
  const b = new EncoderDecoderModel(a.config.withOverrides({ pad_token_id: 5 }), {
    seed: 7,
    generationConfig: a.generationConfig.update({ num_beams: 3 }),
  });
  return [a, b];
}

/**
 * The child: load both references, time one save into a scratch directory (how long a save takes
 * in this process, on this machine, now), say `ready <ms>`, wait for the parent's go (one byte on
 * stdin, so the kill timer and the saves start together), then save B, A, B, A, ... until killed.
 */
async function child(dir: string, refA: string, refB: string): Promise<void> {
  const a = await EncoderDecoderModel.fromPretrained(refA);
  const b = await EncoderDecoderModel.fromPretrained(refB);
  const scratch = await Deno.makeTempDir({ prefix: "encdec-crash-probe-" });
  const t0 = performance.now();
  await b.savePretrained(scratch);
  const ms = performance.now() - t0;
  await Deno.remove(scratch, { recursive: true });
  await Deno.stdout.write(new TextEncoder().encode(`ready ${ms.toFixed(1)}\n`));
  await Deno.stdin.read(new Uint8Array(1));
  for (let i = 0;; i++) await (i % 2 === 0 ? b : a).savePretrained(dir);
}

if (import.meta.main && Deno.args[0] === "--child") {
  await child(Deno.args[1], Deno.args[2], Deno.args[3]);
}

interface KillStats {
  kills: number;
  /** Per file: how often it was found as version A and as version B. */
  versions: Record<string, { a: number; b: number }>;
  /** Kills after which the three files were not all of the same version. */
  mixedSets: string[];
  /** Temporary siblings left behind after all kills. */
  leftovers: string[];
  /** Kills that landed between the swap's two renames (directory restored by recovery). */
  recovered: number;
  /** Siblings of the directory left after one more successful save (must be none). */
  afterSweep: string[];
}

/**
 * Waits until the child prints `ready <ms>` (it has loaded both models and timed one save);
 * returns how long that save took in the child.
 */
async function waitReady(stdout: ReadableStream<Uint8Array>): Promise<number> {
  const reader = stdout.getReader();
  let text = "";
  let m: RegExpExecArray | null = null;
  while (!(m = /ready ([\d.]+)\n/.exec(text))) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`saver child exited before it was ready; output: ${text}`);
    text += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  return Number(m[1]);
}

/**
 * Prepares references A and B, starts `dir` as a complete copy of A, then `kills` times: spawn
 * the saver, SIGKILL it after a seeded delay in [0, window) ms from its go, and check the
 * directory. The window is three times what one save took in that child just before (at least
 * 20 ms), so kills land before, during and after its first and second saves however loaded the
 * machine is.
 */
async function killLoop(kills: number, seed: number): Promise<KillStats> {
  const work = await Deno.makeTempDir({ prefix: "encdec-crash-" });
  const [a, b] = await models();
  const refA = `${work}/A`, refB = `${work}/B`, dir = `${work}/model`;
  await a.savePretrained(refA);
  await b.savePretrained(refB);
  await a.savePretrained(dir);
  const expected: Record<string, { a: Uint8Array; b: Uint8Array }> = {};
  for (const f of FILES) {
    expected[f] = {
      a: await Deno.readFile(`${refA}/${f}`),
      b: await Deno.readFile(`${refB}/${f}`),
    };
    assert(
      !equalBytes(expected[f].a, expected[f].b),
      `${f}: versions A and B must differ to be told apart`,
    );
  }
  const stats: KillStats = {
    kills: 0,
    versions: {},
    mixedSets: [],
    leftovers: [],
    recovered: 0,
    afterSweep: [],
  };
  for (const f of FILES) stats.versions[f] = { a: 0, b: 0 };
  const rng = createRng(seed);
  try {
    for (let k = 0; k < kills; k++) {
      const proc = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--allow-read",
          "--allow-write",
          "--allow-env",
          new URL(import.meta.url).pathname,
          "--child",
          dir,
          refA,
          refB,
        ],
        cwd: ROOT,
        stdin: "piped",
        stdout: "piped",
        stderr: "null",
      }).spawn();
      const window = Math.max(20, 3 * await waitReady(proc.stdout));
      const go = proc.stdin.getWriter();
      await go.write(new Uint8Array([1]));
      await new Promise((r) => setTimeout(r, Math.floor(rng.random() * window)));
      proc.kill("SIGKILL");
      const status = await proc.status;
      assertEquals(
        status.signal,
        "SIGKILL",
        `kill ${k}: the saver must die by SIGKILL, not exit on its own`,
      );
      await proc.stdout.cancel().catch(() => {});
      await go.close().catch(() => {});
      stats.kills++;

      if (!(await exists(dir))) {
        assert(
          await recoverDirectorySwap(dir),
          `kill ${k}: the directory is gone and no complete staging + old pair restores it`,
        );
        stats.recovered++;
      }
      const seen: string[] = [];
      for (const f of FILES) {
        const bytes = await Deno.readFile(`${dir}/${f}`);
        const isA = equalBytes(bytes, expected[f].a);
        const isB = equalBytes(bytes, expected[f].b);
        assert(
          isA || isB,
          `kill ${k}: ${f} (${bytes.length} bytes) is neither complete version A nor B`,
        );
        // Parse it too: a complete file under the final name is always readable.
        if (f === "model.safetensors") readSafetensors(bytes, { file: f });
        else JSON.parse(new TextDecoder().decode(bytes));
        stats.versions[f][isA ? "a" : "b"]++;
        seen.push(`${f}=${isA ? "A" : "B"}`);
      }
      if (new Set(seen.map((s) => s.slice(-1))).size > 1) {
        stats.mixedSets.push(`kill ${k}: ${seen.join(", ")}`);
      }
      for await (const e of Deno.readDir(dir)) {
        if ((FILES as readonly string[]).includes(e.name)) continue;
        assert(
          /\.encdec-tmp-\d+-/.test(e.name) || e.name === SAVE_MARKER,
          `kill ${k}: unexpected entry "${e.name}" in the saved directory`,
        );
      }
      // The directory still loads as a model.
      const loaded = await EncoderDecoderModel.fromPretrained(dir);
      assertEquals(loaded.vocabSize, a.vocabSize, `kill ${k}: reloaded vocab size`);
    }
    for await (const e of Deno.readDir(dir)) {
      if (!(FILES as readonly string[]).includes(e.name)) stats.leftovers.push(e.name);
    }
    for await (const e of Deno.readDir(work)) {
      if (e.name.startsWith("model.")) stats.leftovers.push(e.name);
    }
    // The killed savers are dead: the next successful save sweeps their staging/old siblings.
    await a.savePretrained(dir);
    for await (const e of Deno.readDir(work)) {
      if (e.name.startsWith("model.")) stats.afterSweep.push(e.name);
    }
  } finally {
    await Deno.remove(work, { recursive: true });
  }
  return stats;
}

function equalBytes(x: Uint8Array, y: Uint8Array): boolean {
  if (x.length !== y.length) return false;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

Deno.test("crash safety: SIGKILL during savePretrained leaves every file complete (old or new), 16 seeded kills", async () => {
  const stats = await killLoop(16, 20261125);
  assertEquals(stats.kills, 16, "kills performed");
  // Both versions were observed for the weights, so kills really landed during saves.
  const w = stats.versions["model.safetensors"];
  assert(w.a > 0 && w.b > 0, `model.safetensors seen as A ${w.a}× and B ${w.b}×; expected both`);
  // Temporary siblings may be left behind by a kill, but never under a final name (checked above).
  console.log(
    `crash safety: versions ${JSON.stringify(stats.versions)}; mixed config/weights sets after ` +
      `${stats.mixedSets.length}/${stats.kills} kills; ${stats.recovered} interrupted swaps ` +
      `recovered; ${stats.leftovers.length} temp siblings left, ${stats.afterSweep.length} after ` +
      `the next save`,
  );
  assertEquals(stats.afterSweep, [], "temp siblings left after one more successful save");
});

Deno.test("crash safety: SIGKILL during savePretrained leaves the directory as one complete set (old or new)", async () => {
  const stats = await killLoop(16, 20261126);
  assertEquals(
    stats.mixedSets,
    [],
    "kills after which config.json, generation_config.json and the weights disagree",
  );
  const w = stats.versions["model.safetensors"];
  assert(w.a > 0 && w.b > 0, `model.safetensors seen as A ${w.a}× and B ${w.b}×; expected both`);
});

Deno.test("savePretrained: a sharded save then a single-file save into one directory keeps the tokenizer files and leaves no old shards", async () => {
  const work = await Deno.makeTempDir({ prefix: "encdec-reshard-" });
  try {
    const [a] = await models();
    const dir = `${work}/model`;
    await Deno.mkdir(dir);
    await Deno.copyFile(`${FIXTURE}/vocab.txt`, `${dir}/vocab.txt`);
    await a.savePretrained(dir, { maxShardSize: 50_000 });
    const sharded = (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort();
    assert(sharded.includes("model.safetensors.index.json"), `sharded save: ${sharded}`);
    assert(!sharded.includes("model.safetensors"), `sharded save: ${sharded}`);
    await a.savePretrained(dir);
    assertEquals(
      (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort(),
      ["config.json", "generation_config.json", "model.safetensors", "vocab.txt"],
    );
    assertEquals(
      (await Array.fromAsync(Deno.readDir(work))).map((e) => e.name),
      ["model"],
      "nothing left beside the directory",
    );
    const loaded = await EncoderDecoderModel.fromPretrained(dir);
    assertEquals(loaded.vocabSize, a.vocabSize, "reloaded vocab size");
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});
