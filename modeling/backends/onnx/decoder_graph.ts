/**
 * Decoder graphs of an encoder-decoder checkpoint (BERT, RoBERTa, BertGeneration or GPT-2 decoder
 * with cross-attention), built as ONNX from the checkpoint tensors (HF keys under `decoder.`):
 *
 * - the cross-K/V graph: `encoder_hidden_states` `[batch, src_len, enc_hidden]` →
 *   `cross_key_{i}`, `cross_value_{i}` `[batch, heads, src_len, head_dim]` (run once per input);
 * - the decoder-step graph: `input_ids` `[batch, tgt_len]`, `decoder_attention_mask`
 *   `[batch, past_len + tgt_len]`, `cache_rows` `[batch]` (rows of the past to keep: beam
 *   reordering), `past_key_{i}` / `past_value_{i}` `[cache_batch, heads, past_len, head_dim]`,
 *   the cross K/V `cross_key_{i}` / `cross_value_{i}` `[cross_batch, heads, src_len, head_dim]`
 *   and their `encoder_attention_mask` `[cross_batch, src_len]` → `logits`
 *   `[batch, tgt_len, vocab]` and `present_key_{i}` / `present_value_{i}`
 *   `[batch, heads, past_len + tgt_len, head_dim]`. `cross_batch` must divide `batch`: the rows
 *   are `cross_batch` groups of `batch / cross_batch` consecutive rows, group g attending to
 *   cross row g (one row per row, or the beams of one source sharing its K/V). Cross-attention
 *   has no causal mask, so a group's queries are attended as one sequence of
 *   `(batch / cross_batch) * tgt_len` positions: exact, with no copy of the K/V per beam.
 *
 * @module
 */
import { type EncoderDecoderConfig, GPT2Config } from "@encdec/config";
import {
  arangePositions,
  bertCrossKV,
  bertEmbeddings,
  bertLayer,
  type BertSpec,
  bertSpec,
  dimOf,
  wordEmbeddings,
} from "./_bert_blocks.ts";
import type { Checkpoint } from "./_checkpoint.ts";
import { GraphBuilder, OnnxModelError, type OnnxPrecision } from "./_graph.ts";
import type { GraphSpec } from "./_onnx_proto.ts";

/** GPT-2 decoder facts the graphs need. */
interface Gpt2Spec {
  kind: "gpt2";
  base: string;
  hidden: number;
  heads: number;
  headDim: number;
  layers: number;
  inner: number;
  act: string;
  eps: number;
  vocab: number;
  maxPos: number;
  scale: boolean;
  scaleByLayer: boolean;
}

/** The shape of a decoder's caches, as the runtime wrapper needs it. */
export interface DecoderLayout {
  /** Decoder layers (one self and one cross K/V pair each). */
  layers: number;
  /** Attention heads. */
  heads: number;
  /** Hidden size per head. */
  headDim: number;
  /** Vocabulary size (last axis of `logits`). */
  vocab: number;
  /** Position embeddings (longest decoder sequence). */
  maxPositions: number;
}

type DecoderSpec = BertSpec | Gpt2Spec;

function decoderSpec(config: EncoderDecoderConfig): DecoderSpec {
  const d = config.decoder;
  if (d instanceof GPT2Config) {
    return {
      kind: "gpt2",
      base: "decoder.transformer",
      hidden: d.nEmbd,
      heads: d.nHead,
      headDim: d.nEmbd / d.nHead,
      layers: d.nLayer,
      inner: d.innerSize,
      act: d.activationFunction,
      eps: d.layerNormEpsilon,
      vocab: d.vocabSize,
      maxPos: d.nPositions,
      scale: d.scaleAttnWeights,
      scaleByLayer: d.scaleAttnByInverseLayerIdx,
    };
  }
  const kind = bertSpec(d, "", "decoder").kind;
  const base = kind === "roberta" ? "decoder.roberta" : "decoder.bert";
  const s = bertSpec(d, base, "decoder");
  if (!d.addCrossAttention) {
    throw new OnnxModelError(
      `decoder.add_cross_attention is false; expected a decoder with cross-attention`,
    );
  }
  return s;
}

