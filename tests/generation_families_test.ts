// Generation for the families of issue 16 (XLM-R, ELECTRA, DistilBERT, Longformer encoders; a
// shared-weights and a bf16 bert2bert) against Python `transformers` 4.40.2: the six `generate`
// goldens of tests/testdata/fixtures/<model>/goldens.json (made by
// tests/testdata/fixtures/generate.py) on `device: "webgpu"`, `"onnx-node"` and `"onnx-web"` (the
// CPU runs them in generation_golden_test.ts). Sequences and beam indices identical; per-step scores and
// sequences_scores within 1e-4 absolute (the comparison of `_generation_goldens.ts`). Also: a
// Longformer's `globalAttentionMask` handed through `generate` to the encoder, checked against
// greedy decoding driven by `forward` with the same mask.
import { assert, assertEquals } from "@std/assert";
import { EncoderDecoderModel } from "@encdec/generation";
import {
  assertMatchesGolden,
  FAMILY_MODELS,
  loadGoldens,
  optionsFor,
} from "./_generation_goldens.ts";
import { webgpuForTests } from "../testing/webgpu.ts";

const ignore = !(await webgpuForTests("generation_families_test")).available;

for (const name of FAMILY_MODELS) {
  Deno.test({
    name: `webgpu ${name}: the six generate goldens (HF 4.40.2): sequences, scores (1e-4)`,
    ignore,
    fn: async () => {
      const g = await loadGoldens(name);
      const model = await EncoderDecoderModel.fromPretrained(g.dir, { device: "webgpu" });
      assertEquals(model.backend.name, "webgpu");
      for (const [key, want] of Object.entries(g.generate)) {
        const out = await model.generate(g.inputIds, {
          attentionMask: g.attentionMask,
          ...optionsFor(key, want),
        });
        assertMatchesGolden(out, want, `webgpu ${name}/${key}`);
      }
    },
  });
}

// onnxruntime-node is a native add-on: it needs --allow-ffi (`deno task test` grants it).
const ffi = (await Deno.permissions.query({ name: "ffi" })).state === "granted";

for (const device of ["onnx-node", "onnx-web"] as const) {
  for (const name of FAMILY_MODELS) {
    Deno.test({
      name: `${device} ${name}: the six generate goldens (HF 4.40.2) through the traced graphs`,
      ignore: device === "onnx-node" && !ffi,
      fn: async () => {
        const g = await loadGoldens(name);
        const model = await EncoderDecoderModel.fromPretrained(g.dir, { device });
        try {
          for (const [key, want] of Object.entries(g.generate)) {
            const out = await model.generate(g.inputIds, {
              attentionMask: g.attentionMask,
              ...optionsFor(key, want),
            });
            assertMatchesGolden(out, want, `${device} ${name}/${key}`);
          }
        } finally {
          await model.dispose();
        }
      },
    });
  }
}

Deno.test({
  name:
    "webgpu bert2bert-bf16 with dtype bfloat16 (bf16 weights on the GPU): greedy and beam4 goldens",
  ignore,
  fn: async () => {
    const g = await loadGoldens("bert2bert-bf16");
    const model = await EncoderDecoderModel.fromPretrained(g.dir, {
      device: "webgpu",
      dtype: "bfloat16",
    });
    for (const key of ["greedy", "beam4"]) {
      const out = await model.generate(g.inputIds, {
        attentionMask: g.attentionMask,
        ...optionsFor(key, g.generate[key]),
      });
      assertMatchesGolden(out, g.generate[key], `webgpu bf16 bert2bert-bf16/${key}`);
    }
  },
});

Deno.test("longformer2roberta: generate hands globalAttentionMask to the encoder (= greedy steps of forward with it)", async () => {
  const g = await loadGoldens("longformer2roberta");
  const model = await EncoderDecoderModel.fromPretrained(g.dir);
  // every real token global: enough to change this tiny model's greedy output
  const globalAttentionMask = g.attentionMask.map((r) => [...r]);
  const steps = 8;
  const out = await model.generate(g.inputIds, {
    attentionMask: g.attentionMask,
    globalAttentionMask,
    maxNewTokens: steps,
    minNewTokens: steps, // no early end: the reference below takes every step
  });
  // the reference: argmax of forward's last logits, one token at a time, eos suppressed as
  // min_new_tokens does
  const eos = model.generationConfig.eosTokenId as number;
  const seqs = g.inputIds.map(() => [model.decoderStartTokenId!]);
  for (let s = 0; s < steps; s++) {
    const f = await model.forward({
      inputIds: g.inputIds,
      attentionMask: g.attentionMask,
      globalAttentionMask,
      decoderInputIds: seqs,
      useCache: false,
    });
    const [, t, v] = f.logits.dims;
    seqs.forEach((seq, r) => {
      let best = -1, bestV = -Infinity;
      for (let j = 0; j < v; j++) {
        const x = f.logits.get((r * t + t - 1) * v + j);
        if (j !== eos && x > bestV) [best, bestV] = [j, x];
      }
      seq.push(best);
    });
  }
  assertEquals(out.sequences, seqs);
  // and the mask matters here: without it the greedy sequences differ
  const plain = await model.generate(g.inputIds, {
    attentionMask: g.attentionMask,
    maxNewTokens: steps,
    minNewTokens: steps,
  });
  assert(
    JSON.stringify(plain.sequences) !== JSON.stringify(seqs),
    "global attention changed nothing",
  );
});

for (const device of ["onnx-node", "onnx-web"] as const) {
  Deno.test({
    name:
      `${device} longformer2roberta: globalAttentionMask through the traced encoder = the cpu ` +
      `(encoder state 1e-4, greedy sequences identical)`,
    ignore: device === "onnx-node" && !ffi,
    fn: async () => {
      const g = await loadGoldens("longformer2roberta");
      const globalAttentionMask = g.attentionMask.map((r) => [...r]);
      const cpu = await EncoderDecoderModel.fromPretrained(g.dir);
      const onnx = await EncoderDecoderModel.fromPretrained(g.dir, { device });
      try {
        const args = {
          inputIds: g.inputIds,
          attentionMask: g.attentionMask,
          globalAttentionMask,
          labels: g.labels,
        };
        const a = await cpu.forward(args);
        const b = await onnx.forward(args);
        const x = a.encoderLastHiddenState!, y = b.encoderLastHiddenState!;
        let diff = 0;
        for (let i = 0; i < x.size; i++) diff = Math.max(diff, Math.abs(x.get(i) - y.get(i)));
        assert(diff <= 1e-4, `encoder state: max diff ${diff}`);
        const opts = { attentionMask: g.attentionMask, globalAttentionMask, maxNewTokens: 8 };
        assertEquals(
          (await onnx.generate(g.inputIds, opts)).sequences,
          (await cpu.generate(g.inputIds, opts)).sequences,
        );
        // a zero mask is the fixture's golden (no global tokens)
        const zeros = g.attentionMask.map((r) => r.map(() => 0));
        const z = await onnx.generate(g.inputIds, {
          attentionMask: g.attentionMask,
          globalAttentionMask: zeros,
          ...optionsFor("greedy", g.generate.greedy),
        });
        assertMatchesGolden(z, g.generate.greedy, `${device} longformer2roberta/greedy zeros`);
      } finally {
        await onnx.dispose();
      }
    },
  });
}
