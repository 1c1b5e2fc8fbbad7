/**
 * An edge function (Deno Deploy or `deno run`) that summarizes POSTed text. The model is loaded
 * once at start-up on the CPU backend (no native add-ons), then every request reuses it.
 *
 * ```sh
 * deno run --no-prompt --unstable-no-legacy-abort --allow-read=models/default \
 *   --allow-net=127.0.0.1:8000 \
 *   --allow-env=PORT,HOSTNAME,ENCDEC_MODEL,MAX_BODY_BYTES,BODY_TIMEOUT_S,MAX_TIME_S,MAX_CONCURRENT,MAX_QUEUE,ENCDEC_STATS \
 *   examples/edge/main.ts &
 * curl -s localhost:8000/summarize -d '{"text": "A long article ...", "options": {"numBeams": 4}}'
 * kill $!
 * ```
 *
 * Environment: `PORT` (default 8000; 0 = any free port), `HOSTNAME` (default 127.0.0.1),
 * `ENCDEC_MODEL` (a local model directory, default the repository's `models/default/`),
 * `ENCDEC_DEVICE` (default `cpu`; `onnx-web`: onnxruntime's wasm build, no FFI), `ENCDEC_DTYPE`
 * (default float32; `int8` on onnx), `ENCDEC_THREADS` (onnx devices: onnxruntime's threads;
 * default 1 on onnx-web, see {@linkcode defaultThreads}, the logical cores on onnx-node),
 * `MAX_BODY_BYTES` (default 65536), `BODY_TIMEOUT_S` (default 10), `MAX_TIME_S` (generation time
 * limit, default 10), `MAX_CONCURRENT` (generations at once, default 1), `MAX_QUEUE` (requests
 * admitted beyond those, default 16; more → 503), `ENCDEC_STATS=1` (adds `GET /stats`).
 * SIGTERM / SIGINT abort running work, close the port and exit 0. Run it with the real `deno`
 * binary, not npm's Node wrapper (`node_modules/.bin/deno`), which does not pass signals on.
 *
 * @module
 */
import { defaultModelPath, type Dtype, pipeline } from "@encdec/cli";
import { createHandler, DEFAULT_LIMITS } from "./handler.ts";

/**
 * onnxruntime's threads when `ENCDEC_THREADS` is unset: one on `onnx-web` (a wasm worker costs
 * an isolate, ~20-30 MiB, where an edge platform's memory limit binds, and such platforms give
 * about one CPU: bert2bert-base int8 peaked at 472-476 MiB through 100 requests with one thread,
 * 501-536 MiB with two), the runtime's default (the logical cores) on any other device.
 */
export function defaultThreads(device: string): number | undefined {
  return device === "onnx-web" ? 1 : undefined;
}

function env(name: string): string | undefined {
  try {
    return Deno.env.get(name) || undefined;
  } catch {
    return undefined;
  }
}

function integer(name: string, fallback: number, min: number): number {
  const raw = env(name);
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < min) {
    console.error(`edge: ${name}=${raw} is not an integer ≥ ${min}`);
    Deno.exit(2);
  }
  return v;
}

function positive(name: string, fallback: number, allowZero = false): number {
  const raw = env(name);
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (!Number.isFinite(v) || v < 0 || (!allowZero && v === 0)) {
    console.error(
      `edge: ${name}=${raw} is not a ${allowZero ? "non-negative" : "positive"} number`,
    );
    Deno.exit(2);
  }
  return v;
}

if (import.meta.main) {
  const port = positive("PORT", 8000, true);
  const hostname = env("HOSTNAME") ?? "127.0.0.1";
  const model = env("ENCDEC_MODEL") ?? defaultModelPath();
  if (Deno.permissions.querySync({ name: "read", path: model }).state !== "granted") {
    console.error(
      `edge: reading the model "${model}" is not permitted; start with --allow-read=${model}`,
    );
    Deno.exit(1);
  }
  const device = env("ENCDEC_DEVICE") ?? "cpu";
  const threads = env("ENCDEC_THREADS") === undefined
    ? defaultThreads(device)
    : integer("ENCDEC_THREADS", 1, 1);
  let summarize;
  try {
    // Default cpu (pure TypeScript); ENCDEC_DEVICE=onnx-web runs onnxruntime's wasm build
    // (no --allow-ffi), with ENCDEC_DTYPE=int8 for per-channel int8 linear layers (and int8
    // embedding tables); ENCDEC_THREADS sets onnxruntime's threads (wasm: 1 = no worker).
    summarize = await pipeline("summarization", model, {
      device,
      dtype: env("ENCDEC_DTYPE") as Dtype | undefined,
      numThreads: threads,
      // Each answer says what was cut (`truncated: {from, to}`); no line on the server's stderr.
      onTruncate: () => {},
    });
  } catch (e) {
    console.error(`edge: cannot load the model "${model}": ${(e as Error).message}`);
    Deno.exit(1);
  }
  const handler = createHandler(summarize, {
    maxBodyBytes: positive("MAX_BODY_BYTES", DEFAULT_LIMITS.maxBodyBytes),
    bodyTimeoutSeconds: positive("BODY_TIMEOUT_S", DEFAULT_LIMITS.bodyTimeoutSeconds),
    maxTimeSeconds: positive("MAX_TIME_S", DEFAULT_LIMITS.maxTimeSeconds),
    maxConcurrent: integer("MAX_CONCURRENT", DEFAULT_LIMITS.maxConcurrent, 1),
    maxQueue: integer("MAX_QUEUE", DEFAULT_LIMITS.maxQueue, 0),
  }, { stats: env("ENCDEC_STATS") === "1" });
  const server = Deno.serve({
    port,
    hostname,
    onListen: ({ hostname, port }) =>
      console.log(`listening on http://${hostname}:${port}/ (pid ${Deno.pid})`),
  }, handler);
  // SIGTERM / SIGINT: refuse new work, abort what runs (503), close, exit 0 — within 5 s.
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    handler.abortAll();
    setTimeout(() => Deno.exit(0), 5000);
    server.shutdown().finally(() => Deno.exit(0));
  };
  for (const sig of ["SIGTERM", "SIGINT"] as const) {
    try {
      Deno.addSignalListener(sig, stop);
    } catch { /* hosts without signals (Deno Deploy) stop the isolate themselves */ }
  }
}