/** Cache layout of the decoder of `config`. */
export function decoderLayout(config: EncoderDecoderConfig): DecoderLayout {
  const s = decoderSpec(config);
  return {
    layers: s.layers,
    heads: s.heads,
    headDim: s.headDim,
    vocab: s.vocab,
    maxPositions: s.kind === "roberta" ? s.maxPos - s.pad - 1 : s.maxPos,
  };
}

/**
 * Builds the cross-K/V graph: encoder states (through `enc_to_dec_proj` when the checkpoint has
 * one) → per-layer cross-attention keys and values.
 *
 * @example
 * ```ts ignore
 * import { buildCrossKVGraph } from "./decoder_graph.ts";
 * const graph = buildCrossKVGraph(config, checkpoint, "fp32");
 * graph.outputs.map((o) => o.name); // ["cross_key_0", "cross_value_0", ...]
 * ```
 */
export function buildCrossKVGraph(
  config: EncoderDecoderConfig,
  ck: Checkpoint,
  precision: OnnxPrecision,
): GraphSpec {
  const s = decoderSpec(config);
  const encHidden = config.encoder.hiddenSize;
  const g = new GraphBuilder("encdec_cross_kv", precision);
  const encIn = g.input("encoder_hidden_states", "float32", ["batch", "src_len", encHidden]);
  g.setRows(encIn);
  let enc = g.flatten(encIn, encHidden); // [B * S, E_enc]
  if (ck.has("enc_to_dec_proj.weight")) {
    const p = ck.linear("enc_to_dec_proj", encHidden, s.hidden);
    enc = g.linear(enc, p, "enc_to_dec_proj");
  } else if (encHidden !== s.hidden) {
    throw new OnnxModelError(
      `${ck.source}: encoder hidden size ${encHidden} differs from the decoder's ${s.hidden} ` +
        `and there is no "enc_to_dec_proj.weight"`,
    );
  }
  const dims = ["batch", s.heads, "src_len", s.headDim];
  for (let i = 0; i < s.layers; i++) {
    let k: string, v: string;
    if (s.kind === "gpt2") {
      const E = s.hidden;
      const c = ck.conv1d(`${s.base}.h.${i}.crossattention.c_attn`, E, 2 * E);
      const kv = g.linear(enc, c, `l${i}_xkv`);
      [k, v] = g.opN("Split", [kv, g.constI([E, E])], 2, { axis: -1 })
        .map((t) => g.splitHeads(t, s.heads, s.headDim));
    } else {
      [k, v] = bertCrossKV(g, ck, s, i, enc);
    }
    g.output(`cross_key_${i}`, k, "float32", dims);
    g.output(`cross_value_${i}`, v, "float32", dims);
  }
  return g.build();
}

/**
 * Builds the decoder-step graph (see the module doc for its inputs and outputs).
 *
 * @example
 * ```ts ignore
 * import { buildDecoderStepGraph } from "./decoder_graph.ts";
 * const graph = buildDecoderStepGraph(config, checkpoint, "fp32");
 * graph.outputs[0].name; // "logits"
 * ```
 */
