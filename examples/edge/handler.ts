/**
 * The request handler of the edge summarizer: routing, limits, a bounded work queue and JSON
 * errors around a loaded summarization pipeline. `main.ts` loads the model once and serves this
 * handler.
 *
 * @module
 */
import process from "node:process";
import type { Text2TextPipeline } from "@encdec/cli";
import { readBody } from "./_body.ts";
import { errorResponse, HttpError, json } from "./_http.ts";
import { parseOptions } from "./_options.ts";
import { type Ticket, WorkQueue } from "./_queue.ts";

/** Request limits of the edge function. */
export interface EdgeLimits {
  /** Largest request body in bytes (default 64 KiB); larger → 413. */
  maxBodyBytes: number;
  /** Seconds the whole body may take to arrive (default 10); slower → 408. */
  bodyTimeoutSeconds: number;
  /** Generation time budget in seconds, passed to `generate` as `maxTime` (default 10). */
  maxTimeSeconds: number;
  /** Largest `maxLength` / `maxNewTokens` a request may ask for (default 256, at most the decoder's positions - 1). */
  maxOutputTokens: number;
  /** Largest `numBeams` a request may ask for (default 8). */
  maxBeams: number;
  /** Generations running at once (default 1: they share one JavaScript thread). */
  maxConcurrent: number;
  /** Requests admitted beyond the running ones (reading or waiting, default 16); more → 503. */
  maxQueue: number;
}

/** Defaults of {@linkcode EdgeLimits}. */
export const DEFAULT_LIMITS: EdgeLimits = {
  maxBodyBytes: 64 * 1024,
  bodyTimeoutSeconds: 10,
  maxTimeSeconds: 10,
  maxOutputTokens: 256,
  maxBeams: 8,
  maxConcurrent: 1,
  maxQueue: 16,
};

/** What `GET /stats` answers (with `features.stats`). */
export interface EdgeStats {
  /** Generations running now. */
  running: number;
  /** Admitted requests not running yet (reading their body or waiting for a turn). */
  waiting: number;
  /** Requests refused with 503 since start. */
  rejected: number;
  /** Summaries answered with 200. */
  requests: number;
  /** Generations stopped because their client went away (or the server is stopping). */
  aborted: number;
  /** Resident set size in bytes. */
  rss: number;
  /** V8 heap in use in bytes. */
  heapUsed: number;
  /** Peak resident set size since start in bytes (`getrusage` max RSS), where available. */
  peakRss?: number;
}

/** The peak resident set size of this process in bytes (`getrusage`), or `undefined`. */
function peakRss(): number | undefined {
  try {
    return process.resourceUsage().maxRSS * 1024; // KiB on Linux
  } catch {
    return undefined; // a host without getrusage
  }
}

/** The handler plus what a server needs to stop cleanly. */
export interface EdgeHandler {
  /** Answers one request. */
  (req: Request): Promise<Response>;
  /** Aborts every admitted request (running or waiting); they answer 503. */
  abortAll(reason?: string): void;
  /** The counters of `GET /stats`. */
  stats(): EdgeStats;
}

/** A successful answer: the summary, and what was cut when the input was over the model's length. */
export interface SummaryResponse {
  /** The generated summary. */
  summary_text: string;
  /** Present when the input was truncated: its length and the kept length, in tokens. */
  truncated?: { from: number; to: number };
}

/** The request option a generation error message names (`top_p` → `topP`), if it set one. */
function optionNamed(message: string, options: object): string | undefined {
  for (const word of message.match(/\b[a-z]+(?:_[a-z]+)+\b|\b[a-z]+[A-Z]\w*\b/g) ?? []) {
    const camel = word.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
    if (Object.hasOwn(options, camel)) return camel;
  }
  return undefined;
}

class ShutdownError extends Error {
  override name = "ShutdownError";
}

/** Answered when the client went away (nobody reads it; nginx's "client closed request"). */
const CLIENT_CLOSED = 499;

