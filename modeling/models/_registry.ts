/**
 * Which encoder and decoder architectures `EncoderDecoderModel` composes, by `model_type`: each
 * entry gives the key table, the base-model prefix and the builder.
 *
 * @module
 */
import type { Backend } from "../backend.ts";
import {
  type BertConfigLike,
  BertLMHeadModel,
  bertLMHeadTable,
  BertModel,
  bertModelTable,
} from "./bert.ts";
import {
  BertGenerationDecoder,
  bertGenerationDecoderTable,
  BertGenerationEncoder,
  bertGenerationEncoderTable,
} from "./bert_generation.ts";
import {
  GPT2_IGNORE_UNEXPECTED,
  type GPT2ConfigLike,
  GPT2LMHeadModel,
  gpt2LMHeadTable,
} from "./gpt2.ts";
import {
  RobertaForCausalLM,
  robertaForCausalLMTable,
  RobertaModel,
  robertaModelTable,
} from "./roberta.ts";
import type { DecoderStack, EncoderStack } from "./stacks.ts";
import { ModelLoadError } from "./errors.ts";
import type { ParamSpec, ParamView } from "./key_table.ts";

/** A sub-model config as HF's JSON dict (snake_case), with `model_type`. */
export type SubConfig = Record<string, unknown> & { model_type: string };

/** Encoder `model_type`s `EncoderDecoderModel` supports. */
export const ENCODER_TYPES: readonly string[] = ["bert", "roberta", "bert-generation"];
/** Decoder `model_type`s `EncoderDecoderModel` supports. */
export const DECODER_TYPES: readonly string[] = ["bert", "roberta", "bert-generation", "gpt2"];

/** Checks a sub-config dict (HF's snake_case, defaults filled) names a supported `model_type`. */
export function checkSupported(
  cfg: Record<string, unknown>,
  role: "encoder" | "decoder",
): SubConfig {
  const type = cfg.model_type;
  const supported = role === "encoder" ? ENCODER_TYPES : DECODER_TYPES;
  if (typeof type !== "string" || !supported.includes(type)) {
    throw new ModelLoadError(
      `config.${role}.model_type "${String(type)}" is not supported as ${role} (expected one of ${
        supported.join(", ")
      })`,
    );
  }
  return cfg as SubConfig;
}

/** Width of a sub-model (`hidden_size`, GPT-2's `n_embd`). */
export function hiddenSizeOf(cfg: SubConfig): number {
  return (cfg.model_type === "gpt2" ? cfg.n_embd : cfg.hidden_size) as number;
}

/** An encoder architecture: key table + builder. */
export interface EncoderArch<T> {
  /** Keys relative to the encoder module. */
  table: ParamSpec[];
  /** Prefix HF head models put this base model under (`"bert"`, `"roberta"`). */
  basePrefix: string;
  /** Builds the stack. */
  build(b: Backend<T>, w: ParamView<T>): EncoderStack<T>;
}

/** A decoder architecture: key table, base prefix, ignored keys, builder. */
export interface DecoderArch<T> {
  /** Keys relative to the decoder module. */
  table: ParamSpec[];
  /** Prefix of the base model inside the decoder (`"bert"`, `"roberta"`, `"transformer"`). */
  basePrefix: string;
  /** Unexpected keys HF ignores silently. */
  ignoreUnexpected: RegExp[];
  /** Builds the stack. */
  build(b: Backend<T>, w: ParamView<T>): DecoderStack<T>;
}

/** The encoder architecture of `cfg` (HF's `AutoModel`). */
export function encoderArch<T>(cfg: SubConfig): EncoderArch<T> {
  const c = cfg as unknown as BertConfigLike;
  switch (cfg.model_type) {
    case "roberta":
      return {
        table: robertaModelTable(c),
        basePrefix: "roberta",
        build: (b, w) => new RobertaModel(b, c, w, "encoder"),
      };
    case "bert-generation":
      return {
        table: bertGenerationEncoderTable(c),
        basePrefix: "bert",
        build: (b, w) => new BertGenerationEncoder(b, c, w, "encoder"),
      };
    default:
      return {
        table: bertModelTable(c),
        basePrefix: "bert",
        build: (b, w) => new BertModel(b, c, w, "encoder"),
      };
  }
}

/** The decoder architecture of `cfg` (HF's `AutoModelForCausalLM`). */
export function decoderArch<T>(cfg: SubConfig): DecoderArch<T> {
  const c = cfg as unknown as BertConfigLike;
  switch (cfg.model_type) {
    case "roberta":
      return {
        table: robertaForCausalLMTable(c),
        basePrefix: "roberta",
        ignoreUnexpected: [],
        build: (b, w) => new RobertaForCausalLM(b, c, w),
      };
    case "bert-generation":
      return {
        table: bertGenerationDecoderTable(c),
        basePrefix: "bert",
        ignoreUnexpected: [],
        build: (b, w) => new BertGenerationDecoder(b, c, w),
      };
    case "gpt2": {
      const g = cfg as unknown as GPT2ConfigLike;
      return {
        table: gpt2LMHeadTable(g),
        basePrefix: "transformer",
        ignoreUnexpected: GPT2_IGNORE_UNEXPECTED,
        build: (b, w) => new GPT2LMHeadModel(b, g, w),
      };
    }
    default:
      return {
        table: bertLMHeadTable(c),
        basePrefix: "bert",
        ignoreUnexpected: [],
        build: (b, w) => new BertLMHeadModel(b, c, w),
      };
  }
}
