/**
 * The least-privilege Deno permissions of the `encdec` CLI (never `-A`), as data and as checks.
 *
 * `deno task encdec` starts the launcher (`launch.ts`), which computes with
 * {@linkcode planLaunch} exactly what one invocation needs and starts `cli/main.ts` with
 * {@linkcode permissionFlags} of that scope:
 *
 * | flag | granted for |
 * | --- | --- |
 * | `--allow-read` | the model / tokenizer directories named on the command line (or the built-in `models/default/`), the Hub cache and token file when a Hub id is used, `encdec train`'s data, config and output, `encdec eval`'s predictions, onnxruntime-web's wasm folder |
 * | `--allow-write` | the Hub cache when a Hub id may be downloaded (not with `HF_HUB_OFFLINE=1`), `encdec train --output` |
 * | `--allow-net` | only when a Hub id may be downloaded: the host of `HF_ENDPOINT`, or the Hub and the CDN hosts its files redirect to ({@linkcode HUB_HOSTS}), plus `ENCDEC_ALLOW_HOSTS` |
 * | `--allow-env` | only {@linkcode ENV_VARS} |
 * | `--allow-ffi` | only onnxruntime-node's native add-on file (so `--device auto` / `onnx` can use the native runtime) |
 *
 * Never granted: `--allow-run`, `--allow-sys`, `--allow-import`, unscoped read/write/net/ffi.
 *
 * @module
 */
import { AccessDeniedError } from "./_cli.ts";

/** Environment variables the CLI (and the Hub client under it) reads. */
export const ENV_VARS: readonly string[] = [
  "HF_HOME",
  "HF_HUB_CACHE",
  "HUGGINGFACE_HUB_CACHE",
  "HF_ENDPOINT",
  "HF_TOKEN",
  "HUGGING_FACE_HUB_TOKEN",
  "HF_TOKEN_PATH",
  "HF_HUB_OFFLINE",
  "XDG_CACHE_HOME",
  "HOME",
  "USERPROFILE",
  "NO_COLOR",
  "ENCDEC_GRAPH_CACHE",
  "ENCDEC_DEBUG",
];

/**
 * Hosts of the public Hub: the API/resolve endpoint and the storage, CDN and Xet hosts its files
 * redirect to (the list Hugging Face gives for firewalls; Deno's `--allow-net` takes no wildcards).
 */
export const HUB_HOSTS: readonly string[] = [
  "huggingface.co",
  "cdn-lfs.huggingface.co",
  "cdn-lfs-us-1.huggingface.co",
  "cdn-lfs-eu-1.huggingface.co",
  "cdn-lfs.hf.co",
  "cdn-lfs-us-1.hf.co",
  "cdn-lfs-eu-1.hf.co",
  "us.aws.cdn.hf.co",
  "cas-bridge.xethub.hf.co",
  "cas-server.xethub.hf.co",
];

/** Where one CLI process may read, write and connect. */
export interface PermissionScope {
  /** Files and directories to read (absolute paths). */
  read: readonly string[];
  /** Files and directories to write (absolute paths); default none. */
  write?: readonly string[];
  /** Hosts (`host` or `host:port`) to connect to; default none. */
  net?: readonly string[];
  /** Native libraries to load (absolute paths); default none. */
  ffi?: readonly string[];
}

/** One `--allow-x=` list: duplicates dropped, commas doubled (Deno's escape for a comma in a path). */
function list(flag: string, items: readonly string[] | undefined): string[] {
  const unique = [...new Set(items ?? [])].filter((s) => s !== "");
  return unique.length > 0
    ? [`${flag}=${unique.map((s) => s.replaceAll(",", ",,")).join(",")}`]
    : [];
}

/**
 * The `deno run` permission flags of `scope`: `--no-prompt`, `--unstable-webgpu`, and one
 * scoped `--allow-read/write/net/env/ffi` list each (lists that would be empty are left out, so
 * nothing is granted for them).
 *
 * @example
 * ```ts
 * import { permissionFlags } from "@encdec/cli";
 * const flags = permissionFlags({ read: ["/repo/models/default"] });
 * // ["--no-prompt", "--unstable-webgpu", "--allow-read=/repo/models/default", "--allow-env=HF_HOME,..."]
 * ```
 */
export function permissionFlags(scope: PermissionScope): string[] {
  return [
    "--no-prompt",
    "--unstable-webgpu",
    ...list("--allow-read", scope.read),
    ...list("--allow-write", scope.write),
    ...list("--allow-net", scope.net),
    `--allow-env=${ENV_VARS.join(",")}`,
    ...list("--allow-ffi", scope.ffi),
  ];
}

function state(desc: Deno.PermissionDescriptor): Deno.PermissionState {
  return Deno.permissions.querySync(desc).state;
}

/**
 * Throws `AccessDeniedError` when this process may not read `path` (checked before a model
 * directory or data file is opened, so the message names the permission, not "not found").
 * `deno task encdec` grants the paths on the command line itself; this fires when `cli/main.ts`
 * is started by hand with narrower flags.
 */
export function assertReadable(path: string, what: string): void {
  if (state({ name: "read", path }) !== "granted") {
    throw new AccessDeniedError(
      `${what} "${path}" is outside the paths this encdec process may read (its --allow-read ` +
        `list); run it with deno task encdec, which grants it, or add --allow-read=${path}`,
    );
  }
}

/** Same as {@linkcode assertReadable}, for a file (`encdec train --data`, `eval` predictions). */
export function assertReadableFile(path: string, what: string): void {
  assertReadable(path, what);
}

/** Throws `AccessDeniedError` when this process may not write `path`. */
export function assertWritable(path: string, what: string): void {
  if (state({ name: "write", path }) !== "granted") {
    throw new AccessDeniedError(
      `${what} "${path}" is not writable by this encdec process (its --allow-write list); ` +
        `run it with deno task encdec, which grants it, or add --allow-write=${path}`,
    );
  }
}

/**
 * Whether a `--model` / `--tokenizer` argument names a local directory rather than a Hub id
 * `org/name`: it starts with `./`, `../`, `/` or `~`, has more than two parts, exists as a
 * directory, or its first part is an existing directory (`models/nope` beside `models/`: a
 * mistyped path, not a Hub id). `isDir` answers for a path relative to the working directory
 * (false when it cannot tell, e.g. read access is denied).
 *
 * @example
 * ```ts
 * import { looksLikeLocalModel } from "@encdec/cli";
 * looksLikeLocalModel("./models/default", () => false); // true
 * looksLikeLocalModel("org/name", () => false); // false
 * looksLikeLocalModel("models/nope", (p) => p === "models"); // true
 * ```
 */
export function looksLikeLocalModel(arg: string, isDir: (path: string) => boolean): boolean {
  if (/^(\.{1,2}(\/|$)|\/|~)/.test(arg) || arg.includes("\\")) return true;
  const parts = arg.split("/").filter((p) => p !== "");
  if (parts.length > 2 || arg.endsWith("/")) return true;
  if (isDir(arg)) return true;
  return parts.length === 2 && isDir(parts[0]);
}
