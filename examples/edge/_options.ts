// Private: the generation options a request may set, their types and ranges, and the check that
// turns a request's `options` object into call options or an HTTP error naming the option.
import type { PipelineCallOptions } from "@encdec/cli";
import { HttpError } from "./_http.ts";

/** What the option check needs to know about the server's limits and the model. */
export interface OptionLimits {
  /** Largest `maxLength` / `maxNewTokens` (and the other length options). */
  maxOutputTokens: number;
  /** Largest `numBeams`. */
  maxBeams: number;
  /** Server time budget in seconds: `maxTime` is capped to it. */
  maxTimeSeconds: number;
  /** Vocabulary size: the largest useful `topK`. */
  vocabSize: number;
}

/** One option's JSON type and allowed range (inclusive unless `aboveMin`). */
interface OptionRule {
  type: "int" | "number" | "boolean";
  min?: number;
  /** The value must be strictly greater than `min`. */
  aboveMin?: boolean;
  max?: (l: OptionLimits) => number;
}

const outputTokens = (l: OptionLimits) => l.maxOutputTokens;

/**
 * The allowed options. A `Map`, never a plain object: a lookup of `"constructor"` or
 * `"toString"` must miss (a plain object would find `Object.prototype`'s members).
 */
export const OPTION_RULES: ReadonlyMap<string, OptionRule> = new Map<string, OptionRule>([
  ["numBeams", { type: "int", min: 1, max: (l) => l.maxBeams }],
  ["maxLength", { type: "int", min: 1, max: outputTokens }],
  ["maxNewTokens", { type: "int", min: 1, max: outputTokens }],
  ["minLength", { type: "int", min: 0, max: outputTokens }],
  ["minNewTokens", { type: "int", min: 0, max: outputTokens }],
  ["earlyStopping", { type: "boolean" }],
  ["noRepeatNgramSize", { type: "int", min: 0, max: outputTokens }],
  ["lengthPenalty", { type: "number", min: -100, max: () => 100 }],
  ["repetitionPenalty", { type: "number", min: 0, aboveMin: true, max: () => 100 }],
  ["doSample", { type: "boolean" }],
  ["topK", { type: "int", min: 0, max: (l) => l.vocabSize }],
  ["topP", { type: "number", min: 0, max: () => 1 }],
  ["temperature", { type: "number", min: 0, aboveMin: true, max: () => 100 }],
  ["seed", { type: "int", min: 0, max: () => 2 ** 32 - 1 }],
  // Any positive budget; the server's own budget caps it below.
  ["maxTime", { type: "number", min: 0, aboveMin: true }],
]);

function describe(rule: OptionRule, limits: OptionLimits): string {
  const kind = rule.type === "int" ? "an integer" : "a number";
  const max = rule.max?.(limits);
  if (rule.min === undefined) return kind;
  const low = rule.aboveMin ? `above ${rule.min}` : `from ${rule.min}`;
  return max === undefined ? `${kind} ${low}` : `${kind} ${low} to ${max}`;
}

/**
 * Checks a request's `options` and returns the call options (with `maxTime` capped to the server
 * budget). Throws {@link HttpError}: 400 for an unknown option or a wrong JSON type, 422 for a
 * value out of range; the error names the option.
 */
export function parseOptions(raw: unknown, limits: OptionLimits): PipelineCallOptions {
  const out: Record<string, unknown> = {};
  if (raw !== undefined && raw !== null) {
    if (typeof raw !== "object" || Array.isArray(raw)) {
      throw new HttpError(400, `"options" must be an object`, "options");
    }
    for (const [name, value] of Object.entries(raw)) {
      const rule = OPTION_RULES.get(name);
      if (rule === undefined) {
        throw new HttpError(
          400,
          `unknown option ${JSON.stringify(name)}; allowed: ${[...OPTION_RULES.keys()].join(", ")}`,
          name,
        );
      }
      if (rule.type === "boolean") {
        if (typeof value !== "boolean") {
          throw new HttpError(400, `option "${name}" must be true or false`, name);
        }
        out[name] = value;
        continue;
      }
      const isNumber = typeof value === "number" && Number.isFinite(value);
      if (!isNumber || (rule.type === "int" && !Number.isInteger(value))) {
        throw new HttpError(
          400,
          `option "${name}" is ${JSON.stringify(value)}; expected ${describe(rule, limits)}`,
          name,
        );
      }
      const max = rule.max?.(limits) ?? Infinity;
      const min = rule.min ?? -Infinity;
      if (value > max || value < min || (rule.aboveMin && value === min)) {
        throw new HttpError(
          422,
          `option "${name}" is ${value}; expected ${describe(rule, limits)}`,
          name,
        );
      }
      out[name] = value;
    }
  }
  // The server's time budget caps whatever the request asks for.
  out.maxTime = Math.min(
    typeof out.maxTime === "number" ? out.maxTime : Infinity,
    limits.maxTimeSeconds,
  );
  return out as PipelineCallOptions;
}
