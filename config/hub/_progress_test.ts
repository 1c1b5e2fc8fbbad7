import { assertEquals, assertStringIncludes } from "@std/assert";
import { ProgressBar, type ProgressSink } from "./_progress.ts";
import { withEnv } from "../../testing/env.ts";

function sink(tty: boolean): ProgressSink & { out: string[] } {
  const out: string[] = [];
  return { out, isTerminal: () => tty, write: (t) => void out.push(t) };
}

Deno.test("ProgressBar draws nothing when stderr is not a terminal or when quiet", () => {
  for (const [tty, quiet] of [[false, false], [true, true]]) {
    const s = sink(tty);
    const bar = new ProgressBar("model.safetensors", 1000, 0, quiet, { sink: s });
    bar.add(500);
    bar.close();
    assertEquals(s.out, []);
  }
});

Deno.test("ProgressBar on a terminal: percentage and sizes; colour only without NO_COLOR", async () => {
  await withEnv({ NO_COLOR: undefined }, () => {
    const s = sink(true);
    const bar = new ProgressBar("model.safetensors", 2000, 1000, false, { sink: s });
    bar.add(1000);
    bar.close();
    const text = s.out.join("");
    assertStringIncludes(text, "model.safetensors: 100%");
    assertStringIncludes(text, "2.0kB/2.0kB");
    assertStringIncludes(text, "\x1b[32m");
    assertEquals(text.endsWith("\n"), true);
  });
  await withEnv({ NO_COLOR: "1" }, () => {
    const s = sink(true);
    const bar = new ProgressBar("Fetching 3 files", 3, 0, false, { sink: s, unit: "files" });
    bar.add(3);
    bar.close();
    const text = s.out.join("");
    assertStringIncludes(text, "Fetching 3 files: 100%");
    assertStringIncludes(text, "| 3/3");
    assertEquals(text.includes("\x1b[32m"), false);
  });
});
