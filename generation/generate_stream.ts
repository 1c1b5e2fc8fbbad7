/**
 * `generateStream`: generation as an async iterator of text pieces, each final when yielded
 * (token by token for greedy and sampling, the agreed prefix during beam search).
 *
 * @module
 */
import { generate, type GenerateOptions, type GenerateOutput } from "./generate.ts";
import type { InputIds } from "./logits_process.ts";
import type { Seq2SeqModel } from "./model.ts";
import type { StoppingCriteria } from "./stopping.ts";
import { type DecodeFn, TextStreamer } from "./streamers.ts";

/** One streamed piece of text of batch row `row`. */
export interface StreamedText {
  /** Batch row (input row) the text belongs to. */
  row: number;
  /** The new text. */
  text: string;
}

/** Options of {@link generateStream}: {@link GenerateOptions} plus the required `decode`. */
export interface GenerateStreamOptions extends GenerateOptions {
  /** Generated ids → text (e.g. a tokenizer's decode with special tokens skipped). */
  decode: DecodeFn;
}

/** Stops every row once the consumer abandoned the stream. */
class CancelCriteria implements StoppingCriteria {
  cancelled = false;
  isDone(inputIds: InputIds): boolean[] {
    return inputIds.map(() => this.cancelled);
  }
}

/**
 * Runs {@link generate} and yields `{ row, text }` pieces as they become final; the iterator's
 * return value is the {@link GenerateOutput}. Leaving the loop early stops generation at the next
 * step. `options.streamer`, if given, receives the tokens too.
 *
 * @example
 * ```ts ignore
 * import { generateStream } from "@encdec/generation";
 * for await (const { text } of generateStream(model, [[2, 65, 53, 3]], {
 *   generationConfig: model.generationConfig,
 *   numBeams: 4,
 *   decode: (ids) => tokenizer.decode(ids, { skipSpecialTokens: true }),
 * })) {
 *   console.log(text);
 * }
 * ```
 */
export async function* generateStream<S, C>(
  model: Seq2SeqModel<S, C>,
  inputIds: number[][],
  options: GenerateStreamOptions,
): AsyncGenerator<StreamedText, GenerateOutput, undefined> {
  const queue: StreamedText[] = [];
  let wake: (() => void) | null = null;
  const notify = () => {
    const w = wake;
    wake = null;
    w?.();
  };
  const text = new TextStreamer(options.decode, (t, row) => {
    queue.push({ row, text: t });
    notify();
  });
  const user = options.streamer;
  const cancel = new CancelCriteria();
  let finished = false;
  let result: GenerateOutput | undefined;
  let error: unknown;
  const run = generate(model, inputIds, {
    ...options,
    stoppingCriteria: [...(options.stoppingCriteria ?? []), cancel],
    streamer: {
      put(row, ids) {
        user?.put(row, ids);
        text.put(row, ids);
      },
      end() {
        user?.end();
        text.end();
      },
    },
  }).then(
    (r) => {
      result = r;
    },
    (e) => {
      error = e;
    },
  ).finally(() => {
    finished = true;
    notify();
  });
  try {
    while (true) {
      while (queue.length > 0) yield queue.shift()!;
      if (finished) break;
      await new Promise<void>((resolve) => {
        wake = resolve;
        if (queue.length > 0 || finished) notify();
      });
    }
    await run;
    if (error !== undefined) throw error;
    return result!;
  } finally {
    cancel.cancelled = true;
  }
}
