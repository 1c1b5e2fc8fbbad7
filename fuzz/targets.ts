/**
 * The fuzz targets: one per parser of untrusted model files. Each target names its valid seed
 * inputs (built from the golden fixtures in `tests/testdata/fixtures/`), how to derive a mutated
 * input from a {@link Rand}, and how to run the library's own entry point on it, the way a user's
 * program would meet the file (in memory for weights, through `fromPretrained` on a directory for
 * JSON and tokenizer files).
 *
 * @module
 */
import { AutoConfig, EncdecError, GenerationConfig } from "@encdec/config";
import {
  concatBytes,
  loadStateDict,
  parseShardIndex,
  readSafetensors,
  readTorchCheckpoint,
  readZip,
  Tensor,
  writeSafetensors,
} from "@encdec/modeling";
import { makeTorchCheckpoint, makeZip } from "../modeling/weights/_test_utils.ts";
import { AutoTokenizer, bytesToUnicode, toTokenizerJSON } from "@encdec/tokenization";
import {
  decodePb,
  DupObject,
  emitJson,
  encodePb,
  mutateBytes,
  mutateJsonText,
  mutateProtobuf,
  type Rand,
  RawNumber,
} from "./mutate.ts";

/** One parser under fuzz. */
export interface FuzzTarget {
  /** Name used on the command line (`--target safetensors`). */
  name: string;
  /** What is parsed and through which entry point. */
  description: string;
  /** File name the input is saved under inside the target's directory (file-based targets). */
  fileName?: string;
  /** Valid inputs that every mutated input starts from. */
  seeds(): Promise<Uint8Array[]>;
  /** Derives one input from `seeds`, drawing every choice from `r`. */
  generate(r: Rand, seeds: Uint8Array[]): Promise<Uint8Array>;
  /** Prepares `dir` (companion files that stay valid) before the first input. */
  setup?(dir: string): Promise<void>;
  /** Runs the library on `input`; resolves (accepted) or throws (rejected). */
  run(input: Uint8Array, dir: string): Promise<void>;
}

const FIXTURES = new URL("../tests/testdata/fixtures/", import.meta.url);
const enc = new TextEncoder();
const dec = new TextDecoder();

function fixture(path: string): Promise<Uint8Array> {
  return Deno.readFile(new URL(path, FIXTURES));
}

/** Runs `count` (1 to 4) mutations, each format-aware with probability 0.75, else byte-level. */
async function stacked(
  r: Rand,
  seeds: Uint8Array[],
  mutate: (input: Uint8Array, r: Rand) => Uint8Array | Promise<Uint8Array>,
): Promise<Uint8Array> {
  let x = r.pick(seeds);
  const count = 1 + r.int(4);
  for (let i = 0; i < count; i++) {
    if (r.chance(0.25)) {
      x = mutateBytes(x, r, r.pick(seeds));
      continue;
    }
    try {
      x = await mutate(x, r);
    } catch {
      // An earlier mutation made the input too deep to walk (recursion limit): damage bytes.
      x = mutateBytes(x, r);
    }
  }
  return x;
}

/** Copies fixture files into `dir` under their own names. */
async function copyFixtures(dir: string, fromDir: string, names: string[]): Promise<void> {
  for (const n of names) await Deno.writeFile(`${dir}/${n}`, await fixture(`${fromDir}/${n}`));
}

const SAMPLE =
  "Hello world, héllo! 123 naïve café — 日本語 \u00a0tabs\tand\nnewlines [MASK] <s> ▁x";

/** Loads the tokenizer of `dir` and round-trips a sample text through it. */
async function useTokenizer(dir: string): Promise<void> {
  const tok = await AutoTokenizer.fromPretrained(dir);
  const ids = tok.encode(SAMPLE);
  tok.decode(ids);
  tok.decode(ids, { skipSpecialTokens: true });
}

// ---- safetensors ---------------------------------------------------------------------------------

function splitSafetensors(
  b: Uint8Array,
): { header: Record<string, unknown>; data: Uint8Array } | null {
  if (b.length < 8) return null;
  const n = new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(0, true);
  if (n > BigInt(b.length - 8)) return null;
  try {
    const header = JSON.parse(dec.decode(b.subarray(8, 8 + Number(n))));
    if (header === null || typeof header !== "object" || Array.isArray(header)) return null;
    return { header, data: b.subarray(8 + Number(n)) };
  } catch {
    return null;
  }
}

