/**
 * Issue 19 item 11 — hostile `tokenizer.json` files: a normalizer / pre-tokenizer / decoder regex
 * with catastrophic backtracking (`(a+)+$` hangs V8 for minutes on 60 bytes) and components
 * nested 2000 deep (a stack overflow). Each must end, within a few seconds, in a
 * `TokenizerLimitError` raised when the file is loaded. The hostile files run in a worker that
 * the test terminates after {@linkcode LIMIT_MS}, so a regression fails instead of hanging.
 * The regexes real tokenizers use must still load and tokenize.
 */
import { assert, assertEquals, assertInstanceOf, assertRejects, assertThrows } from "@std/assert";
import {
  AutoTokenizer,
  MAX_PIPELINE_DEPTH,
  TokenizerError,
  tokenizerFromJSON,
  TokenizerLimitError,
} from "./mod.ts";
import { checkRegexSafety } from "./_safe_regex.ts";

const LIMIT_MS = 10_000;
const INPUT = "a".repeat(59) + "!"; // 60 bytes: enough for (a+)+$ to run for minutes

const wordLevel = {
  type: "WordLevel",
  unk_token: "[UNK]",
  vocab: { "[UNK]": 0, a: 1, "!": 2 },
};

type Outcome = { name?: string; message?: string; tokens?: string[] };

/**
 * Loads and uses `json` in a worker; resolves with the error it ended with (or its tokens), or
 * rejects when it has not finished {@linkcode LIMIT_MS} after the job was handed over (the
 * worker's own start-up, type-checking included, is not counted).
 */
async function runIsolated(json: Record<string, unknown>, text = INPUT): Promise<Outcome> {
  const worker = new Worker(new URL("./testdata/hostile_worker.ts", import.meta.url), {
    type: "module",
  });
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await new Promise<Outcome>((resolve, reject) => {
      worker.onerror = (e) => {
        e.preventDefault();
        reject(new Error(`the worker failed: ${e.message}`));
      };
      worker.onmessage = (e) => {
        if (!e.data.ready) return resolve(e.data);
        worker.postMessage({ json, text });
        timer = setTimeout(
          () => reject(new Error(`the tokenizer was still running after ${LIMIT_MS} ms`)),
          LIMIT_MS,
        );
      };
    });
  } finally {
    clearTimeout(timer);
    worker.terminate();
  }
}

const catastrophic: [string, (re: string) => Record<string, unknown>][] = [
  ["normalizer Replace", (re) => ({
    normalizer: { type: "Replace", pattern: { Regex: re }, content: "" },
    model: wordLevel,
  })],
  ["pre_tokenizer Split", (re) => ({
    pre_tokenizer: { type: "Split", pattern: { Regex: re }, behavior: "Isolated" },
    model: wordLevel,
  })],
  ["decoder Replace", (re) => ({
    decoder: { type: "Replace", pattern: { Regex: re }, content: "" },
    model: wordLevel,
  })],
];

const REGEXES = ["(a+)+$", "(a|aa)+$", "(?:a*)*!?$", "(\\w|\\d)+$", "a*a*a*a*a*a*a*a*a*a*$"];

// Every catastrophic shape on the normalizer; the first one on the other two sections.
for (const [i, [where, make]] of catastrophic.entries()) {
  for (const re of i === 0 ? REGEXES : REGEXES.slice(0, 1)) {
    Deno.test(`hostile tokenizer.json: ${where} regex ${re} is refused at load (TokenizerLimitError), no hang`, async () => {
      const r = await runIsolated(make(re));
      assertEquals(r.name, "TokenizerLimitError", JSON.stringify(r));
      assert(r.message!.includes(JSON.stringify(re)), r.message);
    });
  }
}

Deno.test("hostile tokenizer.json: a regex nesting groups 2000 deep is refused with TokenizerLimitError", () => {
  const re = "(".repeat(2000) + "a" + ")".repeat(2000);
  const e = assertThrows(
    () =>
      tokenizerFromJSON({
        normalizer: { type: "Replace", pattern: { Regex: re }, content: "" },
        model: wordLevel,
      }),
    TokenizerLimitError,
  );
  assert(e.message.includes(`more than ${MAX_PIPELINE_DEPTH} deep`), e.message);
});

