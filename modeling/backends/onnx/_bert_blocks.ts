/**
 * BERT-family graph blocks shared by the encoder and decoder graphs: the architecture spec read
 * from a config, embeddings (BERT token types, RoBERTa padding-aware positions, BertGeneration
 * without token types) and the transformer layer (self-attention with an optional past, optional
 * cross-attention, feed-forward), all in HF's post-LayerNorm order.
 *
 * @module
 */
import { BertConfig, BertGenerationConfig, type ModelConfig, RobertaConfig } from "@encdec/config";
import type { Checkpoint } from "./_checkpoint.ts";
import { type GraphBuilder, OnnxModelError, toFloat32 } from "./_graph.ts";

/** What the graph builders need to know about a BERT-family model. */
export interface BertSpec {
  /** Architecture. */
  kind: "bert" | "roberta" | "bert-generation";
  /** Checkpoint prefix of the base model (`encoder`, `decoder.bert`, `decoder.roberta`). */
  base: string;
  /** Hidden size. */
  hidden: number;
  /** Attention heads. */
  heads: number;
  /** Hidden size per head. */
  headDim: number;
  /** Layers. */
  layers: number;
  /** Feed-forward inner size. */
  intermediate: number;
  /** Activation name (`hidden_act`). */
  act: string;
  /** LayerNorm epsilon. */
  eps: number;
  /** Vocabulary size. */
  vocab: number;
  /** Position embeddings. */
  maxPos: number;
  /** Padding id (RoBERTa positions). */
  pad: number;
  /** Token-type vocabulary (0 = no token types). */
  typeVocab: number;
}

/** Reads a BERT / RoBERTa / BertGeneration config into a `BertSpec`; other configs → error. */
export function bertSpec(cfg: ModelConfig, base: string, role: string): BertSpec {
  let kind: BertSpec["kind"];
  if (cfg instanceof RobertaConfig) kind = "roberta";
  else if (cfg instanceof BertConfig) kind = "bert";
  else if (cfg instanceof BertGenerationConfig) kind = "bert-generation";
  else {
    throw new OnnxModelError(
      `${role}: model_type "${(cfg.constructor as { modelType?: string }).modelType}" is not ` +
        `supported here; expected bert, roberta or bert-generation`,
    );
  }
  if (cfg.positionEmbeddingType !== "absolute") {
    throw new OnnxModelError(
      `${role}.position_embedding_type is "${cfg.positionEmbeddingType}"; the onnx backend ` +
        `supports "absolute" only`,
    );
  }
  if (kind === "roberta" && cfg.padTokenId === null) {
    throw new OnnxModelError(`${role}.pad_token_id is null; RoBERTa positions need it`);
  }
  return {
    kind,
    base,
    hidden: cfg.hiddenSize,
    heads: cfg.numAttentionHeads,
    headDim: cfg.hiddenSize / cfg.numAttentionHeads,
    layers: cfg.numHiddenLayers,
    intermediate: cfg.intermediateSize,
    act: cfg.hiddenAct,
    eps: cfg.layerNormEps,
    vocab: cfg.vocabSize,
    maxPos: cfg.maxPositionEmbeddings,
    pad: cfg.padTokenId ?? 0,
    typeVocab: "typeVocabSize" in cfg ? cfg.typeVocabSize : 0,
  };
}

/** `Squeeze(Shape(x)[axis])`: one dim of `x` as an int64 scalar. */
export function dimOf(g: GraphBuilder, x: string, axis: number): string {
  const s = g.op("Shape", [x], { start: axis, end: axis + 1 });
  return g.op("Squeeze", [s, g.constI([0])]);
}

/**
 * Absolute positions `past .. past + T - 1` (`[T]`) of the new tokens `ids` `[B, T]`.
 * `past` is an int64 scalar value (or `null` for 0).
 */
