/**
 * Prints the ten slowest tests, the slowest test files and every ignored test of a
 * `deno test --junit-path` report, so that the next slow test is seen at the end of
 * `deno task ok` (and a test skipped in CI is visible).
 *
 * Usage: `deno run --allow-read testing/slowest_tests.ts .test-report.xml [count]`
 *
 * @module
 */

/** One `<testcase>` of a JUnit report. */
export interface TestTiming {
  /** The test's name. */
  name: string;
  /** The file (JUnit `classname`). */
  file: string;
  /** Seconds. */
  seconds: number;
  /** Whether the test was ignored (`<skipped/>`). */
  skipped: boolean;
}

const ENTITIES: Record<string, string> = {
  "&amp;": "&",
  "&lt;": "<",
  "&gt;": ">",
  "&quot;": '"',
  "&apos;": "'",
};

function unescapeXml(s: string): string {
  return s.replace(/&(amp|lt|gt|quot|apos);/g, (m) => ENTITIES[m]);
}

/**
 * The test cases of a JUnit XML report as `deno test --junit-path` writes it.
 *
 * @example
 * ```ts
 * import { parseJunit } from "./slowest_tests.ts";
 * const xml = `<testcase name="a &amp; b" classname="./x_test.ts" time="0.5"></testcase>`;
 * parseJunit(xml); // [{ name: "a & b", file: "./x_test.ts", seconds: 0.5, skipped: false }]
 * ```
 */
export function parseJunit(xml: string): TestTiming[] {
  const out: TestTiming[] = [];
  const re = /<testcase\s([^>]*)>([\s\S]*?)<\/testcase>|<testcase\s([^>]*)\/>/g;
  for (const m of xml.matchAll(re)) {
    const attrs = m[1] ?? m[3] ?? "";
    const attr = (k: string) => unescapeXml(new RegExp(`\\b${k}="([^"]*)"`).exec(attrs)?.[1] ?? "");
    out.push({
      name: attr("name"),
      file: attr("classname"),
      seconds: Number(attr("time")) || 0,
      skipped: /<skipped\s*\/?>/.test(m[2] ?? ""),
    });
  }
  return out;
}

/** The report's text: slowest `count` tests, slowest files, ignored tests. */
export function summarize(tests: TestTiming[], count = 10): string {
  const fmt = (s: number) => `${s.toFixed(1).padStart(6)} s`;
  const lines = [`slowest ${count} tests:`];
  for (const t of [...tests].sort((a, b) => b.seconds - a.seconds).slice(0, count)) {
    lines.push(`${fmt(t.seconds)}  ${t.file}  ${t.name}`);
  }
  const perFile = new Map<string, number>();
  for (const t of tests) perFile.set(t.file, (perFile.get(t.file) ?? 0) + t.seconds);
  lines.push(`slowest ${count} test files (sum of their tests):`);
  for (const [f, s] of [...perFile].sort((a, b) => b[1] - a[1]).slice(0, count)) {
    lines.push(`${fmt(s)}  ${f}`);
  }
  const skipped = tests.filter((t) => t.skipped);
  const total = tests.reduce((a, t) => a + t.seconds, 0);
  lines.push(`${tests.length} tests, ${skipped.length} ignored, ${total.toFixed(1)} s in tests`);
  for (const t of skipped) lines.push(`  ignored: ${t.file}  ${t.name}`);
  return lines.join("\n");
}

if (import.meta.main) {
  const [path = ".test-report.xml", count = "10"] = Deno.args;
  let xml: string;
  try {
    xml = await Deno.readTextFile(path);
  } catch (e) {
    // The tests did not run (an earlier step of `deno task ok` failed): nothing to report.
    console.error(`slowest_tests: no test report at ${path} (${(e as Error).name})`);
    Deno.exit(0);
  }
  console.log(summarize(parseJunit(xml), Number(count)));
}
