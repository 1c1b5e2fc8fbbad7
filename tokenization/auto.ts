/**
 * `AutoTokenizer.fromPretrained`: picks and builds the tokenizer of a model directory (or Hub id)
 * from `tokenizer_config.json`, `special_tokens_map.json`, `added_tokens.json` and the model
 * files, as HF's `AutoTokenizer.from_pretrained` does for slow tokenizers. A `tokenizer.json`
 * wins over the slow files when present.
 *
 * @module
 */
import { resolveModelFile, type ResolveOptions } from "@encdec/config";
import {
  type AddedToken,
  addedToken,
  type PreTrainedTokenizer,
  SPECIAL_TOKEN_ROLES,
  type TokenizerInit,
} from "./base.ts";
import { BertTokenizer, type BertTokenizerInit, parseVocabTxt } from "./bert.ts";
import { GPT2Tokenizer, parseMerges, parseVocabJson, RobertaTokenizer } from "./bpe.ts";
import { TokenizerError } from "./errors.ts";
import { BertGenerationTokenizer } from "./sentencepiece.ts";
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

function snake(key: string): string {
  return key.replace(/[A-Z]/g, (c) => "_" + c.toLowerCase());
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

/** Known slow tokenizer classes, by HF class name without the `Fast` suffix. */
const CLASSES = [
  "BertTokenizer",
  "GPT2Tokenizer",
  "RobertaTokenizer",
  "BertGenerationTokenizer",
] as const;

const MODEL_TYPE_CLASS: Record<string, typeof CLASSES[number]> = {
  bert: "BertTokenizer",
  gpt2: "GPT2Tokenizer",
  roberta: "RobertaTokenizer",
  "bert-generation": "BertGenerationTokenizer",
};

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
    const over: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(overrides)) over[snake(k)] = v;

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

    let cls = typeof kw.tokenizer_class === "string"
      ? kw.tokenizer_class.replace(/Fast$/, "")
      : undefined;
    if (!cls) {
      const confPath = await resolveModelFile(idOrDir, "config.json", ro);
      const modelType = confPath ? (await readJson(confPath)).model_type : undefined;
      if (typeof modelType === "string") cls = MODEL_TYPE_CLASS[modelType];
    }

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
    } else {
      const addedPath = await resolveModelFile(idOrDir, "added_tokens.json", ro);
      if (addedPath) {
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
      }
    }
    init.added_tokens_decoder = decoder;
    if (Array.isArray(kw.chat_template)) {
      // Newer configs store named templates: [{ name, template }]; HF uses "default".
      const named = kw.chat_template as { name?: string; template?: string }[];
      init.chat_template = (named.find((t) => t.name === "default") ?? named[0])?.template ?? null;
    }
    if (typeof kw.model_max_length === "number" && kw.model_max_length > 1e29) {
      delete init.model_max_length;
    }

    if (!opts.useSlow) {
      const jsonPath = await resolveModelFile(idOrDir, "tokenizer.json", ro);
      if (jsonPath) return tokenizerFromJSON(await readJson(jsonPath), init, jsonPath);
    }

    const need = async (name: string) => {
      const p = await resolveModelFile(idOrDir, name, ro);
      if (!p) {
        throw new TokenizerError(
          `${idOrDir}: ${cls ?? "tokenizer"} needs "${name}", which is missing`,
        );
      }
      return p;
    };
    const text = async (name: string) => {
      const p = await need(name);
      return [await Deno.readTextFile(p), p] as const;
    };
    if (!cls) {
      if (await resolveModelFile(idOrDir, "vocab.txt", ro)) cls = "BertTokenizer";
      else if (await resolveModelFile(idOrDir, "spiece.model", ro)) cls = "BertGenerationTokenizer";
      else if (await resolveModelFile(idOrDir, "merges.txt", ro)) cls = "GPT2Tokenizer";
      else {
        throw new TokenizerError(
          `${idOrDir}: cannot tell the tokenizer: no tokenizer_class in tokenizer_config.json, no model_type in config.json, and none of tokenizer.json, vocab.txt, spiece.model, merges.txt`,
        );
      }
    }
    switch (cls) {
      case "BertTokenizer": {
        const [t, p] = await text("vocab.txt");
        return new BertTokenizer(parseVocabTxt(t, p), init as BertTokenizerInit);
      }
      case "GPT2Tokenizer":
      case "RobertaTokenizer": {
        const [v, vp] = await text("vocab.json");
        const [m, mp] = await text("merges.txt");
        const vocab = parseVocabJson(v, vp);
        const ranks = parseMerges(m, vocab, mp);
        return cls === "GPT2Tokenizer"
          ? new GPT2Tokenizer(vocab, ranks, init)
          : new RobertaTokenizer(vocab, ranks, init);
      }
      case "BertGenerationTokenizer": {
        const p = await need("spiece.model");
        return BertGenerationTokenizer.fromModelBytes(await Deno.readFile(p), init, p);
      }
      default:
        throw new TokenizerError(
          `${cfgPath}: tokenizer_class ${
            JSON.stringify(kw.tokenizer_class)
          } is not supported; expected one of ${CLASSES.join(", ")} (or a tokenizer.json)`,
        );
    }
  }
}