export function buildDecoderStepGraph(
  config: EncoderDecoderConfig,
  ck: Checkpoint,
  precision: OnnxPrecision,
): GraphSpec {
  const s = decoderSpec(config);
  const g = new GraphBuilder("encdec_decoder_step", precision);
  const ids = g.input("input_ids", "int64", ["batch", "tgt_len"]);
  const decMask = g.input("decoder_attention_mask", "int64", ["batch", "total_len"]);
  const encMask = g.input("encoder_attention_mask", "int64", ["cross_batch", "src_len"]);
  const rows = g.input("cache_rows", "int64", ["batch"]);
  g.setRows(ids);
  const pastDims = ["cache_batch", s.heads, "past_len", s.headDim];
  const crossDims = ["cross_batch", s.heads, "src_len", s.headDim];
  const past: { k: string; v: string }[] = [];
  const cross: { k: string; v: string }[] = [];
  for (let i = 0; i < s.layers; i++) {
    const pk = g.input(`past_key_${i}`, "float32", pastDims);
    const pv = g.input(`past_value_${i}`, "float32", pastDims);
    // Beam reordering: keep rows `cache_rows` of the past. [B, H, P, D]
    past.push({
      k: g.op("Gather", [pk, rows], { axis: 0 }),
      v: g.op("Gather", [pv, rows], { axis: 0 }),
    });
    cross.push({
      k: g.input(`cross_key_${i}`, "float32", crossDims),
      v: g.input(`cross_value_${i}`, "float32", crossDims),
    });
  }
  const pastLen = dimOf(g, past[0].k, 2);
  // The rows come in `cross_batch` groups of consecutive rows, each attending to one cross K/V
  // row (`[1]` int64): cross_batch = batch for one K/V row per row.
  const groups = g.op("Shape", [cross[0].k], { start: 0, end: 1 });

  // Self-attention bias [B, 1, T, P+T]: causal (key pos ≤ query pos) and the decoder mask.
  const qPos = g.op("Unsqueeze", [arangePositions(g, ids, pastLen), g.constI([1])]); // [T, 1]
  const kPos = g.op("Range", [g.constI(0), dimOf(g, decMask, 1), g.constI(1)]); // [P+T]
  const causal = g.op("Cast", [g.op("LessOrEqual", [kPos, qPos])], { to: 1 }); // [T, P+T]
  const decMaskF = g.op("Unsqueeze", [g.op("Cast", [decMask], { to: 1 }), g.constI([1, 2])]);
  // HF quirk kept for parity: BertGeneration's decoder builds no self-attention mask at all
  // (neither causal nor padding) when called with use_cache, which its config turns on.
  const noSelfMask = s.kind === "bert-generation" &&
    (config.decoder as { useCache?: boolean }).useCache === true;
  const selfBias = noSelfMask ? null : g.maskBias(g.op("Mul", [causal, decMaskF]));
  const crossBias = g.op("Unsqueeze", [
    g.maskBias(g.op("Cast", [encMask], { to: 1 })),
    g.constI([1, 2]),
  ]); // [G, 1, 1, S]

  const presents: { k: string; v: string }[] = [];
  let logits: string;
  if (s.kind === "gpt2") {
    logits = gpt2Decoder(
      g,
      ck,
      s,
      ids,
      pastLen,
      past,
      cross,
      selfBias,
      crossBias,
      groups,
      presents,
      config.decoder.tieWordEmbeddings,
    );
  } else {
    let h = bertEmbeddings(g, ck, s, ids, pastLen); // [B * T, E]
    for (let i = 0; i < s.layers; i++) {
      const r = bertLayer(g, ck, s, i, h, selfBias, {
        past: past[i],
        cross: { ...cross[i], bias: crossBias, groups },
      });
      h = r.out;
      presents.push({ k: r.k, v: r.v });
    }
    logits = bertLmHead(g, ck, s, config, h);
  }
  g.output("logits", logits, "float32", ["batch", "tgt_len", s.vocab]);
  const presentDims = ["batch", s.heads, "total_len", s.headDim];
  presents.forEach(({ k, v }, i) => {
    g.output(`present_key_${i}`, k, "float32", presentDims);
    g.output(`present_value_${i}`, v, "float32", presentDims);
  });
  return g.build();
}

/** The LM head of a BERT-family decoder: rows `[B * T, E]` → `[B, T, V]`. */
function bertLmHead(
  g: GraphBuilder,
  ck: Checkpoint,
  s: BertSpec,
  config: EncoderDecoderConfig,
  h: string,
): string {
  const E = s.hidden;
  const tied = config.decoder.tieWordEmbeddings;
  const head = s.kind === "bert" ? "decoder.cls.predictions" : "decoder.lm_head";
  if (s.kind !== "bert-generation") {
    const t = s.kind === "bert" ? `${head}.transform` : head;
    const dense = ck.linear(`${t}.dense`, E, E);
    const ln = s.kind === "bert" ? `${t}.LayerNorm` : `${t}.layer_norm`;
    // BERT's transform uses hidden_act; RobertaLMHead always uses the erf GELU.
    h = g.activation(
      g.linear(h, dense, "lm_transform"),
      s.kind === "bert" ? s.act : "gelu",
    );
    h = g.layerNorm(h, ck.get(`${ln}.weight`, [E]), ck.get(`${ln}.bias`, [E]), s.eps, "lm_ln");
  }
  const w = tied
    ? wordEmbeddings(g, ck, s)
    : g.matrix(ck.matrix(`${head}.decoder.weight`, s.vocab, E), "lm_head");
  const bias = g.vector(ck.get([`${head}.bias`, `${head}.decoder.bias`], [s.vocab]), "lm_bias");
  return g.projectTransposed(h, w, bias, s.vocab);
}

