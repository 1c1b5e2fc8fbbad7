/**
 * Crash safety of `EncoderDecoderModel.savePretrained`: a child process saves two different
 * models (A and B) into the same directory over and over, and is killed with SIGKILL at seeded
 * random moments. After every kill, each file under its final name must be byte-for-byte the
 * complete old or the complete new version, the directory must still load, and nothing but
 * temporary siblings (`*.tmp-*`) may be left besides the final names.
 *
 * Run as `deno run -A tests/crash_safety_test.ts --child DIR REF_A REF_B` it is that child.
 *
 * @module
 */
import { assert, assertEquals } from "@std/assert";
import { EncoderDecoderModel, readSafetensors } from "@encdec/modeling";
import { createRng } from "@encdec/generation";

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

/** The child: load both references, say "ready", then save B, A, B, A, ... until killed. */
async function child(dir: string, refA: string, refB: string): Promise<void> {
  const a = await EncoderDecoderModel.fromPretrained(refA);
  const b = await EncoderDecoderModel.fromPretrained(refB);
  await Deno.stdout.write(new TextEncoder().encode("ready\n"));
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
}

/** Waits until the child prints "ready" (it has loaded both models and starts saving). */
async function waitReady(stdout: ReadableStream<Uint8Array>): Promise<void> {
  const reader = stdout.getReader();
  let text = "";
  while (!text.includes("ready\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`saver child exited before it was ready; output: ${text}`);
    text += new TextDecoder().decode(value);
  }
  reader.releaseLock();
}

/**
 * Prepares references A and B, starts `dir` as a complete copy of A, then `kills` times: spawn
 * the saver, SIGKILL it after a seeded delay in [0, 60) ms, and check the directory.
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
  const stats: KillStats = { kills: 0, versions: {}, mixedSets: [], leftovers: [] };
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
        stdout: "piped",
        stderr: "null",
      }).spawn();
      await waitReady(proc.stdout);
      await new Promise((r) => setTimeout(r, Math.floor(rng.random() * 60)));
      proc.kill("SIGKILL");
      const status = await proc.status;
      assertEquals(
        status.signal,
        "SIGKILL",
        `kill ${k}: the saver must die by SIGKILL, not exit on its own`,
      );
      await proc.stdout.cancel().catch(() => {});
      stats.kills++;

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
          /\.tmp-\d+-/.test(e.name),
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

Deno.test("crash safety: SIGKILL during savePretrained leaves every file complete (old or new), 30 seeded kills", async () => {
  const stats = await killLoop(30, 20261125);
  assertEquals(stats.kills, 30, "kills performed");
  // Both versions were observed for the weights, so kills really landed during saves.
  const w = stats.versions["model.safetensors"];
  assert(w.a > 0 && w.b > 0, `model.safetensors seen as A ${w.a}× and B ${w.b}×; expected both`);
  // Temporary siblings may be left behind by a kill, but never under a final name (checked above).
  console.log(
    `crash safety: versions ${JSON.stringify(stats.versions)}; mixed config/weights sets after ` +
      `${stats.mixedSets.length}/${stats.kills} kills; ${stats.leftovers.length} temp files left`,
  );
  const kinds = new Map<string, number>();
  for (const m of stats.mixedSets) {
    const kind = m.replace(/^kill \d+: /, "");
    kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
  }
  for (const [kind, n] of kinds) console.log(`  mixed ${n}×: ${kind}`);
});

Deno.test({
  name:
    "crash safety: SIGKILL during savePretrained leaves the directory as one complete set (old or new)",
  // Known gap: savePretrained renames model.safetensors, then config.json and
  // generation_config.json one by one; a kill between those renames leaves new weights with the
  // old configs (or the reverse). Enable once the save goes through a temp sibling directory.
  ignore: true,
  async fn() {
    const stats = await killLoop(30, 20261125);
    assertEquals(
      stats.mixedSets,
      [],
      "kills after which config.json, generation_config.json and the weights disagree",
    );
  },
});
