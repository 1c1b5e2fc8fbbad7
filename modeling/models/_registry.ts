/**
 * Which encoder and decoder architectures `EncoderDecoderModel` composes, by `model_type`: one
 * line per family in {@linkcode ENCODERS} (HF's `AutoModel`) and {@linkcode DECODERS} (HF's
 * `AutoModelForCausalLM`), each giving the key table, the base-model prefix and the builder.
 *
 * @module
 */
import { checkModelSize } from "@encdec/config";
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
  CamembertForCausalLM,
  camembertForCausalLMTable,
  CamembertModel,
  camembertModelTable,
} from "./camembert.ts";
import { type DistilBertConfigLike, DistilBertModel, distilBertModelTable } from "./distilbert.ts";
import {
  type ElectraConfigLike,
  ElectraForCausalLM,
  electraForCausalLMTable,
  ElectraModel,
  electraModelTable,
} from "./electra.ts";
import {
  GPT2_IGNORE_UNEXPECTED,
  type GPT2ConfigLike,
  GPT2LMHeadModel,
  gpt2LMHeadTable,
} from "./gpt2.ts";
import { type LongformerConfigLike, LongformerModel, longformerModelTable } from "./longformer.ts";
import {
  RobertaForCausalLM,
  robertaForCausalLMTable,
  RobertaModel,
  robertaModelTable,
} from "./roberta.ts";
import {
  XLMRobertaForCausalLM,
  xlmRobertaForCausalLMTable,
  XLMRobertaModel,
  xlmRobertaModelTable,
} from "./xlm_roberta.ts";
import type { DecoderStack, EncoderStack } from "./stacks.ts";
import { ModelLoadError } from "./errors.ts";
import type { ParamSpec, ParamView } from "./key_table.ts";

/** A sub-model config as HF's JSON dict (snake_case), with `model_type`. */
export type SubConfig = Record<string, unknown> & { model_type: string };

