/**
 * Stopping criteria with the names and behaviour of Hugging Face `transformers` 4.40
 * (`generation/stopping_criteria.py`): each returns, per row, whether that row is done.
 *
 * @module
 */
import { GenerationError } from "./errors.ts";
import type { InputIds } from "./logits_process.ts";

/** Decides, per row of the decoder ids `[rows, curLen]`, whether generation may stop. */
export interface StoppingCriteria {
  /** One flag per row: `true` = this row is done. */
  isDone(inputIds: InputIds): boolean[];
}

/**
 * Stops every row once the decoder ids reach `maxLength` tokens (prompt included).
 *
 * @example
 * ```ts
 * import { MaxLengthCriteria } from "@encdec/generation";
 * new MaxLengthCriteria(2).isDone([[0, 1]]); // [true]
 * ```
 */
export class MaxLengthCriteria implements StoppingCriteria {
  /** The maximum length. */
  readonly maxLength: number;
  /** `maxLength` a positive integer. */
  constructor(maxLength: number) {
    if (!Number.isInteger(maxLength) || maxLength <= 0) {
      throw new GenerationError(
        `MaxLengthCriteria: \`maxLength\` has to be a positive integer, got ${maxLength}`,
      );
    }
    this.maxLength = maxLength;
  }
  /** Done when `curLen >= maxLength`. */
  isDone(inputIds: InputIds): boolean[] {
    const done = (inputIds[0]?.length ?? 0) >= this.maxLength;
    return inputIds.map(() => done);
  }
}

/**
 * Stops once `maxNewTokens` tokens follow a prompt of `startLength` (HF's deprecated twin of
 * {@link MaxLengthCriteria}).
 *
 * @example
 * ```ts
 * import { MaxNewTokensCriteria } from "@encdec/generation";
 * new MaxNewTokensCriteria(1, 1).isDone([[0, 1]]); // [true]
 * ```
 */
export class MaxNewTokensCriteria extends MaxLengthCriteria {
  /** `startLength + maxNewTokens` is the maximum length. */
  constructor(startLength: number, maxNewTokens: number) {
    super(startLength + maxNewTokens);
  }
}

/**
 * Stops every row once `maxTime` seconds passed since `initialTimestamp` (milliseconds of
 * `now()`, which defaults to `performance.now`).
 *
 * @example
 * ```ts
 * import { MaxTimeCriteria } from "@encdec/generation";
 * let t = 0;
 * const c = new MaxTimeCriteria(1, 0, () => t);
 * t = 1500;
 * c.isDone([[0]]); // [true]
 * ```
 */
export class MaxTimeCriteria implements StoppingCriteria {
  /** Seconds allowed. */
  readonly maxTime: number;
  private readonly start: number;
  private readonly now: () => number;
  /** `maxTime` in seconds (> 0); `now` returns milliseconds. */
  constructor(
    maxTime: number,
    initialTimestamp?: number,
    now: () => number = () => performance.now(),
  ) {
    if (!(maxTime > 0)) {
      throw new GenerationError(
        `MaxTimeCriteria: \`maxTime\` has to be a positive number of seconds, got ${maxTime}`,
      );
    }
    this.maxTime = maxTime;
    this.now = now;
    this.start = initialTimestamp ?? now();
  }
  /** Done when more than `maxTime` seconds have passed. */
  isDone(inputIds: InputIds): boolean[] {
    const done = (this.now() - this.start) / 1000 > this.maxTime;
    return inputIds.map(() => done);
  }
}

/**
 * A row is done when its last token is one of the eos ids.
 *
 * @example
 * ```ts
 * import { EosTokenCriteria } from "@encdec/generation";
 * new EosTokenCriteria([3, 7]).isDone([[0, 7], [0, 5]]); // [true, false]
 * ```
 */
export class EosTokenCriteria implements StoppingCriteria {
  /** The eos ids. */
  readonly eosTokenId: number[];
  /** One id or several. */
  constructor(eosTokenId: number | readonly number[]) {
    this.eosTokenId = typeof eosTokenId === "number" ? [eosTokenId] : [...eosTokenId];
  }
  /** Done when the last token is eos. */
  isDone(inputIds: InputIds): boolean[] {
    return inputIds.map((r) => r.length > 0 && this.eosTokenId.includes(r[r.length - 1]));
  }
}

/**
 * A row is done when its decoded text ends with one of `stopStrings`. `decode` turns a row's
 * generated ids (after the `promptLength` decoder prompt tokens) into text.
 *
 * @example
 * ```ts
 * import { StopStringCriteria } from "@encdec/generation";
 * const c = new StopStringCriteria(["."], (ids) => ids.map((i) => "ab."[i]).join(""), 0);
 * c.isDone([[0, 2], [2, 1]]); // [true, false]
 * ```
 */
export class StopStringCriteria implements StoppingCriteria {
  /** The stop strings. */
  readonly stopStrings: string[];
  private readonly decode: (ids: readonly number[]) => string;
  private readonly promptLength: number;
  /** `stopStrings` non-empty strings; `decode` maps ids to text. */
  constructor(
    stopStrings: string | readonly string[],
    decode: (ids: readonly number[]) => string,
    promptLength = 0,
  ) {
    const list = typeof stopStrings === "string" ? [stopStrings] : [...stopStrings];
    if (list.length === 0 || list.some((s) => typeof s !== "string" || s.length === 0)) {
      throw new GenerationError(
        `StopStringCriteria: \`stopStrings\` has to be a non-empty list of non-empty strings, got ${
          JSON.stringify(stopStrings)
        }`,
      );
    }
    this.stopStrings = list;
    this.decode = decode;
    this.promptLength = promptLength;
  }
  /** Done when the decoded text ends with a stop string. */
  isDone(inputIds: InputIds): boolean[] {
    return inputIds.map((r) => {
      const text = this.decode(r.slice(this.promptLength));
      return this.stopStrings.some((s) => text.endsWith(s));
    });
  }
}

/**
 * Several criteria: a row is done when any criterion says so.
 *
 * @example
 * ```ts
 * import { EosTokenCriteria, MaxLengthCriteria, StoppingCriteriaList } from "@encdec/generation";
 * const l = new StoppingCriteriaList([new MaxLengthCriteria(5), new EosTokenCriteria(3)]);
 * l.isDone([[0, 3], [0, 1]]); // [true, false]
 * ```
 */
export class StoppingCriteriaList implements StoppingCriteria {
  /** The criteria. */
  readonly criteria: StoppingCriteria[];
  /** Wraps `criteria`. */
  constructor(criteria: StoppingCriteria[] = []) {
    this.criteria = criteria;
  }
  /** Appends a criterion. */
  push(c: StoppingCriteria): void {
    this.criteria.push(c);
  }
  /** The maximum length of the first {@link MaxLengthCriteria}, if any. */
  get maxLength(): number | undefined {
    for (const c of this.criteria) if (c instanceof MaxLengthCriteria) return c.maxLength;
    return undefined;
  }
  /** Row-wise OR of every criterion. */
  isDone(inputIds: InputIds): boolean[] {
    const out = inputIds.map(() => false);
    for (const c of this.criteria) {
      c.isDone(inputIds).forEach((d, i) => {
        if (d) out[i] = true;
      });
    }
    return out;
  }
}
