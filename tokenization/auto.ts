/**
 * `AutoTokenizer.fromPretrained`: picks and builds the tokenizer of a model directory (or Hub id)
 * from `tokenizer_config.json`, `special_tokens_map.json`, `added_tokens.json` and the model
 * files, as HF's `AutoTokenizer.from_pretrained` does for slow tokenizers. A `tokenizer.json`
 * wins over the slow files when present. The class comes from `tokenizer_class`, else from
 * `config.json`'s `model_type` (an encoder-decoder's encoder), else from the files present.
 *
 * @module
 */
import { camelToSnake, resolveModelFile, type ResolveOptions } from "@encdec/config";
import { type AddedToken, addedToken, SPECIAL_TOKEN_ROLES } from "./added_tokens.ts";
import type { PreTrainedTokenizer, TokenizerInit } from "./base.ts";
import {
  BertTokenizer,
  type BertTokenizerInit,
  DistilBertTokenizer,
  ElectraTokenizer,
  parseVocabTxt,
} from "./bert.ts";
import {
  GPT2Tokenizer,
  LongformerTokenizer,
  parseMerges,
  parseVocabJson,
  RobertaTokenizer,
} from "./bpe.ts";
import { TokenizerError } from "./errors.ts";
import { CamembertTokenizer, XLMRobertaTokenizer } from "./fairseq_sentencepiece.ts";
import { BertGenerationTokenizer, SentencePieceProcessor } from "./sentencepiece.ts";
import { parseSentencePieceModel } from "./sentencepiece_proto.ts";
import { tokenizerFromJSON } from "./tokenizer_json.ts";
import { validateAddedTokensFile, validateTokenizerKwargs } from "./_schema.ts";

/** Options of {@linkcode AutoTokenizer.fromPretrained}. */
export interface FromPretrainedOptions extends ResolveOptions {
  /** Ignore `tokenizer.json` and build the slow tokenizer from the model files. */
  useSlow?: boolean;
}

async function readJson(path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new TokenizerError(`${path}: cannot read: ${(e as Error).message}`, { cause: e });
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new TokenizerError(`${path}: invalid JSON: ${(e as Error).message}`, { cause: e });
  }
  if (v === null || typeof v !== "object" || Array.isArray(v)) {
    throw new TokenizerError(`${path}: expected a JSON object at the top level`);
  }
  return v as Record<string, unknown>;
}

function specialValue(v: unknown, where: string): string | AddedToken | null | undefined {
  if (v === undefined) return undefined;
  if (v === null) return null;
  if (typeof v === "string") return v;
  if (typeof v === "object") return addedToken(v as Record<string, unknown>, true, where);
  throw new TokenizerError(
    `${where}: expected a string or an AddedToken object, got ${JSON.stringify(v)}`,
  );
}

/** A slow tokenizer class: the files it reads and how it is built from them. */
interface SlowClass {
  /** Inputs the class returns (HF `model_input_names`), also used for its `tokenizer.json`. */
  modelInputNames: string[];
  /** Builds the tokenizer; `file` resolves a required file of the model directory. */
  build(file: (name: string) => Promise<string>, init: TokenizerInit): Promise<PreTrainedTokenizer>;
}

const WITH_TYPES = ["input_ids", "token_type_ids", "attention_mask"];
const WITHOUT_TYPES = ["input_ids", "attention_mask"];

const wordpiece = (C: typeof BertTokenizer, names: string[]): SlowClass => ({
  modelInputNames: names,
  build: async (file, init) => {
    const p = await file("vocab.txt");
    return new C(parseVocabTxt(await Deno.readTextFile(p), p), init as BertTokenizerInit);
  },
});
const byteLevel = (C: typeof GPT2Tokenizer): SlowClass => ({
  modelInputNames: WITHOUT_TYPES,
  build: async (file, init) => {
    const vp = await file("vocab.json");
    const mp = await file("merges.txt");
    const vocab = parseVocabJson(await Deno.readTextFile(vp), vp);
    return new C(vocab, parseMerges(await Deno.readTextFile(mp), vocab, mp), init);
  },
});
const sentencePiece = (
  name: string,
  make: (sp: SentencePieceProcessor, init: TokenizerInit) => PreTrainedTokenizer,
): SlowClass => ({
  modelInputNames: WITHOUT_TYPES,
  build: async (file, init) => {
    const p = await file(name);
    return make(
      new SentencePieceProcessor(parseSentencePieceModel(await Deno.readFile(p), p), p),
      init,
    );
  },
});