export function arangePositions(g: GraphBuilder, ids: string, past: string | null): string {
  const start = past ?? g.constI(0);
  const end = g.op("Add", [start, dimOf(g, ids, 1)]);
  return g.op("Range", [start, end, g.constI(1)]);
}

/**
 * Embeddings → rows `[B * T, E]`: word (+ token type 0) + position, then LayerNorm. RoBERTa positions:
 * `(cumsum(ids != pad) + past) * (ids != pad) + pad` as HF's `create_position_ids_from_input_ids`.
 */
export function bertEmbeddings(
  g: GraphBuilder,
  ck: Checkpoint,
  s: BertSpec,
  ids: string,
  past: string | null,
): string {
  const p = `${s.base}.embeddings`;
  let x = g.op("Gather", [wordEmbeddings(g, ck, s), ids]); // [B, T, E]
  if (s.typeVocab > 0) {
    const tt = ck.get(`${p}.token_type_embeddings.weight`, [s.typeVocab, s.hidden]);
    const row0 = toFloat32(tt.dtype, tt.data as ArrayLike<number>).slice(0, s.hidden);
    x = g.op("Add", [x, g.vector(row0, "token_type_0")]);
  }
  let pos: string;
  if (s.kind === "roberta") {
    const notPad = g.op("Not", [g.op("Equal", [ids, g.constI(s.pad)])]);
    const mask = g.op("Cast", [notPad], { to: 7 }); // [B, T] int64
    let cs = g.op("CumSum", [mask, g.constI(1)]);
    if (past) cs = g.op("Add", [cs, past]);
    pos = g.op("Add", [g.op("Mul", [cs, mask]), g.constI(s.pad)]); // [B, T]
  } else {
    pos = arangePositions(g, ids, past); // [T]
  }
  const posW = g.matrix(
    ck.matrix(`${p}.position_embeddings.weight`, s.maxPos, s.hidden),
    "position_embeddings",
  );
  x = g.op("Add", [x, g.op("Gather", [posW, pos])]);
  const rows = g.flatten(x, s.hidden); // [B * T, E]
  return g.layerNorm(
    rows,
    ck.get(`${p}.LayerNorm.weight`, [s.hidden]),
    ck.get(`${p}.LayerNorm.bias`, [s.hidden]),
    s.eps,
    "emb_ln",
  );
}

/** The word-embedding initializer of a BERT-family base (shared with a tied LM head). */
export function wordEmbeddings(g: GraphBuilder, ck: Checkpoint, s: BertSpec): string {
  const word = ck.matrix(`${s.base}.embeddings.word_embeddings.weight`, s.vocab, s.hidden);
  return g.matrix(word, "word_embeddings");
}

/** Options of `bertLayer`: a self-attention past and/or cross-attention inputs. */
export interface BertLayerExtras {
  /** Past self-attention K/V `[B, H, P, D]` to prepend. */
  past?: { k: string; v: string };
  /**
   * Cross-attention K/V `[G, H, S, D]` and mask bias `[G, 1, 1, S]`. Without `groups`, G = B;
   * with it (G as an int64 `[1]` value), the B rows are G groups of B / G consecutive rows that
   * attend to one K/V row each (beams of one source): exact, as cross-attention has no causal
   * mask, so a group's queries are attended as one sequence.
   */
  cross?: { k: string; v: string; bias: string; groups?: string };
  /**
   * Encoder self-attention: the key mask (int32 `[B, T]`) of onnxruntime's fused
   * `MultiHeadAttention`, used instead of `selfBias` (no past, no cross-attention).
   */
  fusedMask?: string;
}

/**
 * One BERT layer on rows `[B * T, E]`; returns the output rows and the full self-attention K/V
 * `[B, H, P+T, D]` (empty names under `fusedMask`, which keeps no K/V).
 */
