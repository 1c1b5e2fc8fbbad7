/**
 * Use from outside the repository, as README.md documents it: its library snippet, saved as a
 * script in a temporary directory, runs with the README's command (`deno run --config
 * <clone>/deno.json --allow-read=<clone>/models/default <script>`: the clone's import map, read
 * access to the built-in model only) and prints what the library gives for the default model.
 * Without `--config` the import fails with Deno's "not a dependency" (the reason the recipe exists).
 */
import { assert, assertEquals, assertMatch } from "@std/assert";
import { defaultModelSummary, ROOT } from "./cli_util.ts";

const README = Deno.readTextFileSync(`${ROOT}/README.md`);

/** The README's library snippet: the ```ts block that imports `@encdec/cli`'s three entry points. */
function librarySnippet(): string {
  const blocks = [...README.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1]);
  const snippet = blocks.find((b) => b.includes('from "@encdec/cli"') && b.includes("pipeline("));
  assert(snippet, "README.md has a ```ts block using pipeline() from @encdec/cli");
  return snippet;
}

/** The README's command, with the clone and the script where this test put them. */
function readmeCommand(clone: string, script: string): string[] {
  const line = /^deno run --config ~\/encdec\/deno\.json .*~\/work\/summarize\.ts$/m.exec(README);
  assert(line, "README.md shows the deno run --config command");
  return line[0].replaceAll("$HOME/encdec", clone).replaceAll("~/encdec", clone)
    .replaceAll("~/work/summarize.ts", script).split(" ").slice(1);
}

async function run(
  args: string[],
  cwd: string,
): Promise<{ code: number; out: string; err: string }> {
  const r = await new Deno.Command(Deno.execPath(), {
    args,
    cwd,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const dec = new TextDecoder();
  return { code: r.code, out: dec.decode(r.stdout), err: dec.decode(r.stderr) };
}

Deno.test("outside the repository: the README's library snippet runs as written with the README's --config recipe and minimal permissions", async () => {
  const work = await Deno.makeTempDir({ prefix: "encdec_outside_work_" });
  try {
    const script = `${work}/summarize.ts`;
    await Deno.writeTextFile(script, librarySnippet());
    const args = readmeCommand(ROOT, script);
    assertEquals(args.slice(0, 3), ["run", "--config", `${ROOT}/deno.json`]);
    assertEquals(args[3], `--allow-read=${ROOT}/models/default`);
    const r = await run(args, work);
    assertEquals(r.code, 0, r.err);
    const text = /const text = ([\s\S]*?);\n/.exec(librarySnippet())![1];
    const input = new Function(`return ${text}`)() as string;
    const summary = await defaultModelSummary(input);
    const lines = r.out.trim().split("\n");
    assertEquals(lines.slice(0, 2), [
      `[ { summary_text: ${JSON.stringify(summary)} } ]`,
      `[ ${JSON.stringify(summary)} ]`,
    ]);
    assertMatch(lines[2], /^\d+\.\d+(e[-+]\d+)?$/, "the loss, a positive number");
    assert(Number(lines[2]) > 0 && Number(lines[2]) < 20, lines[2]);

    // Without the recipe: Deno's own message, the one the README explains.
    const bare = await run(["run", `--allow-read=${ROOT}/models/default`, script], work);
    assertEquals(bare.code, 1);
    assertMatch(bare.err, /Import "@encdec\/cli" not a dependency/);
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});
