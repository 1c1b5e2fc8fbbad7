/**
 * The checkpoint side of `EncoderDecoderModel`: the config it accepts, the one key table of the
 * composite (`encoder.*` + `decoder.*` + `enc_to_dec_proj.*`, `tie_encoder_decoder`), how
 * `fromEncoderDecoderPretrained` maps two part checkpoints onto that table and reports per part,
 * and which weight files `savePretrained` writes and replaces.
 *
 * @module
 */
import { AutoConfig, EncoderDecoderConfig, PretrainedConfig } from "@encdec/config";
import type { Backend } from "../backend.ts";
import type { Tensor } from "../tensor.ts";
import { saveShardedSafetensors, saveShardedTorch, stateDictOrder } from "../weights/mod.ts";
import {
  type DecoderArch,
  decoderArch,
  type EncoderArch,
  encoderArch,
  hiddenSizeOf,
  type SubConfig,
} from "./_registry.ts";
import { type LoadingInfo, type ParamSpec, type ParamView, prefixed, row } from "./key_table.ts";
import { ModelLoadError } from "./errors.ts";
import type { EncoderDecoderConfigInput, PartLoadingInfo } from "./outputs.ts";

/** `c` as an `EncoderDecoderConfig` (a `config.json` dict is parsed); other configs fail. */
export function toConfig(c: EncoderDecoderConfigInput | PretrainedConfig): EncoderDecoderConfig {
  if (c instanceof EncoderDecoderConfig) return c;
  const parsed = c instanceof PretrainedConfig ? c : AutoConfig.fromJSON(c, { file: "config" });
  if (!(parsed instanceof EncoderDecoderConfig)) {
    throw new ModelLoadError(
      `config: model_type "${parsed.modelType}" is not "encoder-decoder"; expected an EncoderDecoderConfig`,
    );
  }
  return parsed;
}

/** The composite's key table and the part architectures it is made of. */
export interface CompositeTable {
  /** The encoder architecture (keys relative to `encoder.`). */
  ea: EncoderArch<unknown>;
  /** The decoder architecture (keys relative to `decoder.`). */
  da: DecoderArch<unknown>;
  /** Every key of the model, tied keys marked with `tiedTo`. */
  table: ParamSpec[];
  /** Whether the model has `enc_to_dec_proj` (encoder and decoder widths differ). */
  needProj: boolean;
}

/**
 * One key table for the whole model: `encoder.*` + `decoder.*` (+ `enc_to_dec_proj.*`), with
 * `tie_encoder_decoder` ties. `enc` / `dec` are the checked snake_case sub-configs.
 */
export function compositeTable(
  config: EncoderDecoderConfig,
  enc: SubConfig,
  dec: SubConfig,
): CompositeTable {
  const ea = encoderArch<unknown>(enc);
  const da = decoderArch<unknown>(dec);
  const encH = hiddenSizeOf(enc), decH = hiddenSizeOf(dec);
  const table = [...prefixed("encoder", ea.table), ...prefixed("decoder", da.table)];
  const needProj = encH !== decH && (dec.cross_attention_hidden_size ?? null) === null;
  if (needProj) {
    const std = (dec.initializer_range as number | undefined) ?? 0.02;
    table.push(...row.linear("enc_to_dec_proj", decH, encH, std));
  }
  if (config.tieEncoderDecoder) {
    // HF's _tie_encoder_decoder_weights: encoder.K is decoder.<base>.K where both exist.
    const decKeys = new Map(table.map((s) => [s.key, s]));
    for (const s of table) {
      if (!s.key.startsWith("encoder.")) continue;
      const target = decKeys.get(`decoder.${da.basePrefix}.${s.key.slice("encoder.".length)}`);
      if (target && target.shape.join() === s.shape.join()) s.tiedTo = target.key;
    }
  }
  return { ea, da, table, needProj };
}

/**
 * The checkpoint keys HF ignores silently when they are unexpected (buffers such as
 * `encoder.embeddings.position_ids`, GPT-2's `attn.bias`), as patterns over composite keys.
 */
export function ignoredUnexpected(ea: EncoderArch<unknown>, da: DecoderArch<unknown>): RegExp[] {
  return [
    ...ea.ignoreUnexpected.map((re) => new RegExp(`^encoder\\..*${re.source}`)),
    ...da.ignoreUnexpected.map((re) => new RegExp(`^decoder\\..*${re.source}`)),
  ];
}

/** Two part checkpoints as one state dict of the composite, and how to report them per part. */
export interface MergedParts {
  /** `encoder.*` / `decoder.*` model keys → tensors. */
  stateDict: Map<string, Tensor>;
  /** Model keys → the names they had in their part checkpoint. */
  names: Map<string, string>;
  /** Base prefix (`"bert."`) added to the encoder checkpoint's keys, or `""`. */
  encStrip: string;
  /** Base prefix added to the decoder checkpoint's keys, or `""`. */
  decStrip: string;
}

