/**
 * Bad files and bad input: every case must end in a typed TokenizerError naming the problem, or
 * in a correct result (compared against an equivalent clean input) — never a crash or a hang.
 */
import { assertEquals, assertRejects, assertStringIncludes, assertThrows } from "@std/assert";
import {
  AutoTokenizer,
  BertGenerationTokenizer,
  BertTokenizer,
  GPT2Tokenizer,
  parseMerges,
  parseSentencePieceModel,
  parseVocabJson,
  TokenizerError,
  tokenizerFromJSON,
} from "./mod.ts";

const here = new URL("./testdata/", import.meta.url);
const bert = BertTokenizer.fromVocabText(
  await Deno.readTextFile(new URL("bert-base-uncased/vocab.txt", here)),
);
const gpt2 = GPT2Tokenizer.fromFiles(
  await Deno.readTextFile(new URL("gpt2/vocab.json", here)),
  await Deno.readTextFile(new URL("gpt2/merges.txt", here)),
);
const spBytes = await Deno.readFile(new URL("sentencepiece/spiece.model", here));
const sp = BertGenerationTokenizer.fromModelBytes(spBytes);

async function withDir(
  files: Record<string, string | Uint8Array>,
  f: (dir: string) => Promise<void>,
) {
  const dir = await Deno.makeTempDir();
  try {
    for (const [name, body] of Object.entries(files)) {
      if (typeof body === "string") await Deno.writeTextFile(`${dir}/${name}`, body);
      else await Deno.writeFile(`${dir}/${name}`, body);
    }
    await f(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("missing model file: TokenizerError naming the file", async () => {
  await withDir(
    { "tokenizer_config.json": '{"tokenizer_class": "BertTokenizer"}' },
    async (dir) => {
      const e = await assertRejects(() => AutoTokenizer.fromPretrained(dir), TokenizerError);
      assertStringIncludes(e.message, "vocab.txt");
    },
  );
});

Deno.test("malformed tokenizer_config.json / vocab.json / tokenizer.json: TokenizerError naming file and problem", async () => {
  await withDir(
    { "tokenizer_config.json": '{"tokenizer_class": ', "vocab.txt": "a\n" },
    async (dir) => {
      const e = await assertRejects(() => AutoTokenizer.fromPretrained(dir), TokenizerError);
      assertStringIncludes(e.message, "tokenizer_config.json: invalid JSON");
    },
  );
  assertThrows(
    () => parseVocabJson("{nope", "vocab.json"),
    TokenizerError,
    "vocab.json: invalid JSON",
  );
  assertThrows(
    () => parseVocabJson('{"a": "x"}', "vocab.json"),
    TokenizerError,
    'token "a" has id "x"',
  );
  assertThrows(
    () => tokenizerFromJSON({ model: { type: "Mystery" } }),
    TokenizerError,
    'model type "Mystery" is not supported',
  );
  assertThrows(
    () =>
      tokenizerFromJSON({
        model: { type: "WordPiece", vocab: { a: 0 } },
        normalizer: { type: "Nope" },
      }),
    TokenizerError,
    'normalizer type "Nope"',
  );
  await withDir({ "tokenizer_config.json": '{"tokenizer_class": "T5Tokenizer"}' }, async (dir) => {
    await assertRejects(() => AutoTokenizer.fromPretrained(dir), TokenizerError, "T5Tokenizer");
  });
});

Deno.test("merges naming unknown tokens: TokenizerError with the line number", () => {
  const vocab = new Map([["a", 0], ["b", 1], ["ab", 2]]);
  assertEquals(parseMerges("#version: 0.2\na b\n", vocab), new Map([["a b", 0]]));
  assertThrows(
    () => parseMerges("#version: 0.2\na z\n", vocab),
    TokenizerError,
    'merges.txt:2: merge "a z" names "z"',
  );
  assertThrows(() => parseMerges("a b c\n", vocab), TokenizerError, "merges.txt:1: expected two");
});

Deno.test("truncated or garbage spiece.model: TokenizerError, never a crash", () => {
  for (const cut of [1, 7, 100, 1000, spBytes.length - 3]) {
    assertThrows(
      () => parseSentencePieceModel(spBytes.subarray(0, cut)),
      TokenizerError,
      "spiece.model",
    );
  }
  assertThrows(() => parseSentencePieceModel(new Uint8Array([0xff, 0xff, 0xff])), TokenizerError);
  assertThrows(() => parseSentencePieceModel(new Uint8Array()), TokenizerError, "no pieces");
});

Deno.test("lone UTF-16 surrogates: BERT drops them (category Cs), byte-level/SentencePiece see U+FFFD", () => {
  assertEquals(bert.tokenize("ab\ud800cd\udc00"), bert.tokenize("abcd"));
  assertEquals(gpt2.tokenize("ab\ud800cd"), gpt2.tokenize("ab\ufffdcd"));
  assertEquals(sp.tokenize("ab\ud800cd"), sp.tokenize("ab\ufffdcd"));
  assertEquals(gpt2.decode(gpt2.encode("x\udfffy")), "x\ufffdy");
});

Deno.test("NUL bytes: BERT removes them, GPT-2 round-trips them, SentencePiece keeps them as <unk>", () => {
  assertEquals(bert.tokenize("a\u0000b c"), bert.tokenize("ab c"));
  assertEquals(gpt2.decode(gpt2.encode("a\u0000b")), "a\u0000b");
  assertEquals(sp.encode("x\u0000"), [...sp.encode("x"), 0]);
});

Deno.test("bad call arguments: TokenizerError naming the option", () => {
  assertThrows(() => bert.call("a", { padding: "max_length" }), TokenizerError, "maxLength");
  assertThrows(
    () => bert.call("a", { truncation: "sideways" as "only_first" }),
    TokenizerError,
    "truncation",
  );
  assertThrows(
    () => bert.call("a", { maxLength: -1, truncation: true }),
    TokenizerError,
    "maxLength",
  );
  assertThrows(() => bert.call(["a", "b"], { textPair: ["x"] }), TokenizerError, "textPair");
  assertThrows(() => gpt2.call(["a", "bc"], { padding: true }), TokenizerError, "pad_token");
  assertThrows(() => bert.decode([40000]), TokenizerError, "out of range");
});

const words = "the quick brown fox jumps over lazy dog and 12 cats, naïve café!".split(" ");
function bigLine(bytes: number): string {
  const parts: string[] = [];
  let n = 0;
  for (let i = 0; n < bytes; i++) {
    const w = words[(i * 7) % words.length];
    parts.push(w);
    n += w.length + 1;
  }
  return parts.join(" ");
}

// 1 MB is enough to show linearity: a quadratic path would take ~10^12 steps on it (the 10 MB
// version of this test took two minutes of the test command for no more coverage).
Deno.test("a 1 MB single line finishes and equals the per-word result (no quadratic paths)", () => {
  const line = bigLine(1_000_000);
  // Known answer: tokenizing the whole line = concatenating each word's tokens (space-separated
  // words, no cross-word merges in any of the three tokenizers).
  const perWord = (tok: { tokenize(t: string): string[] }, sep: string) => {
    const cache = new Map<string, string[]>();
    const out: string[] = [];
    line.split(" ").forEach((w, i) => {
      const key = i === 0 ? w : sep + w;
      let t = cache.get(key);
      if (!t) cache.set(key, t = tok.tokenize(key));
      out.push(...t);
    });
    return out;
  };
  assertEquals(bert.tokenize(line).length, perWord(bert, " ").length);
  assertEquals(gpt2.tokenize(line).length, perWord(gpt2, " ").length);
});

Deno.test("a 1 MB single word: byte-level BPE, WordPiece and SentencePiece stay linear", () => {
  const word = "ab".repeat(500_000);
  assertEquals(bert.tokenize(word), ["[UNK]"]); // longer than max_input_chars_per_word = 100
  const g = gpt2.tokenize(word);
  assertEquals(g.join(""), word); // byte-level BPE covers the word exactly
  const s = sp.tokenize(word);
  assertEquals(s.join(""), "\u2581" + word);
});
