/**
 * The edge example (`examples/edge/main.ts`) as a subprocess on 127.0.0.1 (ephemeral port) with
 * its documented least-privilege flags: status codes and bodies for a valid summary, invalid
 * JSON (400), oversized bodies (413), texts over the model's length (truncated like the CLI, with
 * `truncated: {from, to}`), option values out of range (422 naming the option), prototype names
 * as options (400), wrong method (405) and path (404); slow-body clients (408 after the body
 * timeout, 503 beyond the queue, memory back afterwards); stopping the server by the pid `$!`
 * gives when started exactly as examples/edge/README.md shows. Summaries are compared with what
 * the library computes from models/default (exact equality).
 */
import { assert, assertEquals, assertMatch } from "@std/assert";
import {
  defaultModelSummary,
  EDGE_ARGS,
  encdecLines,
  FIXTURES,
  ROOT,
  runEncdec,
  startEdge,
} from "./cli_util.ts";
import { defaultThreads } from "../examples/edge/main.ts";

const golden = JSON.parse(Deno.readTextFileSync(`${FIXTURES}/bert2bert/goldens.json`)) as {
  inputs: { texts: string[] };
  decoded: Record<string, string[]>;
};

async function post(url: string, body: BodyInit, headers: HeadersInit = {}) {
  const r = await fetch(url, { method: "POST", body, headers });
  return { status: r.status, headers: r.headers, json: await r.json() };
}

const LONG_TEXT = "fox ".repeat(100);

