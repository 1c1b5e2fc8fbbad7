/**
 * Golden parity of `OnnxEncoderDecoder` (onnxruntime-node unless stated) with the Python
 * reference (transformers 4.40.2, fixtures made by `tests/testdata/fixtures/generate.py`).
 */
import { assertEquals, assertRejects, assertThrows } from "@std/assert";
import { OnnxEncoderDecoder, OnnxModelError } from "./mod.ts";
import { heapTrimmer } from "./_heap.ts";
import { FAMILY_MODELS } from "../../models/_test_util.ts";
import {
  argmax,
  assertBelow,
  FIXTURES,
  forwardLogits,
  greedy,
  maxAbsDiff,
  MODELS,
  readGoldens,
} from "./_test_util.ts";

const TOL = 1e-4;

// Every fixture family runs through the graphs traced from its model code (Longformer too: its
// sliding-window masks are backend ops, and a traced graph needs no window padding).
const TRACED = [...MODELS, ...FAMILY_MODELS];

for (const name of TRACED) {
  Deno.test(`onnx node ${name}: forward logits, encoder state, cached steps, greedy = goldens`, async (t) => {
    const g = await readGoldens(name);
    const model = await OnnxEncoderDecoder.fromPretrained(`${FIXTURES}${name}`, {
      runtime: "node",
    });
    assertEquals(model.runtime, "node");
    try {
      await t.step(`forward.logits within ${TOL} abs`, async () => {
        const lg = await forwardLogits(model, g);
        assertEquals(lg.dims, [
          g.forward.logits.length,
          g.forward.logits[0].length,
          model.vocabSize,
        ]);
        assertBelow(maxAbsDiff(lg.data, g.forward.logits), TOL);
      });

      await t.step(`encoder_last_hidden_state within ${TOL} abs`, async () => {
        const st = await model.encode(g.inputs.input_ids, g.inputs.attention_mask);
        assertBelow(maxAbsDiff(st.lastHiddenState.data, g.forward.encoder_last_hidden_state), TOL);
      });

      await t.step(`incremental.step_last_logits one token per step, within ${TOL}`, async () => {
        const st = await model.encode(g.inputs.input_ids, g.inputs.attention_mask);
        const ids = g.incremental.decoder_input_ids;
        let cache = null;
        for (let i = 0; i < ids[0].length; i++) {
          const out = await model.decodeStep(st, ids.map((r) => [r[i]]), cache);
          cache = out.cache;
          assertEquals(cache.pastLen, i + 1);
          const expected = g.incremental.step_last_logits.map((row) => row[i]);
          assertBelow(maxAbsDiff(out.logits, expected), TOL);
        }
      });

      await t.step("greedy loop (max_new_tokens 20) = generate.greedy.sequences", async () => {
        const seqs = await greedy(model, name, g);
        assertEquals(seqs, g.generate.greedy.sequences);
      });
    } finally {
      await model.release();
    }
  });
}

Deno.test("onnx node bert2bert: reorderCache + expandEncoderState = full decode of the reordered histories (1e-5)", async () => {
  const g = await readGoldens("bert2bert");
  const model = await OnnxEncoderDecoder.fromPretrained(`${FIXTURES}bert2bert`, {
    runtime: "node",
  });
  try {
    const base = await model.encode(g.inputs.input_ids, g.inputs.attention_mask);
    const st = model.expandEncoderState(base, 2); // rows: src 0, 0, 1, 1
    assertEquals(Array.from(st.rowSource), [0, 0, 1, 1]);
    const hist = [[2, 10], [2, 20], [2, 30], [2, 40]];
    let { cache } = await model.decodeStep(st, hist, null);
    // Beam-style reorder within each source, then one more token per row.
    const rows = [1, 1, 3, 2];
    cache = model.reorderCache(cache, rows);
    const nextTok = [[5], [6], [7], [8]];
    const step = await model.decodeStep(st, nextTok, cache);
    const full = await model.decodeStep(
      st,
      rows.map((r, i) => [...hist[r], nextTok[i][0]]),
      null,
    );
    assertBelow(maxAbsDiff(step.logits, Array.from(full.logits)), 1e-5);
    // Reorders compose: applying [1, 0, 2, 3] then [1, 0, 2, 3] is the identity.
    const twice = model.reorderCache(model.reorderCache(cache, [1, 0, 2, 3]), [1, 0, 2, 3]);
    assertEquals(Array.from(twice.index), Array.from(cache.index));
  } finally {
    await model.release();
  }
});

