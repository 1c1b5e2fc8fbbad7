/**
 * The `encdec` launcher: what `deno task encdec` runs. It reads the command line and the Hugging
 * Face environment, computes the least-privilege permissions this one invocation needs
 * ({@linkcode planLaunch}) and starts `cli/main.ts` with exactly those flags, in the directory the
 * user typed the command in (`INIT_CWD`), so relative paths mean what they say.
 *
 * The launcher itself never opens a model or data file: it only looks at paths (`stat`), reads the
 * variables it needs and starts one process, the Deno binary of this checkout (its permission set,
 * {@linkcode LAUNCHER_PERMISSIONS}, lives in the root `deno.json`, so the task line stays short).
 *
 * @example
 * ```ts
 * import { planLaunch } from "@encdec/cli";
 * const plan = planLaunch(["run", "--model", "org/name"], {
 *   cwd: "/home/me",
 *   repo: "/home/me/encdec",
 *   env: { HOME: "/home/me" },
 * });
 * plan.flags; // ["--no-prompt", "--unstable-webgpu", "--allow-read=/home/me/.cache/huggingface/hub,...", ...]
 * ```
 *
 * @module
 */
import { resolveGraphCacheFolder, resolveHubPaths } from "@encdec/config";
import {
  HUB_HOSTS,
  looksLikeLocalModel,
  permissionFlags,
  type PermissionScope,
} from "./permissions.ts";

/** What {@linkcode planLaunch} looks at (all paths absolute). */
export interface LaunchContext {
  /** The user's working directory (relative paths on the command line are relative to it). */
  cwd: string;
  /** The repository root (holds `models/default/` and `node_modules/`). */
  repo: string;
  /** The environment (Hugging Face variables, `HOME`, `ENCDEC_ALLOW_HOSTS`). */
  env: Record<string, string | undefined>;
  /** Whether an absolute path is a directory (default: `Deno.statSync`; false on any error). */
  isDir?: (path: string) => boolean;
  /** onnxruntime-node's native add-on file, or `null` when there is none (granted as `--allow-ffi`). */
  onnxNodeAddon?: string | null;
  /** onnxruntime-web's wasm folder, or `null` (granted as `--allow-read`). */
  onnxWebDir?: string | null;
}

/** How to start `cli/main.ts` for one invocation. */
export interface LaunchPlan {
  /** What the process may do. */
  scope: PermissionScope;
  /** `deno run` permission flags of `scope`. */
  flags: string[];
  /** The arguments for `cli/main.ts` (a mistyped relative model path gets a leading `./`). */
  args: string[];
}

/** Options whose value is a path to read, per command (long name → what it is). */
const READ_OPTIONS: Record<string, string[]> = {
  train: ["data", "eval", "resume-from"], // --config: its whole folder (the tokenizer default)
  eval: ["predictions"],
};

/** The value options of every command, so their values are not taken for positionals. */
const VALUE_OPTIONS = new Set([
  "model",
  "m",
  "tokenizer",
  "revision",
  "device",
  "dtype",
  "format",
  "f",
  "task",
  "config",
  "data",
  "eval",
  "output",
  "o",
  "resume-from",
  "predictions",
  "metric",
  "include",
  "exclude",
  "batch-size",
  "max-input-length",
  "num-beams",
  "max-length",
  "max-new-tokens",
  "min-length",
  "min-new-tokens",
  "top-p",
  "top-k",
  "typical-p",
  "temperature",
  "seed",
  "no-repeat-ngram-size",
  "length-penalty",
  "repetition-penalty",
  "num-return-sequences",
  "max-time",
  "epochs",
  "gradient-accumulation-steps",
  "lr",
  "warmup",
  "weight-decay",
  "max-grad-norm",
  "max-source-length",
  "max-target-length",
  "log-steps",
  "eval-steps",
  "save-steps",
]); // deno-fmt-ignore

interface ParsedArgs {
  command: string | undefined;
  values: Map<string, { value: string; index: number }[]>;
  positionals: string[];
}

/** A lenient scan of the command line (the CLI itself reports bad options). */
function scan(args: string[]): ParsedArgs {
  const values: ParsedArgs["values"] = new Map();
  const positionals: string[] = [];
  let command: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const m = /^--?([^=]+)(?:=(.*))?$/s.exec(a);
    if (a === "--") {
      positionals.push(...args.slice(i + 1));
      break;
    }
    if (m && a !== "-") {
      const name = m[1];
      if (!VALUE_OPTIONS.has(name)) continue;
      const value = m[2] ?? args[i + 1];
      const index = m[2] === undefined ? i + 1 : i;
      if (m[2] === undefined) i++;
      if (value === undefined) continue;
      const key = name === "m" ? "model" : name === "o" ? "output" : name === "f" ? "format" : name;
      values.set(key, [...(values.get(key) ?? []), { value, index }]);
    } else if (command === undefined) command = a;
    else positionals.push(a);
  }
  return { command, values, positionals };
}