/** GPT-2 blocks (pre-LayerNorm, Conv1D weights, ln_cross_attn) and the tied LM head. */
function gpt2Decoder(
  g: GraphBuilder,
  ck: Checkpoint,
  s: Gpt2Spec,
  ids: string,
  pastLen: string,
  past: { k: string; v: string }[],
  cross: { k: string; v: string }[],
  selfBias: string | null,
  crossBias: string,
  groups: string,
  presents: { k: string; v: string }[],
  tied: boolean,
): string {
  const E = s.hidden;
  const H = s.heads;
  const D = s.headDim;
  const ln = (x: string, key: string, hint: string) =>
    g.layerNorm(x, ck.get(`${key}.weight`, [E]), ck.get(`${key}.bias`, [E]), s.eps, hint);
  const wteM = ck.matrix(`${s.base}.wte.weight`, s.vocab, E);
  const wte = g.matrix(wteM, "wte");
  const wpe = g.matrix(ck.matrix(`${s.base}.wpe.weight`, s.maxPos, E), "wpe");
  let h = g.flatten(
    g.op("Add", [
      g.op("Gather", [wte, ids]),
      g.op("Gather", [wpe, arangePositions(g, ids, pastLen)]),
    ]),
    E,
  ); // [B * T, E]
  for (let i = 0; i < s.layers; i++) {
    const p = `${s.base}.h.${i}`;
    const divisors = [...(s.scale ? [Math.sqrt(D)] : []), ...(s.scaleByLayer ? [i + 1] : [])];
    const qkvW = ck.conv1d(`${p}.attn.c_attn`, E, 3 * E);
    const qkv = g.linear(ln(h, `${p}.ln_1`, `l${i}_ln1`), qkvW, `l${i}_qkv`);
    const [q, k, v] = g.opN("Split", [qkv, g.constI([E, E, E])], 3, { axis: -1 })
      .map((t) => g.splitHeads(t, H, D)); // [B, H, T, D]
    const kAll = g.op("Concat", [past[i].k, k], { axis: 2 }); // [B, H, P+T, D]
    const vAll = g.op("Concat", [past[i].v, v], { axis: 2 });
    presents.push({ k: kAll, v: vAll });
    const proj = ck.conv1d(`${p}.attn.c_proj`, E, E);
    const ctx = g.attention(q, kAll, vAll, selfBias, H, D, divisors);
    h = g.op("Add", [g.linear(ctx, proj, `l${i}_attn_out`), h]);

    const qW = ck.conv1d(`${p}.crossattention.q_attn`, E, E);
    const cq = g.splitHeads(
      g.linear(ln(h, `${p}.ln_cross_attn`, `l${i}_lnx`), qW, `l${i}_xq`),
      H,
      D,
      groups,
    ); // [G, H, (B / G) * T, D]
    const cproj = ck.conv1d(`${p}.crossattention.c_proj`, E, E);
    const cctx = g.attention(cq, cross[i].k, cross[i].v, crossBias, H, D, divisors);
    h = g.op("Add", [g.linear(cctx, cproj, `l${i}_xattn_out`), h]);

    const fc = ck.conv1d(`${p}.mlp.c_fc`, E, s.inner);
    const fp = ck.conv1d(`${p}.mlp.c_proj`, s.inner, E);
    const inner = g.activation(
      g.linear(ln(h, `${p}.ln_2`, `l${i}_ln2`), fc, `l${i}_fc`),
      s.act,
    );
    h = g.op("Add", [g.linear(inner, fp, `l${i}_mlp_out`), h]);
  }
  h = ln(h, `${s.base}.ln_f`, "ln_f");
  const head = tied ? wte : g.matrix(ck.matrix("decoder.lm_head.weight", s.vocab, E), "lm_head");
  return g.projectTransposed(h, head, null, s.vocab);
}