function joinSafetensors(headerText: string, data: Uint8Array, declared?: bigint): Uint8Array {
  const h = enc.encode(headerText);
  const len = new Uint8Array(8);
  new DataView(len.buffer).setBigUint64(0, declared ?? BigInt(h.length), true);
  return concatBytes([len, h, data]);
}

const HUGE_SHAPES: unknown[] = [
  [2 ** 40, 2 ** 40],
  [2 ** 60],
  [2 ** 26, 2 ** 26, 2 ** 26],
  [-1],
  [1.5],
  ["3"],
  [],
  [0],
  [0, 2 ** 53],
  new Array(64).fill(2),
  [null],
];

function mutateSafetensors(b: Uint8Array, r: Rand): Uint8Array {
  const parts = splitSafetensors(b);
  if (!parts) return mutateBytes(b, r);
  const { header, data } = parts;
  const keys = Object.keys(header).filter((k) => k !== "__metadata__");
  const text = () => emitJson(header);
  const x = r.int(10);
  if (x === 0) {
    // declared header length: huge, off by a few, pointing into the data or past the file
    const len = BigInt(enc.encode(text()).length);
    const declared = r.pick([
      2n ** 60n,
      2n ** 64n - 1n,
      len + 1n,
      len - 1n,
      0n,
      len + BigInt(data.length),
      100_000_001n,
    ]);
    return joinSafetensors(text(), data, declared);
  }
  if (x === 1) {
    // data section: truncated, extended, or emptied
    const d = r.pick([
      data.subarray(0, r.int(data.length + 1)),
      concatBytes([data, new Uint8Array(1 + r.int(64))]),
      new Uint8Array(),
    ]);
    return joinSafetensors(text(), d);
  }
  if (x <= 6 && keys.length > 0) {
    const key = r.pick(keys);
    const e = header[key] as Record<string, unknown>;
    if (e === null || typeof e !== "object") return joinSafetensors(text(), data);
    const other = header[r.pick(keys)] as Record<string, unknown>;
    const offs = Array.isArray(e.data_offsets) ? e.data_offsets as number[] : [0, 0];
    switch (r.int(6)) {
      case 0:
        e.shape = structuredClone(r.pick(HUGE_SHAPES));
        break;
      case 1: // overlap another tensor, reverse, or point past the end
        e.data_offsets = r.pick([
          Array.isArray(other?.data_offsets) ? [...other.data_offsets as number[]] : [0, 8],
          [offs[1], offs[0]],
          [offs[0], offs[1] + 4],
          [offs[0] + 4, offs[1] + 4],
          [data.length, data.length + 4],
          [0, 2 ** 60],
          [2 ** 53, 2 ** 53 + 4],
          [offs[0]],
          new RawNumber("[1e400, 1e401]"),
        ]);
        break;
      case 2:
        e.dtype = r.pick(["F64", "F8_E4M3", "U8", "I8", "bogus", "", 7, null, "f32", "F32 "]);
        break;
      case 3: // shape and offsets consistent with each other but not with the data
        e.shape = [2 ** 20, 2 ** 20];
        e.data_offsets = [0, 4 * 2 ** 40];
        break;
      case 4:
        delete e[r.pick(["dtype", "shape", "data_offsets"])];
        break;
      default: // duplicate key: the same tensor name twice with different entries
        return joinSafetensors(
          emitJson(
            new DupObject([...Object.entries(header), [key, { ...e, data_offsets: [0, 4] }]]),
          ),
          data,
        );
    }
    return joinSafetensors(text(), data);
  }
  if (x === 7) {
    // __metadata__: wrong types, nesting, a tensor named __metadata__
    header.__metadata__ = r.pick<unknown>([
      { format: 1 },
      { format: null },
      "pt",
      [],
      { a: { b: { c: {} } } },
      { dtype: "F32", shape: [1], data_offsets: [0, 4] },
    ]);
    return joinSafetensors(text(), data);
  }
  return joinSafetensors(mutateJsonText(text(), r), data);
}

/** `readSafetensors` on safetensors bytes in memory. */
const safetensors: FuzzTarget = {
  name: "safetensors",
  description: "readSafetensors (header + every tensor decoded)",
  async seeds() {
    const small = new Map<string, Tensor>([
      ["f32", Tensor.from([[1, 2], [3, 4]])],
      ["f16", Tensor.zeros([3], "float16")],
      ["bf16", Tensor.zeros([2, 1], "bfloat16")],
      ["i32", Tensor.from([1, -2, 3], "int32")],
      ["i64", Tensor.zeros([2], "int64")],
      ["bool", Tensor.zeros([5], "bool")],
      ["empty", Tensor.zeros([0, 3], "float32")],
      ["scalar", Tensor.zeros([], "float32")],
    ]);
    return [
      writeSafetensors(small),
      writeSafetensors(new Map([["w", Tensor.from([1])]]), {}),
      await fixture("bert2bert/model.safetensors"),
      await fixture("bert2bert-fp16/model.safetensors"),
      await fixture("from-pretrained-parts/decoder/model.safetensors"),
    ];
  },
  generate: (r, seeds) => stacked(r, seeds, mutateSafetensors),
  run(input) {
    readSafetensors(input, { file: "fuzz.safetensors" });
    return Promise.resolve();
  },
};

