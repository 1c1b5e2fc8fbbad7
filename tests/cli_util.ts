/**
 * Test helpers: spawn the real `encdec` CLI — as `deno task encdec` does (`runEncdec`: the
 * launcher computes the flags) or with given least-privilege flags (`runCli`) — and start the
 * edge example as a subprocess.
 *
 * @module
 */
import { permissionFlags, type PermissionScope } from "@encdec/cli";

/** Repository root (absolute, no trailing slash). */
export const ROOT: string = decodeURIComponent(new URL("..", import.meta.url).pathname).replace(
  /\/$/,
  "",
);
/** Golden fixture directory. */
export const FIXTURES: string = `${ROOT}/tests/testdata/fixtures`;

/** What a CLI run produced. */
export interface CliResult {
  /** Exit status. */
  code: number;
  /** Standard output. */
  stdout: string;
  /** Standard error. */
  stderr: string;
}

/** Options of {@linkcode runCli}. */
export interface RunCliOptions {
  /** Bytes or text piped to stdin (stdin is closed when absent). */
  stdin?: string | Uint8Array;
  /** Environment overrides (merged over the test's environment). */
  env?: Record<string, string>;
  /** Permission scope; default: read `models/`, the fixtures and `hfHome`, write `hfHome`, net 127.0.0.1. */
  scope?: PermissionScope;
  /** HF home for the default scope and `HF_HOME`. */
  hfHome?: string;
  /** Extra `deno run` flags (e.g. `--allow-write=<output>` for `encdec train`). */
  extraFlags?: string[];
}

/**
 * The environment of a spawned `encdec` as a user with no Hugging Face set-up has it: HF variables
 * emptied (`HF_TOKEN=""` hides a token of the machine running the tests; the Hub client ignores
 * ""), `HF_HOME` at `hfHome`, no colours, and no `INIT_CWD` — as typed in a fresh shell, where
 * `deno task` sets it to the caller's directory (under `deno task ok` the outer task's INIT_CWD
 * would otherwise be inherited: deno task, like npm, keeps one that is already set), and no ONNX
 * graph cache unless `extra` names one. Use with
 * `clearEnv: true`.
 */
export function userEnv(
  hfHome: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  const inherited = Deno.env.toObject();
  delete inherited.INIT_CWD;
  return {
    ...inherited,
    HF_HOME: hfHome,
    HF_HUB_CACHE: "",
    HUGGINGFACE_HUB_CACHE: "",
    HF_ENDPOINT: "",
    HF_TOKEN: "",
    HF_HUB_OFFLINE: "",
    NO_COLOR: "1",
    ENCDEC_GRAPH_CACHE: "off", // a test that wants the graph cache names its folder
    ...extra,
  };
}

/** Runs `encdec <args>` with the documented least-privilege flags. */
export async function runCli(args: string[], opts: RunCliOptions = {}): Promise<CliResult> {
  const hfHome = opts.hfHome ?? `${ROOT}/tests/.no-hf-home`;
  const scope = opts.scope ??
    { read: [`${ROOT}/models`, FIXTURES, hfHome], write: [hfHome], net: ["127.0.0.1"] };
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...permissionFlags(scope),
      ...(opts.extraFlags ?? []),
      `${ROOT}/cli/main.ts`,
      ...args,
    ],
    cwd: ROOT,
    stdin: opts.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    clearEnv: true,
    env: userEnv(hfHome, opts.env),
  }).spawn();
  return await finish(child, opts.stdin);
}

