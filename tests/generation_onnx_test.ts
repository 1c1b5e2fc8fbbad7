// Golden parity of `generate` on the onnx backend: every `generate` golden of every fixture model
// (tests/testdata/fixtures/<model>/goldens.json, Python `transformers` 4.40.2, made by
// tests/testdata/fixtures/generate.py) driven through the one model class,
// `EncoderDecoderModel.fromPretrained(dir, { device: "onnx-node" })` (fp32), and each model's
// greedy + beam4 on `device: "onnx-web"` (wasm). Sequences
// and beam indices identical; per-step scores and sequences_scores within 1e-4 absolute; -inf
// exactly (the same comparison as the CPU test, from `_generation_goldens.ts`).
import { assertEquals } from "@std/assert";
import { EncoderDecoderModel } from "@encdec/generation";
import { assertMatchesGolden, loadGoldens, MODELS, optionsFor } from "./_generation_goldens.ts";

// onnxruntime-node is a native add-on: it needs --allow-ffi (`deno task test` grants it).
const ffi = (await Deno.permissions.query({ name: "ffi" })).state === "granted";

// The issue-16 families run the same goldens on onnx in tests/generation_families_test.ts.
for (const name of MODELS) {
  Deno.test({
    name: `onnx (onnxruntime-node, fp32) generate goldens (HF 4.40.2) for ${name}: sequences, ` +
      `scores, sequences_scores, beam_indices`,
    ignore: !ffi,
    async fn() {
      const g = await loadGoldens(name);
      const model = await EncoderDecoderModel.fromPretrained(g.dir, { device: "onnx-node" });
      try {
        assertEquals(model.device.runtime, "node");
        for (const [key, want] of Object.entries(g.generate)) {
          const out = await model.generate(g.inputIds, {
            attentionMask: g.attentionMask,
            ...optionsFor(key, want),
          });
          assertMatchesGolden(out, want, `onnx-node ${name}/${key}`);
        }
      } finally {
        await model.dispose();
      }
    },
  });
}

Deno.test("onnx (onnxruntime-web, wasm, fp32) bert2bert: greedy and beam4 goldens; generateStream text", async () => {
  const g = await loadGoldens("bert2bert");
  const model = await EncoderDecoderModel.fromPretrained(g.dir, { device: "onnx-web" });
  try {
    assertEquals(model.device.runtime, "web");
    // generation_config.json's values, used when the call does not override them
    assertEquals(model.generationConfig.eosTokenId, 3);
    for (const key of ["greedy", "beam4"]) {
      const want = g.generate[key];
      const out = await model.generate(g.inputIds, {
        attentionMask: g.attentionMask,
        ...optionsFor(key, want),
      });
      assertMatchesGolden(out, want, `onnx-web bert2bert/${key}`);
    }
    // The streamed pieces of the first row join to the golden greedy sequence (eos 3 dropped).
    const decode = (ids: readonly number[]) =>
      ids.filter((t) => t !== 3).map((t) => `w${t} `).join("");
    const pieces: string[] = [];
    for await (
      const p of model.generateStream([g.inputIds[0]], {
        attentionMask: [g.attentionMask[0]],
        maxNewTokens: 20,
        decode,
      })
    ) {
      pieces.push(p.text);
    }
    assertEquals(pieces.join(""), decode(g.generate.greedy.sequences[0].slice(1)));
  } finally {
    await model.dispose();
  }
});

// The other fixture models on onnxruntime-web: greedy and beam4 (the same traced graphs, all
// weights in memory, so Q/K/V are one fused projection there).
for (const name of MODELS.filter((m) => m !== "bert2bert")) {
  Deno.test(`onnx (onnxruntime-web, wasm, fp32) ${name}: greedy and beam4 goldens`, async () => {
    const g = await loadGoldens(name);
    const model = await EncoderDecoderModel.fromPretrained(g.dir, { device: "onnx-web" });
    try {
      for (const key of ["greedy", "beam4"]) {
        const want = g.generate[key];
        const out = await model.generate(g.inputIds, {
          attentionMask: g.attentionMask,
          ...optionsFor(key, want),
        });
        assertMatchesGolden(out, want, `onnx-web ${name}/${key}`);
      }
    } finally {
      await model.dispose();
    }
  });
}
