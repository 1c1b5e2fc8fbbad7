import { assertEquals } from "@std/assert";
import { TextStreamer } from "./streamers.ts";
import { generateStream } from "./generate_stream.ts";
import { StubModel } from "./testdata/stub_model.ts";

const WORDS = ["<pad>", "<s>", "</s>", "hello", "world", "again", "\n", "你", "好"];
const decode = (ids: readonly number[]) =>
  ids.filter((t) => t > 2).map((t) => WORDS[t]).join(" ").replace(/ ?\n ?/g, "\n").replace(
    / (?=[你好])|(?<=[你好]) /g,
    "",
  );

Deno.test("TextStreamer: whole words, newline flush, CJK at once, rest at end (hand-checked)", () => {
  const got: [string, number][] = [];
  const s = new TextStreamer(decode, (t, row) => got.push([t, row]));
  s.put(0, [3]); // "hello" — no space yet: held back
  s.put(0, [4]); // "hello world" → "hello " is final
  s.put(1, [7]); // CJK: emitted at once
  s.put(0, [6]); // newline flushes "world\n"
  s.put(0, [5]);
  s.put(1, [8]);
  s.end(); // flushes "again"
  assertEquals(got, [["hello ", 0], ["你", 1], ["world\n", 0], ["好", 1], ["again", 0]]);
});

Deno.test("generateStream: pieces join to the decoded greedy output; early exit stops generation", async () => {
  // token t+1 after t (3 → 4 → 5 → eos)
  const m = new StubModel(9, (_src, prefix) => {
    const last = prefix[prefix.length - 1];
    const next = last === 1 ? 3 : last === 5 ? 2 : last + 1;
    return Array.from({ length: 9 }, (_, j) => (j === next ? 5 : 0));
  });
  const cfg = { decoder_start_token_id: 1, eos_token_id: 2, pad_token_id: 0 };
  const pieces: string[] = [];
  const it = generateStream(m, [[3]], { generationConfig: cfg, decode });
  let r = await it.next();
  while (!r.done) {
    pieces.push(r.value.text);
    r = await it.next();
  }
  assertEquals(pieces.join(""), "hello world again");
  assertEquals(r.value.sequences, [[1, 3, 4, 5, 2]]);
  // leaving the loop after the first piece stops the run at the next step
  const slow = new StubModel(9, () => Array.from({ length: 9 }, (_, j) => (j === 3 ? 5 : 0)));
  for await (
    const p of generateStream(slow, [[3]], { generationConfig: cfg, decode, maxLength: 200 })
  ) {
    assertEquals(p.text, "hello ");
    break;
  }
  await new Promise((res) => setTimeout(res, 10));
  assertEquals(slow.decodeCalls < 10, true);
});