/** An encoder architecture: key table + builder. */
export interface EncoderArch<T> {
  /** Keys relative to the encoder module. */
  table: ParamSpec[];
  /** Prefix HF head models put this base model under (`"bert"`, `"roberta"`). */
  basePrefix: string;
  /** Unexpected keys HF ignores silently. */
  ignoreUnexpected: RegExp[];
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

/**
 * Buffers older checkpoints store beside the weights (`embeddings.position_ids`,
 * `embeddings.token_type_ids`): HF 4.40.2 drops unexpected keys that name a model buffer, so
 * loading them reports nothing.
 */
export const EMBEDDING_BUFFERS: RegExp[] = [/\bembeddings\.(?:position_ids|token_type_ids)$/];

// The configs are HF's snake_case dicts with defaults filled; each family reads its own fields.
// deno-lint-ignore no-explicit-any
type Cfg = any;

/** Encoders by `model_type` (HF's `AutoModel`): one line per family. */
const ENCODERS: Record<string, (cfg: Cfg) => EncoderArch<unknown>> = {
  bert: (c: BertConfigLike) => ({
    table: bertModelTable(c),
    basePrefix: "bert",
    ignoreUnexpected: EMBEDDING_BUFFERS,
    build: (b, w) => new BertModel(b, c, w, "encoder"),
  }),
  roberta: (c: BertConfigLike) => ({
    table: robertaModelTable(c),
    basePrefix: "roberta",
    ignoreUnexpected: EMBEDDING_BUFFERS,
    build: (b, w) => new RobertaModel(b, c, w, "encoder"),
  }),
  "xlm-roberta": (c: BertConfigLike) => ({
    table: xlmRobertaModelTable(c),
    basePrefix: "roberta",
    ignoreUnexpected: EMBEDDING_BUFFERS,
    build: (b, w) => new XLMRobertaModel(b, c, w, "encoder"),
  }),
  camembert: (c: BertConfigLike) => ({
    table: camembertModelTable(c),
    basePrefix: "roberta",
    ignoreUnexpected: EMBEDDING_BUFFERS,
    build: (b, w) => new CamembertModel(b, c, w, "encoder"),
  }),
  "bert-generation": (c: BertConfigLike) => ({
    table: bertGenerationEncoderTable(c),
    basePrefix: "bert",
    ignoreUnexpected: EMBEDDING_BUFFERS,
    build: (b, w) => new BertGenerationEncoder(b, c, w, "encoder"),
  }),
  electra: (c: ElectraConfigLike) => ({
    table: electraModelTable(c),
    basePrefix: "electra",
    ignoreUnexpected: EMBEDDING_BUFFERS,
    build: (b, w) => new ElectraModel(b, c, w, "encoder"),
  }),
  distilbert: (c: DistilBertConfigLike) => ({
    table: distilBertModelTable(c),
    basePrefix: "distilbert",
    ignoreUnexpected: EMBEDDING_BUFFERS,
    build: (b, w) => new DistilBertModel(b, c, w, "encoder"),
  }),
  longformer: (c: LongformerConfigLike) => ({
    table: longformerModelTable(c),
    basePrefix: "longformer",
    ignoreUnexpected: EMBEDDING_BUFFERS,
    build: (b, w) => new LongformerModel(b, c, w, "encoder"),
  }),
};

/** Decoders by `model_type` (HF's `AutoModelForCausalLM` with cross-attention): one line each. */
const DECODERS: Record<string, (cfg: Cfg) => DecoderArch<unknown>> = {
  bert: (c: BertConfigLike) => ({
    table: bertLMHeadTable(c),
    basePrefix: "bert",
    ignoreUnexpected: EMBEDDING_BUFFERS,
    build: (b, w) => new BertLMHeadModel(b, c, w),
  }),
  roberta: (c: BertConfigLike) => ({
    table: robertaForCausalLMTable(c),
    basePrefix: "roberta",
    ignoreUnexpected: EMBEDDING_BUFFERS,
    build: (b, w) => new RobertaForCausalLM(b, c, w),
  }),
  "xlm-roberta": (c: BertConfigLike) => ({
    table: xlmRobertaForCausalLMTable(c),
    basePrefix: "roberta",
    ignoreUnexpected: EMBEDDING_BUFFERS,
    build: (b, w) => new XLMRobertaForCausalLM(b, c, w),
  }),
  camembert: (c: BertConfigLike) => ({
    table: camembertForCausalLMTable(c),
    basePrefix: "roberta",
    ignoreUnexpected: EMBEDDING_BUFFERS,
    build: (b, w) => new CamembertForCausalLM(b, c, w),
  }),
  "bert-generation": (c: BertConfigLike) => ({
    table: bertGenerationDecoderTable(c),
    basePrefix: "bert",
    ignoreUnexpected: EMBEDDING_BUFFERS,
    build: (b, w) => new BertGenerationDecoder(b, c, w),
  }),
  electra: (c: ElectraConfigLike) => ({
    table: electraForCausalLMTable(c),
    basePrefix: "electra",
    ignoreUnexpected: EMBEDDING_BUFFERS,
    build: (b, w) => new ElectraForCausalLM(b, c, w),
  }),
  gpt2: (c: GPT2ConfigLike) => ({
    table: gpt2LMHeadTable(c),
    basePrefix: "transformer",
    ignoreUnexpected: GPT2_IGNORE_UNEXPECTED,
    build: (b, w) => new GPT2LMHeadModel(b, c, w),
  }),
};

/** Encoder `model_type`s `EncoderDecoderModel` supports. */
export const ENCODER_TYPES: readonly string[] = Object.keys(ENCODERS);
/** Decoder `model_type`s `EncoderDecoderModel` supports. */
export const DECODER_TYPES: readonly string[] = Object.keys(DECODERS);

/** Checks a sub-config dict (HF's snake_case, defaults filled) names a supported `model_type`. */
export function checkSupported(
  cfg: Record<string, unknown>,
  role: "encoder" | "decoder",
): SubConfig {
  const type = cfg.model_type;
  const supported = role === "encoder" ? ENCODER_TYPES : DECODER_TYPES;
  if (
    typeof type !== "string" || !supported.includes(type) ||
    !Object.hasOwn(role === "encoder" ? ENCODERS : DECODERS, type)
  ) {
    throw new ModelLoadError(
      `config.${role}.model_type "${String(type)}" is not supported as ${role} (expected one of ${
        supported.join(", ")
      })`,
    );
  }
  checkModelSize(cfg, `config.${role}`); // before any table or tensor is built
  return cfg as SubConfig;
}

/** Width of a sub-model's output (`hidden_size`, GPT-2's `n_embd`, DistilBERT's `dim`). */
export function hiddenSizeOf(cfg: SubConfig): number {
  if (cfg.model_type === "gpt2") return cfg.n_embd as number;
  if (cfg.model_type === "distilbert") return cfg.dim as number;
  return cfg.hidden_size as number;
}

/** The encoder architecture of `cfg` (HF's `AutoModel`). */
export function encoderArch<T>(cfg: SubConfig): EncoderArch<T> {
  if (!Object.hasOwn(ENCODERS, cfg.model_type)) checkSupported(cfg, "encoder");
  return ENCODERS[cfg.model_type](cfg) as unknown as EncoderArch<T>;
}

/** The decoder architecture of `cfg` (HF's `AutoModelForCausalLM`). */
export function decoderArch<T>(cfg: SubConfig): DecoderArch<T> {
  if (!Object.hasOwn(DECODERS, cfg.model_type)) checkSupported(cfg, "decoder");
  return DECODERS[cfg.model_type](cfg) as unknown as DecoderArch<T>;
}
