/**
 * The edge example (`examples/edge/main.ts`) as a subprocess on 127.0.0.1 (ephemeral port) with
 * its documented least-privilege flags: status codes and bodies for a valid summary, invalid
 * JSON (400), oversized bodies and texts (413), options over the limits (422), wrong method (405)
 * and path (404). The summary is compared with the Python reference's greedy `decoded` text of the
 * same input (exact equality; the default model is the bert2bert fixture).
 */
import { assert, assertEquals, assertMatch } from "@std/assert";
import { defaultModelSummary, EDGE_ARGS, FIXTURES, ROOT, startEdge } from "./cli_util.ts";

const golden = JSON.parse(Deno.readTextFileSync(`${FIXTURES}/bert2bert/goldens.json`)) as {
  inputs: { texts: string[] };
  decoded: Record<string, string[]>;
};

async function post(url: string, body: BodyInit, headers: HeadersInit = {}) {
  const r = await fetch(url, { method: "POST", body, headers });
  return { status: r.status, headers: r.headers, json: await r.json() };
}

Deno.test("edge example: POST /summarize and its 200/400/404/405/413/422 answers", async () => {
  const edge = await startEdge({ MAX_BODY_BYTES: "16384" });
  try {
    const url = `${edge.url}/summarize`;
    const ok = await post(
      url,
      JSON.stringify({ text: golden.inputs.texts[1], options: { maxNewTokens: 20 } }),
    );
    assertEquals(ok.status, 200);
    // The edge example serves models/default: the same text the library computes from it.
    assertEquals(ok.json, {
      summary_text: await defaultModelSummary(golden.inputs.texts[1], { maxNewTokens: 20 }),
    });
    assertEquals(ok.headers.get("content-type"), "application/json; charset=utf-8");

    const beam = await post(url, JSON.stringify({ text: "Hello world!" }));
    assertEquals(beam.status, 200);
    assertEquals(typeof beam.json.summary_text, "string");

    const bad = await post(url, "{not json");
    assertEquals(bad.status, 400);
    assertMatch(bad.json.error, /invalid JSON/);
    assertEquals((await post(url, JSON.stringify({ text: 42 }))).status, 400);
    assertEquals((await post(url, JSON.stringify({ text: "  " }))).status, 400);
    assertEquals((await post(url, JSON.stringify(["text"]))).status, 400);
    const unknownOpt = await post(url, JSON.stringify({ text: "hi", options: { evil: 1 } }));
    assertEquals(unknownOpt.status, 400);
    assertMatch(unknownOpt.json.error, /unknown option "evil"/);

    // Body over MAX_BODY_BYTES: 413 from Content-Length, and from a streamed (chunked) body.
    const big = JSON.stringify({ text: "word ".repeat(5000) });
    const tooBig = await post(url, big);
    assertEquals(tooBig.status, 413);
    assertMatch(tooBig.json.error, /16384 bytes/);
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        c.enqueue(new TextEncoder().encode(big));
        c.close();
      },
    });
    assertEquals((await post(url, stream)).status, 413);

    // Text over the model's 64 tokens (but under the byte limit): 413 naming the token limit.
    const tooLong = await post(url, JSON.stringify({ text: "fox ".repeat(100) }));
    assertEquals(tooLong.status, 413);
    assertMatch(tooLong.json.error, /102 tokens; the limit is 64 tokens/);

    // The decoder has max_position_embeddings positions: longer outputs are refused up front.
    const decoderPositions = JSON.parse(
      Deno.readTextFileSync(`${ROOT}/models/default/config.json`),
    ).decoder.max_position_embeddings as number;
    const overLength = await post(
      url,
      JSON.stringify({ text: "hi", options: { maxNewTokens: decoderPositions + 10 } }),
    );
    assertEquals(overLength.status, 422);
    assertMatch(overLength.json.error, new RegExp(`the limit is ${decoderPositions - 1}`));
    const overBeams = await post(url, JSON.stringify({ text: "hi", options: { numBeams: 64 } }));
    assertEquals(overBeams.status, 422);
    const badCombo = await post(
      url,
      JSON.stringify({ text: "hi", options: { numReturnSequences: 2 } }),
    );
    assertEquals(badCombo.status, 400, "numReturnSequences is not an allowed option");

    const get = await fetch(url);
    assertEquals(get.status, 405);
    assertEquals(get.headers.get("allow"), "POST");
    await get.body?.cancel();
    const missing = await fetch(`${edge.url}/nope`, { method: "POST", body: "{}" });
    assertEquals(missing.status, 404);
    await missing.body?.cancel();
    const health = await fetch(`${edge.url}/health`);
    assertEquals(await health.json(), { status: "ok" });
  } finally {
    await edge.stop();
  }
});

Deno.test("edge example: maxTime caps generation; a request over the time budget still answers 200", async () => {
  const edge = await startEdge({ MAX_TIME_S: "0.001" });
  try {
    const r = await post(
      `${edge.url}/summarize`,
      JSON.stringify({ text: golden.inputs.texts[0], options: { numBeams: 4, maxLength: 60 } }),
    );
    assertEquals(r.status, 200);
    // With a 1 ms budget generation stops after very few steps.
    assert(r.json.summary_text.split(" ").length < 20, r.json.summary_text);
  } finally {
    await edge.stop();
  }
});

Deno.test("edge example least privilege: a model outside --allow-read is refused at start-up with one line", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [...EDGE_ARGS],
    env: { PORT: "0", HOSTNAME: "127.0.0.1", ENCDEC_MODEL: `${FIXTURES}/bert2bert` },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  assertEquals(out.code, 1);
  const stderr = new TextDecoder().decode(out.stderr).trim();
  assertEquals(
    stderr,
    `edge: reading the model "${FIXTURES}/bert2bert" is not permitted; start with --allow-read=${FIXTURES}/bert2bert`,
  );
  assertEquals(new TextDecoder().decode(out.stdout), "", "never started listening");
});
