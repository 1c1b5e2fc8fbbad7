// Golden parity of `generate` with Python `transformers` 4.40.2 for every fixture model:
// tests/testdata/fixtures/<model>/goldens.json, section `generate` (made by
// tests/testdata/fixtures/generate.py). Sequences and beam indices must be identical; per-step
// scores (greedy) and sequences_scores (beam modes) within 1e-4 absolute; -inf exactly (the
// comparison and the HF call options live in `_generation_goldens.ts`, shared with the onnx test).
import { assert, assertEquals } from "@std/assert";
import { EncoderDecoderModel, generateStream } from "@encdec/generation";
import {
  assertMatchesGolden,
  FIXTURES,
  GOLDEN_MODELS,
  loadGoldens,
  optionsFor,
} from "./_generation_goldens.ts";

for (const name of GOLDEN_MODELS) {
  Deno.test(`generate goldens (HF 4.40.2) for ${name}: sequences, scores, sequences_scores, beam_indices`, async () => {
    const g = await loadGoldens(name);
    const model = await EncoderDecoderModel.fromPretrained(g.dir);
    for (const [key, want] of Object.entries(g.generate)) {
      const out = await model.generate(g.inputIds, {
        attentionMask: g.attentionMask,
        ...optionsFor(key, want),
      });
      assertMatchesGolden(out, want, `${name}/${key}`);
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
