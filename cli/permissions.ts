/**
 * The least-privilege Deno permissions the `encdec` CLI runs with (never `-A`), as data: the root
 * `deno task encdec` uses exactly these flags, the end-to-end tests spawn the CLI with them, and
 * the CLI checks model paths against them before reading.
 *
 * | flag | why |
 * | --- | --- |
 * | `--allow-read=<model dirs>,<HF home>` | model directories (the repository's `models/`), onnxruntime-web's wasm files under `node_modules/` (`--device onnx`), the Hub cache and token file; stdin needs no permission |
 * | `--allow-write=<HF home>` | the Hub cache only (downloads, locks) |
 * | `--allow-net=<Hub hosts>` | the Hub endpoint and its LFS CDN hosts, nothing else |
 * | `--allow-env=<list>` | only {@linkcode ENV_VARS} |
 * | `--unstable-webgpu` | `--device webgpu` (an API flag, not a permission) |
 * | `--no-prompt` | a denied access fails with one clear line instead of an interactive prompt |
 *
 * No `--allow-run`, `--allow-sys`, `--allow-import`, and no `--allow-ffi`: `--device onnx` then
 * runs on onnxruntime-web (wasm); adding `--allow-ffi` lets it use the native onnxruntime-node.
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
  "ENCDEC_DEBUG",
];

/** Hosts of the public Hub: the API/resolve endpoint and the CDNs its LFS files redirect to. */
export const HUB_HOSTS: readonly string[] = [
  "huggingface.co",
  "cdn-lfs.huggingface.co",
  "cdn-lfs-us-1.huggingface.co",
  "cdn-lfs-eu-1.huggingface.co",
  "cas-bridge.xethub.hf.co",
];

/** Where the CLI may read, write and connect. */
export interface PermissionScope {
  /** Directories holding models (and anything else to read besides the HF home). */
  read: string[];
  /** The HF home (`$HF_HOME`, default `~/.cache/huggingface`): read and write. */
  hfHome: string;
  /** Hosts (`host` or `host:port`) to connect to; default {@linkcode HUB_HOSTS}; `[]`: no network. */
  net?: readonly string[];
}

/**
 * The `deno run` flags for `scope`, in the order the root `deno task encdec` writes them.
 *
 * @example
 * ```ts
 * import { permissionFlags } from "@encdec/cli";
 * const flags = permissionFlags({ read: ["./models"], hfHome: "/home/me/.cache/huggingface" });
 * // ["--no-prompt", "--unstable-webgpu", "--allow-read=./models,/home/me/...", ...]
 * ```
 */
export function permissionFlags(scope: PermissionScope): string[] {
  const net = scope.net ?? HUB_HOSTS;
  return [
    "--no-prompt",
    "--unstable-webgpu",
    `--allow-read=${[...scope.read, scope.hfHome].join(",")}`,
    `--allow-write=${scope.hfHome}`,
    ...(net.length > 0 ? [`--allow-net=${net.join(",")}`] : []),
    `--allow-env=${ENV_VARS.join(",")}`,
  ];
}

/**
 * Throws `AccessDeniedError` when this process may not read `path` (checked before a model
 * directory is opened, so a path outside the allowed ones gets a clear message, not "not found").
 */
export function assertReadable(path: string, what: string): void {
  const state = Deno.permissions.querySync({ name: "read", path }).state;
  if (state !== "granted") {
    throw new AccessDeniedError(
      `${what} "${path}" is outside the paths encdec may read (least-privilege permissions); ` +
        `add --allow-read=${path} to the deno run flags if you mean it`,
    );
  }
}