// ---- torch zip / pickle --------------------------------------------------------------------------

/** Entries of each torch seed, so structural mutations can rebuild the zip. */
const zipEntries = new WeakMap<Uint8Array, [string, Uint8Array][]>();

async function torchSeeds(): Promise<Uint8Array[]> {
  const small = await makeTorchCheckpoint(
    new Map<string, Tensor>([
      ["a.weight", Tensor.from([[1, 2, 3], [4, 5, 6]])],
      ["a.bias", Tensor.zeros([2], "float16")],
      ["ids", Tensor.from([1, 2], "int64")],
      ["mask", Tensor.zeros([3], "bool")],
    ]),
  );
  const seeds = [small, await fixture("bert2bert-bin/pytorch_model.bin")];
  for (const s of seeds) {
    const zip = readZip(s);
    const entries: [string, Uint8Array][] = [];
    for (const name of zip.entries.keys()) entries.push([name, await zip.read(name)]);
    zipEntries.set(s, entries);
  }
  return seeds;
}

const EVIL_NAMES = [
  "../evil",
  "/etc/passwd",
  "C:\\x",
  "archive/../../x",
  "a\0b",
  "",
  "archive/data.pkl",
];

/** Zip-level: rename, drop, duplicate, truncate or swap entries, or damage the directory. */
async function mutateZip(b: Uint8Array, r: Rand): Promise<Uint8Array> {
  const entries = zipEntries.get(b);
  if (!entries || r.chance(0.3)) {
    // raw damage, biased to the central directory at the end
    const out = mutateBytes(b, r);
    if (out.length >= 22 && r.chance(0.5)) {
      // EOCD fields: entry counts, directory size and offset (0xffff.. sends the reader to ZIP64)
      const v = new DataView(out.buffer);
      const eocd = out.length - 22;
      v.setUint16(eocd + r.pick([8, 10]), r.pick([0, 1, 0xffff]), true);
      if (r.chance(0.5)) {
        v.setUint32(eocd + r.pick([12, 16]), r.pick([0, 0xffffffff, out.length]), true);
      }
    }
    return out;
  }
  const es = entries.map(([n, d]) => [n, d] as [string, Uint8Array]);
  const i = r.int(es.length);
  switch (r.int(6)) {
    case 0:
      es[i] = [r.pick(EVIL_NAMES), es[i][1]];
      break;
    case 1:
      es.splice(i, 1);
      break;
    case 2:
      es.push([es[i][0], es[r.int(es.length)][1]]);
      break;
    case 3:
      es[i] = [es[i][0], es[i][1].subarray(0, r.int(es[i][1].length + 1))];
      break;
    case 4: {
      const j = r.int(es.length);
      [es[i], es[j]] = [[es[i][0], es[j][1]], [es[j][0], es[i][1]]];
      break;
    }
    default:
      es.push([
        r.pick(["archive/data/999", "other/data.pkl", "archive/byteorder"]),
        enc.encode(r.pick(["big", "", "x"])),
      ]);
  }
  return await makeZip(es, { deflate: r.chance(0.2) });
}

