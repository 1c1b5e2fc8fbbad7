/**
 * `EncoderDecoderModel.forward` in its parts: host-side input checks, the decoder inputs made
 * from `labels` (HF's shift right and pad mask), the device graph (encoder → decoder → loss) and
 * reading the outputs back. The onnxruntime path reuses the host-side parts.
 *
 * @module
 */
import type { Backend, RandomSource } from "../backend.ts";
import { GradTensor } from "../autograd/backend.ts";
import { Tensor } from "../tensor.ts";
import { EncoderDecoderCache } from "./cache.ts";
import type { DecoderStack, EncoderStack, Ids, Mask } from "./stacks.ts";
import { scoped } from "./_layers.ts";
import { ModelInputError } from "./errors.ts";
import {
  sameBatch,
  shiftTokensRight,
  toGlobalAttentionMask,
  toIds,
  toLabels,
  toMask,
} from "./_inputs.ts";
import type { Seq2SeqForwardArgs, Seq2SeqLMOutput } from "./outputs.ts";

/** The encoder's host inputs, checked against each other. */
export interface EncoderInputs {
  /** `[batch, srcLen]` ids. */
  inputIds?: Ids;
  /** `[batch, srcLen]` 0/1. */
  attentionMask?: Mask;
  /** `[batch, srcLen]` 0/1 global-attention tokens (Longformer encoders). */
  globalAttentionMask?: Mask;
}

/**
 * Reads and checks `inputIds` / `attentionMask` (same batch, same columns) and the
 * `globalAttentionMask` for `encoder`.
 */
export function encoderInputs(
  args: Seq2SeqForwardArgs,
  encoder?: EncoderStack<unknown>,
): EncoderInputs {
  const inputIds = args.inputIds !== undefined ? toIds(args.inputIds, "input_ids") : undefined;
  const attentionMask = args.attentionMask !== undefined
    ? toMask(args.attentionMask, "attention_mask")
    : undefined;
  if (inputIds && attentionMask) {
    sameBatch(inputIds.dims[0], attentionMask.dims[0], "input_ids vs attention_mask");
    if (inputIds.dims[1] !== attentionMask.dims[1]) {
      throw new ModelInputError(
        `attention_mask has ${attentionMask.dims[1]} columns, input_ids has ${inputIds.dims[1]}`,
      );
    }
  }
  const globalAttentionMask = args.globalAttentionMask !== undefined && encoder
    ? toGlobalAttentionMask(args.globalAttentionMask, encoder, inputIds?.dims)
    : undefined;
  return { inputIds, attentionMask, globalAttentionMask };
}

/** The decoder's host inputs: given, or made from `labels`. */
export interface DecoderInputs {
  /** `[batch, tgtLen]` targets (-100 ignored). */
  labels?: Ids;
  /** `[batch, tgtLen]` decoder ids (the labels shifted right when not given). */
  decoderInputIds?: Ids;
  /** `[batch, past + tgtLen]` 0/1 (`decoder_input_ids != pad` when made from labels). */
  decoderAttentionMask?: Mask;
}

/** The ids and sizes the decoder inputs are made with. */
export interface ShiftConfig {
  /** Size of the logits' last axis (labels must be below it). */
  vocabSize: number;
  /** `config.pad_token_id`. */
  padTokenId: number | null;
  /** `config.decoder_start_token_id`. */
  decoderStartTokenId: number | null;
}

/**
 * HF's decoder inputs: with `labels` and no decoder inputs, `decoder_input_ids` are the labels
 * shifted right (start token first, -100 → pad) and `decoder_attention_mask` is
 * `decoder_input_ids != pad`; shapes are checked against the encoder's batch `encBatch`.
 */
