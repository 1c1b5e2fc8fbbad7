/**
 * The launcher's permission plan (`planLaunch`, what `deno task encdec` grants one invocation),
 * case by case: every grant is compared with the exact list expected from the command line and
 * the Hugging Face environment (no process is spawned here; `launch_e2e_test.ts` runs them).
 */
import { assert, assertEquals } from "@std/assert";
import { HUB_HOSTS, type LaunchContext, LAUNCHER_PERMISSIONS, planLaunch } from "@encdec/cli";

const REPO = "/home/me/encdec";
const ADDON = `${REPO}/node_modules/.deno/onnxruntime-node/bin/onnxruntime_binding.node`;
const WASM = `${REPO}/node_modules/.deno/onnxruntime-web/dist`;
const DIRS = new Set([REPO, `${REPO}/models`, `${REPO}/models/default`, "/data/models/x"]);

function ctx(env: Record<string, string> = {}, cwd = REPO): LaunchContext {
  return {
    cwd,
    repo: REPO,
    env: { HOME: "/home/me", ...env },
    isDir: (p) => DIRS.has(p),
    onnxNodeAddon: ADDON,
    onnxWebDir: WASM,
  };
}

const GRAPHS = "/home/me/.cache/huggingface/encdec/graphs";

Deno.test("planLaunch run with the built-in model: reads only it, the graph cache and the wasm folder, writes only the graph cache, ffi only the add-on, no net", () => {
  const plan = planLaunch(["run", "--num-beams", "4"], ctx());
  assertEquals(plan.scope, {
    read: [`${REPO}/models/default`, GRAPHS, WASM],
    write: [GRAPHS],
    net: [],
    ffi: [ADDON],
  });
  // The graph cache follows ENCDEC_GRAPH_CACHE and HF_HOME; off means no grant.
  const moved = planLaunch(["run"], ctx({ ENCDEC_GRAPH_CACHE: "/fast/graphs" })).scope;
  assertEquals(moved.write, ["/fast/graphs"]);
  assertEquals(planLaunch(["run"], ctx({ HF_HOME: "/data/hf" })).scope.write, [
    "/data/hf/encdec/graphs",
  ]);
  const off = planLaunch(["run"], ctx({ ENCDEC_GRAPH_CACHE: "off" })).scope;
  assertEquals([off.read, off.write], [[`${REPO}/models/default`, WASM], []]);
  assertEquals(plan.args, ["run", "--num-beams", "4"]);
  for (const f of plan.flags) {
    assert(!/^(-A|--allow-all|--allow-run|--allow-sys|--allow-import)/.test(f), f);
    assert(!/^--allow-(read|write|net|ffi)$/.test(f), `unscoped ${f}`);
  }
});

Deno.test("planLaunch run with a Hub id: the resolved cache (HF_HOME / HF_HUB_CACHE / HUGGINGFACE_HUB_CACHE / XDG_CACHE_HOME), the token file, the Hub hosts", () => {
  const hub = (env: Record<string, string>) =>
    planLaunch(["run", "-m", "org/name"], ctx(env)).scope;
  assertEquals(hub({}), {
    read: [
      "/home/me/.cache/huggingface/hub",
      "/home/me/.cache/huggingface/token",
      GRAPHS,
      WASM,
    ],
    write: ["/home/me/.cache/huggingface/hub", GRAPHS],
    net: [...HUB_HOSTS],
    ffi: [ADDON],
  });
  assertEquals(hub({ HF_HOME: "/data/hf" }).read.slice(0, 2), ["/data/hf/hub", "/data/hf/token"]);
  assertEquals(hub({ HF_HOME: "/data/hf" }).write?.[0], "/data/hf/hub");
  assertEquals(hub({ HF_HUB_CACHE: "/fast/hub" }).write?.[0], "/fast/hub");
  assertEquals(hub({ HUGGINGFACE_HUB_CACHE: "/legacy/hub" }).write?.[0], "/legacy/hub");
  assertEquals(hub({ XDG_CACHE_HOME: "/xdg" }).write?.[0], "/xdg/huggingface/hub");
  assertEquals(hub({ HF_HOME: "~/hf" }).write?.[0], "/home/me/hf/hub");
  assertEquals(hub({ HF_TOKEN_PATH: "/secrets/hf" }).read[1], "/secrets/hf");
});

Deno.test("planLaunch HF_ENDPOINT: only the mirror's host (and port), plus ENCDEC_ALLOW_HOSTS; offline: no write, no net", () => {
  const mirror = planLaunch(
    ["run", "--model=org/name"],
    ctx({ HF_ENDPOINT: "http://10.0.0.5:8080/" }),
  );
  assertEquals(mirror.scope.net, ["10.0.0.5:8080"]);
  assert(mirror.flags.includes("--allow-net=10.0.0.5:8080"), mirror.flags.join(" "));
  const redirect = planLaunch(
    ["download", "org/name"],
    ctx({ HF_ENDPOINT: "https://hf-mirror.com", ENCDEC_ALLOW_HOSTS: "cdn.mirror.example, x.y" }),
  );
  assertEquals(redirect.scope.net, ["hf-mirror.com", "cdn.mirror.example", "x.y"]);
  const offline = planLaunch(["run", "-m", "org/name"], ctx({ HF_HUB_OFFLINE: "1" })).scope;
  assertEquals(offline.write, [GRAPHS]); // the local graph cache only
  assertEquals(offline.net, []);
  assertEquals(offline.read.slice(0, 1), ["/home/me/.cache/huggingface/hub"]);
});