/** Pickle snippets that stress the unpickler: huge lengths, deep marks, forbidden globals. */
function pickleSnippet(r: Rand): number[] {
  const u32 = (n: number) => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
  const text = (s: string) => [...enc.encode(s)];
  switch (r.int(16)) {
    case 0:
      return new Array(r.pick([10, 1000, 100_000])).fill(0x28); // MARK × n
    case 1:
      return [0x58, ...u32(r.pick([0xffffffff, 0x7fffffff, 1 << 20]))]; // BINUNICODE huge
    case 2:
      return [0x42, ...u32(0xffffffff)]; // BINBYTES huge
    case 3:
      return [0x6a, ...u32(r.int(2 ** 32))]; // LONG_BINGET
    case 4:
      return [0x68, r.int(256)]; // BINGET
    case 5:
      return [0x95, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f]; // FRAME 2^60
    case 6:
      return [
        0x63,
        ...text(
          r.pick(["os\nsystem\n", "builtins\neval\n", "subprocess\nPopen\n", "torch\nload\n"]),
        ),
      ];
    case 7:
      return [r.pick([0x52, 0x62, 0x81, 0x92, 0x93, 0x69, 0x6f, 0x94])]; // REDUCE BUILD NEWOBJ ... MEMOIZE
    case 8:
      return [0x8b, ...u32(r.pick([0xffffffff, 1 << 24]))]; // LONG4 huge
    case 9:
      return [0x8a, r.int(256), ...new Array(8).fill(0xff)]; // LONG1
    case 10:
      return [0x4a, ...u32(r.pick([0xffffffff, 0x80000000, 0x7fffffff]))]; // BININT
    case 11:
      return [0x47, 0x7f, 0xf8, 0, 0, 0, 0, 0, 0]; // BINFLOAT NaN
    case 12:
      return [r.pick([0x30, 0x31, 0x32, 0x2e, 0x85, 0x86, 0x87, 0x73, 0x75, 0x74, 0x61, 0x65])]; // stack ops
    case 13:
      return [0x80, r.pick([0, 2, 5, 6, 255])]; // PROTO
    case 14:
      return [0x50, ...text("storage\n")]; // PERSID
    default:
      return [r.pick([0x5d, 0x7d, 0x29, 0x4e, 0x88, 0x89, 0x51])]; // empties, None, bools, BINPERSID
  }
}

function mutatePickle(p: Uint8Array, r: Rand): Uint8Array {
  const x = r.next();
  if (x < 0.45) {
    const at = r.int(p.length + 1);
    return concatBytes([p.subarray(0, at), new Uint8Array(pickleSnippet(r)), p.subarray(at)]);
  }
  if (x < 0.65) {
    // small-int arguments (sizes, strides, offsets, numel): BININT1 'K' and BININT2 'M'
    const out = p.slice();
    const spots: number[] = [];
    for (let i = 0; i < out.length - 2; i++) if (out[i] === 0x4b || out[i] === 0x4d) spots.push(i);
    if (spots.length === 0) return mutateBytes(p, r);
    const s = r.pick(spots);
    if (r.chance(0.5)) out[s + 1] = r.pick([0, 1, 0xff]);
    else {return concatBytes([
        out.subarray(0, s),
        new Uint8Array([0x4a, 0xff, 0xff, 0xff, r.pick([0x7f, 0xff])]),
        out.subarray(s + (out[s] === 0x4b ? 2 : 3)),
      ]);}
    return out;
  }
  return mutateBytes(p, r);
}

/** `readTorchCheckpoint` on zip bytes whose structure or raw bytes are damaged. */
const torchZip: FuzzTarget = {
  name: "torch-zip",
  description: "readTorchCheckpoint: zip directory, entries, names, CRCs",
  seeds: torchSeeds,
  generate: (r, seeds) => stacked(r, seeds, mutateZip),
  run: async (input) => {
    await readTorchCheckpoint(input, { file: "fuzz.bin" });
  },
};

/** `readTorchCheckpoint` on well-formed zips whose `data.pkl` is mutated. */
const torchPickle: FuzzTarget = {
  name: "torch-pickle",
  description: "readTorchCheckpoint: restricted unpickler (data.pkl mutated, zip rebuilt valid)",
  seeds: torchSeeds,
  async generate(r, seeds) {
    const seed = r.pick(seeds);
    const entries = zipEntries.get(seed)!.map(([n, d]) => [n, d] as [string, Uint8Array]);
    const k = entries.findIndex(([n]) => n.endsWith("/data.pkl"));
    let p = entries[k][1];
    const count = 1 + r.int(4);
    for (let i = 0; i < count; i++) p = mutatePickle(p, r);
    entries[k] = [entries[k][0], p];
    return await makeZip(entries);
  },
  run: async (input) => {
    await readTorchCheckpoint(input, { file: "fuzz.bin" });
  },
};

// ---- shard index ---------------------------------------------------------------------------------