Deno.test("edge example: POST /summarize and its 200/400/404/405/413/422 answers; long texts truncated like the CLI", async () => {
  // The CLI run on the long text starts first and overlaps the server's start-up.
  const cliRun = runEncdec(["run", "--task", "summarization", "--device", "cpu"], {
    stdin: `${LONG_TEXT}\n`,
  });
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

    // Text over the model's 64 tokens (under the byte limit): truncated as the CLI does, and said.
    const truncated = await post(url, JSON.stringify({ text: LONG_TEXT }));
    assertEquals(truncated.status, 200);
    assertEquals(truncated.json.truncated, { from: 102, to: 64 });
    // The CLI cuts the same text the same way and says so with the same two numbers.
    const cli = await cliRun;
    assertEquals(cli.code, 0, cli.stderr);
    assertEquals(encdecLines(cli.stderr), [
      "encdec: input truncated from 102 to 64 tokens (the model's maximum)",
    ]);
    assertEquals(cli.stdout.trim(), truncated.json.summary_text);

    // The decoder has max_position_embeddings positions: longer outputs are refused up front.
    const decoderPositions = JSON.parse(
      Deno.readTextFileSync(`${ROOT}/models/default/config.json`),
    ).decoder.max_position_embeddings as number;
    const overLength = await post(
      url,
      JSON.stringify({ text: "hi", options: { maxNewTokens: decoderPositions + 10 } }),
    );
    assertEquals(overLength.status, 422);
    assertEquals(overLength.json, {
      error: `option "maxNewTokens" is ${decoderPositions + 10}; expected an integer from 1 to ${
        decoderPositions - 1
      }`,
      option: "maxNewTokens",
    });
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

Deno.test("edge example: option values out of range answer 422 naming the option; prototype names are unknown options", async () => {
  const edge = await startEdge();
  try {
    const url = `${edge.url}/summarize`;
    const cases: [Record<string, unknown>, number, string, RegExp][] = [
      [{ numBeams: 0 }, 422, "numBeams", /"numBeams" is 0; expected an integer from 1 to 8/],
      [{ numBeams: -5 }, 422, "numBeams", /"numBeams" is -5/],
      [{ maxLength: -1e300 }, 422, "maxLength", /"maxLength" is -1e\+300; expected an integer/],
      [{ topK: 1e300 }, 422, "topK", /"topK" is 1e\+300; expected an integer from 0 to \d+/],
      [{ topP: 1.5 }, 422, "topP", /from 0 to 1/],
      // Combinations generation itself refuses: still 422, naming the option.
      [{ doSample: true, topP: 0 }, 422, "topP", /top_p is 0/],
      [{ temperature: 0 }, 422, "temperature", /above 0/],
      [{ seed: -1 }, 422, "seed", /"seed" is -1/],
      [{ numBeams: 2.5 }, 400, "numBeams", /expected an integer/],
      [{ doSample: "yes" }, 400, "doSample", /true or false/],
      [{ constructor: 1 }, 400, "constructor", /unknown option "constructor"/],
      [{ toString: 1 }, 400, "toString", /unknown option "toString"/],
      [{ hasOwnProperty: 1 }, 400, "hasOwnProperty", /unknown option "hasOwnProperty"/],
    ];
    for (const [options, status, option, message] of cases) {
      const r = await post(url, JSON.stringify({ text: "hello world", options }));
      assertEquals([r.status, r.json.option], [status, option], JSON.stringify(options));
      assertMatch(r.json.error, message);
    }
    // "__proto__" from JSON is an own key: refused as an unknown option / field too.
    const proto = await post(url, '{"text": "hi", "options": {"__proto__": {"numBeams": 1}}}');
    assertEquals([proto.status, proto.json.option], [400, "__proto__"]);
    const protoField = await post(url, '{"text": "hi", "__proto__": {}}');
    assertEquals(protoField.status, 400);
    // The limits still allow every valid value at their edges.
    const edgeValues = await post(
      url,
      JSON.stringify({ text: "hello world", options: { numBeams: 8, topK: 0, maxNewTokens: 3 } }),
    );
    assertEquals(edgeValues.status, 200);
  } finally {
    await edge.stop();
  }
});

/** Opens a raw connection that sends headers and part of a body, then stalls. */
async function slowBody(port: number, declared: number, sent: number): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const head = `POST /summarize HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n` +
    `Content-Length: ${declared}\r\n\r\n{"text": "`;
  await conn.write(new TextEncoder().encode(head + "a".repeat(sent)));
  return conn;
}

/** The status line the server sent on `conn`, or `"none"` after `ms` milliseconds. */
async function statusLine(conn: Deno.TcpConn, ms: number): Promise<string> {
  const buf = new Uint8Array(4096);
  const timer = setTimeout(() => conn.close(), ms);
  try {
    const n = await conn.read(buf);
    return n === null ? "closed" : new TextDecoder().decode(buf.subarray(0, n)).split("\r\n")[0];
  } catch {
    return "none";
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch { /* closed by the timer */ }
  }
}

Deno.test("edge example: slow-body clients get 408 after the body timeout, 503 beyond the queue; /health stays fast and memory returns", async () => {
  const edge = await startEdge({ BODY_TIMEOUT_S: "1", MAX_QUEUE: "24", ENCDEC_STATS: "1" });
  try {
    const port = Number(new URL(edge.url).port);
    const stats = async () => await (await fetch(`${edge.url}/stats`)).json();
    const rss0 = (await stats()).rss;
    // 40 clients each announce 60,000 bytes, send 30,000, then stall (a slowloris wave).
    const conns: Deno.TcpConn[] = [];
    for (let i = 0; i < 40; i++) conns.push(await slowBody(port, 60_000, 30_000));
    const t0 = performance.now();
    const answers = conns.map((c) => statusLine(c, 10_000));
    const health = performance.now();
    const h = await fetch(`${edge.url}/health`, { signal: AbortSignal.timeout(1000) });
    assertEquals(await h.json(), { status: "ok" });
    assert(performance.now() - health < 1000, "GET /health answered within 1 s");
    const lines = await Promise.all(answers);
    const seconds = (performance.now() - t0) / 1000;
    const count = (p: RegExp) => lines.filter((l) => p.test(l)).length;
    assertEquals(count(/^HTTP\/1\.1 (408|503) /), 40, `answers: ${lines.join(" | ")}`);
    assert(count(/ 503 /) >= 40 - 25, `over the queue (24 + 1 running) → 503: ${lines}`);
    assert(count(/ 408 /) >= 1, `admitted slow bodies time out → 408: ${lines}`);
    assert(seconds < 8, `every slow client answered in ${seconds.toFixed(1)} s`);
    const after = await stats();
    assertEquals([after.running, after.waiting], [0, 0], "nothing left admitted");
    const grown = (after.rss - rss0) / 2 ** 20;
    assert(grown < 48, `RSS grew ${grown.toFixed(1)} MiB after the slow clients left`);
    // The server still works.
    const ok = await post(`${edge.url}/summarize`, JSON.stringify({ text: "hello world" }));
    assertEquals(ok.status, 200);
  } finally {
    await edge.stop();
  }
});

/** The README's background start line (`... examples/edge/main.ts &`), continuation lines joined. */
function documentedStartLine(): string {
  const readme = Deno.readTextFileSync(`${ROOT}/examples/edge/README.md`);
  const blocks = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) =>
    m[1].replace(/\\\n\s*/g, "")
  );
  for (const block of blocks) {
    const line = block.split("\n").find((l) => /examples\/edge\/main\.ts &\s*$/.test(l));
    if (line && /kill \$!/.test(block)) return line;
  }
  throw new Error("examples/edge/README.md shows no `... examples/edge/main.ts &` + `kill $!`");
}

