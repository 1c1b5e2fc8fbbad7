/**
 * The graph cache's key does not hash the model code, so a change to the traced graphs must bump
 * `GRAPH_CACHE_FORMAT`, or a user's cache would hand out graphs of the old code. This test makes
 * that impossible to forget: it traces the graphs of three fixture models (BERT, GPT-2 and
 * Longformer code paths; fp32, the int8 decoder step, and int8 with int8 embedding tables) and compares their bytes' digests with `testdata/traced_graphs.json`,
 * recorded for the current format. A graph change fails here until the format is bumped and the
 * digests are re-recorded (the failure prints the new file).
 */
import { assertEquals } from "@std/assert";
import { AutoConfig, type EncoderDecoderConfig } from "@encdec/config";
import { loadStateDict } from "../../weights/mod.ts";
import { encodeModel } from "./_onnx_proto.ts";
import { digest, GRAPH_CACHE_FORMAT } from "./graph_cache.ts";
import { GraphTracer } from "./traced_graphs.ts";
import { FIXTURES } from "./_test_util.ts";

const MODELS = ["bert2bert", "bert2gpt2", "longformer2roberta"];
const RECORD = new URL("./testdata/traced_graphs.json", import.meta.url);

async function tracedDigests(name: string): Promise<Record<string, string>> {
  const dir = `${FIXTURES}${name}`;
  const config = await AutoConfig.fromPretrained(dir) as EncoderDecoderConfig;
  const { tensors } = await loadStateDict(dir);
  const tracer = new GraphTracer(config, tensors, name, "fp32", false);
  const cross = tracer.crossKV();
  // int8 too: its linear layers (a tied LM head among them) take other recorder paths.
  const int8 = new GraphTracer(config, tensors, name, "int8", false);
  // int8 embedding tables (onnxruntime-web's default) read them through their own nodes.
  const tables = new GraphTracer(config, tensors, name, "int8", false);
  tables.int8Embeddings = true;
  return {
    encoder: digest(encodeModel(tracer.encoder().graph)),
    crossKV: digest(encodeModel(cross.graph)),
    decoderStep: digest(encodeModel(tracer.decoderStep(cross.layout).graph)),
    int8DecoderStep: digest(encodeModel(int8.decoderStep(int8.crossKV().layout).graph)),
    int8TablesEncoder: digest(encodeModel(tables.encoder().graph)),
    int8TablesDecoderStep: digest(encodeModel(tables.decoderStep(tables.crossKV().layout).graph)),
  };
}

Deno.test("graph cache: the traced graphs are those recorded for GRAPH_CACHE_FORMAT (a change to them must bump it)", async () => {
  const now: Record<string, Record<string, string>> = {};
  for (const name of MODELS) now[name] = await tracedDigests(name);
  const fresh = JSON.stringify({ format: GRAPH_CACHE_FORMAT, digests: now }, null, 2) + "\n";
  const recorded = JSON.parse(await Deno.readTextFile(RECORD));
  const hint = `\nIf the model code or the recorder changed the graphs on purpose, bump ` +
    `GRAPH_CACHE_FORMAT in graph_cache.ts and write this into testdata/traced_graphs.json:\n${fresh}`;
  assertEquals(recorded.format, GRAPH_CACHE_FORMAT, `the record is for another format${hint}`);
  assertEquals(
    recorded.digests,
    now,
    `traced graphs changed under format ${GRAPH_CACHE_FORMAT}${hint}`,
  );
});