Deno.test("onnx node bert2bert: a reorder across sources gathers the cross K/V (1e-5)", async () => {
  const model = await OnnxEncoderDecoder.fromPretrained(`${FIXTURES}bert2bert`, {
    runtime: "node",
  });
  try {
    const src = [[2, 65, 53, 15, 3], [2, 31, 78, 7, 3]];
    const ones = [[1, 1, 1, 1, 1], [1, 1, 1, 1, 1]];
    const st = await model.encode(src, ones);
    let { cache } = await model.decodeStep(st, [[2], [2]], null);
    cache = model.reorderCache(cache, [1, 0]); // row 0 now continues source 1, and vice versa
    const step = await model.decodeStep(st, [[9], [9]], cache);
    const swapped = await model.encode([src[1], src[0]], ones);
    const full = await model.decodeStep(swapped, [[2, 9], [2, 9]], null);
    assertBelow(maxAbsDiff(step.logits, Array.from(full.logits)), 1e-5);
  } finally {
    await model.release();
  }
});

for (
  const [name, runtime] of [["bert2bert", "node"], ["bert2gpt2", "node"], [
    "bert2bert",
    "web",
  ]] as const
) {
  Deno.test(`onnx ${runtime} ${name}: beams grouped per source attend to the shared cross K/V = rows gathered per beam (1e-5)`, async () => {
    const model = await OnnxEncoderDecoder.fromPretrained(`${FIXTURES}${name}`, { runtime });
    // Count the host copies of cross K/V rows (the ungrouped path's gathers).
    const spy = model as unknown as { gatherRows: (...a: unknown[]) => unknown };
    const gatherRows = spy.gatherRows.bind(model);
    let gathers = 0;
    spy.gatherRows = (...a) => (gathers++, gatherRows(...a));
    try {
      // Three sources of different lengths (right padding), three beams each.
      const src = [[2, 65, 53, 15, 3, 0, 0], [2, 31, 3, 0, 0, 0, 0], [2, 44, 12, 9, 71, 28, 3]];
      const mask = src.map((r, i) => r.map((_, t) => t < [5, 3, 7][i] ? 1 : 0));
      const base = await model.encode(src, mask);
      const st = model.expandEncoderState(base, 3); // rows: src 0, 0, 0, 1, 1, 1, 2, 2, 2
      model.dispose(base);
      const hist = Array.from(st.rowSource, (_, r) => [2, 10 + r]);
      // Beam-style reorder (within each source), then a cross-source permutation of the same rows.
      const beams = [1, 1, 0, 5, 3, 4, 6, 8, 8];
      const perm = [4, 0, 8, 2, 6, 1, 7, 3, 5];
      const tok = beams.map((_, i) => [20 + i]);
      const step = async (rows: readonly number[], tokens: number[][]) => {
        const first = await model.decodeStep(st, hist, null);
        return await model.decodeStep(st, tokens, model.reorderCache(first.cache, rows));
      };
      const grouped = await step(beams, tok);
      assertEquals(gathers, 0, "cross K/V gathered for grouped rows");
      const mixed = await step(perm.map((p) => beams[p]), perm.map((p) => tok[p]));
      assertEquals(gathers, 4, "gathers: 2 layers × key, value");
      const V = model.vocabSize;
      const expected = perm.flatMap((p) => Array.from(grouped.logits.subarray(p * V, (p + 1) * V)));
      assertBelow(maxAbsDiff(mixed.logits, expected), 1e-5, "max |Δ logit| grouped vs gathered");
      // Both equal the uncached decode of the reordered histories.
      const full = await model.decodeStep(st, beams.map((b, i) => [...hist[b], tok[i][0]]), null);
      assertBelow(maxAbsDiff(grouped.logits, Array.from(full.logits)), 1e-5, "vs uncached");
      // The expansion's lastHiddenState (copied on first read) repeats the encoded rows.
      const [, S, E] = base.lastHiddenState.dims;
      assertEquals(st.lastHiddenState.dims, [9, S, E]);
      assertEquals(
        st.lastHiddenState.data.slice(4 * S * E, 5 * S * E),
        base.lastHiddenState.data.slice(S * E, 2 * S * E),
      );
      model.dispose(st);
      assertEquals(st.encoded.hidden.data.length, 0); // the last user freed the encoder output
    } finally {
      await model.release();
    }
  });
}

