// A deterministic stub `Seq2SeqModel` for tests and the overhead bench: the next-token logits of a
// row are `logitsFn(sourceRow, decoderPrefix)`. The cache holds each row's decoder prefix, so a
// wrong `reorderCache` or a re-run prefix shows up as wrong logits.
import type { DecodeStepOutput, Seq2SeqModel } from "../model.ts";

export interface StubState {
  src: number[][];
}
export interface StubCache {
  prefixes: number[][];
}

export class StubModel implements Seq2SeqModel<StubState, StubCache> {
  encodeCalls = 0;
  decodeCalls = 0;
  tokensDecoded = 0;
  reorders = 0;
  constructor(
    readonly vocabSize: number,
    readonly logitsFn: (src: readonly number[], prefix: readonly number[]) => ArrayLike<number>,
  ) {}
  encode(inputIds: number[][], attentionMask: number[][]): Promise<StubState> {
    this.encodeCalls++;
    // masked positions are dropped so padding cannot change the answer
    return Promise.resolve({ src: inputIds.map((r, i) => r.filter((_, j) => attentionMask[i][j] === 1)) });
  }
  expandEncoderState(state: StubState, n: number): StubState {
    return { src: state.src.flatMap((r) => Array.from({ length: n }, () => r)) };
  }
  decodeStep(state: StubState, newTokens: number[][], cache: StubCache | null): Promise<DecodeStepOutput<StubCache>> {
    this.decodeCalls++;
    const prefixes = newTokens.map((t, i) => [...(cache ? cache.prefixes[i] : []), ...t]);
    this.tokensDecoded += newTokens.reduce((a, t) => a + t.length, 0);
    const logits = new Float32Array(newTokens.length * this.vocabSize);
    prefixes.forEach((p, i) => logits.set(this.logitsFn(state.src[i], p), i * this.vocabSize));
    return Promise.resolve({ logits, cache: { prefixes } });
  }
  reorderCache(cache: StubCache, rows: readonly number[]): StubCache {
    this.reorders++;
    return { prefixes: rows.map((r) => cache.prefixes[r]) };
  }
}

/** Logits from a table: key = prefix joined by ",", value = log-probabilities. */
export function tableModel(v: number, table: Record<string, number[]>, fallback: number[]): StubModel {
  return new StubModel(v, (_src, prefix) => table[prefix.join(",")] ?? fallback);
}
