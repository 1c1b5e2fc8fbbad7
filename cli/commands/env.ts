/**
 * `encdec env`: versions, devices (with the WebGPU adapter), the Hub cache and endpoint, and
 * whether onnxruntime can be used; for bug reports.
 *
 * @module
 */
import { getHubToken, hubCacheDir, hubEndpoint, isOfflineMode } from "@encdec/config";
import {
  type Backend,
  ModelLoadError,
  type OnnxRuntimeStatus,
  onnxRuntimeStatus,
  resolveDevice,
} from "@encdec/modeling";
import cliManifest from "../deno.json" with { type: "json" };
import { choice, type Command, EXIT_OK, parseCommandArgs, writeOut } from "../_cli.ts";

const HELP = `encdec env: describe this installation (for bug reports)

Usage: encdec env [--format text|json]

Prints the encdec, Deno, V8 and TypeScript versions, the platform, the Hub cache directory and
endpoint, whether a Hub token is set (never the token), the devices (cpu, webgpu with its adapter,
onnx) and whether onnxruntime-node (native, needs --allow-ffi) and onnxruntime-web (wasm, needs
read access to its files under node_modules) can be used.

Options
  -f, --format <fmt>   text (default) or json
  -h, --help           this help`;

/** What `encdec env` reports. */
export interface EnvReport {
  /** `@encdec/cli` version. */
  encdec: string;
  /** Deno, V8 and TypeScript versions. */
  deno: typeof Deno.version;
  /** `os-arch`. */
  platform: string;
  /** Hub cache directory, or why it is unknown. */
  cacheDir: string;
  /** Hub endpoint. */
  endpoint: string;
  /** `HF_HUB_OFFLINE`. */
  offline: boolean;
  /** Whether a Hub token was found (the token itself is never printed). */
  tokenSet: boolean;
  /** Per device: usable or why not. */
  devices: Record<string, { available: boolean; detail: string }>;
  /** WebGPU adapter info when one was found. */
  webgpuAdapter: Record<string, string | boolean> | null;
  /** onnxruntime availability: `available` when either package can run (`--device onnx`). */
  onnxruntime: { available: boolean; detail: string } & OnnxRuntimeStatus;
}

async function deviceStatus(name: string): Promise<{ available: boolean; detail: string }> {
  try {
    const backend = await resolveDevice(name) as Backend<unknown> & { destroy?: () => void };
    backend.destroy?.();
    return { available: true, detail: "registered backend started" };
  } catch (e) {
    if (e instanceof ModelLoadError && /not registered/.test(e.message)) {
      return { available: false, detail: "not available in this build" };
    }
    return { available: false, detail: `failed to start: ${(e as Error).message}` };
  }
}

async function adapterInfo(): Promise<Record<string, string | boolean> | null | string> {
  if (!("gpu" in navigator) || !navigator.gpu) {
    return "navigator.gpu missing (run with --unstable-webgpu)";
  }
  try {
    const adapter = await navigator.gpu.requestAdapter();
    if (!adapter) return "no WebGPU adapter found";
    const i = adapter.info;
    return {
      vendor: i.vendor,
      architecture: i.architecture,
      device: i.device,
      description: i.description,
      isFallbackAdapter:
        (i as GPUAdapterInfo & { isFallbackAdapter?: boolean }).isFallbackAdapter ??
          false,
    };
  } catch (e) {
    return `requestAdapter failed: ${(e as Error).message}`;
  }
}

/** Collects the {@linkcode EnvReport}. */
export async function collectEnv(): Promise<EnvReport> {
  let cacheDir: string;
  try {
    cacheDir = hubCacheDir();
  } catch (e) {
    cacheDir = `unknown (${(e as Error).message})`;
  }
  const adapter = await adapterInfo();
  const webgpu = await deviceStatus("webgpu");
  if (typeof adapter === "string") webgpu.detail += `; ${adapter}`;
  const ort = await onnxRuntimeStatus();
  const runtime = ort.node.available
    ? "onnxruntime-node"
    : ort.web.available
    ? "onnxruntime-web"
    : "";
  const onnx = runtime
    ? { available: true, detail: `runs on ${runtime}` }
    : { available: false, detail: "neither onnxruntime-node nor onnxruntime-web can run" };
  return {
    encdec: cliManifest.version,
    deno: Deno.version,
    platform: `${Deno.build.os}-${Deno.build.arch}`,
    cacheDir,
    endpoint: hubEndpoint(),
    offline: isOfflineMode(),
    tokenSet: getHubToken() !== undefined,
    devices: {
      cpu: { available: true, detail: "built-in TypeScript backend" },
      webgpu,
      onnx,
    },
    webgpuAdapter: typeof adapter === "string" ? null : adapter,
    onnxruntime: { ...onnx, ...ort },
  };
}

function toText(r: EnvReport): string {
  const rows: [string, string][] = [
    ["encdec", r.encdec],
    ["deno", `${r.deno.deno} (v8 ${r.deno.v8}, typescript ${r.deno.typescript})`],
    ["platform", r.platform],
    ["cache dir", r.cacheDir],
    ["endpoint", r.endpoint],
    ["offline", r.offline ? "yes (HF_HUB_OFFLINE)" : "no"],
    ["hub token", r.tokenSet ? "set" : "not set"],
  ];
  for (const [name, d] of Object.entries(r.devices)) {
    rows.push([`device ${name}`, `${d.available ? "available" : "unavailable"}: ${d.detail}`]);
  }
  if (r.webgpuAdapter) {
    const a = r.webgpuAdapter;
    rows.push([
      "webgpu adapter",
      `${a.description || "?"} (vendor ${a.vendor || "?"}, architecture ${
        a.architecture || "?"
      }, ` +
      `device ${a.device || "?"}${a.isFallbackAdapter ? ", software fallback" : ""})`,
    ]);
  }
  for (const k of ["node", "web"] as const) {
    const o = r.onnxruntime[k];
    rows.push([`onnxruntime-${k}`, `${o.available ? "available" : "unavailable"}: ${o.detail}`]);
  }
  const w = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join("\n") + "\n";
}

/** `encdec env`. */
export const envCommand: Command = {
  name: "env",
  summary: "versions, devices, WebGPU adapter, cache dir, onnxruntime",
  help: HELP,
  async run(args) {
    const p = parseCommandArgs("env", args, { format: { type: "string", short: "f" } });
    if (p.values.help) {
      await writeOut(HELP + "\n");
      return EXIT_OK;
    }
    const format = choice(p, "format", ["text", "json"] as const) ?? "text";
    const report = await collectEnv();
    await writeOut(format === "json" ? JSON.stringify(report, null, 2) + "\n" : toText(report));
    return EXIT_OK;
  },
};