function isAbsolute(p: string): boolean {
  return p.startsWith("/") || /^[A-Za-z]:[\\/]/.test(p);
}

/** `path` made absolute against `cwd` (`~/` expanded with `HOME`), without `.`/`..` segments. */
function absolute(path: string, cwd: string, home: string | undefined): string {
  let p = path;
  if ((p === "~" || p.startsWith("~/")) && home) p = home + p.slice(1);
  if (!isAbsolute(p)) p = `${cwd}/${p}`;
  const out: string[] = [];
  for (const part of p.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") out.pop();
    else out.push(part);
  }
  return "/" + out.join("/");
}

function dirname(path: string): string {
  return path.replace(/\/[^/]*$/, "") || "/";
}

function defaultIsDir(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}

/**
 * Computes the permissions of one `encdec` invocation (see `permissions.ts` for the table):
 * nothing is granted that the command line and the environment do not call for.
 */
export function planLaunch(args: string[], ctx: LaunchContext): LaunchPlan {
  const isDir = ctx.isDir ?? defaultIsDir;
  const home = ctx.env.HOME || ctx.env.USERPROFILE;
  const abs = (p: string) => absolute(p, ctx.cwd, home);
  const { command, values, positionals } = scan(args);
  const out = [...args];
  const read: string[] = [];
  const write: string[] = [];
  let hub = false;
  let ffi = false;

  const model = (name: string, fallback?: string) => {
    const given = values.get(name)?.at(-1);
    if (given === undefined) {
      if (fallback) read.push(fallback);
      return;
    }
    if (looksLikeLocalModel(given.value, (p) => isDir(abs(p)))) {
      read.push(abs(given.value));
      // `models/nope` next to `models/`: make it an explicit relative path for the CLI too.
      if (!/^(\.{1,2}\/|\/|~)/.test(given.value) && !isAbsolute(given.value)) {
        out[given.index] = out[given.index].replace(given.value, `./${given.value}`);
      }
      // `--model=~/x` reaches the CLI unexpanded (no shell expands it after `=`): expand it here.
      if (given.value === "~" || given.value.startsWith("~/")) {
        out[given.index] = out[given.index].replace(given.value, abs(given.value));
      }
    } else hub = true;
  };

  switch (command) {
    case "run":
      model("model", `${ctx.repo}/models/default`);
      model("tokenizer");
      ffi = true;
      break;
    case "download":
      hub = true;
      break;
    case "env": // reports the cache and whether a token is set: reads only the token file
      read.push(abs(resolveHubPaths(ctx.env).tokenPath));
      ffi = true;
      break;
    case "train": {
      model("model");
      model("tokenizer");
      const output = values.get("output")?.at(-1);
      if (output) {
        read.push(abs(output.value));
        write.push(abs(output.value));
      }
      const config = values.get("config")?.at(-1);
      if (config) read.push(dirname(abs(config.value)));
      ffi = true;
      break;
    }
    case "eval":
      if (positionals[0] !== undefined) read.push(abs(positionals[0]));
      break;
  }
  for (const name of READ_OPTIONS[command ?? ""] ?? []) {
    for (const v of values.get(name) ?? []) read.push(abs(v.value));
  }
  // Path options written `--data=~/x` reach the CLI unexpanded (no shell expands ~ after `=`).
  if (command === "train" || command === "eval") {
    for (const name of ["config", "output", ...(READ_OPTIONS[command] ?? [])]) {
      for (const v of values.get(name) ?? []) {
        if (v.value === "~" || v.value.startsWith("~/")) {
          out[v.index] = out[v.index].replace(v.value, abs(v.value));
        }
      }
    }
  }

  const net: string[] = [];
  if (hub) {
    const paths = resolveHubPaths(ctx.env);
    read.push(abs(paths.cacheDir), abs(paths.tokenPath));
    if (!paths.offline) {
      write.push(abs(paths.cacheDir));
      const url = new URL(paths.endpoint);
      net.push(...(url.hostname === "huggingface.co" ? HUB_HOSTS : [url.host]));
      for (const h of (ctx.env.ENCDEC_ALLOW_HOSTS ?? "").split(",")) {
        if (h.trim()) net.push(h.trim());
      }
    }
  }
  if (command === "run") {
    // The ONNX graph cache (issue 18's warm start): built graphs and converted weights, kept
    // next to the Hugging Face cache; the library uses it only where it may read and write.
    const graphs = resolveGraphCacheFolder(ctx.env);
    if (graphs) {
      read.push(abs(graphs));
      write.push(abs(graphs));
    }
  }
  if ((ffi || command === "run") && ctx.onnxWebDir) read.push(ctx.onnxWebDir);
  const scope: PermissionScope = {
    read,
    write,
    net,
    ffi: ffi && ctx.onnxNodeAddon ? [ctx.onnxNodeAddon] : [],
  };
  return { scope, flags: permissionFlags(scope), args: out };
}

