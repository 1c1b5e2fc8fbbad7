/// <reference no-default-lib="true" />
/// <reference lib="deno.worker" />
/**
 * Runs one hostile `tokenizer.json` in a worker, so that a test can give up on it after a time
 * limit (a backtracking regex cannot be interrupted in the thread that runs it). Posts
 * `{ ready: true }` once loaded (so the time limit does not count module loading); receives
 * `{ json, text }`; posts `{ name, message }` of the error thrown while loading or tokenizing,
 * or `{ tokens }` when it finished.
 *
 * @module
 */
import { tokenizerFromJSON } from "../mod.ts";

self.onmessage = (e: MessageEvent<{ json: Record<string, unknown>; text: string }>) => {
  try {
    const tok = tokenizerFromJSON(e.data.json);
    const tokens = tok.tokenize(e.data.text);
    tok.decode(tok.convertTokensToIds(tokens));
    self.postMessage({ tokens });
  } catch (err) {
    const x = err as Error;
    self.postMessage({ name: x?.constructor?.name ?? typeof err, message: String(x?.message) });
  }
};

self.postMessage({ ready: true });
