// Generation on the WebGPU backend against Python `transformers` 4.40.2: the greedy and beam4
// goldens of tests/testdata/fixtures/<model>/goldens.json (made by
// tests/testdata/fixtures/generate.py) for bert2bert and bert2gpt2 on `device: "webgpu"`.
// Sequences and beam indices identical; per-step scores and sequences_scores within 1e-4
// absolute: the comparison of the CPU golden test (`_generation_goldens.ts`). Also: the device
// top-k fast path of beam search (`decodeStepTopK`) against the full-logits path on the CPU and
// on WebGPU, and no GPU buffer growth across repeated `generate()` calls.
//
// The WebGPU tests are ignored, with the reason printed, when no adapter exists (Linux without a
// GPU: install mesa-vulkan-drivers for the lavapipe software adapter; run with --unstable-webgpu).
import { assert, assertEquals } from "@std/assert";
import { EncoderDecoderModel, generate, type Seq2SeqModel } from "@encdec/generation";
import { WebGpuBackend } from "../modeling/backends/webgpu/mod.ts";
import { assertMatchesGolden, loadGoldens, optionsFor } from "./_generation_goldens.ts";
import { webgpuForTests } from "../testing/webgpu.ts";

const ignore = !(await webgpuForTests("generation_webgpu_test")).available;

for (const name of ["bert2bert", "bert2gpt2"]) {
  Deno.test({
    name: `webgpu ${name}: greedy and beam4 goldens (HF 4.40.2): sequences, scores (1e-4)`,
    ignore,
    fn: async () => {
      const g = await loadGoldens(name);
      const model = await EncoderDecoderModel.fromPretrained(g.dir, { device: "webgpu" });
      assertEquals(model.backend.name, "webgpu");
      for (const key of ["greedy", "beam4"]) {
        const out = await model.generate(g.inputIds, {
          attentionMask: g.attentionMask,
          ...optionsFor(key, g.generate[key]),
        });
        assertMatchesGolden(out, g.generate[key], `webgpu ${name}/${key}`);
      }
    },
  });
}

/**
 * The model, counting `decodeStepTopK` calls and keeping each call's `[rows, k]` top-k
 * log-probabilities and ids.
 */
function spy(model: EncoderDecoderModel) {
  const steps: { values: Float32Array; indices: Int32Array }[] = [];
  const m: Seq2SeqModel = {
    vocabSize: model.vocabSize,
    encode: (ids, mask) => model.encode(ids, mask),
    expandEncoderState: (s, n) => model.expandEncoderState(s as never, n),
    decodeStep: (s, t, c) => model.decodeStep(s as never, t, c as never),
    decodeStepTopK: async (s, t, c, k) => {
      const out = await model.decodeStepTopK(s as never, t, c as never, k);
      steps.push({ values: out.values, indices: out.indices });
      return out;
    },
    reorderCache: (c, rows) => model.reorderCache(c as never, rows),
    dispose: (v) => model.dispose(v as never),
  };
  return { model: m, steps };
}

for (const device of ["cpu", "webgpu"]) {
  Deno.test({
    name: `${device} bert2bert: beam4 on the top-k fast path gives the golden sequences and ` +
      `the full path's per-step top-k log-probs (ids exact, values 1e-5)`,
    ignore: device === "webgpu" && ignore,
    fn: async () => {
      const g = await loadGoldens("bert2bert");
      const model = await EncoderDecoderModel.fromPretrained(g.dir, { device });
      const opts = { numBeams: 4, earlyStopping: true, maxLength: 20 };
      const inputs = { attentionMask: g.attentionMask, ...opts };
      // fast path: no processors, no per-step score output
      const fast = spy(model);
      const out = await generate(fast.model, g.inputIds, {
        generationConfig: model.generationConfig,
        ...inputs,
      });
      assertEquals(out.sequences, g.generate.beam4.sequences, "fast-path sequences = golden");
      assert(fast.steps.length > 1, "decodeStepTopK drove every step");
      // full path: per-step log-softmax rows (no processors are configured)
      const full = spy(model);
      const ref = await generate(full.model, g.inputIds, {
        generationConfig: model.generationConfig,
        ...inputs,
        outputScores: true,
        returnDictInGenerate: true,
      });
      assertEquals(full.steps.length, 0, "outputScores takes the full path");
      assertEquals(ref.sequences, out.sequences);
      // Identical selections mean identical rows at every step: each fast step's top-k is the
      // top-k of the full step's row.
      assertEquals(ref.scores!.length, fast.steps.length);
      const v = model.vocabSize;
      fast.steps.forEach(({ values, indices }, t) => {
        const rows = ref.scores![t].length / v;
        const k = values.length / rows;
        for (let r = 0; r < rows; r++) {
          const row = ref.scores![t].subarray(r * v, (r + 1) * v);
          const order = [...row.keys()].sort((a, b) => row[b] - row[a] || a - b).slice(0, k);
          for (let i = 0; i < k; i++) {
            const want = row[order[i]];
            const got = values[r * k + i];
            assertEquals(indices[r * k + i], order[i], `step ${t} row ${r} rank ${i} id`);
            assert(Math.abs(got - want) <= 1e-5, `step ${t} row ${r} rank ${i}: ${got} vs ${want}`);
          }
        }
      });
    },
  });
}

Deno.test({
  name: "webgpu bert2bert: repeated generate() (greedy, beam4) and forward leave only the " +
    "weights live and allocate no new buffers; sequences stay golden",
  ignore,
  fn: async () => {
    // A backend of its own, so its pool counters see this model only.
    const gpu = await WebGpuBackend.create();
    try {
      const g = await loadGoldens("bert2bert");
      const model = await EncoderDecoderModel.fromPretrained(g.dir, { device: gpu });
      const weights = gpu.stats().pool.live;
      const input = { inputIds: g.inputIds, attentionMask: g.attentionMask };
      const run = async () => {
        for (const key of ["greedy", "beam4"]) {
          const { outputScores: _, ...opts } = optionsFor(key, g.generate[key]);
          const out = await model.generate(input.inputIds, {
            attentionMask: input.attentionMask,
            ...opts,
          });
          assertEquals(out.sequences, g.generate[key].sequences, `${key} sequences`);
        }
        // forward with labels, hidden states and attentions: all but the cache is freed
        const fwd = await model.forward({
          ...input,
          labels: g.labels,
          outputHiddenStates: true,
          outputAttentions: true,
        });
        fwd.pastKeyValues!.dispose();
        const noCache = await model.forward({ ...input, labels: g.labels, useCache: false });
        assertEquals(noCache.pastKeyValues, undefined);
      };
      await run();
      const warm = gpu.stats().pool;
      assertEquals(warm.live, weights, "after generate / forward only the weight buffers are live");
      for (let i = 0; i < 3; i++) await run();
      const after = gpu.stats().pool;
      assertEquals(after.live, weights, "no live-buffer growth");
      assertEquals(after.created, warm.created, "no new buffers: the pool serves every step");
      assertEquals(after.liveBytes, warm.liveBytes);
    } finally {
      gpu.destroy();
    }
  },
});
