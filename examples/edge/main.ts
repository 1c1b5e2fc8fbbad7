/**
 * An edge function (Deno Deploy or `deno run`) that summarizes POSTed text. The model is loaded
 * once at start-up on the CPU backend (no native add-ons), then every request reuses it.
 *
 * ```sh
 * deno run --no-prompt --allow-read=models/default --allow-net=127.0.0.1:8000 \
 *   --allow-env=PORT,HOSTNAME,ENCDEC_MODEL,MAX_BODY_BYTES,MAX_TIME_S,ENCDEC_STATS examples/edge/main.ts
 * curl -s localhost:8000/summarize -d '{"text": "A long article ...", "options": {"numBeams": 4}}'
 * ```
 *
 * Environment: `PORT` (default 8000; 0 = any free port), `HOSTNAME` (default 127.0.0.1),
 * `ENCDEC_MODEL` (a local model directory, default the repository's `models/default/`),
 * `MAX_BODY_BYTES` (default 65536), `MAX_TIME_S` (generation time limit, default 10),
 * `ENCDEC_STATS=1` (adds `GET /stats`: request count and process memory).
 *
 * @module
 */
import { defaultModelPath, pipeline } from "@encdec/cli";
import { createHandler, DEFAULT_LIMITS } from "./handler.ts";

function env(name: string): string | undefined {
  try {
    return Deno.env.get(name) || undefined;
  } catch {
    return undefined;
  }
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
  let summarize;
  try {
    summarize = await pipeline("summarization", model, { device: "cpu" });
  } catch (e) {
    console.error(`edge: cannot load the model "${model}": ${(e as Error).message}`);
    Deno.exit(1);
  }
  const handler = createHandler(summarize, {
    maxBodyBytes: positive("MAX_BODY_BYTES", DEFAULT_LIMITS.maxBodyBytes),
    maxTimeSeconds: positive("MAX_TIME_S", DEFAULT_LIMITS.maxTimeSeconds),
  }, { stats: env("ENCDEC_STATS") === "1" });
  Deno.serve({
    port,
    hostname,
    onListen: ({ hostname, port }) => console.log(`listening on http://${hostname}:${port}/`),
  }, handler);
}