export function decoderInputs(
  args: Seq2SeqForwardArgs,
  cfg: ShiftConfig,
  encBatch: number,
): DecoderInputs {
  const labels = args.labels !== undefined ? toLabels(args.labels, cfg.vocabSize) : undefined;
  let decIds = args.decoderInputIds !== undefined
    ? toIds(args.decoderInputIds, "decoder_input_ids")
    : undefined;
  let decMask = args.decoderAttentionMask !== undefined
    ? toMask(args.decoderAttentionMask, "decoder_attention_mask")
    : undefined;
  if (labels && !decIds && !args.decoderInputsEmbeds) {
    decIds = shiftTokensRight(labels, cfg.padTokenId, cfg.decoderStartTokenId);
    if (!decMask) {
      const pad = cfg.padTokenId!;
      const data = Float32Array.from(decIds.data, (v) => v === pad ? 0 : 1);
      decMask = new Tensor("float32", data, decIds.dims);
    }
  }
  if (!decIds && !args.decoderInputsEmbeds) {
    throw new ModelInputError("forward: give decoderInputIds, decoderInputsEmbeds or labels");
  }
  const [decBatch, t] = decIds ? decIds.dims : args.decoderInputsEmbeds!.dims;
  sameBatch(decBatch, encBatch, "decoder inputs vs encoder inputs");
  if (decMask) sameBatch(decMask.dims[0], decBatch, "decoder_attention_mask vs decoder inputs");
  if (labels) {
    sameBatch(labels.dims[0], decBatch, "labels vs decoder inputs");
    if (labels.dims[1] !== t) {
      throw new ModelInputError(`labels have ${labels.dims[1]} columns, decoder inputs have ${t}`);
    }
  }
  return { labels, decoderInputIds: decIds, decoderAttentionMask: decMask };
}

/** The batch the encoder side has: encoder outputs given, ids, embeddings, or the cache's. */
export function encoderBatch(args: Seq2SeqForwardArgs, enc: EncoderInputs): number {
  const batch = args.encoderOutputs?.lastHiddenState.dims[0] ?? enc.inputIds?.dims[0] ??
    args.inputsEmbeds?.dims[0] ??
    (args.pastKeyValues && args.pastKeyValues.cross.length > 0
      ? args.pastKeyValues.batchSize
      : undefined);
  if (batch === undefined) {
    throw new ModelInputError("forward: give inputIds, inputsEmbeds or encoderOutputs");
  }
  if (enc.attentionMask) {
    sameBatch(enc.attentionMask.dims[0], batch, "attention_mask vs encoder output");
  }
  return batch;
}

/** What the device graph needs from the model. */
export interface ForwardParts<T> {
  /** The device. */
  backend: Backend<T>;
  /** The encoder stack. */
  encoder: EncoderStack<T>;
  /** The decoder stack with LM head. */
  decoder: DecoderStack<T>;
  /** `enc_to_dec_proj` (identity when the widths agree). */
  project: (h: T) => T;
  /** The dropout generator in training mode, else undefined. */
  dropout?: RandomSource;
  /** Size of the logits' last axis. */
  vocabSize: number;
}

/** Device handles the graph leaves: what is read back, and the cache. */
interface ForwardHandles<T> {
  loss?: T;
  enc?: { last: T; hidden?: T[]; attn?: T[] };
  logits: T;
  decHidden?: T[];
  decAttn?: T[];
  crossAttn?: T[];
  self?: ReturnType<DecoderStack<T>["forward"]>["self"];
  cross?: ReturnType<DecoderStack<T>["forward"]>["cross"];
}

/**
 * Encoder → decoder → loss on the device, in a backend scope: only what is read back or cached
 * leaves it (without `useCache`, no K/V).
 */