/** `{type: "Sequence", key: [ ... 2000 deep ... leaf]}`. */
function nested(key: string, leaf: Record<string, unknown>, depth = 2000) {
  let o: Record<string, unknown> = leaf;
  for (let i = 0; i < depth; i++) o = { type: "Sequence", [key]: [o] };
  return o;
}

const deep: [string, Record<string, unknown>][] = [
  ["normalizer", { normalizer: nested("normalizers", { type: "Lowercase" }), model: wordLevel }],
  ["pre_tokenizer", {
    pre_tokenizer: nested("pretokenizers", { type: "WhitespaceSplit" }),
    model: wordLevel,
  }],
  ["decoder", { decoder: nested("decoders", { type: "Fuse" }), model: wordLevel }],
  ["post_processor", {
    post_processor: nested("processors", { type: "ByteLevel" }),
    model: wordLevel,
  }],
];

for (const [section, json] of deep) {
  Deno.test(`hostile tokenizer.json: 2000 nested Sequence ${section}s end in TokenizerLimitError, not RangeError`, async () => {
    const e = assertThrows(() => tokenizerFromJSON(json), TokenizerLimitError);
    assert(e.message.includes(section), e.message);
    assert(e.message.includes(`more than ${MAX_PIPELINE_DEPTH} deep`), e.message);
    // The same through AutoTokenizer on a model directory.
    const dir = await Deno.makeTempDir({ prefix: "encdec-hostile-" });
    try {
      await Deno.writeTextFile(`${dir}/tokenizer.json`, JSON.stringify(json));
      const err = await assertRejects(() => AutoTokenizer.fromPretrained(dir), TokenizerError);
      assertInstanceOf(err, TokenizerLimitError);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("tokenizer.json: Sequence nesting up to the limit still loads and runs", () => {
  const tok = tokenizerFromJSON({
    normalizer: nested("normalizers", { type: "Lowercase" }, MAX_PIPELINE_DEPTH - 1),
    pre_tokenizer: { type: "WhitespaceSplit" },
    model: wordLevel,
  });
  assertEquals(tok.tokenize("A !"), ["a", "!"]);
});

/** Patterns of real tokenizer.json files (GPT-2 / RoBERTa, Llama 3, SentencePiece converters). */
const benign = [
  "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
  "[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
  " {2,}",
  "^ +| +$",
  "(?:\\r\\n|\\n)+",
  "[0-9]+(?:\\.[0-9]+)?",
];

for (const re of benign) {
  Deno.test(`tokenizer.json: the real-world regex ${JSON.stringify(re).slice(0, 40)} loads and splits`, () => {
    const tok = tokenizerFromJSON({
      pre_tokenizer: { type: "Split", pattern: { Regex: re }, behavior: "Isolated" },
      model: { ...wordLevel, vocab: { ...wordLevel.vocab, " ": 3 } },
    });
    assert(tok.tokenize("a a!").length > 0);
  });
}

Deno.test("checkRegexSafety: known-answer table of refused and accepted shapes", () => {
  const refused = [
    "(a+)+",
    "(a*)*b",
    "(?:a+){2,9}",
    "(a{1,5})+$",
    "(ab?)*$",
    "(a|aa)+",
    "(?:ab|ac)+",
    "(a|)+",
    "(\\s|\\S)*x",
    "([a-z]|\\d)+",
    ".*.*.*=",
    "a+b+c+",
    "(a)\\1",
    "(?<x>a)\\k<x>",
  ];
  for (const re of refused) {
    assertThrows(() => checkRegexSafety(re, `refused ${re}`), TokenizerLimitError, re);
  }
  const accepted = [
    ...benign,
    "(?:ab|cd)+",
    "[\\]a]+",
    "\\u{1F600}+",
    "(?<word>\\p{L}+)",
    "(?:\\r\\n|\\n)*",
    "[^\\s]+(?=\\s)",
    "\\p{N}{1,3}",
    "(?:a|b){3}",
  ];
  for (const re of accepted) checkRegexSafety(re, "t");
});
