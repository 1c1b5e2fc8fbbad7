/**
 * Known-answer tests for `tokenizer.json` components the fixture tables do not reach
 * (WordLevel, Whitespace/Split/Punctuation/Digits/Sequence pre-tokenizers, NFKC/Replace/Prepend
 * normalizers, BertProcessing/TemplateProcessing, BPEDecoder/Metaspace decoders). Expected values
 * follow the Hugging Face `tokenizers` documentation of each component; all comparisons exact.
 */
import { assertEquals } from "@std/assert";
import { tokenizerFromJSON } from "./mod.ts";

const words = [
  "[UNK]",
  "[CLS]",
  "[SEP]",
  "hello",
  "world",
  "!",
  "1",
  "2",
  "3",
  "12",
  "ﬁ",
  "fi",
  "x",
];
const wordLevel = {
  type: "WordLevel",
  unk_token: "[UNK]",
  vocab: Object.fromEntries(words.map((w, i) => [w, i])),
};
const added = [
  { id: 1, content: "[CLS]", special: true },
  { id: 2, content: "[SEP]", special: true },
];

Deno.test("WordLevel + Whitespace + BertProcessing: ids, segment ids, skip-special decode", () => {
  const tok = tokenizerFromJSON({
    added_tokens: added,
    normalizer: { type: "Lowercase" },
    pre_tokenizer: { type: "Whitespace" },
    post_processor: { type: "BertProcessing", cls: ["[CLS]", 1], sep: ["[SEP]", 2] },
    decoder: null,
    model: wordLevel,
  }, { unk_token: "[UNK]" });
  // "Hello world!!" → whitespace/punct words: hello | world | !! → "!!" is unknown.
  assertEquals(tok.tokenize("Hello world!!"), ["hello", "world", "[UNK]"]);
  const e = tok.call("hello", { textPair: "world" });
  assertEquals(e.inputIds, [1, 3, 2, 4, 2]);
  assertEquals(e.tokenTypeIds, [0, 0, 0, 1, 1]);
  assertEquals(tok.decode(e.inputIds, { skipSpecialTokens: true }), "hello world");
});

Deno.test("Digits (individual) + Punctuation + Sequence pre-tokenizers and NFKC/Replace/Prepend normalizers", () => {
  const tok = tokenizerFromJSON({
    normalizer: {
      type: "Sequence",
      normalizers: [
        { type: "NFKC" },
        { type: "Replace", pattern: { String: "x" }, content: "" },
        { type: "Prepend", prepend: " " },
      ],
    },
    pre_tokenizer: {
      type: "Sequence",
      pretokenizers: [
        { type: "WhitespaceSplit" },
        { type: "Punctuation", behavior: "Isolated" },
        { type: "Digits", individual_digits: true },
      ],
    },
    decoder: null,
    model: wordLevel,
  }, { unk_token: "[UNK]" });
  // NFKC maps the ligature "ﬁ" to "fi"; "x" is removed; digits split one by one; "!" isolated.
  assertEquals(tok.tokenize("ﬁx 12! hellox"), ["fi", "1", "2", "!", "hello"]);
});

Deno.test("Split pre-tokenizer behaviors on a regex", () => {
  const mk = (behavior: string) =>
    tokenizerFromJSON({
      pre_tokenizer: { type: "Split", pattern: { Regex: "-" }, behavior, invert: false },
      model: {
        type: "WordLevel",
        unk_token: "[UNK]",
        vocab: { "[UNK]": 0, a: 1, b: 2, "-": 3, "a-": 4, "-b": 5 },
      },
    }, { unk_token: "[UNK]" });
  assertEquals(mk("Removed").tokenize("a-b"), ["a", "b"]);
  assertEquals(mk("Isolated").tokenize("a-b"), ["a", "-", "b"]);
  assertEquals(mk("MergedWithPrevious").tokenize("a-b"), ["a-", "b"]);
  assertEquals(mk("MergedWithNext").tokenize("a-b"), ["a", "-b"]);
});

Deno.test("TemplateProcessing with a special token inside, BPE with BPEDecoder suffix", () => {
  const tok = tokenizerFromJSON({
    added_tokens: [{ id: 5, content: "<s>", special: true }],
    pre_tokenizer: { type: "WhitespaceSplit" },
    post_processor: {
      type: "TemplateProcessing",
      single: [{ SpecialToken: { id: "<s>", type_id: 0 } }, { Sequence: { id: "A", type_id: 0 } }],
      pair: [
        { SpecialToken: { id: "<s>", type_id: 0 } },
        { Sequence: { id: "A", type_id: 0 } },
        { Sequence: { id: "B", type_id: 1 } },
      ],
      special_tokens: { "<s>": { id: "<s>", ids: [5], tokens: ["<s>"] } },
    },
    decoder: { type: "BPEDecoder", suffix: "</w>" },
    model: {
      type: "BPE",
      unk_token: null,
      end_of_word_suffix: "</w>",
      vocab: { a: 0, b: 1, "b</w>": 2, "ab</w>": 3 },
      merges: ["a b</w>"],
    },
  });
  // "ab" → symbols a, b</w> → merge "a b</w>" → ab</w>; "b" → b</w>.
  assertEquals(tok.tokenize("ab b"), ["ab</w>", "b</w>"]);
  assertEquals(tok.encode("ab"), [5, 3]);
  assertEquals(tok.call("ab", { textPair: "b", returnTokenTypeIds: true }).tokenTypeIds, [0, 0, 1]);
  assertEquals(tok.decode([3, 2]), "ab b");
});

Deno.test("Metaspace pre-tokenizer (split) + decoder round trip on a Unigram model", () => {
  const vocab = [["<unk>", 0], ["▁hello", -1], ["▁world", -1], ["▁", -2], ["h", -3]];
  const tok = tokenizerFromJSON({
    pre_tokenizer: { type: "Metaspace", replacement: "▁", prepend_scheme: "always", split: true },
    decoder: { type: "Metaspace", replacement: "▁", prepend_scheme: "always" },
    model: { type: "Unigram", unk_id: 0, vocab },
  }, { unk_token: "<unk>" });
  assertEquals(tok.tokenize("hello world"), ["▁hello", "▁world"]);
  assertEquals(tok.decode(tok.encode("hello world")), "hello world");
});