function runGraph<T>(
  m: ForwardParts<T>,
  args: Seq2SeqForwardArgs,
  enc: EncoderInputs,
  dec: DecoderInputs,
): ForwardHandles<T> {
  const b = m.backend;
  const useCache = args.useCache !== false;
  return scoped(b, () => {
    let e: ForwardHandles<T>["enc"];
    if (args.encoderOutputs) {
      e = { last: b.upload(args.encoderOutputs.lastHiddenState) };
    } else if (enc.inputIds || args.inputsEmbeds) {
      const o = m.encoder.forward({
        inputIds: enc.inputIds,
        inputsEmbeds: args.inputsEmbeds ? b.upload(args.inputsEmbeds) : undefined,
        attentionMask: enc.attentionMask,
        globalAttentionMask: enc.globalAttentionMask,
        dropout: m.dropout,
        outputHiddenStates: args.outputHiddenStates,
        outputAttentions: args.outputAttentions,
      });
      e = { last: o.lastHiddenState, hidden: o.hiddenStates, attn: o.attentions };
    }
    const d = m.decoder.forward({
      inputIds: dec.decoderInputIds,
      inputsEmbeds: args.decoderInputsEmbeds ? b.upload(args.decoderInputsEmbeds) : undefined,
      attentionMask: dec.decoderAttentionMask,
      encoderHiddenStates: e ? m.project(e.last) : undefined,
      encoderAttentionMask: enc.attentionMask,
      past: (args.pastKeyValues ?? null) as never,
      useCache,
      dropout: m.dropout,
      outputHiddenStates: args.outputHiddenStates,
      outputAttentions: args.outputAttentions,
    });
    const loss = dec.labels
      ? b.crossEntropy(
        b.reshape(d.logits, [-1, m.vocabSize]), // [b * t, V]
        b.upload(dec.labels.reshape([-1])),
        { ignoreIndex: -100 },
      )
      : undefined;
    return {
      loss,
      enc: e,
      logits: d.logits,
      decHidden: d.hiddenStates,
      decAttn: d.attentions,
      crossAttn: d.crossAttentions,
      self: useCache ? d.self : undefined,
      cross: useCache ? d.cross : undefined,
    };
  });
}

/** Reads the graph's outputs back, frees them, and wraps the kept K/V as the cache. */
async function readOutputs<T>(
  b: Backend<T>,
  g: ForwardHandles<T>,
  args: Seq2SeqForwardArgs,
): Promise<Seq2SeqLMOutput> {
  const readAll = (xs?: T[]) => xs ? Promise.all(xs.map((x) => b.read(x))) : undefined;
  const l = g.loss === undefined ? undefined : await b.read(g.loss);
  const given = args.encoderOutputs;
  const out: Seq2SeqLMOutput = {
    loss: l === undefined || l instanceof GradTensor ? l : new GradTensor(l, null),
    logits: await b.read(g.logits),
    decoderHiddenStates: await readAll(g.decHidden),
    decoderAttentions: await readAll(g.decAttn),
    crossAttentions: await readAll(g.crossAttn),
    encoderLastHiddenState: given?.lastHiddenState ??
      (g.enc ? await b.read(g.enc.last) : undefined),
    encoderHiddenStates: given?.hiddenStates ?? await readAll(g.enc?.hidden),
    encoderAttentions: given?.attentions ?? await readAll(g.enc?.attn),
  };
  // Everything read back is freed; only the cache stays on the device.
  const read = [g.loss, g.logits, ...g.decHidden ?? [], ...g.decAttn ?? [], ...g.crossAttn ?? []];
  read.push(g.enc?.last, ...g.enc?.hidden ?? [], ...g.enc?.attn ?? []);
  for (const x of read) if (x !== undefined) b.dispose(x);
  if (g.self) out.pastKeyValues = new EncoderDecoderCache(b, g.self, g.cross ?? []);
  return out;
}

/**
 * HF's `EncoderDecoderModel.forward` on a backend: inputs checked on the host, decoder inputs
 * made from `labels` when absent, one device graph, outputs read back.
 */
export async function forwardOnBackend<T>(
  m: ForwardParts<T>,
  args: Seq2SeqForwardArgs,
  shift: ShiftConfig,
): Promise<Seq2SeqLMOutput> {
  const enc = encoderInputs(args, m.encoder as EncoderStack<unknown>);
  const dec = decoderInputs(args, shift, encoderBatch(args, enc));
  return await readOutputs(m.backend, runGraph(m, args, enc, dec), args);
}
