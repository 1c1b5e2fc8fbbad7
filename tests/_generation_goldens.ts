/**
 * The `generate` goldens of the fixture models, shared by the golden tests of every backend:
 * `tests/testdata/fixtures/<model>/goldens.json`, section `generate` (Python `transformers`
 * 4.40.2, made by `tests/testdata/fixtures/generate.py`), the camelCased options of each golden's
 * HF call, and the comparison: sequences and beam indices identical; per-step scores (greedy)
 * and sequences_scores (beam modes) within {@linkcode TOL} absolute; -inf exactly.
 *
 * @module
 */
import { assert, assertEquals } from "@std/assert";
import type { GenerateOptions, GenerateOutput } from "@encdec/generation";

/** Fixture models directory. */
export const FIXTURES: URL = new URL("./testdata/fixtures/", import.meta.url);

/**
 * Fixture models with `generate` goldens (the modeling tests' lists): `MODELS` (also run on
 * onnx), `FAMILY_MODELS` (the families of issue 16) and `GOLDEN_MODELS` (both).
 */
export { FAMILY_MODELS, GOLDEN_MODELS, MODELS } from "../modeling/models/_test_util.ts";

/** Absolute tolerance of scores and sequences_scores. */
export const TOL = 1e-4;

type Num = number | "-inf";

/** One golden `generate` call. */
export interface Golden {
  /** The Python call, e.g. `model.generate(..., num_beams=4)`. */
  call: string;
  sequences: number[][];
  scores?: Num[][][];
  sequences_scores?: number[];
  beam_indices?: number[][];
}

/** A fixture model's inputs and `generate` goldens. */
export interface ModelGoldens {
  /** The model directory (a filesystem path). */
  dir: string;
  /** `[batch, srcLen]` input ids. */
  inputIds: number[][];
  /** `[batch, srcLen]` attention mask. */
  attentionMask: number[][];
  /** `[batch, tgtLen]` labels of the `forward` golden. */
  labels: number[][];
  /** The goldens by key (`greedy`, `beam4`, ...). */
  generate: Record<string, Golden>;
}

/** The camelCased options of each golden's HF call (the call string is checked below). */
export const CALLS: Record<string, Record<string, unknown>> = {
  greedy: { maxNewTokens: 20, outputScores: true, returnDictInGenerate: true },
  beam4: {
    numBeams: 4,
    earlyStopping: true,
    maxLength: 20,
    outputScores: true,
    returnDictInGenerate: true,
  },
  beam4_ret2_lp2_norepeat2: {
    numBeams: 4,
    numReturnSequences: 2,
    lengthPenalty: 2.0,
    earlyStopping: false,
    noRepeatNgramSize: 2,
    maxLength: 20,
    outputScores: true,
    returnDictInGenerate: true,
  },
  greedy_reppen_minnew_badwords: { maxNewTokens: 20, repetitionPenalty: 1.3, minNewTokens: 5 },
  group_beam: {
    numBeams: 4,
    numBeamGroups: 2,
    diversityPenalty: 0.5,
    maxLength: 20,
    outputScores: true,
    returnDictInGenerate: true,
  },
  beam3_never: {
    numBeams: 3,
    earlyStopping: "never",
    maxLength: 20,
    outputScores: true,
    returnDictInGenerate: true,
  },
};

/** Reads a fixture model's goldens; asserts it has exactly the calls of {@linkcode CALLS}. */
export async function loadGoldens(name: string): Promise<ModelGoldens> {
  const dir = new URL(`${name}/`, FIXTURES);
  const goldens = JSON.parse(await Deno.readTextFile(new URL("goldens.json", dir)));
  const gen = goldens.generate as Record<string, Golden>;
  assertEquals(Object.keys(gen).sort(), Object.keys(CALLS).sort());
  return {
    dir: decodeURIComponent(dir.pathname),
    inputIds: goldens.inputs.input_ids,
    attentionMask: goldens.inputs.attention_mask,
    labels: goldens.inputs.labels,
    generate: gen,
  };
}

/** The `generate` options of golden `key` (with the `bad_words_ids` parsed from its call). */
export function optionsFor(key: string, want: Golden): GenerateOptions {
  const bad = want.call.match(/bad_words_ids=(\[\[.*?\]\])/);
  if (key.startsWith("greedy_reppen")) assert(bad, `${key}: bad_words_ids in ${want.call}`);
  return { ...CALLS[key], ...(bad ? { badWordsIds: JSON.parse(bad[1]) } : {}) };
}

function close(got: number, want: Num, what: string): void {
  if (want === "-inf") assertEquals(got, -Infinity, what);
  else assert(Math.abs(got - want) <= TOL, `${what}: got ${got}, want ${want} (tol ${TOL})`);
}

/**
 * Asserts `out` matches golden `want`: sequences and beam indices identical, scores and
 * sequences_scores within {@linkcode TOL} (-inf exactly). `what` prefixes the messages.
 */
export function assertMatchesGolden(out: GenerateOutput, want: Golden, what: string): void {
  assertEquals(out.sequences, want.sequences, `${what} sequences`);
  if (want.scores) {
    assertEquals(out.scores!.length, want.scores.length, `${what} steps`);
    want.scores.forEach((step, t) => {
      const v = step[0].length;
      step.forEach((row, r) =>
        row.forEach((w, j) =>
          close(out.scores![t][r * v + j], w, `${what} scores[${t}][${r}][${j}]`)
        )
      );
    });
  }
  if (want.sequences_scores) {
    want.sequences_scores.forEach((w, i) =>
      close(out.sequencesScores![i], w, `${what} sequences_scores[${i}]`)
    );
  }
  if (want.beam_indices) {
    assertEquals(out.beamIndices, want.beam_indices, `${what} beam_indices`);
  }
}