Deno.test("planLaunch model paths: relative to the user's directory, outside the repository, ~; models/nope is a path", () => {
  const sub = planLaunch(["run", "--model", "../models/default"], ctx({}, `${REPO}/tests`));
  assertEquals(sub.scope.read[0], `${REPO}/models/default`);
  assertEquals(sub.scope.net, []);
  const outside = planLaunch(["run", "--model", "/data/models/x", "--tokenizer", "~/tok"], ctx());
  assertEquals(outside.scope.read.slice(0, 2), ["/data/models/x", "/home/me/tok"]);
  assertEquals(outside.args.at(-1), "/home/me/tok", "~ expanded for the CLI as well");
  assertEquals(planLaunch(["run", "--model=~/m"], ctx()).args, ["run", "--model=/home/me/m"]);
  // `models/nope` beside an existing `models/`: a mistyped path, never a Hub id; the CLI gets
  // `./models/nope` so it reports the missing directory.
  const nope = planLaunch(["run", "--model", "models/nope"], ctx());
  assertEquals(nope.scope.read[0], `${REPO}/models/nope`);
  assertEquals(nope.scope.net, []);
  assertEquals(nope.args, ["run", "--model", "./models/nope"]);
  const eq = planLaunch(["run", "--model=models/nope"], ctx());
  assertEquals(eq.args, ["run", "--model=./models/nope"]);
  // `org/name` with no `org/` directory here is a Hub id.
  assertEquals(planLaunch(["run", "--model", "org/name"], ctx()).scope.net, [...HUB_HOSTS]);
});

Deno.test("planLaunch train: data, eval, config folder and resume dir readable, --output read+write, anywhere", () => {
  const plan = planLaunch(
    [
      "train",
      "--config",
      "cfg/config.json",
      "--data",
      "/data/train.jsonl",
      "--eval=../eval.jsonl",
      "-o",
      "out",
      "--resume-from",
      "/ckpt/checkpoint-10",
    ],
    ctx({}, "/work/project"),
  );
  assertEquals(plan.scope.read, [
    "/work/project/out",
    "/work/project/cfg",
    "/data/train.jsonl",
    "/work/eval.jsonl",
    "/ckpt/checkpoint-10",
    WASM,
  ]);
  assertEquals(plan.scope.write, ["/work/project/out"]);
  assertEquals(
    planLaunch(["train", "--data=~/d.jsonl", "--output=~/o", "--model", "/m"], ctx()).args,
    ["train", "--data=/home/me/d.jsonl", "--output=/home/me/o", "--model", "/m"],
  );
  assertEquals(plan.scope.net, []);
  assertEquals(plan.scope.ffi, [ADDON]);
});

Deno.test("planLaunch eval / env / download / help: each only what it touches", () => {
  assertEquals(planLaunch(["eval", "p.jsonl"], ctx({}, "/w")).scope.read, ["/w/p.jsonl"]);
  assertEquals(planLaunch(["eval", "--predictions", "/p.jsonl"], ctx()).scope.read, ["/p.jsonl"]);
  assertEquals(planLaunch(["eval", "p.jsonl"], ctx()).scope.ffi, []);
  const env = planLaunch(["env", "--format", "json"], ctx()).scope;
  assertEquals(env, {
    read: ["/home/me/.cache/huggingface/token", WASM],
    write: [],
    net: [],
    ffi: [ADDON],
  });
  const dl = planLaunch(["download", "org/name", "--include", "*.json"], ctx()).scope;
  assertEquals(dl.write, ["/home/me/.cache/huggingface/hub"]);
  assertEquals(dl.ffi, []);
  for (const args of [[], ["--help"], ["--version"], ["frobnicate"]]) {
    assertEquals(planLaunch(args, ctx()).scope, { read: [], write: [], net: [], ffi: [] });
  }
});

Deno.test("planLaunch: a comma in a path is escaped as Deno reads it (doubled)", () => {
  const plan = planLaunch(["run", "--model", "/data/a,b"], ctx());
  assert(plan.flags.some((f) => f.startsWith("--allow-read=/data/a,,b,")), plan.flags.join(" "));
});

Deno.test("deno task encdec runs the launcher with its permission set: read, the env list, run of this checkout's deno only", () => {
  const root = JSON.parse(Deno.readTextFileSync(new URL("../deno.json", import.meta.url)));
  assertEquals(root.tasks.encdec, "deno run -q --no-prompt -P=encdec-launcher cli/launch.ts");
  assertEquals(root.permissions["encdec-launcher"], {
    read: true,
    env: [...LAUNCHER_PERMISSIONS.env],
    run: ["node_modules/deno/deno"],
  });
  assertEquals(Object.keys(root.permissions["encdec-launcher"]).sort(), ["env", "read", "run"]);
});
