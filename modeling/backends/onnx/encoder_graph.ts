/**
 * The encoder graph of an encoder-decoder checkpoint: BERT, RoBERTa or BertGeneration encoder
 * built as ONNX from the checkpoint tensors (HF keys under `encoder.`).
 *
 * Inputs: `input_ids` `[batch, src_len]` int64, `attention_mask` `[batch, src_len]` int64.
 * Output: `last_hidden_state` `[batch, src_len, hidden]` float32.
 *
 * @module
 */
import type { EncoderDecoderConfig } from "@encdec/config";
import { bertEmbeddings, bertLayer, bertSpec } from "./_bert_blocks.ts";
import type { Checkpoint } from "./_checkpoint.ts";
import { GraphBuilder, type OnnxPrecision } from "./_graph.ts";
import type { GraphSpec } from "./_onnx_proto.ts";

/**
 * Builds the encoder graph of `config.encoder` from `ck` (weights stored in `precision`).
 *
 * @example
 * ```ts ignore
 * import { buildEncoderGraph } from "./encoder_graph.ts";
 * const graph = buildEncoderGraph(config, checkpoint, "fp32");
 * graph.outputs[0].name; // "last_hidden_state"
 * ```
 */
export function buildEncoderGraph(
  config: EncoderDecoderConfig,
  ck: Checkpoint,
  precision: OnnxPrecision,
): GraphSpec {
  const s = bertSpec(config.encoder, "encoder", "encoder");
  const g = new GraphBuilder("encdec_encoder", precision);
  const ids = g.input("input_ids", "int64", ["batch", "src_len"]);
  const mask = g.input("attention_mask", "int64", ["batch", "src_len"]);
  g.setRows(ids);
  const keyMask = g.op("Cast", [mask], { to: 6 }); // [B, S] int32, MultiHeadAttention's mask
  let h = bertEmbeddings(g, ck, s, ids, null); // [B * S, E]
  for (let i = 0; i < s.layers; i++) {
    h = bertLayer(g, ck, s, i, h, null, { fusedMask: keyMask }).out;
  }
  g.output("last_hidden_state", g.unflatten(h, s.hidden), "float32", [
    "batch",
    "src_len",
    s.hidden,
  ]);
  return g.build();
}
