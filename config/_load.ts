/**
 * Finding and reading `config.json`: `fromPretrained` options split into where to look
 * (`ResolveOptions`) and field overrides, and the file read from a model directory or Hub id.
 *
 * @module
 */
import { ConfigError } from "./errors.ts";
import { resolveModelFile, type ResolveOptions } from "./resolve.ts";
import { readJsonObject } from "./_util.ts";

/** Options of `fromPretrained`: where to find the file, plus field overrides (snake or camel). */
export interface FromPretrainedOptions extends Omit<ResolveOptions, "optional"> {
  /** Field overrides applied after loading, like HF's `from_pretrained(..., **kwargs)`. */
  [override: string]: unknown;
}

/** Keys of `ResolveOptions` that `fromPretrained` passes to `resolveModelFile`. */
const RESOLVE_KEYS = ["revision", "cacheDir", "token", "localFilesOnly", "endpoint", "quiet"];

/** Reads `config.json` of a model directory or Hub id; a missing file is a ConfigError. */
export async function loadConfigJson(
  idOrDir: string,
  options: ResolveOptions = {},
): Promise<{ path: string; json: Record<string, unknown> }> {
  const path = await resolveModelFile(idOrDir, "config.json", { ...options, optional: true });
  if (path === null) {
    throw new ConfigError(
      `${
        idOrDir.replace(/\/+$/, "")
      }/config.json: file not found; expected a model directory or Hub id with a config.json`,
    );
  }
  return { path, json: await readJsonObject(path) };
}

/** Splits `fromPretrained` options into resolve options and field overrides. */
export function splitLoadOptions(
  options: FromPretrainedOptions,
): { resolve: ResolveOptions; overrides: Record<string, unknown> } {
  const resolve: Record<string, unknown> = {};
  const overrides: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options)) {
    if (RESOLVE_KEYS.includes(key)) resolve[key] = value;
    else overrides[key] = value;
  }
  return { resolve: resolve as ResolveOptions, overrides };
}