Deno.test("onnx node bert2bert: a step appends only its new K/V to the history, caches stay valid after their step, dispose frees cache and state, logits unchanged (1e-5)", async () => {
  const model = await OnnxEncoderDecoder.fromPretrained(`${FIXTURES}bert2bert`, {
    runtime: "node",
  });
  const detached = (ts: readonly { data: unknown }[]) =>
    ts.map((t) => (t.data as Float32Array<ArrayBuffer>).buffer.detached);
  try {
    const src = [[2, 65, 53, 15, 3], [2, 31, 78, 7, 3]];
    const ones = [[1, 1, 1, 1, 1], [1, 1, 1, 1, 1]];
    const base = await model.encode(src, ones);
    const st = model.expandEncoderState(base, 2); // rows: src 0, 0, 1, 1
    model.dispose(base); // as generate() does: the expansion still needs the shared cross K/V
    assertEquals(base.encoded.hidden.data.length > 0, true);
    const first = await model.decodeStep(st, [[2], [2], [2], [2]], null);
    // Four rows of one position each: history rows 0-3, each row reading its own.
    assertEquals(first.cache.history.rows, 4);
    assertEquals(Array.from(first.cache.index, Number), [0, 1, 2, 3]);
    const reordered = model.reorderCache(first.cache, [1, 0, 3, 2]);
    assertEquals(Array.from(reordered.index, Number), [1, 0, 3, 2]);
    const step = await model.decodeStep(st, [[9], [8], [7], [6]], reordered);
    // The step appended its 4 new rows; the past rows were not copied.
    assertEquals(step.cache.history, first.cache.history);
    assertEquals(step.cache.history.rows, 8);
    assertEquals(Array.from(step.cache.index, Number), [1, 4, 0, 5, 3, 6, 2, 7]);
    // Same logits as decoding the reordered histories in one uncached step.
    const full = await model.decodeStep(st, [[2, 9], [2, 8], [2, 7], [2, 6]], null);
    assertBelow(maxAbsDiff(step.logits, Array.from(full.logits)), 1e-5);
    // A cache stays valid after its step: continuing `reordered` again gives the same logits.
    const again = await model.decodeStep(st, [[9], [8], [7], [6]], reordered);
    assertEquals(Array.from(again.logits), Array.from(step.logits));
    // dispose frees the lineage's history: every cache of it is refused afterwards.
    model.dispose(step.cache);
    assertEquals(step.cache.history.released, true);
    await assertRejects(
      () => model.decodeStep(st, [[5], [5], [5], [5]], again.cache),
      OnnxModelError,
      "cache: its tensors were released",
    );
    model.dispose(full.cache);
    // The last state sharing the encoder output frees it and the cross K/V; twice is a no-op.
    const kv = st.encoded.kv!;
    model.dispose(st);
    model.dispose(st);
    assertEquals(detached([st.encoded.hidden, ...kv]), [st.encoded.hidden, ...kv].map(() => true));
    await assertRejects(
      () => model.decodeStep(st, [[2], [2], [2], [2]], null),
      OnnxModelError,
      "encoder state: it was disposed",
    );
  } finally {
    await model.release();
  }
});

Deno.test("onnx node bert2bert: heap trimming when the K/V history grows (default) leaves the logits bit-identical", async () => {
  // This test runs with -A on Linux (glibc): the trimmer must load; elsewhere it is null.
  const trim = heapTrimmer();
  assertEquals(typeof trim, Deno.build.os === "linux" ? "function" : "object");
  trim?.();
  const run = async (trimHeap: boolean) => {
    const model = await OnnxEncoderDecoder.fromPretrained(`${FIXTURES}bert2bert`, {
      runtime: "node",
      trimHeap,
    });
    try {
      const st = model.expandEncoderState(
        await model.encode([[2, 65, 53, 15, 3]], [[1, 1, 1, 1, 1]]),
        2,
      );
      let r = await model.decodeStep(st, [[2], [2]], null);
      const logits = [Array.from(r.logits)];
      // 40 positions of 2 rows outgrow the history's first buffers (32 positions): it grows once.
      for (let t = 1; t < 40; t++) {
        r = await model.decodeStep(st, [[t], [t + 1]], model.reorderCache(r.cache, [1, 0]));
        logits.push(Array.from(r.logits));
      }
      assertEquals(r.cache.history.grows, 2);
      return logits;
    } finally {
      await model.release();
    }
  };
  assertEquals(await run(true), await run(false));
});

Deno.test("onnx web (wasm) bert2bert: forward logits within 1e-4 and greedy = goldens", async () => {
  const g = await readGoldens("bert2bert");
  const model = await OnnxEncoderDecoder.fromPretrained(`${FIXTURES}bert2bert`, {
    runtime: "web",
  });
  try {
    assertEquals(model.runtime, "web");
    const lg = await forwardLogits(model, g);
    assertBelow(maxAbsDiff(lg.data, g.forward.logits), TOL);
    const seqs = await greedy(model, "bert2bert", g);
    assertEquals(seqs, g.generate.greedy.sequences);
  } finally {
    await model.release();
  }
});

Deno.test("onnx precision fp16: half-stored fixture weights give the goldens within 1e-4", async () => {
  const g = await readGoldens("bert2bert-fp16");
  const model = await OnnxEncoderDecoder.fromPretrained(`${FIXTURES}bert2bert-fp16`, {
    runtime: "node",
    precision: "fp16",
  });
  try {
    const lg = await forwardLogits(model, g);
    assertBelow(maxAbsDiff(lg.data, g.forward.logits), TOL);
  } finally {
    await model.release();
  }
});