export function bertLayer(
  g: GraphBuilder,
  ck: Checkpoint,
  s: BertSpec,
  i: number,
  h: string,
  selfBias: string | null,
  extras: BertLayerExtras = {},
): { out: string; k: string; v: string } {
  const p = `${s.base}.encoder.layer.${i}`;
  const E = s.hidden;
  const H = s.heads;
  const D = s.headDim;
  // Self-attention: Q, K, V projections of the rows [B * T, E] (fused when built on the host).
  const qkv = ["query", "key", "value"].map((n) => ck.linear(`${p}.attention.self.${n}`, E, E));
  const [qr, kr, vr] = g.linears(h, qkv, `l${i}_qkv`);
  let ctx: string;
  let kAll = "";
  let vAll = "";
  if (extras.fusedMask && !extras.past && !extras.cross) {
    ctx = g.fusedSelfAttention(qr, kr, vr, extras.fusedMask, H, D);
  } else {
    const [qh, kh, vh] = [qr, kr, vr].map((t) => g.splitHeads(t, H, D)); // [B, H, T, D]
    kAll = kh;
    vAll = vh;
    if (extras.past) {
      kAll = g.op("Concat", [extras.past.k, kh], { axis: 2 }); // [B, H, P+T, D]
      vAll = g.op("Concat", [extras.past.v, vh], { axis: 2 });
    }
    ctx = g.attention(qh, kAll, vAll, selfBias, H, D);
  }
  const o = ck.linear(`${p}.attention.output.dense`, E, E);
  let x = g.addLayerNorm(
    g.linear(ctx, o, `l${i}_attn_out`),
    h,
    ck.get(`${p}.attention.output.LayerNorm.weight`, [E]),
    ck.get(`${p}.attention.output.LayerNorm.bias`, [E]),
    s.eps,
    `l${i}_attn_ln`,
  );
  if (extras.cross) {
    const cq = ck.linear(`${p}.crossattention.self.query`, E, E);
    // [G, H, (B / G) * T, D]; the context comes back as rows [B * T, E] in row order.
    const cqh = g.splitHeads(g.linear(x, cq, `l${i}_xq`), H, D, extras.cross.groups);
    const cctx = g.attention(cqh, extras.cross.k, extras.cross.v, extras.cross.bias, H, D);
    const co = ck.linear(`${p}.crossattention.output.dense`, E, E);
    x = g.addLayerNorm(
      g.linear(cctx, co, `l${i}_xattn_out`),
      x,
      ck.get(`${p}.crossattention.output.LayerNorm.weight`, [E]),
      ck.get(`${p}.crossattention.output.LayerNorm.bias`, [E]),
      s.eps,
      `l${i}_xattn_ln`,
    );
  }
  const fi = ck.linear(`${p}.intermediate.dense`, E, s.intermediate);
  const fo = ck.linear(`${p}.output.dense`, s.intermediate, E);
  const inner = g.activation(g.linear(x, fi, `l${i}_ffn_in`), s.act);
  const out = g.addLayerNorm(
    g.linear(inner, fo, `l${i}_ffn_out`),
    x,
    ck.get(`${p}.output.LayerNorm.weight`, [E]),
    ck.get(`${p}.output.LayerNorm.bias`, [E]),
    s.eps,
    `l${i}_ffn_ln`,
  );
  return { out, k: kAll, v: vAll };
}

/** Cross-attention K/V of BERT layer `i` from encoder rows `[B * S, E]`: two `[B, H, S, D]`. */
export function bertCrossKV(
  g: GraphBuilder,
  ck: Checkpoint,
  s: BertSpec,
  i: number,
  enc: string,
): [string, string] {
  const p = `${s.base}.encoder.layer.${i}.crossattention.self`;
  const E = s.hidden;
  const kv = ["key", "value"].map((n) => ck.linear(`${p}.${n}`, E, E));
  const [kh, vh] = g.linears(enc, kv, `l${i}_xkv`).map((t) => g.splitHeads(t, s.heads, s.headDim));
  return [kh, vh];
}