/** `parseShardIndex` then `loadStateDict` on a directory with two small valid shards. */
const shardIndex: FuzzTarget = {
  name: "shard-index",
  description: "parseShardIndex + loadStateDict (model.safetensors.index.json)",
  fileName: "model.safetensors.index.json",
  seeds() {
    const index = {
      metadata: { total_size: 24 },
      weight_map: {
        "a.weight": "model-00001-of-00002.safetensors",
        "a.bias": "model-00001-of-00002.safetensors",
        "b.weight": "model-00002-of-00002.safetensors",
      },
    };
    return Promise.resolve([
      enc.encode(JSON.stringify(index, null, 2) + "\n"),
      enc.encode('{"weight_map":{}}'),
    ]);
  },
  generate: (r, seeds) => stacked(r, seeds, (b, r) => enc.encode(mutateJsonText(dec.decode(b), r))),
  async setup(dir) {
    await Deno.writeFile(
      `${dir}/model-00001-of-00002.safetensors`,
      writeSafetensors(
        new Map([["a.weight", Tensor.from([[1, 2], [3, 4]])], ["a.bias", Tensor.from([1])]]),
      ),
    );
    await Deno.writeFile(
      `${dir}/model-00002-of-00002.safetensors`,
      writeSafetensors(new Map([["b.weight", Tensor.from([5])]])),
    );
  },
  async run(input, dir) {
    parseShardIndex(dec.decode(input), "fuzz.index.json");
    await Deno.writeFile(`${dir}/model.safetensors.index.json`, input);
    await loadStateDict(dir);
  },
};

// ---- configs -------------------------------------------------------------------------------------

const jsonMutate = (b: Uint8Array, r: Rand) => enc.encode(mutateJsonText(dec.decode(b), r));

/** `AutoConfig.fromPretrained` on a directory holding the mutated `config.json`. */
const configJson: FuzzTarget = {
  name: "config-json",
  description:
    "AutoConfig.fromPretrained (config.json) + toJSON round trip + GenerationConfig.fromModelConfig",
  fileName: "config.json",
  async seeds() {
    return await Promise.all(
      [
        "bert2bert",
        "roberta2roberta",
        "bert2gpt2",
        "bertgeneration",
        "from-pretrained-parts/encoder",
      ].map((d) => fixture(`${d}/config.json`)),
    );
  },
  generate: (r, seeds) => stacked(r, seeds, jsonMutate),
  async run(input, dir) {
    await Deno.writeFile(`${dir}/config.json`, input);
    const cfg = await AutoConfig.fromPretrained(dir);
    AutoConfig.fromJSON(cfg.toJSON(), { file: "round trip" });
    GenerationConfig.fromModelConfig(cfg);
  },
};

/** `GenerationConfig.fromPretrained` on a directory holding the mutated `generation_config.json`. */
const generationConfigJson: FuzzTarget = {
  name: "generation-config-json",
  description: "GenerationConfig.fromPretrained (generation_config.json) + validate + toJSON",
  fileName: "generation_config.json",
  async seeds() {
    const extra = {
      num_beams: 4,
      do_sample: true,
      top_k: 5,
      top_p: 0.9,
      temperature: 0.7,
      eos_token_id: [3, 4],
      bad_words_ids: [[5], [6, 7]],
      forced_eos_token_id: 3,
      no_repeat_ngram_size: 2,
      length_penalty: 1.5,
      repetition_penalty: 1.2,
      max_new_tokens: 8,
      early_stopping: "never",
      num_return_sequences: 2,
    };
    return [
      await fixture("bert2bert/generation_config.json"),
      await fixture("bertgeneration/generation_config.json"),
      enc.encode(JSON.stringify(extra)),
    ];
  },
  generate: (r, seeds) => stacked(r, seeds, jsonMutate),
  async run(input, dir) {
    await Deno.writeFile(`${dir}/generation_config.json`, input);
    const g = await GenerationConfig.fromPretrained(dir);
    g.validate();
    GenerationConfig.fromJSON(g.toJSON(), { file: "round trip" });
  },
};

// ---- tokenizers ----------------------------------------------------------------------------------

/** A small GPT-2 vocabulary and merges cut from the fixture (the full one loads in ~150 ms). */
async function smallGpt2(merges = 300): Promise<{ vocab: Uint8Array; merges: Uint8Array }> {
  const lines = dec.decode(await fixture("tokenizers/gpt2/merges.txt")).split("\n");
  const kept = lines.filter((l, i) => !(i === 0 && l.startsWith("#version")) && l.trim() !== "")
    .slice(0, merges);
  const vocab = new Map<string, number>();
  for (const c of bytesToUnicode()) vocab.set(c, vocab.size);
  for (const l of kept) {
    const [a, b] = l.split(" ");
    for (const t of [a, b, a + b]) if (!vocab.has(t)) vocab.set(t, vocab.size);
  }
  vocab.set("<|endoftext|>", vocab.size);
  return {
    vocab: enc.encode(JSON.stringify(Object.fromEntries(vocab))),
    merges: enc.encode(["#version: 0.2", ...kept, ""].join("\n")),
  };
}