/**
 * The edge function's handler: `POST /summarize` with `{ "text": "...", "options"?: {...} }` →
 * `{ "summary_text": "...", "truncated"?: { "from", "to" } }` (inputs over the model's maximum
 * length are truncated to it, as the CLI does); `GET /health` → `{ "status": "ok" }` without
 * waiting for any generation; with `features.stats`, `GET /stats` → {@linkcode EdgeStats}.
 * Errors are JSON `{ "error": "...", "option"?: "<name>" }`: 400 invalid JSON, fields or option
 * types, 404 unknown path, 405 wrong method, 408 body too slow, 413 body too large, 422 option
 * values out of range, 503 (+ `Retry-After`) queue full, 500 generation failure. A request whose
 * client disconnects stops generating at the next decode step.
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
): EdgeHandler {
  let served = 0;
  let aborted = 0;
  const lim: EdgeLimits = { ...DEFAULT_LIMITS, ...limits };
  // The decoder cannot go past its position table (BERT-like or GPT-2 decoders).
  const dec = summarize.model.config.decoder as unknown as {
    maxPositionEmbeddings?: number;
    nPositions?: number;
    vocabSize?: number;
  };
  const decoderMax = dec.maxPositionEmbeddings ?? dec.nPositions;
  if (typeof decoderMax === "number") {
    lim.maxOutputTokens = Math.min(lim.maxOutputTokens, decoderMax - 1);
  }
  const optionLimits = { ...lim, vocabSize: dec.vocabSize ?? 2 ** 31 - 1 };
  const queue = new WorkQueue(lim.maxConcurrent, lim.maxQueue);
  const admitted = new Set<AbortController>();

  const stats = (): EdgeStats => {
    const m = Deno.memoryUsage();
    const peak = peakRss();
    return {
      requests: served,
      aborted,
      ...queue.stats(),
      rss: m.rss,
      heapUsed: m.heapUsed,
      // The kernel updates the high-water mark lazily: the RSS just read is a lower bound too.
      ...(peak !== undefined ? { peakRss: Math.max(peak, m.rss) } : {}),
    };
  };

  async function summarizeRequest(
    req: Request,
    signal: AbortSignal,
    ticket: Ticket,
  ): Promise<Response> {
    const body = await readBody(req, lim.maxBodyBytes, lim.bodyTimeoutSeconds * 1000);
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
      throw new HttpError(400, `unknown field ${JSON.stringify(extra[0])}; expected text, options`);
    }
    if (typeof text !== "string" || text.trim() === "") {
      throw new HttpError(400, `"text" must be a non-empty string`);
    }
    const callOptions = parseOptions(options, optionLimits);
    // A running slot is taken only now, once the body was read and checked.
    await ticket.turn(signal);
    return await generate(text, callOptions, signal);
  }

  async function generate(
    text: string,
    callOptions: ReturnType<typeof parseOptions>,
    signal: AbortSignal,
  ): Promise<Response> {
    // The same rule as the CLI and pipeline(): cut to the model's maximum length, and say so.
    // (Counted as pipeline() counts: the whole input with special tokens; bodies are ≤ 64 KiB.)
    const ids = summarize.tokenizer.call(summarize.prefix + text, { truncation: false }).inputIds;
    const tokens = (ids as number[]).length;
    let out;
    try {
      out = await summarize(text, { ...callOptions, signal });
    } catch (e) {
      // Bad option combinations (e.g. minLength over maxLength) are the request's fault.
      if (
        e instanceof Error &&
        /^(GenerationConfigError|GenerationError|ModelInputError)$/.test(e.name)
      ) {
        throw new HttpError(422, e.message, optionNamed(e.message, callOptions));
      }
      throw e;
    }
    served++;
    const answer: SummaryResponse = out[0] as { summary_text: string };
    if (tokens > summarize.maxInputLength) {
      answer.truncated = { from: tokens, to: summarize.maxInputLength };
    }
    return json(200, answer);
  }

  const handler = async (req: Request): Promise<Response> => {
    const { pathname } = new URL(req.url);
    if (pathname === "/health") {
      if (req.method !== "GET" && req.method !== "HEAD") {
        return json(405, { error: `${req.method} is not allowed on /health; use GET` });
      }
      return json(200, { status: "ok" });
    }
    if (pathname === "/stats" && features.stats && req.method === "GET") {
      return json(200, stats());
    }
    if (pathname !== "/summarize") {
      return json(404, { error: `no route ${pathname}; POST /summarize` });
    }
    if (req.method !== "POST") {
      return json(405, { error: `${req.method} is not allowed on /summarize; use POST` }, {
        allow: "POST",
      });
    }
    // Admission comes first: a full server refuses before reading or tokenizing anything.
    const ticket = queue.admit();
    if (ticket === null) {
      const retry = queue.retryAfterSeconds();
      return json(503, { error: `the server is busy; retry after ${retry} s` }, {
        "retry-after": String(retry),
      });
    }
    // One controller per request: the client going away or the server stopping aborts it.
    const controller = new AbortController();
    const onClientGone = () => controller.abort(new Error("the client closed the connection"));
    req.signal.addEventListener("abort", onClientGone, { once: true });
    admitted.add(controller);
    try {
      return await summarizeRequest(req, controller.signal, ticket);
    } catch (e) {
      if (e instanceof HttpError) return errorResponse(e);
      if (controller.signal.aborted) {
        aborted++;
        const reason = controller.signal.reason;
        if (reason instanceof ShutdownError) {
          return json(503, { error: reason.message }, { "retry-after": "1" });
        }
        return json(CLIENT_CLOSED, { error: "the client closed the connection" });
      }
      console.error(`edge: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
      return json(500, { error: "generation failed" });
    } finally {
      req.signal.removeEventListener("abort", onClientGone);
      admitted.delete(controller);
      ticket.release();
    }
  };

  return Object.assign(handler, {
    abortAll(reason = "the server is stopping") {
      for (const c of admitted) c.abort(new ShutdownError(reason));
    },
    stats,
  });
}
