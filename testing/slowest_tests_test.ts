import { assertEquals, assertMatch } from "@std/assert";
import { parseJunit, summarize } from "./slowest_tests.ts";

const XML = `<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="deno test" tests="3" failures="0" errors="0" time="0.322">
    <testsuite name="./a_test.ts" tests="3" disabled="1" errors="0" failures="0">
        <testcase name="fast" classname="./a_test.ts" time="0.001" line="1" col="6">
        </testcase>
        <testcase name="slow &amp; &lt;x&gt;" classname="./b_test.ts" time="2.315" line="2" col="6">
        </testcase>
        <testcase name="ign" classname="./a_test.ts" time="0.000" line="3" col="6">
            <skipped/>
        </testcase>
    </testsuite>
</testsuites>`;

Deno.test("slowest_tests: parses deno's JUnit report (names unescaped, times, ignored)", () => {
  assertEquals(parseJunit(XML), [
    { name: "fast", file: "./a_test.ts", seconds: 0.001, skipped: false },
    { name: "slow & <x>", file: "./b_test.ts", seconds: 2.315, skipped: false },
    { name: "ign", file: "./a_test.ts", seconds: 0, skipped: true },
  ]);
});

Deno.test("slowest_tests: the summary lists the slowest test first and every ignored test", () => {
  const text = summarize(parseJunit(XML), 2);
  const lines = text.split("\n");
  assertEquals(lines[0], "slowest 2 tests:");
  assertMatch(lines[1], /^ +2\.3 s {2}\.\/b_test\.ts {2}slow & <x>$/);
  assertMatch(text, /3 tests, 1 ignored, 2\.3 s in tests\n {2}ignored: \.\/a_test\.ts {2}ign$/);
});