/** The slow tokenizer classes, by HF class name without the `Fast` suffix. */
const SLOW_CLASSES: Record<string, SlowClass> = {
  BertTokenizer: wordpiece(BertTokenizer, WITH_TYPES),
  ElectraTokenizer: wordpiece(ElectraTokenizer, WITH_TYPES),
  DistilBertTokenizer: wordpiece(DistilBertTokenizer, WITHOUT_TYPES),
  GPT2Tokenizer: byteLevel(GPT2Tokenizer),
  RobertaTokenizer: byteLevel(RobertaTokenizer),
  LongformerTokenizer: byteLevel(LongformerTokenizer),
  BertGenerationTokenizer: sentencePiece(
    "spiece.model",
    (sp, init) => new BertGenerationTokenizer(sp, init),
  ),
  XLMRobertaTokenizer: sentencePiece(
    "sentencepiece.bpe.model",
    (sp, init) => new XLMRobertaTokenizer(sp, init),
  ),
  CamembertTokenizer: sentencePiece(
    "sentencepiece.bpe.model",
    (sp, init) => new CamembertTokenizer(sp, init),
  ),
};

/** `config.json` `model_type` → tokenizer class (HF `TOKENIZER_MAPPING_NAMES`, slow side). */
const MODEL_TYPE_CLASS: Record<string, string> = {
  bert: "BertTokenizer",
  electra: "ElectraTokenizer",
  distilbert: "DistilBertTokenizer",
  gpt2: "GPT2Tokenizer",
  roberta: "RobertaTokenizer",
  longformer: "LongformerTokenizer",
  "bert-generation": "BertGenerationTokenizer",
  "xlm-roberta": "XLMRobertaTokenizer",
  camembert: "CamembertTokenizer",
};

/** Which class the files of a directory without any class hint belong to, first match wins. */
const CLASS_BY_FILE: [string, string][] = [
  ["vocab.txt", "BertTokenizer"],
  ["spiece.model", "BertGenerationTokenizer"],
  ["sentencepiece.bpe.model", "XLMRobertaTokenizer"],
  ["merges.txt", "GPT2Tokenizer"],
];

/** `tokenizer_config.json` + `special_tokens_map.json` + overrides, merged as HF merges them. */
async function readKwargs(
  idOrDir: string,
  overrides: Record<string, unknown>,
  ro: ResolveOptions,
): Promise<{ kw: Record<string, unknown>; cfgPath: string | null }> {
  const over: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(overrides)) over[camelToSnake(k)] = v;
  const cfgPath = await resolveModelFile(idOrDir, "tokenizer_config.json", ro);
  const cfg = cfgPath ? await readJson(cfgPath) : {};
  if (cfgPath) validateTokenizerKwargs(cfg, cfgPath);
  const mapPath = await resolveModelFile(idOrDir, "special_tokens_map.json", ro);
  const map = mapPath ? await readJson(mapPath) : {};
  if (mapPath) validateTokenizerKwargs(map, mapPath);
  validateTokenizerKwargs(over, "fromPretrained overrides");
  const kw: Record<string, unknown> = { ...cfg };
  for (const [k, v] of Object.entries(map)) {
    if (!(k in over) || !over[k]) kw[k] = v;
  }
  Object.assign(kw, over);
  return { kw, cfgPath };
}

/** The class named by `tokenizer_class`, else by `config.json`'s `model_type` (or its encoder's). */
async function classFromConfig(
  idOrDir: string,
  kw: Record<string, unknown>,
  ro: ResolveOptions,
): Promise<string | undefined> {
  if (typeof kw.tokenizer_class === "string") return kw.tokenizer_class.replace(/Fast$/, "");
  const confPath = await resolveModelFile(idOrDir, "config.json", ro);
  if (!confPath) return undefined;
  const conf = await readJson(confPath);
  let modelType = conf.model_type;
  if (modelType === "encoder-decoder" && conf.encoder && typeof conf.encoder === "object") {
    // HF has no tokenizer for "encoder-decoder"; the encoder's reads the inputs.
    modelType = (conf.encoder as Record<string, unknown>).model_type;
  }
  return typeof modelType === "string" ? MODEL_TYPE_CLASS[modelType] : undefined;
}

/** `added_tokens_decoder` of the config, else `added_tokens.json` (older saves). */
async function addedTokensDecoder(
  idOrDir: string,
  kw: Record<string, unknown>,
  init: TokenizerInit,
  cfgPath: string | null,
  ro: ResolveOptions,
): Promise<Map<number, AddedToken>> {
  const decoder = new Map<number, AddedToken>();
  if (kw.added_tokens_decoder && typeof kw.added_tokens_decoder === "object") {
    for (const [id, v] of Object.entries(kw.added_tokens_decoder as Record<string, unknown>)) {
      if (!/^\d+$/.test(id)) {
        throw new TokenizerError(
          `${cfgPath}: added_tokens_decoder key ${JSON.stringify(id)} is not a token id`,
        );
      }
      decoder.set(
        Number(id),
        addedToken(v as Record<string, unknown>, true, `${cfgPath}: added_tokens_decoder[${id}]`),
      );
    }
    return decoder;
  }
  const addedPath = await resolveModelFile(idOrDir, "added_tokens.json", ro);
  if (!addedPath) return decoder;
  const specials = new Set(
    SPECIAL_TOKEN_ROLES.map((r) => init[r]).map((v) =>
      typeof v === "string" ? v : (v as AddedToken | undefined)?.content
    ),
  );
  const added = await readJson(addedPath);
  validateAddedTokensFile(added, addedPath);
  for (const [content, id] of Object.entries(added)) {
    if (!Number.isInteger(id)) {
      throw new TokenizerError(
        `${addedPath}: token ${JSON.stringify(content)} has id ${
          JSON.stringify(id)
        }, expected an integer`,
      );
    }
    decoder.set(id as number, addedToken(content, specials.has(content)));
  }
  return decoder;
}