Deno.test("edge example: `kill $!` after the README's background start stops the server (port closed)", async () => {
  const line = documentedStartLine();
  // A free port instead of the README's 8000 (the same command otherwise), with the set-up's PATH.
  const probe = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (probe.addr as Deno.NetAddr).port;
  probe.close();
  // Output to a file so that the background server does not hold the pipe open.
  const log = await Deno.makeTempFile({ prefix: "edge-kill-" });
  const command = line.replaceAll("8000", String(port)).replace(/&\s*$/, `>${log} 2>&1 &`);
  const shell = new Deno.Command("bash", {
    args: ["-c", `${command}\necho $!`],
    cwd: ROOT,
    env: { PATH: `${ROOT}/bin:${Deno.env.get("PATH")}`, PORT: String(port) },
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  });
  const out = await shell.output();
  const pid = Number(new TextDecoder().decode(out.stdout).trim().split("\n").at(-1));
  assert(Number.isInteger(pid) && pid > 0, `pid from $!: ${new TextDecoder().decode(out.stdout)}`);
  const up = async () => {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/health`, {
        signal: AbortSignal.timeout(500),
      });
      await r.body?.cancel();
      return r.ok;
    } catch {
      return false;
    }
  };
  try {
    for (let i = 0; i < 200 && !(await up()); i++) await new Promise((r) => setTimeout(r, 100));
    assert(
      await up(),
      `the documented command started no server on port ${port}: ${await Deno.readTextFile(log)}`,
    );
    Deno.kill(pid, "SIGTERM");
    let closed = false;
    for (let i = 0; i < 50 && !closed; i++) {
      await new Promise((r) => setTimeout(r, 100));
      closed = !(await up());
    }
    assert(closed, `port ${port} still answers 5 s after kill ${pid}`);
  } finally {
    // On failure, also stop the server itself (it prints its pid), never leave it running.
    const own = /\(pid (\d+)\)/.exec(await Deno.readTextFile(log))?.[1];
    for (const p of [pid, Number(own)]) {
      try {
        if (p > 0) Deno.kill(p, "SIGKILL");
      } catch { /* already gone */ }
    }
    await Deno.remove(log);
  }
});

Deno.test("edge example: onnxruntime-web runs one wasm thread unless ENCDEC_THREADS says otherwise; other devices keep the runtime's default", () => {
  assertEquals(
    ["onnx-web", "onnx-node", "onnx", "cpu", "webgpu"].map(defaultThreads),
    [1, undefined, undefined, undefined, undefined],
  );
});