async function finish(child: Deno.ChildProcess, stdin?: string | Uint8Array): Promise<CliResult> {
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(typeof stdin === "string" ? new TextEncoder().encode(stdin) : stdin)
      .catch(() => {});
    await w.close().catch(() => {});
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Options of {@linkcode runEncdec}. */
export interface RunEncdecOptions {
  /** Bytes or text piped to stdin (closed when absent). */
  stdin?: string | Uint8Array;
  /** The user's working directory (default the repository root). */
  cwd?: string;
  /** The environment of the run (merged over a clean Hugging Face environment). */
  env?: Record<string, string>;
}

/**
 * Runs `deno task -q encdec <args>` from `cwd`, exactly as a user types it: the task starts the
 * launcher, which grants the CLI what this invocation needs. `HF_HOME` defaults to a directory
 * that does not exist, and the machine's Hugging Face variables and token are hidden.
 */
export async function runEncdec(args: string[], opts: RunEncdecOptions = {}): Promise<CliResult> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["task", "-q", `--config=${ROOT}/deno.json`, "encdec", ...args],
    cwd: opts.cwd ?? ROOT,
    stdin: opts.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    clearEnv: true,
    env: userEnv(`${ROOT}/tests/.no-hf-home`, opts.env),
  }).spawn();
  return await finish(child, opts.stdin);
}

/** The stderr lines that are encdec's (drops native driver noise such as Vulkan loader lines). */
export function encdecLines(stderr: string): string[] {
  return stderr.split("\n").filter((l) => l.startsWith("encdec"));
}

/** A running edge example. */
export interface EdgeServer {
  /** `http://127.0.0.1:<port>`. */
  url: string;
  /** Stops the server and waits for it. */
  stop(): Promise<void>;
}

/** `deno` arguments that run `examples/edge/main.ts` with its documented flags. */
export const EDGE_ARGS: readonly string[] = [
  "run",
  "--no-prompt",
  "--unstable-no-legacy-abort",
  `--allow-read=${ROOT}/models/default`,
  "--allow-net=127.0.0.1",
  "--allow-env=PORT,HOSTNAME,ENCDEC_MODEL,MAX_BODY_BYTES,BODY_TIMEOUT_S,MAX_TIME_S,MAX_CONCURRENT,MAX_QUEUE,ENCDEC_STATS",
  `${ROOT}/examples/edge/main.ts`,
];

/** Starts `examples/edge/main.ts` on 127.0.0.1 with an ephemeral port and its documented flags. */
export async function startEdge(env: Record<string, string> = {}): Promise<EdgeServer> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [...EDGE_ARGS],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
    env: { PORT: "0", HOSTNAME: "127.0.0.1", ...env },
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  let url: string | null = null;
  while (url === null) {
    const { done, value } = await reader.read();
    if (done) throw new Error(`edge example exited before listening: ${seen}`);
    seen += value;
    const m = /listening on (http:\/\/127\.0\.0\.1:\d+)\//.exec(seen);
    if (m) url = m[1];
  }
  // Keep draining stdout so the child never blocks on a full pipe.
  const drain = (async () => {
    while (!(await reader.read()).done) { /* discard */ }
  })();
  return {
    url,
    async stop() {
      child.kill("SIGTERM");
      await child.status;
      await drain.catch(() => {});
    },
  };
}

/**
 * What the built-in default model (`models/default/`) generates for `text`, computed in this
 * process straight from the library (tokenizer → `EncoderDecoderModel.generate` with the model's
 * own generation config, truncated to the tokenizer's `model_max_length`, as `pipeline()` does):
 * the reference the CLI, `pipeline()` and the edge example are checked against.
 */
export async function defaultModelSummary(
  text: string,
  options: Record<string, unknown> = {},
): Promise<string> {
  const { AutoTokenizer, EncoderDecoderModel } = await import("@encdec/cli");
  const dir = `${ROOT}/models/default`;
  const tok = await AutoTokenizer.fromPretrained(dir);
  const model = await EncoderDecoderModel.fromPretrained(dir);
  const maxLength = tok.modelMaxLength;
  const ids = tok.call(text, { truncation: true, maxLength }).inputIds as number[];
  const { sequences } = await model.generate([ids], options);
  return tok.batchDecode(sequences, { skipSpecialTokens: true })[0];
}
