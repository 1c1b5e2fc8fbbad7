/**
 * Seeded random bert2bert weights in HF checkpoint layout, for measurement scripts (no model code
 * involved): normal(0, `initializerRange`) matrices and embeddings, LayerNorm 1 / 0, zero biases.
 *
 * @module
 */
import type { BertConfig, EncoderDecoderConfig } from "@encdec/config";
import { Tensor } from "../../modeling/tensor.ts";

/** A seeded normal(0, 1) generator (xorshift32 + Box-Muller). */
export function seededNormal(seed: number): () => number {
  let s = seed >>> 0 || 1;
  const uni = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return ((s >>> 0) + 0.5) / 2 ** 32;
  };
  return () => Math.sqrt(-2 * Math.log(uni())) * Math.cos(2 * Math.PI * uni());
}

/**
 * HF-layout state dict of a bert2bert `EncoderDecoderModel` (BERT encoder with pooler, BERT
 * decoder with cross-attention and tied LM head) with seeded random weights.
 */
export function randomBert2Bert(config: EncoderDecoderConfig, seed = 1): Map<string, Tensor> {
  const rnd = seededNormal(seed);
  const out = new Map<string, Tensor>();
  const normal = (key: string, dims: number[], std: number) => {
    const d = new Float32Array(dims.reduce((a, b) => a * b, 1));
    for (let i = 0; i < d.length; i++) d[i] = rnd() * std;
    out.set(key, new Tensor("float32", d, dims));
  };
  const fill = (key: string, n: number, v: number) =>
    out.set(key, new Tensor("float32", new Float32Array(n).fill(v), [n]));
  const linear = (p: string, inDim: number, outDim: number, std: number) => {
    normal(`${p}.weight`, [outDim, inDim], std);
    fill(`${p}.bias`, outDim, 0);
  };
  const ln = (p: string, n: number) => {
    fill(`${p}.weight`, n, 1);
    fill(`${p}.bias`, n, 0);
  };
  const bert = (base: string, c: BertConfig, cross: boolean) => {
    const E = c.hiddenSize, std = c.initializerRange;
    normal(`${base}.embeddings.word_embeddings.weight`, [c.vocabSize, E], std);
    normal(`${base}.embeddings.position_embeddings.weight`, [c.maxPositionEmbeddings, E], std);
    normal(`${base}.embeddings.token_type_embeddings.weight`, [c.typeVocabSize, E], std);
    ln(`${base}.embeddings.LayerNorm`, E);
    for (let i = 0; i < c.numHiddenLayers; i++) {
      const p = `${base}.encoder.layer.${i}`;
      for (const a of cross ? ["attention", "crossattention"] : ["attention"]) {
        for (const n of ["query", "key", "value"]) linear(`${p}.${a}.self.${n}`, E, E, std);
        linear(`${p}.${a}.output.dense`, E, E, std);
        ln(`${p}.${a}.output.LayerNorm`, E);
      }
      linear(`${p}.intermediate.dense`, E, c.intermediateSize, std);
      linear(`${p}.output.dense`, c.intermediateSize, E, std);
      ln(`${p}.output.LayerNorm`, E);
    }
  };
  const enc = config.encoder as BertConfig;
  const dec = config.decoder as BertConfig;
  bert("encoder", enc, false);
  linear("encoder.pooler.dense", enc.hiddenSize, enc.hiddenSize, enc.initializerRange);
  bert("decoder.bert", dec, true);
  linear("decoder.cls.predictions.transform.dense", dec.hiddenSize, dec.hiddenSize, 0.02);
  ln("decoder.cls.predictions.transform.LayerNorm", dec.hiddenSize);
  fill("decoder.cls.predictions.bias", dec.vocabSize, 0);
  return out;
}
