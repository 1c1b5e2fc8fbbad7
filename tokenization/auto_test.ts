/**
 * AutoTokenizer on the fixture model directories (tokenizer_config.json, special_tokens_map.json,
 * added_tokens.json, vocab.txt / spiece.model), overrides, tokenizer.json precedence and chat
 * templates. Goldens: testdata/model_dirs_goldens.json (extracted from the models' goldens.json,
 * transformers 4.40.2). All comparisons are exact.
 */
import { assertEquals, assertInstanceOf } from "@std/assert";
import {
  AutoTokenizer,
  BertGenerationTokenizer,
  BertTokenizer,
  TokenizerJSONTokenizer,
  toTokenizerJSON,
} from "./mod.ts";

const here = new URL("./testdata/", import.meta.url);
const dir = (name: string) => new URL(name, here).pathname;
const goldens = JSON.parse(await Deno.readTextFile(new URL("model_dirs_goldens.json", here)));

for (const name of ["bert2bert", "bertgeneration"]) {
  Deno.test(`AutoTokenizer(${name}) reproduces the model's input_ids and batch_decode goldens exactly`, async () => {
    const tok = await AutoTokenizer.fromPretrained(dir(name));
    assertInstanceOf(tok, name === "bert2bert" ? BertTokenizer : BertGenerationTokenizer);
    const g = goldens[name];
    const enc = tok.call(g.texts as string[], {
      padding: "max_length",
      maxLength: 9,
      truncation: true,
    });
    assertEquals(enc.inputIds, g.input_ids);
    assertEquals(enc.attentionMask, g.attention_mask);
    for (const [mode, seqs] of Object.entries(g.sequences as Record<string, number[][]>)) {
      assertEquals(
        tok.batchDecode(seqs, { skipSpecialTokens: true }),
        g.decoded[mode],
        `decoded ${mode}`,
      );
    }
  });
}

Deno.test("AutoTokenizer(bertgeneration): added tokens and special ids match the fixture (<::::>=1000, <pad>=1001)", async () => {
  const tok = await AutoTokenizer.fromPretrained(dir("bertgeneration"));
  assertEquals(
    [tok.bosTokenId, tok.eosTokenId, tok.unkTokenId, tok.sepTokenId, tok.padTokenId, tok.length],
    [1, 2, 0, 1000, 1001, 1002],
  );
  // The added token is split out first; each side is a separate SentencePiece call (dummy prefix
  // on both), as in the fixture row with "<s> </s>" inside the text.
  assertEquals(tok.tokenize("a<::::>b"), ["▁a", "<::::>", "▁b"]);
  assertEquals(tok.encode("a<::::>b").includes(1000), true);
});

Deno.test("AutoTokenizer overrides: snake_case and camelCase, empty special tokens as in HF", async () => {
  const tok = await AutoTokenizer.fromPretrained(dir("bert2bert"), {
    pad_token: "",
    eos_token: "",
    bosToken: "",
    doLowerCase: false,
  });
  // HF: an empty special token is kept as the role's text and maps to the unk id ([UNK] = 1).
  assertEquals([tok.padToken, tok.eosToken, tok.bosToken], ["", "", ""]);
  assertEquals([tok.padTokenId, tok.eosTokenId, tok.bosTokenId], [1, 1, 1]);
  // do_lower_case=False: "Hello" is not in the lower-case tiny vocab → [UNK].
  assertEquals(tok.tokenize("Hello"), ["[UNK]"]);
});

Deno.test("AutoTokenizer: tokenizer.json wins over vocab.txt and gives the same ids", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    for (const f of ["vocab.txt", "tokenizer_config.json", "special_tokens_map.json"]) {
      await Deno.copyFile(dir(`bert2bert/${f}`), `${tmp}/${f}`);
    }
    const slow = await AutoTokenizer.fromPretrained(tmp);
    await Deno.writeTextFile(`${tmp}/tokenizer.json`, JSON.stringify(toTokenizerJSON(slow)));
    const fast = await AutoTokenizer.fromPretrained(tmp);
    assertInstanceOf(fast, TokenizerJSONTokenizer);
    const texts = goldens.bert2bert.texts as string[];
    const opts = { padding: "max_length" as const, maxLength: 9, truncation: true };
    assertEquals(fast.call(texts, opts), slow.call(texts, opts));
    assertEquals(fast.call(texts, opts).inputIds, goldens.bert2bert.input_ids);
    const again = await AutoTokenizer.fromPretrained(tmp, {}, { useSlow: true });
    assertInstanceOf(again, BertTokenizer);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("applyChatTemplate renders chat_template from tokenizer_config.json with @huggingface/jinja", async () => {
  const tmp = await Deno.makeTempDir();
  try {
    await Deno.copyFile(dir("bert2bert/vocab.txt"), `${tmp}/vocab.txt`);
    const cfg = JSON.parse(await Deno.readTextFile(dir("bert2bert/tokenizer_config.json")));
    cfg.chat_template =
      "{% for m in messages %}{{ m.role }}: {{ m.content }}{{ sep_token }}{% endfor %}" +
      "{% if add_generation_prompt %}assistant:{% endif %}";
    await Deno.writeTextFile(`${tmp}/tokenizer_config.json`, JSON.stringify(cfg));
    const tok = await AutoTokenizer.fromPretrained(tmp);
    const messages = [{ role: "user", content: "hello world" }, {
      role: "assistant",
      content: "mat",
    }];
    assertEquals(
      tok.applyChatTemplate(messages, { tokenize: false, addGenerationPrompt: true }),
      "user: hello world[SEP]assistant: mat[SEP]assistant:",
    );
    // Tokenized form = encode(rendered, add_special_tokens=False), as HF.
    const rendered = tok.applyChatTemplate(messages, { tokenize: false });
    assertEquals(
      tok.applyChatTemplate(messages),
      tok.encode(rendered, { addSpecialTokens: false }),
    );
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("truncation: true without maxLength cuts at the tokenizer's model_max_length (HF semantics)", async () => {
  // models/default ships model_max_length 64; here the override plays that role.
  const tok = await AutoTokenizer.fromPretrained(dir("bert2bert"), { modelMaxLength: 8 });
  assertEquals(tok.modelMaxLength, 8);
  const text = "the quick brown fox sat on the old mat and the quick brown fox sat again";
  const full = tok.call(text).inputIds;
  const cut = tok.call(text, { truncation: true }).inputIds;
  assertEquals(cut.length, 8);
  // [CLS] + the first 6 word pieces + [SEP], as HF's tokenizer(text, truncation=True).
  assertEquals(cut, [...full.slice(0, 7), full[full.length - 1]]);
  // An explicit maxLength wins; without truncation nothing is cut.
  assertEquals(tok.call(text, { truncation: true, maxLength: 5 }).inputIds.length, 5);
  assertEquals(tok.call(text).inputIds.length, full.length);
  // Batches too, and padding "max_length" pads to model_max_length.
  const b = tok.call([text, "hi"], { truncation: true, padding: "max_length" });
  assertEquals(b.inputIds.map((r) => r.length), [8, 8]);
});