/**
 * HF's prefix handling in `from_encoder_decoder_pretrained`: a head checkpoint loses its base
 * prefix in a base model; a base checkpoint gains it in a head model. `names` maps model keys
 * back to checkpoint names.
 */
export function mergePartCheckpoints(
  encSd: Map<string, Tensor>,
  ea: EncoderArch<unknown>,
  decSd: Map<string, Tensor>,
  da: DecoderArch<unknown>,
): MergedParts {
  const stateDict = new Map<string, Tensor>();
  const names = new Map<string, string>();
  const mapPart = (
    part: "encoder" | "decoder",
    sd: Map<string, Tensor>,
    table: ParamSpec[],
    base: string,
  ) => {
    const p = `${base}.`;
    const ckptHasPrefix = [...sd.keys()].some((k) => k.startsWith(p));
    const modelHasPrefix = table.some((s) => s.key.startsWith(p));
    for (const [k, t] of sd) {
      let mk = k;
      if (ckptHasPrefix && !modelHasPrefix && k.startsWith(p)) mk = k.slice(p.length);
      if (!ckptHasPrefix && modelHasPrefix) mk = p + k;
      stateDict.set(`${part}.${mk}`, t);
      names.set(`${part}.${mk}`, k);
    }
    return !ckptHasPrefix && modelHasPrefix ? p : "";
  };
  const encStrip = mapPart("encoder", encSd, ea.table, ea.basePrefix);
  const decStrip = mapPart("decoder", decSd, da.table, da.basePrefix);
  return { stateDict, names, encStrip, decStrip };
}

/**
 * The composite's `loadingInfo` split per part, in each part checkpoint's own key names (what
 * `AutoModel` / `AutoModelForCausalLM.from_pretrained` of that part would report).
 */
export function partLoadingInfo(info: LoadingInfo, merged: MergedParts): PartLoadingInfo {
  const { names } = merged;
  const part = (name: "encoder" | "decoder", strip: string): LoadingInfo => {
    const rel = (k: string) => {
      const r = k.slice(name.length + 1);
      return strip && r.startsWith(strip) ? r.slice(strip.length) : r;
    };
    const missingKeys = info.missingKeys.filter((k) => k.startsWith(`${name}.`)).map(rel)
      .sort();
    return {
      missingKeys,
      unexpectedKeys: info.unexpectedKeys.filter((k) => k.startsWith(`${name}.`))
        .map((k) => names.get(k) ?? rel(k)).sort(),
      mismatchedKeys: [],
      newlyInitialized: [...missingKeys],
    };
  };
  return {
    encoder: part("encoder", merged.encStrip),
    decoder: part("decoder", merged.decStrip),
  };
}

/**
 * The writer of `savePretrained`'s weight files into a staging directory: `model.safetensors`
 * from `sd` (tied weights once), or with `safeSerialization: false` a `pytorch_model.bin` holding
 * every key of `keyTable`; sharded past `maxShardSize` (default `"5GB"`).
 */
export function weightsWriter(
  keyTable: readonly ParamSpec[],
  sd: Map<string, Tensor>,
  options: { safeSerialization?: boolean; maxShardSize?: number | string },
): (staging: string) => Promise<unknown> {
  const maxShardSize = options.maxShardSize ?? "5GB";
  let write = (staging: string) => saveShardedSafetensors(staging, sd, { maxShardSize });
  if (options.safeSerialization === false) {
    // HF's .bin is the whole state_dict(), in torch's module order; a tied key is its root's
    // tensor (one storage).
    const byKey = new Map(keyTable.map((s) => [s.key, s]));
    const full = new Map<string, Tensor>();
    for (const key of stateDictOrder([...byKey.keys()])) {
      let root = byKey.get(key)!;
      while (root.tiedTo !== undefined) root = byKey.get(root.tiedTo)!;
      full.set(key, sd.get(root.key)!);
    }
    write = (staging) => saveShardedTorch(staging, full, { maxShardSize });
  }
  return write;
}

/** Weights of an earlier save (single file, shards, index; either format), which are not kept. */
export function isWeightFile(name: string): boolean {
  return /^(?:model|pytorch_model)(?:-\d{5}-of-\d{5})?\.(?:safetensors|bin)(?:\.index\.json)?$/
    .test(name);
}

/**
 * The encoder output `[batch, src, encoder width]` as the decoder's cross-attention reads it:
 * through `enc_to_dec_proj` when the model has one (`needProj`: the widths differ), else as is.
 * `w` views the composite's root keys.
 */
export function projectEncoderOutput<T>(
  b: Backend<T>,
  w: ParamView<T>,
  needProj: boolean,
  h: T,
): T {
  return needProj ? b.linear(h, w.get("enc_to_dec_proj.weight"), w.get("enc_to_dec_proj.bias")) : h;
}