/** A small `spiece.model`: the fixture's specs with its first `n` pieces. */
async function smallSpiece(n = 400): Promise<Uint8Array> {
  const fields = decodePb(await fixture("bertgeneration/spiece.model"));
  let pieces = 0;
  return encodePb(fields.filter((f) => f.field !== 1 || pieces++ < n));
}

const textMutate = (b: Uint8Array, r: Rand): Uint8Array => {
  // line-level edits as well as bytes: drop, duplicate or swap lines, add a huge line
  const lines = dec.decode(b).split("\n");
  const i = r.int(lines.length);
  switch (r.int(5)) {
    case 0:
      lines.splice(i, 1);
      break;
    case 1:
      lines.splice(i, 0, lines[r.int(lines.length)]);
      break;
    case 2:
      lines[i] = r.pick([
        "",
        " ",
        "a b c",
        "##",
        "\r",
        "x".repeat(100_000),
        "\u0000",
        "\ud800",
        "Ġ Ġ",
      ]);
      break;
    case 3:
      return enc.encode(lines.join(r.pick(["\r\n", "\r", "\n\n"])));
    default:
      return mutateBytes(b, r);
  }
  return enc.encode(lines.join("\n"));
};

/** `AutoTokenizer.fromPretrained` (BERT) with a mutated `vocab.txt`, then encode/decode. */
const vocabTxt: FuzzTarget = {
  name: "vocab-txt",
  description: "AutoTokenizer.fromPretrained (BertTokenizer, vocab.txt) + encode/decode",
  fileName: "vocab.txt",
  async seeds() {
    const big = dec.decode(await fixture("tokenizers/bert-base-uncased/vocab.txt")).split("\n")
      .slice(0, 3000);
    return [await fixture("bert2bert/vocab.txt"), enc.encode(big.join("\n") + "\n")];
  },
  generate: (r, seeds) => stacked(r, seeds, textMutate),
  setup: (dir) =>
    copyFixtures(dir, "bert2bert", ["tokenizer_config.json", "special_tokens_map.json"]),
  async run(input, dir) {
    await Deno.writeFile(`${dir}/vocab.txt`, input);
    await useTokenizer(dir);
  },
};

/** The GPT-2 tokenizer directory: `vocab.json` and `merges.txt` (one of them is mutated). */
function gpt2Target(which: "vocab.json" | "merges.txt"): FuzzTarget {
  return {
    name: which === "vocab.json" ? "vocab-json" : "merges-txt",
    description: `AutoTokenizer.fromPretrained (GPT2Tokenizer, ${which}) + encode/decode`,
    fileName: which,
    async seeds() {
      const out: Uint8Array[] = [];
      for (const n of [40, 300]) {
        const s = await smallGpt2(n);
        out.push(which === "vocab.json" ? s.vocab : s.merges);
      }
      return out;
    },
    generate: (r, seeds) => stacked(r, seeds, which === "vocab.json" ? jsonMutate : textMutate),
    async setup(dir) {
      const s = await smallGpt2(300);
      // The file not under fuzz: the larger seed's counterpart, so every seed stays valid.
      await Deno.writeFile(
        `${dir}/${which === "vocab.json" ? "merges.txt" : "vocab.json"}`,
        which === "vocab.json" ? (await smallGpt2(40)).merges : s.vocab,
      );
      await Deno.writeTextFile(
        `${dir}/tokenizer_config.json`,
        JSON.stringify({
          tokenizer_class: "GPT2Tokenizer",
          unk_token: "<|endoftext|>",
          bos_token: "<|endoftext|>",
          eos_token: "<|endoftext|>",
        }),
      );
    },
    async run(input, dir) {
      await Deno.writeFile(`${dir}/${which}`, input);
      await useTokenizer(dir);
    },
  };
}

/** `AutoTokenizer.fromPretrained` (BertGeneration) with a mutated `spiece.model`. */
const spieceModel: FuzzTarget = {
  name: "spiece-model",
  description:
    "AutoTokenizer.fromPretrained (BertGenerationTokenizer, spiece.model protobuf) + encode/decode",
  fileName: "spiece.model",
  async seeds() {
    return [
      await smallSpiece(400),
      await smallSpiece(40),
      await fixture("bertgeneration/spiece.model"),
    ];
  },
  generate: (r, seeds) => stacked(r, seeds, mutateProtobuf),
  setup: (dir) =>
    copyFixtures(dir, "bertgeneration", [
      "tokenizer_config.json",
      "special_tokens_map.json",
      "added_tokens.json",
    ]),
  async run(input, dir) {
    await Deno.writeFile(`${dir}/spiece.model`, input);
    await useTokenizer(dir);
  },
};

