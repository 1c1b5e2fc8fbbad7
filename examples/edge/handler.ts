/**
 * The request handler of the edge summarizer: routing, limits and JSON errors around a loaded
 * summarization pipeline. `main.ts` loads the model once and serves this handler.
 *
 * @module
 */
import type { PipelineCallOptions, Text2TextPipeline } from "@encdec/cli";

/** Request limits of the edge function. */
export interface EdgeLimits {
  /** Largest request body in bytes (default 64 KiB); larger → 413. */
  maxBodyBytes: number;
  /** Most input tokens (special tokens included); more → 413 (default: the model's maximum). */
  maxInputTokens: number;
  /** Generation time budget in seconds, passed to `generate` as `maxTime` (default 10). */
  maxTimeSeconds: number;
  /** Largest `maxLength` / `maxNewTokens` a request may ask for (default 256, at most the decoder's positions - 1). */
  maxOutputTokens: number;
  /** Largest `numBeams` a request may ask for (default 8). */
  maxBeams: number;
}

/** Defaults of {@linkcode EdgeLimits} without the model-dependent token limit. */
export const DEFAULT_LIMITS: Omit<EdgeLimits, "maxInputTokens"> = {
  maxBodyBytes: 64 * 1024,
  maxTimeSeconds: 10,
  maxOutputTokens: 256,
  maxBeams: 8,
};

/** Generation options a request may set, with their JSON type. */
const OPTION_TYPES: Record<string, "int" | "number" | "boolean"> = {
  numBeams: "int",
  maxLength: "int",
  maxNewTokens: "int",
  minLength: "int",
  minNewTokens: "int",
  earlyStopping: "boolean",
  noRepeatNgramSize: "int",
  lengthPenalty: "number",
  repetitionPenalty: "number",
  doSample: "boolean",
  topK: "int",
  topP: "number",
  temperature: "number",
  seed: "int",
  maxTime: "number",
};

class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json; charset=utf-8", ...headers },
  });
}

/** Reads the body, refusing more than `limit` bytes (also when no Content-Length was sent). */
async function readBody(req: Request, limit: number): Promise<string> {
  const declared = Number(req.headers.get("content-length") ?? "NaN");
  if (declared > limit) {
    throw new HttpError(413, `request body is ${declared} bytes; the limit is ${limit} bytes`);
  }
  if (!req.body) return "";
  const parts: Uint8Array[] = [];
  let total = 0;
  const reader = req.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > limit) {
      await reader.cancel();
      throw new HttpError(413, `request body is over ${limit} bytes; the limit is ${limit} bytes`);
    }
    parts.push(value);
  }
  const bytes = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    bytes.set(p, off);
    off += p.length;
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw new HttpError(400, "request body is not valid UTF-8");
  }
}

/** Checks the request's `options` against {@linkcode OPTION_TYPES} and the limits. */
function parseOptions(raw: unknown, limits: EdgeLimits): PipelineCallOptions {
  if (raw === undefined || raw === null) return { maxTime: limits.maxTimeSeconds };
  if (typeof raw !== "object" || Array.isArray(raw)) {
    throw new HttpError(400, `"options" must be an object`);
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) {
    const type = OPTION_TYPES[k];
    if (!type) {
      throw new HttpError(
        400,
        `unknown option "${k}"; allowed: ${Object.keys(OPTION_TYPES).join(", ")}`,
      );
    }
    const ok = type === "boolean"
      ? typeof v === "boolean"
      : typeof v === "number" && Number.isFinite(v) && (type === "number" || Number.isInteger(v));
    if (!ok) {
      throw new HttpError(
        400,
        `option "${k}" must be ${type === "int" ? "an integer" : `a ${type}`}`,
      );
    }
    out[k] = v;
  }
  for (const k of ["maxLength", "maxNewTokens"]) {
    if (typeof out[k] === "number" && (out[k] as number) > limits.maxOutputTokens) {
      throw new HttpError(
        422,
        `option "${k}" is ${out[k]}; the limit is ${limits.maxOutputTokens}`,
      );
    }
  }
  if (typeof out.numBeams === "number" && out.numBeams > limits.maxBeams) {
    throw new HttpError(
      422,
      `option "numBeams" is ${out.numBeams}; the limit is ${limits.maxBeams}`,
    );
  }
  // The server's time budget caps whatever the request asks for.
  const asked = typeof out.maxTime === "number" && out.maxTime > 0 ? out.maxTime : Infinity;
  out.maxTime = Math.min(asked, limits.maxTimeSeconds);
  return out as PipelineCallOptions;
}