/** The constructor options: the merged keyword arguments with special tokens and added tokens parsed. */
async function buildInit(
  idOrDir: string,
  kw: Record<string, unknown>,
  cfgPath: string | null,
  ro: ResolveOptions,
): Promise<TokenizerInit & Record<string, unknown>> {
  const init: TokenizerInit & Record<string, unknown> = {};
  for (const [k, v] of Object.entries(kw)) {
    if (k === "added_tokens_decoder" || k === "tokenizer_class" || k === "auto_map") continue;
    init[k] = v;
  }
  for (const role of SPECIAL_TOKEN_ROLES) {
    if (role in kw) init[role] = specialValue(kw[role], `${cfgPath ?? idOrDir}: ${role}`);
  }
  if (Array.isArray(kw.additional_special_tokens)) {
    init.additional_special_tokens = kw.additional_special_tokens.map((v, i) =>
      specialValue(v, `additional_special_tokens[${i}]`) as string | AddedToken
    );
  }
  init.added_tokens_decoder = await addedTokensDecoder(idOrDir, kw, init, cfgPath, ro);
  if (Array.isArray(kw.chat_template)) {
    // Newer configs store named templates: [{ name, template }]; HF uses "default".
    const named = kw.chat_template as { name?: string; template?: string }[];
    init.chat_template = (named.find((t) => t.name === "default") ?? named[0])?.template ?? null;
  }
  if (typeof kw.model_max_length === "number" && kw.model_max_length > 1e29) {
    delete init.model_max_length;
  }
  return init;
}

/** The class a directory's files point to when nothing names one. */
async function classFromFiles(idOrDir: string, ro: ResolveOptions): Promise<string> {
  for (const [file, cls] of CLASS_BY_FILE) {
    if (await resolveModelFile(idOrDir, file, ro)) return cls;
  }
  throw new TokenizerError(
    `${idOrDir}: cannot tell the tokenizer: no tokenizer_class in tokenizer_config.json, no ` +
      `model_type in config.json, and none of tokenizer.json, ${
        CLASS_BY_FILE.map(([f]) => f).join(", ")
      }`,
  );
}

/**
 * Builds tokenizers from model directories, HF-style.
 *
 * @example
 * ```ts
 * import { AutoTokenizer } from "@encdec/tokenization";
 * const tok = await AutoTokenizer.fromPretrained("./bert2bert");
 * tok.call("Hello world!").inputIds;
 * ```
 */
export class AutoTokenizer {
  /** The slow tokenizer classes `fromPretrained` can build (HF class names). */
  static readonly classNames: readonly string[] = Object.keys(SLOW_CLASSES);

  /**
   * Loads the tokenizer of `idOrDir`. `overrides` take HF keyword names in snake_case or
   * camelCase (`{ pad_token: "" }`, `{ doLowerCase: false }`, `{ modelMaxLength: 512 }`) and win
   * over every file.
   */
  static async fromPretrained(
    idOrDir: string,
    overrides: Record<string, unknown> = {},
    opts: FromPretrainedOptions = {},
  ): Promise<PreTrainedTokenizer> {
    const ro: ResolveOptions = { ...opts, optional: true };
    const { kw, cfgPath } = await readKwargs(idOrDir, overrides, ro);
    const named = await classFromConfig(idOrDir, kw, ro);
    const cls = named === undefined ? undefined : SLOW_CLASSES[named];
    const init = await buildInit(idOrDir, kw, cfgPath, ro);
    if (!opts.useSlow) {
      const jsonPath = await resolveModelFile(idOrDir, "tokenizer.json", ro);
      if (jsonPath) {
        const names = init.model_input_names ?? cls?.modelInputNames;
        return tokenizerFromJSON(
          await readJson(jsonPath),
          names ? { ...init, model_input_names: names } : init,
          jsonPath,
        );
      }
    }
    if (named !== undefined && !cls) {
      throw new TokenizerError(
        `${cfgPath ?? idOrDir}: tokenizer_class ${JSON.stringify(kw.tokenizer_class ?? named)} ` +
          `is not supported; expected one of ${AutoTokenizer.classNames.join(", ")} ` +
          `(or a tokenizer.json)`,
      );
    }
    const slow = cls ?? SLOW_CLASSES[await classFromFiles(idOrDir, ro)];
    const file = async (name: string) => {
      const p = await resolveModelFile(idOrDir, name, ro);
      if (!p) {
        throw new TokenizerError(
          `${idOrDir}: ${named ?? "the tokenizer"} needs "${name}", which is missing`,
        );
      }
      return p;
    };
    return await slow.build(file, init);
  }
}