/** `AutoTokenizer.fromPretrained` with a mutated `tokenizer.json` (and no other file). */
const tokenizerJson: FuzzTarget = {
  name: "tokenizer-json",
  description:
    "AutoTokenizer.fromPretrained (tokenizer.json: WordPiece, BPE, Unigram pipelines) + encode/decode",
  fileName: "tokenizer.json",
  async seeds() {
    const tmp = await Deno.makeTempDir({ prefix: "encdec-fuzz-seed-" });
    try {
      const out: Uint8Array[] = [];
      const g = await smallGpt2(300);
      await Deno.mkdir(`${tmp}/gpt2`);
      await Deno.writeFile(`${tmp}/gpt2/vocab.json`, g.vocab);
      await Deno.writeFile(`${tmp}/gpt2/merges.txt`, g.merges);
      await Deno.mkdir(`${tmp}/spm`);
      await Deno.writeFile(`${tmp}/spm/spiece.model`, await smallSpiece(400));
      await copyFixtures(`${tmp}/spm`, "bertgeneration", [
        "tokenizer_config.json",
        "special_tokens_map.json",
        "added_tokens.json",
      ]);
      for (const dir of [new URL("bert2bert", FIXTURES).pathname, `${tmp}/gpt2`, `${tmp}/spm`]) {
        const tok = await AutoTokenizer.fromPretrained(dir);
        out.push(enc.encode(JSON.stringify(toTokenizerJSON(tok))));
      }
      return out;
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
  generate: (r, seeds) => stacked(r, seeds, jsonMutate),
  async run(input, dir) {
    await Deno.writeFile(`${dir}/tokenizer.json`, input);
    await useTokenizer(dir);
  },
};

// ---- tokenizer side files ------------------------------------------------------------------------

/** Writes the model files of three slow tokenizers (BERT, SentencePiece, GPT-2) into `dir`. */
async function writeTokenizerModels(dir: string): Promise<void> {
  await copyFixtures(dir, "bert2bert", ["vocab.txt"]);
  await Deno.writeFile(`${dir}/spiece.model`, await smallSpiece(400));
  const g = await smallGpt2(300);
  await Deno.writeFile(`${dir}/vocab.json`, g.vocab);
  await Deno.writeFile(`${dir}/merges.txt`, g.merges);
}

/** `tokenizer_config.json` of the BertGeneration fixture without `added_tokens_decoder`. */
async function spieceConfigWithoutDecoder(): Promise<Uint8Array> {
  const cfg = JSON.parse(dec.decode(await fixture("bertgeneration/tokenizer_config.json")));
  delete cfg.added_tokens_decoder;
  return enc.encode(JSON.stringify(cfg, null, 2));
}

/**
 * `AutoTokenizer.fromPretrained` with a mutated `tokenizer_config.json` (the class, special
 * tokens, `added_tokens_decoder`, lengths, chat template), beside valid BERT, SentencePiece and
 * GPT-2 model files so that each seed's `tokenizer_class` finds its files.
 */
const tokenizerConfigJson: FuzzTarget = {
  name: "tokenizer-config-json",
  description:
    "AutoTokenizer.fromPretrained (tokenizer_config.json: class, special tokens, added_tokens_decoder) + encode/decode",
  fileName: "tokenizer_config.json",
  async seeds() {
    return [
      await fixture("bert2bert/tokenizer_config.json"),
      await fixture("bertgeneration/tokenizer_config.json"),
      enc.encode(JSON.stringify({
        tokenizer_class: "GPT2TokenizerFast",
        bos_token: { content: "<|endoftext|>", lstrip: false, rstrip: false, special: true },
        eos_token: "<|endoftext|>",
        unk_token: "<|endoftext|>",
        pad_token: null,
        add_prefix_space: false,
        model_max_length: 1024,
        additional_special_tokens: ["<extra_0>", { content: "<extra_1>", single_word: true }],
        chat_template: [{ name: "default", template: "{{ messages[0].content }}" }],
      })),
    ];
  },
  generate: (r, seeds) => stacked(r, seeds, jsonMutate),
  setup: writeTokenizerModels,
  async run(input, dir) {
    await Deno.writeFile(`${dir}/tokenizer_config.json`, input);
    await useTokenizer(dir);
  },
};

/** `AutoTokenizer.fromPretrained` (BertGeneration) with a mutated `special_tokens_map.json`. */
const specialTokensMapJson: FuzzTarget = {
  name: "special-tokens-map-json",
  description:
    "AutoTokenizer.fromPretrained (special_tokens_map.json: roles, AddedToken objects, additional tokens) + encode/decode",
  fileName: "special_tokens_map.json",
  async seeds() {
    return [
      await fixture("bertgeneration/special_tokens_map.json"),
      await fixture("bert2bert/special_tokens_map.json"),
      enc.encode(JSON.stringify({
        bos_token: { content: "<s>", lstrip: false, normalized: false, rstrip: false },
        eos_token: "</s>",
        mask_token: { content: "<mask>", lstrip: true, single_word: false, special: true },
        unk_token: "<unk>",
        additional_special_tokens: ["<x>", { content: "<y>", rstrip: true }],
      })),
    ];
  },
  generate: (r, seeds) => stacked(r, seeds, jsonMutate),
  async setup(dir) {
    await Deno.writeFile(`${dir}/spiece.model`, await smallSpiece(400));
    await copyFixtures(dir, "bertgeneration", ["tokenizer_config.json", "added_tokens.json"]);
  },
  async run(input, dir) {
    await Deno.writeFile(`${dir}/special_tokens_map.json`, input);
    await useTokenizer(dir);
  },
};

/**
 * `AutoTokenizer.fromPretrained` (BertGeneration) with a mutated `added_tokens.json` (read when
 * `tokenizer_config.json` has no `added_tokens_decoder`, as in older checkpoints).
 */
const addedTokensJson: FuzzTarget = {
  name: "added-tokens-json",
  description: "AutoTokenizer.fromPretrained (added_tokens.json: token → id) + encode/decode",
  fileName: "added_tokens.json",
  async seeds() {
    return [
      await fixture("bertgeneration/added_tokens.json"),
      enc.encode(JSON.stringify({ "<new_0>": 400, "<new_1>": 401, "<pad>": 402 })),
      enc.encode("{}"),
    ];
  },
  generate: (r, seeds) => stacked(r, seeds, jsonMutate),
  async setup(dir) {
    await Deno.writeFile(`${dir}/spiece.model`, await smallSpiece(400));
    await Deno.writeFile(`${dir}/tokenizer_config.json`, await spieceConfigWithoutDecoder());
    await copyFixtures(dir, "bertgeneration", ["special_tokens_map.json"]);
  },
  async run(input, dir) {
    await Deno.writeFile(`${dir}/added_tokens.json`, input);
    await useTokenizer(dir);
  },
};

/** Every target, in the order the harness runs them. */
export const TARGETS: readonly FuzzTarget[] = [
  safetensors,
  torchZip,
  torchPickle,
  shardIndex,
  configJson,
  generationConfigJson,
  vocabTxt,
  gpt2Target("vocab.json"),
  gpt2Target("merges.txt"),
  spieceModel,
  tokenizerJson,
  tokenizerConfigJson,
  specialTokensMapJson,
  addedTokensJson,
];

/**
 * A target that checks the harness itself (not run by default): input `i` is one byte `i % 4`,
 * and the outcome is accepted (0), a typed error (1), a crash (2) or an endless loop (3).
 */
export const SELFTEST: FuzzTarget = {
  name: "selftest",
  description: "harness self-check: ok, typed error, crash, hang in turn",
  seeds: () => Promise.resolve([new Uint8Array([0])]),
  generate(r) {
    return Promise.resolve(new Uint8Array([r.int(4)]));
  },
  run(input) {
    if (input[0] === 1) throw new EncdecError("selftest: typed rejection");
    if (input[0] === 2) throw new TypeError("selftest: crash");
    if (input[0] === 3) { for (;;) { /* hang */ } }
    return Promise.resolve();
  },
};

/** The target named `name`; throws a plain `Error` listing the names when there is none. */
export function targetByName(name: string): FuzzTarget {
  const t = name === SELFTEST.name ? SELFTEST : TARGETS.find((t) => t.name === name);
  if (!t) {
    throw new Error(
      `unknown fuzz target "${name}"; expected one of ${TARGETS.map((t) => t.name).join(", ")}`,
    );
  }
  return t;
}

const seedCache = new Map<string, Promise<Uint8Array[]>>();

/** The seeds of `target`, built once per process. */
export function seedsOf(target: FuzzTarget): Promise<Uint8Array[]> {
  let s = seedCache.get(target.name);
  if (!s) {
    s = target.seeds();
    seedCache.set(target.name, s);
  }
  return s;
}