/**
 * The edge function's handler: `POST /summarize` with `{ "text": "...", "options"?: {...} }` →
 * `{ "summary_text": "..." }`; `GET /health` → `{ "status": "ok" }`; with `features.stats`,
 * `GET /stats` → `{ requests, rss, heapUsed }` (process memory, for load tests). Errors are JSON
 * `{ "error": "..." }`: 400 invalid JSON or fields, 404 unknown path, 405 wrong method, 413 body
 * or token limit, 422 options over the limits, 500 generation failure.
 *
 * @example
 * ```ts
 * import { createHandler } from "./handler.ts";
 * import { pipeline } from "@encdec/cli";
 * const summarize = await pipeline("summarization");
 * Deno.serve(createHandler(summarize));
 * ```
 */
export function createHandler(
  summarize: Text2TextPipeline,
  limits: Partial<EdgeLimits> = {},
  features: { stats?: boolean } = {},
): (req: Request) => Promise<Response> {
  let served = 0;
  const lim: EdgeLimits = {
    ...DEFAULT_LIMITS,
    maxInputTokens: summarize.maxInputLength,
    ...limits,
  };
  // The decoder cannot go past its position table (BERT-like or GPT-2 decoders).
  const dec = summarize.model.config.decoder as unknown as {
    maxPositionEmbeddings?: number;
    nPositions?: number;
  };
  const decoderMax = dec.maxPositionEmbeddings ?? dec.nPositions;
  if (typeof decoderMax === "number") {
    lim.maxOutputTokens = Math.min(lim.maxOutputTokens, decoderMax - 1);
  }
  return async (req) => {
    const { pathname } = new URL(req.url);
    try {
      if (pathname === "/health") {
        if (req.method !== "GET" && req.method !== "HEAD") {
          throw new HttpError(405, `${req.method} is not allowed on /health; use GET`);
        }
        return json(200, { status: "ok" });
      }
      if (pathname === "/stats" && features.stats && req.method === "GET") {
        const m = Deno.memoryUsage();
        return json(200, { requests: served, rss: m.rss, heapUsed: m.heapUsed });
      }
      if (pathname !== "/summarize") {
        throw new HttpError(404, `no route ${pathname}; POST /summarize`);
      }
      if (req.method !== "POST") {
        return json(405, { error: `${req.method} is not allowed on /summarize; use POST` }, {
          allow: "POST",
        });
      }
      const body = await readBody(req, lim.maxBodyBytes);
      let payload: unknown;
      try {
        payload = JSON.parse(body);
      } catch {
        throw new HttpError(400, 'invalid JSON; expected {"text": "...", "options": {...}}');
      }
      if (payload === null || typeof payload !== "object" || Array.isArray(payload)) {
        throw new HttpError(400, 'expected a JSON object {"text": "..."}');
      }
      const { text, options, ...rest } = payload as Record<string, unknown>;
      const extra = Object.keys(rest);
      if (extra.length > 0) {
        throw new HttpError(400, `unknown field "${extra[0]}"; expected text, options`);
      }
      if (typeof text !== "string" || text.trim() === "") {
        throw new HttpError(400, `"text" must be a non-empty string`);
      }
      const callOptions = parseOptions(options, lim);
      const tokens = summarize.tokenizer.tokenize(summarize.prefix + text).length +
        summarize.tokenizer.numSpecialTokensToAdd();
      if (tokens > lim.maxInputTokens) {
        throw new HttpError(
          413,
          `"text" is ${tokens} tokens; the limit is ${lim.maxInputTokens} tokens: send a shorter text`,
        );
      }
      let out;
      try {
        out = await summarize(text, callOptions);
      } catch (e) {
        // Bad option combinations (e.g. numReturnSequences > numBeams) are the request's fault.
        if (
          e instanceof Error &&
          /^(GenerationConfigError|GenerationError|ModelInputError)$/.test(e.name)
        ) {
          throw new HttpError(422, e.message);
        }
        throw e;
      }
      served++;
      return json(200, out[0]);
    } catch (e) {
      if (e instanceof HttpError) return json(e.status, { error: e.message });
      console.error(`edge: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
      return json(500, { error: "generation failed" });
    }
  };
}
