/**
 * What loading a checkpoint into a model found, computed before any weight is allocated: the
 * model keys the checkpoint lacks (newly initialised, as HF's "Some weights of ... were not
 * initialized"), the checkpoint keys the model has no field for, and the refusals: a config
 * asking for layers the checkpoint does not hold, and `strict` loading of an incomplete one.
 *
 * @module
 */
import { ModelLoadError } from "./errors.ts";

/** What loading a state dict found, as HF's `output_loading_info`. */
export interface LoadingInfo {
  /** Model keys not in the checkpoint (initialised instead), minus tied keys whose partner loaded. */
  missingKeys: string[];
  /** Checkpoint keys the model has no field for. */
  unexpectedKeys: string[];
  /**
   * Keys whose checkpoint shape differs from the model's. Always empty: a shape mismatch is a
   * `ModelLoadError` here (HF's default, without `ignore_mismatched_sizes`).
   */
  mismatchedKeys?: string[];
  /** Model keys holding freshly initialised (random or constant) values: `missingKeys`. */
  newlyInitialized: string[];
}

/** Inputs of {@link planLoading}: the model's tie groups and the checkpoint's keys. */
export interface LoadingPlanInput {
  /** Tie root → every model key sharing that tensor (the root included). */
  groups: ReadonlyMap<string, readonly string[]>;
  /** Checkpoint keys (null: no checkpoint, the model is built from scratch). */
  checkpointKeys: ReadonlySet<string> | null;
  /** Checkpoint keys HF ignores silently when unexpected. */
  ignoreUnexpected?: readonly RegExp[];
  /** The checkpoint file, for messages. */
  source: string;
  /** Refuse a checkpoint that lacks model keys or holds unexpected ones. */
  strict?: boolean;
}

/** Most keys a message lists before "and N more". */
const LIST = 20;

function list(keys: readonly string[]): string {
  const shown = keys.slice(0, LIST).join(", ");
  return keys.length > LIST ? `${shown} and ${keys.length - LIST} more` : shown;
}

// `encoder.encoder.layer.3.attention...` → ["encoder.encoder.layer.", 3]
const LAYER = /^(.*?\.(?:layer|layers|h|block)\.)(\d+)\./;

/**
 * Refuses a checkpoint that holds some layers of a stack but not all the config asks for
 * (`num_hidden_layers: 1000000` over a 2-layer checkpoint), naming the stack and the layers.
 */
function checkLayers(
  groups: LoadingPlanInput["groups"],
  found: (key: string) => boolean,
  source: string,
): void {
  const stacks = new Map<string, { want: Set<number>; have: Set<number> }>();
  for (const members of groups.values()) {
    const loaded = members.some(found);
    for (const key of members) {
      const m = LAYER.exec(key);
      if (!m) continue;
      const s = stacks.get(m[1]) ?? { want: new Set(), have: new Set() };
      stacks.set(m[1], s);
      s.want.add(Number(m[2]));
      if (loaded) s.have.add(Number(m[2]));
    }
  }
  for (const [stack, { want, have }] of stacks) {
    if (have.size === 0 || have.size === want.size) continue; // nothing of it, or all of it
    const absent = [...want].filter((i) => !have.has(i)).sort((a, b) => a - b);
    throw new ModelLoadError(
      `${source}: the config asks for ${want.size} layers in "${stack}*" but the checkpoint ` +
        `holds tensors for ${have.size} of them; no tensor for layer(s) ${
          absent.length > 10 ? `${absent.slice(0, 10).join(", ")}, ...` : absent.join(", ")
        } (config and checkpoint do not match)`,
    );
  }
}

/**
 * Computes the {@link LoadingInfo} of loading a checkpoint into a model, before any tensor is
 * allocated, and refuses (with a `ModelLoadError` naming the keys) a checkpoint that holds only
 * part of a stack's layers or, with `strict`, one that lacks model keys or has unexpected ones.
 *
 * @example
 * ```ts
 * import { planLoading } from "@encdec/modeling";
 * const info = planLoading({
 *   groups: new Map([["a.weight", ["a.weight"]], ["b.weight", ["b.weight"]]]),
 *   checkpointKeys: new Set(["a.weight", "c.weight"]),
 *   source: "model.safetensors",
 * });
 * console.log(info.missingKeys, info.unexpectedKeys); // ["b.weight"] ["c.weight"]
 * ```
 */
export function planLoading(input: LoadingPlanInput): LoadingInfo {
  const ck = input.checkpointKeys;
  const found = (k: string) => ck !== null && ck.has(k);
  const missing: string[] = [];
  const modelKeys = new Set<string>();
  for (const members of input.groups.values()) {
    for (const k of members) modelKeys.add(k);
    if (!members.some(found)) missing.push(...members);
  }
  missing.sort();
  const unexpected = ck === null
    ? []
    : [...ck].filter((k) =>
      !modelKeys.has(k) && !(input.ignoreUnexpected ?? []).some((re) => re.test(k))
    ).sort();
  if (ck !== null) checkLayers(input.groups, found, input.source);
  if (input.strict && ck !== null && (missing.length > 0 || unexpected.length > 0)) {
    const parts: string[] = [];
    if (missing.length > 0) {
      parts.push(`${missing.length} model weight(s) missing from the checkpoint: ${list(missing)}`);
    }
    if (unexpected.length > 0) {
      parts.push(`${unexpected.length} unexpected checkpoint key(s): ${list(unexpected)}`);
    }
    throw new ModelLoadError(
      `${input.source}: strict loading refused an incomplete checkpoint: ${parts.join("; ")}`,
    );
  }
  return {
    missingKeys: missing,
    unexpectedKeys: unexpected,
    mismatchedKeys: [],
    newlyInitialized: [...missing],
  };
}

/**
 * HF's loading warnings for a report, as lines for stderr (empty when the checkpoint matched):
 * the newly initialised weights and the unused checkpoint keys. The CLI prints them; a library
 * caller decides (`console.warn(...formatLoadingInfo(model.loadingInfo, "MyModel", dir))`).
 *
 * @example
 * ```ts
 * import { formatLoadingInfo } from "@encdec/modeling";
 * const lines = formatLoadingInfo(
 *   { missingKeys: ["lm_head.weight"], unexpectedKeys: [], newlyInitialized: ["lm_head.weight"] },
 *   "EncoderDecoderModel",
 *   "./model",
 * );
 * console.log(lines[0]); // Some weights of EncoderDecoderModel were not initialized ...
 * ```
 */
export function formatLoadingInfo(info: LoadingInfo, model: string, source: string): string[] {
  const out: string[] = [];
  if (info.newlyInitialized.length > 0) {
    out.push(
      `Some weights of ${model} were not initialized from the model checkpoint at ${source} ` +
        `and are newly initialized (${info.newlyInitialized.length}): ` +
        `[${list(info.newlyInitialized)}]. You should probably TRAIN this model on a ` +
        `down-stream task to be able to use it for predictions and inference.`,
    );
  }
  if (info.unexpectedKeys.length > 0) {
    out.push(
      `Some weights of the model checkpoint at ${source} were not used when initializing ` +
        `${model} (${info.unexpectedKeys.length}): [${list(info.unexpectedKeys)}]`,
    );
  }
  return out;
}
