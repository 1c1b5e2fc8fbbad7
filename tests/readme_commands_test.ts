/**
 * Every command the READMEs print runs as printed. Each ```sh block of the user-facing READMEs runs
 * as one bash script (`set -e -o pipefail`) from the repository root, after the set-up: with
 * `deno` on `PATH` exactly as the set-up's `export` puts it there, and a fresh, empty `HF_HOME`.
 * A ```text block right after a ```sh block is its exact stdout. A block that cannot run here
 * (the network, the whole test suite, a benchmark of an hour) says why on the line above its fence:
 * `<!-- readme-test: skip: <reason> -->`.
 */
import { assert, assertEquals } from "@std/assert";
import { ROOT, userEnv } from "./cli_util.ts";

/** The READMEs whose commands users type. */
const READMES = [
  "README.md",
  "cli/README.md",
  "examples/edge/README.md",
  "models/default/README.md",
  "bench/README.md",
];

/** The set-up every "two commands" line starts with (`npm ci` is not repeated by the test). */
const SETUP = 'npm ci && node_modules/.bin/deno install && export PATH="$PWD/bin:$PATH" && ';

interface ShellBlock {
  file: string;
  line: number;
  script: string;
  skip?: string;
  expected?: string;
}

/** The ```sh blocks of a README with their skip reason and expected output. */
export function shellBlocks(file: string, text: string): ShellBlock[] {
  const lines = text.split("\n");
  const blocks: ShellBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!/^```(sh|bash|shell)\s*$/.test(lines[i])) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !lines[i].startsWith("```"); i++) body.push(lines[i]);
    let prev = start - 1;
    while (prev >= 0 && lines[prev].trim() === "") prev--;
    const skip = /^<!-- readme-test: skip: (.+) -->$/.exec(lines[prev]?.trim() ?? "")?.[1];
    let next = i + 1;
    while (next < lines.length && lines[next].trim() === "") next++;
    let expected: string | undefined;
    if (lines[next] === "```text") {
      const out: string[] = [];
      for (next++; next < lines.length && !lines[next].startsWith("```"); next++) {
        out.push(lines[next]);
      }
      expected = out.join("\n") + "\n";
    }
    blocks.push({ file, line: start + 1, script: body.join("\n"), skip, expected });
  }
  return blocks;
}

const ALL = READMES.flatMap((f) => shellBlocks(f, Deno.readTextFileSync(`${ROOT}/${f}`)));

Deno.test("README commands: the set-up lines are the documented two commands; every skipped block says why", () => {
  const readme = ALL.filter((b) => b.file === "README.md");
  const setups = readme.filter((b) => b.script.startsWith("npm ci"));
  assertEquals(setups.length, 2, "two set-up commands in README.md");
  for (const b of setups) assert(b.script.startsWith(SETUP), `${b.file}:${b.line}: ${b.script}`);
  assert(setups[0].expected !== undefined, "the first command shows its real output");
  for (const b of ALL) {
    if (b.skip !== undefined) assert(b.skip.trim().length > 5, `${b.file}:${b.line}: a reason`);
    if (b.skip === undefined) {
      assert(!/<[a-z][^>]*>|\.\.\.|hf_\.\.\./.test(b.script), `${b.file}:${b.line}: a placeholder`);
    }
  }
});

for (const block of ALL) {
  const name = `README command ${block.file}:${block.line}` +
    (block.skip ? ` (skipped: ${block.skip})` : "");
  Deno.test({
    name,
    ignore: block.skip !== undefined,
    async fn() {
      const hfHome = await Deno.makeTempDir({ prefix: "encdec_readme_hf_" });
      try {
        const script = block.script.startsWith(SETUP)
          ? 'export PATH="$PWD/bin:$PATH" && ' + block.script.slice(SETUP.length)
          : 'export PATH="$PWD/bin:$PATH"\n' + block.script;
        // setsid: the block runs in its own process group, so whatever it starts in the
        // background (the edge server) is stopped with it, even when the block fails midway.
        const child = new Deno.Command("setsid", {
          args: ["-w", "bash", "-c", `set -e -o pipefail\n${script}`],
          cwd: ROOT,
          stdin: "null",
          stdout: "piped",
          stderr: "piped",
          clearEnv: true,
          env: userEnv(hfHome),
        }).spawn();
        const killGroup = () => {
          try {
            Deno.kill(-child.pid, "SIGKILL");
          } catch {
            // the group is gone already
          }
        };
        const output = child.output();
        const timer = setTimeout(killGroup, 240_000);
        const status = await child.status;
        clearTimeout(timer);
        const leftover = (() => {
          try {
            Deno.kill(-child.pid, "SIGCONT"); // any process still in the group?
            return true;
          } catch {
            return false;
          }
        })();
        killGroup();
        const out = await output;
        const stdout = new TextDecoder().decode(out.stdout);
        const stderr = new TextDecoder().decode(out.stderr);
        assertEquals(status.code, 0, `${block.file}:${block.line} failed:\n${stdout}\n${stderr}`);
        assert(!leftover, `${block.file}:${block.line} left a process running`);
        if (block.expected !== undefined) assertEquals(stdout, block.expected);
      } finally {
        await Deno.remove(hfHome, { recursive: true });
      }
    },
  });
}
