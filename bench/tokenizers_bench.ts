/**
 * Tokenizer throughput, side by side in one run: encdec's BERT (bert-base-uncased vocab) and
 * GPT-2 tokenizers vs transformers.js (`@huggingface/transformers`) built from the same files
 * (a `tokenizer.json` written by `toTokenizerJSON`, no network). The input is ~1 MB of English
 * text generated deterministically (seeded LCG over a word list), encoded line by line with
 * special tokens. Each side: one warm-up pass, then the best of 3 timed passes. The ids of both
 * sides are compared and mismatching lines are counted.
 *
 * Run: `deno run -A bench/tokenizers_bench.ts` (writes `bench/tokenizers.md`).
 *
 * @module
 */
import {
  BertTokenizer,
  GPT2Tokenizer,
  type PreTrainedTokenizer,
  toTokenizerJSON,
} from "@encdec/tokenization";

/** The part of a transformers.js tokenizer the benchmark uses. */
interface EncodesText {
  encode(text: string): number[];
}
/** The part of the `@huggingface/transformers` module the benchmark uses. */
interface TransformersJs {
  env: { allowRemoteModels: boolean; allowLocalModels: boolean };
  BertTokenizer: new (json: unknown, config: unknown) => EncodesText;
  GPT2Tokenizer: new (json: unknown, config: unknown) => EncodesText;
}

// Imported by a computed specifier so that `deno check .` does not pull transformers.js' Node
// typings into the shared type-check program (they retype `node:assert` for testing/assert.ts).
// Not in the workspace's import map, so `deno install` does not fetch it (with sharp and a second
// onnxruntime it was ~390 MB of the set-up): this benchmark installs it on first use (network).
const TRANSFORMERS_JS = ["npm:@huggingface", "transformers@3.8.0"].join("/");

const data = new URL("../tokenization/testdata/", import.meta.url);

const WORDS = (
  "the of and to in is was for that with as on by at from his her it an were are which this be " +
  "or has had not but first one their its new after who they have two also been other more into " +
  "time year city world state people school would team between during university national over " +
  "when most only three later where all some government history season music film game series " +
  "family player became however early known work being under river war north south life since " +
  "American English London Paris October December naïve café résumé co-operate well-known " +
  "1,234 2024 3.14 42% $19.99"
).split(" ");
const PUNCT = [",", ",", ".", ";", ":", "!", "?", " -", "'s", "n't"];

/** Deterministic ~`bytes` of English-like text, one sentence group per line. */
export function makeText(bytes: number, seed = 1234): string[] {
  let s = seed >>> 0;
  const rand = (n: number) => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s % n;
  };
  const lines: string[] = [];
  let total = 0;
  while (total < bytes) {
    const parts: string[] = [];
    const len = 8 + rand(30);
    for (let i = 0; i < len; i++) {
      let w = WORDS[rand(WORDS.length)];
      if (i === 0) w = w[0].toUpperCase() + w.slice(1);
      parts.push(w);
      if (rand(6) === 0) parts[parts.length - 1] += PUNCT[rand(PUNCT.length)];
    }
    const line = parts.join(" ") + ".";
    lines.push(line);
    total += new TextEncoder().encode(line).length + 1;
  }
  return lines;
}

function best(f: () => void, runs = 3): number {
  f(); // warm-up
  let t = Infinity;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    f();
    t = Math.min(t, performance.now() - t0);
  }
  return t;
}

interface Row {
  name: string;
  ours: number;
  theirs: number;
  mismatches: number;
  tokens: number;
}

async function compare(
  name: string,
  ours: PreTrainedTokenizer,
  theirs: EncodesText,
  lines: string[],
): Promise<Row> {
  await Promise.resolve();
  const a = lines.map((l) => ours.encode(l));
  const b = lines.map((l) => Array.from(theirs.encode(l)));
  let mismatches = 0;
  for (let i = 0; i < lines.length; i++) if (a[i].join(",") !== b[i].join(",")) mismatches++;
  const tOurs = best(() => {
    for (const l of lines) ours.encode(l);
  });
  const tTheirs = best(() => {
    for (const l of lines) theirs.encode(l);
  });
  return {
    name,
    ours: tOurs,
    theirs: tTheirs,
    mismatches,
    tokens: a.reduce((n, x) => n + x.length, 0),
  };
}

if (import.meta.main) {
  const tjs = (await import(TRANSFORMERS_JS)) as TransformersJs;
  tjs.env.allowRemoteModels = false;
  tjs.env.allowLocalModels = false;
  const lines = makeText(1_000_000);
  const mb = lines.reduce((n, l) => n + new TextEncoder().encode(l).length + 1, 0) / 1e6;

  const bert = BertTokenizer.fromVocabText(
    await Deno.readTextFile(new URL("bert-base-uncased/vocab.txt", data)),
  );
  const tBert = new tjs.BertTokenizer(toTokenizerJSON(bert), {
    do_lower_case: true,
    unk_token: "[UNK]",
    cls_token: "[CLS]",
    sep_token: "[SEP]",
    pad_token: "[PAD]",
    mask_token: "[MASK]",
    model_max_length: 1e30,
  });
  const gpt2 = GPT2Tokenizer.fromFiles(
    await Deno.readTextFile(new URL("gpt2/vocab.json", data)),
    await Deno.readTextFile(new URL("gpt2/merges.txt", data)),
  );
  const tGpt2 = new tjs.GPT2Tokenizer(toTokenizerJSON(gpt2), {
    bos_token: "<|endoftext|>",
    eos_token: "<|endoftext|>",
    unk_token: "<|endoftext|>",
    model_max_length: 1e30,
  });

  const rows = [
    await compare("BERT (bert-base-uncased WordPiece)", bert, tBert, lines),
    await compare("GPT-2 (byte-level BPE)", gpt2, tGpt2, lines),
  ];
  const fmt = (ms: number) => `${(mb / (ms / 1000)).toFixed(2)} MB/s (${ms.toFixed(0)} ms)`;
  const table = [
    `| tokenizer | encdec | transformers.js 3.8.0 | speed-up (encdec / transformers.js) | lines with different ids |`,
    `| --- | --- | --- | --- | --- |`,
    ...rows.map((r) =>
      `| ${r.name} | ${fmt(r.ours)} | ${fmt(r.theirs)} | ${
        (r.theirs / r.ours).toFixed(2)
      }× | ${r.mismatches} / ${lines.length} |`
    ),
  ].join("\n");
  console.log(`input: ${mb.toFixed(2)} MB, ${lines.length} lines\n${table}`);
  const md = `# Tokenizer benchmark (\`bench/tokenizers_bench.ts\`)

${
    mb.toFixed(2)
  } MB of deterministic English text (${lines.length} lines, seeded word-list generator),
each line encoded with special tokens; best of 3 passes after a warm-up, one process, same machine
(${Deno.build.os}/${Deno.build.arch}, Deno ${Deno.version.deno}). transformers.js runs from a
\`tokenizer.json\` written by \`toTokenizerJSON\` from the same vocab/merges files, remote access off.

${table}

Run: \`deno run -A bench/tokenizers_bench.ts\`.
`;
  await Deno.writeTextFile(new URL("./tokenizers.md", import.meta.url), md);
}
