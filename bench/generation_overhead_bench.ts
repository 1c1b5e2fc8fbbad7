/**
 * Generation overhead outside the model: logits processors, log-softmax, top-k, beam
 * bookkeeping and cache reordering, per decoding step, with a stub model of bert-base vocabulary
 * size (30,522) whose decode step only copies precomputed logits. The model's own time (inside
 * `decodeStep`) is measured and subtracted, so the printed number is what generation adds to
 * each step; compare it with one bert2bert-base decode step on the fastest backend (goal: < 5%).
 *
 * Run: `deno run -A bench/generation_overhead_bench.ts` (prints ms per step), or
 * `deno bench -A bench/generation_overhead_bench.ts` (whole `generate` calls).
 *
 * @module
 */
import { generate, type GenerateOptions, type Seq2SeqModel } from "@encdec/generation";

const VOCAB = 30522;
const EOS = 102;
const POOL = 16;

/** Deterministic logits rows (Park–Miller), eos kept unlikely so every run lasts `maxLength`. */
const pool: Float32Array[] = Array.from({ length: POOL }, (_, k) => {
  const row = new Float32Array(VOCAB);
  let s = 12345 + k * 7919;
  for (let j = 0; j < VOCAB; j++) {
    s = (s * 16807) % 2147483647;
    row[j] = (s / 2147483647) * 8 - 4;
  }
  row[EOS] = -20;
  return row;
});

interface Cache {
  prefixes: number[][];
}

/** Stub: logits row picked from the pool by a hash of the row's prefix; times itself. */
class StubModel implements Seq2SeqModel<number, Cache> {
  readonly vocabSize = VOCAB;
  modelMs = 0;
  steps = 0;
  encode(inputIds: number[][]): Promise<number> {
    return Promise.resolve(inputIds.length);
  }
  expandEncoderState(state: number, n: number): number {
    return state * n;
  }
  decodeStep(_state: number, newTokens: number[][], cache: Cache | null) {
    const t0 = performance.now();
    this.steps++;
    const prefixes = newTokens.map((t, i) => [...(cache ? cache.prefixes[i] : []), ...t]);
    const logits = new Float32Array(newTokens.length * VOCAB);
    prefixes.forEach((p, i) => {
      let h = 0;
      for (const t of p) h = (h * 31 + t) % POOL;
      logits.set(pool[h], i * VOCAB);
    });
    this.modelMs += performance.now() - t0;
    return Promise.resolve({ logits, cache: { prefixes } });
  }
  reorderCache(cache: Cache, rows: readonly number[]): Cache {
    return { prefixes: rows.map((r) => cache.prefixes[r]) };
  }
}

const BASE: GenerateOptions = {
  generationConfig: { decoder_start_token_id: 101, eos_token_id: EOS, pad_token_id: 0 },
  maxLength: 60,
};
const CASES: Record<string, GenerateOptions> = {
  "greedy": { ...BASE },
  "beam 4": { ...BASE, numBeams: 4, earlyStopping: true },
  "beam 4 + no_repeat_ngram 3 + repetition 1.2": {
    ...BASE,
    numBeams: 4,
    noRepeatNgramSize: 3,
    repetitionPenalty: 1.2,
  },
  "group beam 4/2": { ...BASE, numBeams: 4, numBeamGroups: 2, diversityPenalty: 0.5 },
  "sampling top-k 50 top-p 0.9": { ...BASE, doSample: true, topK: 50, topP: 0.9, seed: 1 },
};

async function overheadPerStep(
  opts: GenerateOptions,
  runs = 3,
): Promise<{ ms: number; steps: number }> {
  let best = Infinity;
  let steps = 0;
  for (let i = 0; i < runs; i++) {
    const m = new StubModel();
    const t0 = performance.now();
    await generate(m, [[101, 2000, 2001, 102]], opts);
    const total = performance.now() - t0;
    best = Math.min(best, (total - m.modelMs) / m.steps);
    steps = m.steps;
  }
  return { ms: best, steps };
}

if (import.meta.main) {
  console.log(`generation overhead per decoding step (stub model, vocab ${VOCAB}, batch 1):`);
  for (const [name, opts] of Object.entries(CASES)) {
    await overheadPerStep(opts, 1); // warm-up
    const { ms, steps } = await overheadPerStep(opts);
    console.log(`  ${name.padEnd(44)} ${ms.toFixed(3)} ms/step over ${steps} steps`);
  }
}

for (const [name, opts] of Object.entries(CASES)) {
  Deno.bench(`generate 59 steps: ${name}`, { group: "generation" }, async () => {
    await generate(new StubModel(), [[101, 2000, 2001, 102]], opts);
  });
}