/** onnxruntime-node's add-on for this platform and onnxruntime-web's wasm folder, when installed. */
function onnxFiles(repo: string): { node: string | null; web: string | null } {
  const real = (p: string) => {
    try {
      return Deno.realPathSync(p);
    } catch {
      return null;
    }
  };
  const nodePkg = real(`${repo}/node_modules/onnxruntime-node`);
  const os = Deno.build.os === "windows" ? "win32" : Deno.build.os;
  const arch = Deno.build.arch === "x86_64" ? "x64" : "arm64";
  const addon = nodePkg && real(`${nodePkg}/bin/napi-v6/${os}/${arch}/onnxruntime_binding.node`);
  const webPkg = real(`${repo}/node_modules/onnxruntime-web`);
  return { node: addon, web: webPkg && real(`${webPkg}/dist`) };
}

/**
 * A value for the child's `XDG_RUNTIME_DIR`: the user's own when it is an existing absolute
 * directory, else the home directory (exists, is the user's), so Vulkan drivers probing for a
 * display stay quiet instead of printing `XDG_RUNTIME_DIR is invalid or not set`.
 */
function runtimeDir(env: Record<string, string | undefined>): string | undefined {
  const own = env.XDG_RUNTIME_DIR;
  if (own && own.startsWith("/") && defaultIsDir(own)) return own;
  const home = env.HOME;
  return home && defaultIsDir(home) ? home : undefined;
}

/** Variables the launcher reads (to resolve the Hub cache and the user's directory). */
export const LAUNCHER_ENV: readonly string[] = [
  "HF_HOME",
  "HF_HUB_CACHE",
  "HUGGINGFACE_HUB_CACHE",
  "HF_ENDPOINT",
  "HF_TOKEN_PATH",
  "HF_HUB_OFFLINE",
  "XDG_CACHE_HOME",
  "HOME",
  "USERPROFILE",
  "INIT_CWD",
  "XDG_RUNTIME_DIR",
  "ENCDEC_ALLOW_HOSTS",
  "ENCDEC_GRAPH_CACHE",
  "ENCDEC_DEBUG",
];

/**
 * The launcher's own permissions, the `encdec-launcher` permission set of the root `deno.json`
 * (`deno task encdec` = `deno run -q --no-prompt -P=encdec-launcher cli/launch.ts`): read (to look
 * at paths), the variables of {@linkcode LAUNCHER_ENV}, and starting this checkout's Deno.
 */
export const LAUNCHER_PERMISSIONS: {
  readonly read: true;
  readonly env: readonly string[];
  readonly run: readonly string[];
} = { read: true, env: LAUNCHER_ENV, run: ["node_modules/deno/deno"] };

/** Starts `cli/main.ts` with the plan's flags in the user's directory, stdio inherited. */
function spawnCli(
  deno: string,
  repo: string,
  cwd: string,
  plan: LaunchPlan,
  xdg: string | undefined,
): Deno.ChildProcess {
  return new Deno.Command(deno, {
    args: [
      "run",
      "-q",
      `--config=${repo}/deno.json`,
      ...plan.flags,
      `${repo}/cli/main.ts`,
      ...plan.args,
    ],
    cwd,
    env: xdg ? { XDG_RUNTIME_DIR: xdg } : {},
    stdin: "inherit",
    stdout: "inherit",
    stderr: "inherit",
  }).spawn();
}

async function launch(args: string[]): Promise<number> {
  const repo = decodeURIComponent(new URL("..", import.meta.url).pathname).replace(/\/$/, "");
  const env: Record<string, string | undefined> = {};
  for (const k of LAUNCHER_ENV) {
    try {
      env[k] = Deno.env.get(k);
    } catch {
      env[k] = undefined;
    }
  }
  const cwd = env.INIT_CWD && isAbsolute(env.INIT_CWD) ? env.INIT_CWD : Deno.cwd();
  const ort = onnxFiles(repo);
  const plan = planLaunch(args, { cwd, repo, env, onnxNodeAddon: ort.node, onnxWebDir: ort.web });
  // The checkout's own Deno (what --allow-run names), else the one running this launcher.
  const local = `${repo}/node_modules/deno/deno`;
  const deno = Deno.permissions.querySync({ name: "run", command: local }).state === "granted"
    ? local
    : Deno.execPath();
  const xdg = runtimeDir(env);
  if (env.ENCDEC_DEBUG && env.ENCDEC_DEBUG !== "0") {
    console.error(`encdec: launching ${deno} run ${plan.flags.join(" ")} cli/main.ts (in ${cwd})`);
  }
  let child: Deno.ChildProcess;
  try {
    child = spawnCli(deno, repo, cwd, plan, xdg);
  } catch (e) {
    console.error(
      `encdec: error: cannot start ${deno} (${(e as Error).message}); the launcher runs this ` +
        `checkout's Deno, node_modules/deno/deno: set up with npm ci && node_modules/.bin/deno install`,
    );
    return 1;
  }
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    try {
      Deno.addSignalListener(sig, () => child.kill(sig));
    } catch {
      // not supported on this platform
    }
  }
  return (await child.status).code;
}

if (import.meta.main) {
  Deno.exit(await launch(Deno.args));
}