Deno.test("onnx precision int8: logits within 0.1 of fp32 goldens, greedy = fp32 greedy", async () => {
  for (const name of ["bert2bert", "bert2gpt2"]) {
    const g = await readGoldens(name);
    const model = await OnnxEncoderDecoder.fromPretrained(`${FIXTURES}${name}`, {
      runtime: "node",
      precision: "int8",
    });
    try {
      const lg = await forwardLogits(model, g);
      assertBelow(maxAbsDiff(lg.data, g.forward.logits), 0.1);
      const seqs = await greedy(model, name, g);
      assertEquals(seqs, g.generate.greedy.sequences);
    } finally {
      await model.release();
    }
  }
});

Deno.test("onnx model: runtime auto picks node; bad inputs are typed errors naming the value", async () => {
  const model = await OnnxEncoderDecoder.fromPretrained(`${FIXTURES}bert2bert`);
  try {
    assertEquals([model.runtime, model.precision, model.vocabSize], ["node", "fp32", 99]);
    await assertRejects(
      () => model.encode([[2, 999]], [[1, 1]]),
      OnnxModelError,
      "inputIds[0][1] = 999",
    );
    await assertRejects(
      () => model.encode([[2, 3], [2]], [[1, 1], [1]]),
      OnnxModelError,
      "inputIds[1]",
    );
    await assertRejects(() => model.encode([[2, 3]], [[1, 1, 1]]), OnnxModelError, "attentionMask");
    await assertRejects(
      () => model.encode([Array(65).fill(5)], [Array(65).fill(1)]),
      OnnxModelError,
      "64 positions",
    );
    const st = await model.encode([[2, 3]], [[1, 1]]);
    await assertRejects(() => model.decodeStep(st, [[2], [2]], null), OnnxModelError, "2 rows");
    const { cache } = await model.decodeStep(st, [[2]], null);
    assertThrows(() => model.reorderCache(cache, [1]), OnnxModelError, "rows[0] = 1");
    await assertRejects(
      () => OnnxEncoderDecoder.fromPretrained(`${FIXTURES}bert2bert`, { numThreads: 0 }),
      OnnxModelError,
      "numThreads = 0",
    );
    assertEquals(argmax([0, 3, 3]), 1);
  } finally {
    await model.release();
  }
});

Deno.test("onnx model: a missing checkpoint key is an OnnxModelError naming it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.copyFile(`${FIXTURES}bert2bert/config.json`, `${dir}/config.json`);
    const { loadStateDict, saveSafetensorsFile } = await import("../../weights/mod.ts");
    const { tensors } = await loadStateDict(`${FIXTURES}bert2bert`);
    tensors.delete("decoder.bert.encoder.layer.1.crossattention.self.key.weight");
    await saveSafetensorsFile(`${dir}/model.safetensors`, tensors);
    await assertRejects(
      () => OnnxEncoderDecoder.fromPretrained(dir, { runtime: "node" }),
      OnnxModelError,
      `missing weight "decoder.bert.encoder.layer.1.crossattention.self.key.weight"`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("onnx precision fp16 with a bfloat16 checkpoint: bf16 storage + Cast = host upcast (1e-6)", async () => {
  const { AutoConfig, EncoderDecoderConfig } = await import("@encdec/config");
  const { loadStateDict } = await import("../../weights/mod.ts");
  const { Tensor, floatToBf16 } = await import("../../tensor.ts");
  const config = await AutoConfig.fromPretrained(`${FIXTURES}bert2bert`);
  if (!(config instanceof EncoderDecoderConfig)) throw new Error("expected an encoder-decoder");
  const { tensors } = await loadStateDict(`${FIXTURES}bert2bert`);
  const bf16 = new Map(
    [...tensors].map(([k, t]) => [
      k,
      new Tensor("bfloat16", Uint16Array.from(t.data as Float32Array, floatToBf16), [...t.dims]),
    ]),
  );
  const g = await readGoldens("bert2bert");
  const run = async (precision: "fp32" | "fp16") => {
    const model = await OnnxEncoderDecoder.create(config, bf16, { runtime: "node", precision });
    try {
      return (await forwardLogits(model, g)).data;
    } finally {
      await model.release();
    }
  };
  const stored = await run("fp16");
  const upcast = await run("fp32");
  assertBelow(
    maxAbsDiff(stored, Array.from(upcast)),
    1e-6,
    "max |Δ logit| bf16-stored vs upcast",
  );
  // Sanity bound only: bf16 rounding (8-bit mantissa) moves the logits away from the fp32 goldens.
  assertBelow(maxAbsDiff(upcast, g.forward.logits), 0.5, "max |Δ logit| bf16 vs fp32 golden");
});
