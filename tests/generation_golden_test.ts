// Golden parity of `generate` with Python `transformers` 4.40.2 for every fixture model:
// tests/testdata/fixtures/<model>/goldens.json, section `generate` (made by
// tests/testdata/fixtures/generate.py). Sequences and beam indices must be identical; per-step
// scores (greedy) and sequences_scores (beam modes) within 1e-4 absolute; -inf exactly.
import { assert, assertEquals } from "@std/assert";
import { EncoderDecoderModel, generateStream } from "@encdec/generation";

const FIXTURES = new URL("./testdata/fixtures/", import.meta.url);
const MODELS = [
  "bert2bert",
  "bert2bert-fp16",
  "bert2bert-bin",
  "bert2gpt2",
  "roberta2roberta",
  "bertgeneration",
];
const TOL = 1e-4;

type Num = number | "-inf";
interface Golden {
  call: string;
  sequences: number[][];
  scores?: Num[][][];
  sequences_scores?: number[];
  beam_indices?: number[][];
}

/** The camelCased options of each golden's HF call (the call string is checked below). */
const CALLS: Record<string, Record<string, unknown>> = {
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

function close(got: number, want: Num, what: string): void {
  if (want === "-inf") assertEquals(got, -Infinity, what);
  else assert(Math.abs(got - want) <= TOL, `${what}: got ${got}, want ${want} (tol ${TOL})`);
}

for (const name of MODELS) {
  Deno.test(`generate goldens (HF 4.40.2) for ${name}: sequences, scores, sequences_scores, beam_indices`, async () => {
    const dir = new URL(`${name}/`, FIXTURES);
    const goldens = JSON.parse(await Deno.readTextFile(new URL("goldens.json", dir)));
    const model = await EncoderDecoderModel.fromPretrained(dir.pathname);
    const { input_ids: inputIds, attention_mask: attentionMask } = goldens.inputs;
    const gen = goldens.generate as Record<string, Golden>;
    assertEquals(Object.keys(gen).sort(), Object.keys(CALLS).sort());
    for (const [key, want] of Object.entries(gen)) {
      const bad = want.call.match(/bad_words_ids=(\[\[.*?\]\])/);
      const opts = { ...CALLS[key], ...(bad ? { badWordsIds: JSON.parse(bad[1]) } : {}) };
      if (key.startsWith("greedy_reppen")) assert(bad, `${key}: bad_words_ids in ${want.call}`);
      const out = await model.generate(inputIds, { attentionMask, ...opts });
      assertEquals(out.sequences, want.sequences, `${name}/${key} sequences`);
      if (want.scores) {
        assertEquals(out.scores!.length, want.scores.length, `${name}/${key} steps`);
        want.scores.forEach((step, t) => {
          const v = step[0].length;
          step.forEach((row, r) =>
            row.forEach((w, j) =>
              close(out.scores![t][r * v + j], w, `${name}/${key} scores[${t}][${r}][${j}]`)
            )
          );
        });
      }
      if (want.sequences_scores) {
        want.sequences_scores.forEach((w, i) =>
          close(out.sequencesScores![i], w, `${name}/${key} sequences_scores[${i}]`)
        );
      }
      if (want.beam_indices) {
        assertEquals(out.beamIndices, want.beam_indices, `${name}/${key} beam_indices`);
      }
    }
  });
}

Deno.test("bert2bert: generateStream during beam search yields the final best sequence's text", async () => {
  const dir = new URL("bert2bert/", FIXTURES);
  const goldens = JSON.parse(await Deno.readTextFile(new URL("goldens.json", dir)));
  const model = await EncoderDecoderModel.fromPretrained(dir.pathname);
  const decode = (ids: readonly number[]) =>
    ids.filter((t) => t !== 3).map((t) => `w${t} `).join("");
  const pieces: string[][] = [[], []];
  const it = model.generateStream(goldens.inputs.input_ids, {
    attentionMask: goldens.inputs.attention_mask,
    numBeams: 4,
    earlyStopping: true,
    maxLength: 20,
    decode,
  });
  let r = await it.next();
  while (!r.done) {
    pieces[r.value.row].push(r.value.text);
    r = await it.next();
  }
  const want = goldens.generate.beam4.sequences as number[][];
  assertEquals(r.value.sequences, want);
  want.forEach((seq, i) => assertEquals(pieces[i].join(""), decode(seq.slice(1))));
  // the stream is word by word, not one piece at the end
  assert(pieces[0].length > 1);
  // the free function works the same on the base interface
  const again: string[] = [];
  for await (
    const p of generateStream(model, [goldens.inputs.input_ids[0]], {
      generationConfig: model.generationConfig,
      decode,
      maxNewTokens: 20,
    })
  ) {
    again.push(p.text);
  }
  assertEquals(again.join(""), decode(goldens.generate.greedy.sequences[0].slice(1)));
});
