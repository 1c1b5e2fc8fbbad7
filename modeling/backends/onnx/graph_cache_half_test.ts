/**
 * The graph cache with a half-precision `pytorch_model.bin` (the seed's case): its float32
 * weights are converted piece by piece on their way into the entry's `weights.bin`
 * (`TensorSpec.upcast`, `withDeferredUpcasts`), never whole in memory; the logits of the first
 * load (written), of a cached load and of a load without the cache are the same bits.
 */
import { assert, assertEquals } from "@std/assert";
import { loadStateDict, saveTorchCheckpointFile } from "../../weights/mod.ts";
import { OnnxEncoderDecoder } from "./mod.ts";
import { graphCacheStats } from "./graph_cache.ts";
import { FIXTURES, forwardLogits, readGoldens } from "./_test_util.ts";
import { withDeferredUpcasts } from "./graph_builder.ts";
import { GraphTracer } from "./traced_graphs.ts";
import { AutoConfig, type EncoderDecoderConfig } from "@encdec/config";
import { encodeModel } from "./_onnx_proto.ts";

/** Fixture `name` (half safetensors) re-saved as a `pytorch_model.bin` in a temporary folder. */
async function halfBinCopy(name: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "encdec_half_bin_" });
  for await (const e of Deno.readDir(`${FIXTURES}${name}`)) {
    if (e.isFile && e.name !== "model.safetensors") {
      await Deno.copyFile(`${FIXTURES}${name}/${e.name}`, `${dir}/${e.name}`);
    }
  }
  const { tensors } = await loadStateDict(`${FIXTURES}${name}`);
  await saveTorchCheckpointFile(`${dir}/pytorch_model.bin`, tensors);
  return dir;
}

async function logitsOf(dir: string, cache: string | false): Promise<number[]> {
  const g = await readGoldens("bert2bert");
  const model = await OnnxEncoderDecoder.fromPretrained(dir, {
    runtime: "node",
    graphCache: cache,
  });
  try {
    return Array.from((await forwardLogits(model, g)).data);
  } finally {
    await model.release();
  }
}

for (const fixture of ["bert2bert-fp16", "bert2bert-bf16"]) {
  Deno.test(`graph cache, ${fixture} as pytorch_model.bin: weights converted into the entry; same logits`, async () => {
    const dir = await halfBinCopy(fixture);
    const cache = await Deno.makeTempDir({ prefix: "encdec_graphs_" });
    try {
      const plain = await logitsOf(dir, false);
      const before = { ...graphCacheStats };
      assertEquals(await logitsOf(dir, cache), plain); // miss: written, then read back
      assertEquals(graphCacheStats.writes - before.writes, 1);
      assert(
        graphCacheStats.upcastBytes > before.upcastBytes,
        "no weight was converted on its way",
      );
      const hits = graphCacheStats.hits;
      assertEquals(await logitsOf(dir, cache), plain);
      assertEquals(graphCacheStats.hits - hits, 1);
    } finally {
      await Deno.remove(dir, { recursive: true });
      await Deno.remove(cache, { recursive: true });
    }
  });
}

Deno.test("withDeferredUpcasts: the same model bytes; half weights converted only when read", async () => {
  const dir = await halfBinCopy("bert2bert-fp16");
  try {
    const config = await AutoConfig.fromPretrained(dir) as EncoderDecoderConfig;
    const { tensors } = await loadStateDict(dir);
    const eager = new GraphTracer(config, tensors, dir, "fp32", true).encoder().graph;
    const lazy = withDeferredUpcasts(() =>
      new GraphTracer(config, tensors, dir, "fp32", true).encoder().graph
    );
    const deferred = lazy.initializers.filter((t) => t.upcast);
    assert(deferred.length > 0, "no initializer was deferred");
    assert(deferred.some((t) => t.upcast!.length > 1), "no fused weight was deferred");
    assertEquals(eager.initializers.filter((t) => t.upcast).length, 0);
    assertEquals(encodeModel(lazy), encodeModel(eager));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
