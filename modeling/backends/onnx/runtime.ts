/**
 * Loading onnxruntime: `onnxruntime-node` (native add-on, fastest) or `onnxruntime-web` (wasm,
 * threads = cores, for hosts without native add-ons such as Deno Deploy).
 *
 * @module
 */
import type * as OrtNode from "onnxruntime-node";
import { EncdecError } from "@encdec/config";
import { releaseData } from "./_host.ts";

/** The onnxruntime API both packages share (typed as onnxruntime-node's). */
export type Ort = typeof OrtNode;

/** Which onnxruntime package to use; `"auto"` prefers node and falls back to web. */
export type OnnxRuntimeName = "node" | "web" | "auto";

/** Thrown when no onnxruntime can be loaded or a session fails to build or run. */
export class OnnxRuntimeError extends EncdecError {}

/** A loaded runtime. */
export interface LoadedRuntime {
  /** The module. */
  ort: Ort;
  /** Which package it is. */
  name: "node" | "web";
}

let webConfigured = false;

/** The folder holding onnxruntime-web's wasm files: beside its resolved entry module. */
function webWasmDir(): URL {
  return new URL(".", import.meta.resolve("onnxruntime-web"));
}

/**
 * Why onnxruntime-web cannot read its wasm files from the local disk, or `null` when it can
 * (or loads them from a non-file URL, which needs no read permission).
 */
function webReadProblem(): string | null {
  const dir = webWasmDir();
  if (dir.protocol !== "file:") return null;
  const path = decodeURIComponent(dir.pathname).replace(/\/$/, "");
  if (Deno.permissions.querySync({ name: "read", path }).state !== "granted") {
    return `onnxruntime-web reads its wasm files from ${path}, which is outside the readable ` +
      `paths; add --allow-read=${path} (or --allow-ffi to use onnxruntime-node)`;
  }
  return null;
}

/** The wasm file onnxruntime-web (1.30, pinned in deno.json) runs on the CPU. */
const WEB_WASM_FILE = "ort-wasm-simd-threaded.wasm";

/** onnxruntime-web's wasm settings and the binary `loadWeb` handed them, until a session exists. */
let webWasmBinary: { wasm: { wasmBinary?: Uint8Array }; bytes: Uint8Array } | null = null;

/**
 * The bytes of onnxruntime-web's wasm file under `dir` (a `file:` URL) in a buffer that V8 maps
 * with mmap (a resizable `ArrayBuffer`), or `null` when the file is not there (the runtime then
 * fetches it itself). Fetched by the runtime, the 14 MB binary is copied through glibc's malloc
 * and freed at some later GC: glibc then raises its mmap threshold to that size (up to 32 MiB)
 * and its trim threshold to twice that, and from then on keeps that much freed memory resident
 * in each of its arenas. Read here and freed by `webSessionCreated`, the edge example's start-up
 * peak with bert2bert-base int8 was 16 MiB lower (issue 18 goal 4).
 */
async function readWebWasm(dir: URL): Promise<Uint8Array | null> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(new URL(WEB_WASM_FILE, dir));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
  try {
    const n = (await file.stat()).size;
    const bytes = new Uint8Array(new ArrayBuffer(n, { maxByteLength: n }));
    for (let at = 0; at < n;) {
      const got = await file.read(bytes.subarray(at));
      if (got === null) return null; // shrank while read: let the runtime fetch it
      at += got;
    }
    return bytes;
  } finally {
    file.close();
  }
}

async function loadWeb(numThreads: number): Promise<LoadedRuntime> {
  const problem = webReadProblem();
  if (problem) throw new OnnxRuntimeError(problem);
  const ort = await import("onnxruntime-web") as unknown as Ort;
  if (!webConfigured) {
    const dir = webWasmDir();
    const wasm = ort.env.wasm as { wasmPaths?: string; wasmBinary?: Uint8Array };
    wasm.wasmPaths = dir.href;
    ort.env.wasm.numThreads = numThreads;
    const bytes = dir.protocol === "file:" ? await readWebWasm(dir) : null;
    if (bytes) {
      wasm.wasmBinary = bytes;
      webWasmBinary = { wasm, bytes };
    }
    webConfigured = true;
  }
  return { ort, name: "web" };
}

/**
 * Frees the wasm binary `loadWeb` handed to onnxruntime-web; call once a session exists: the
 * runtime compiled it then (workers get the compiled module) and never reads it again.
 */
export function webSessionCreated(): void {
  if (webWasmBinary === null) return;
  delete webWasmBinary.wasm.wasmBinary;
  releaseData([webWasmBinary.bytes]);
  webWasmBinary = null;
}

/**
 * Loads onnxruntime. `"node"` fails with `OnnxRuntimeError` when the native add-on cannot load
 * (no `--allow-ffi`, unsupported platform). `"auto"` decides as the device registry's `"onnx"`
 * does (`modeling/models/device.ts`): node when `onnxRuntimeStatus()` says it loads (FFI granted;
 * never prompting for it), else web. The web runtime's thread count is global: the first load
 * sets it.
 *
 * @example
 * ```ts ignore
 * import { loadRuntime } from "./runtime.ts";
 * const { name } = await loadRuntime("auto", 2);
 * ```
 */
export async function loadRuntime(
  which: OnnxRuntimeName,
  numThreads: number,
): Promise<LoadedRuntime> {
  if (which === "auto") which = (await onnxRuntimeStatus()).node.available ? "node" : "web";
  if (which === "web") return loadWeb(numThreads);
  try {
    const ort = await import("onnxruntime-node") as unknown as Ort;
    // Touch the binding so a missing native add-on fails here, not at the first session.
    void ort.InferenceSession;
    return { ort, name: "node" };
  } catch (e) {
    throw new OnnxRuntimeError(
      `onnxruntime-node could not be loaded (${(e as Error).message}); run with --allow-ffi ` +
        `on a platform it ships a binary for, or use runtime "web"`,
      { cause: e },
    );
  }
}

/**
 * onnxruntime-node's native add-on for this platform (`bin/napi-v6/<os>/<arch>/`), the one file
 * a scoped `--allow-ffi=<file>` grants (the path as resolved, without reading it: a scoped grant
 * need not include read access); `null` when the package is not a local file.
 */
function nodeAddonPath(): string | null {
  try {
    const entry = new URL(import.meta.resolve("onnxruntime-node"));
    if (entry.protocol !== "file:") return null;
    const path = decodeURIComponent(entry.pathname);
    const i = path.lastIndexOf("/onnxruntime-node/");
    if (i < 0) return null;
    const os = Deno.build.os === "windows" ? "win32" : Deno.build.os;
    const arch = Deno.build.arch === "x86_64" ? "x64" : "arm64";
    return `${path.slice(0, i)}/onnxruntime-node/bin/napi-v6/${os}/${arch}/` +
      "onnxruntime_binding.node";
  } catch {
    return null;
  }
}

/** Whether each onnxruntime package can be used here, and why not. */
export interface OnnxRuntimeStatus {
  /** onnxruntime-node: the native add-on loads (needs `--allow-ffi`). */
  node: { available: boolean; detail: string };
  /** onnxruntime-web: its wasm files are readable (or remote). */
  web: { available: boolean; detail: string };
}

/**
 * Probes both runtimes without building a session: onnxruntime-node is loaded when ffi is
 * granted (never prompting), onnxruntime-web is checked for read access to its wasm files.
 *
 * @example
 * ```ts ignore
 * import { onnxRuntimeStatus } from "./runtime.ts";
 * const { node, web } = await onnxRuntimeStatus();
 * console.log(node.available ? "native" : web.available ? "wasm" : "none");
 * ```
 */
export async function onnxRuntimeStatus(): Promise<OnnxRuntimeStatus> {
  let node: OnnxRuntimeStatus["node"];
  // `--allow-ffi` or `--allow-ffi=<the add-on file>` (what `deno task encdec` grants).
  const addon = nodeAddonPath();
  const ffi = await Deno.permissions.query(addon ? { name: "ffi", path: addon } : { name: "ffi" });
  if (ffi.state !== "granted") {
    node = { available: false, detail: "needs --allow-ffi (native add-on)" };
  } else {
    try {
      const { ort } = await loadRuntime("node", 1);
      node = { available: true, detail: `onnxruntime-node ${ort.env.versions?.common ?? ""}` };
    } catch (e) {
      node = { available: false, detail: (e as Error).message };
    }
  }
  let web: OnnxRuntimeStatus["web"];
  try {
    const problem = webReadProblem();
    web = problem === null
      ? { available: true, detail: `onnxruntime-web (wasm) from ${webWasmDir().href}` }
      : { available: false, detail: problem };
  } catch (e) {
    web = { available: false, detail: `onnxruntime-web not resolvable: ${(e as Error).message}` };
  }
  return { node: { ...node, detail: node.detail.trim() }, web };
}

/** Default thread count: the machine's logical cores. */
export function defaultThreads(): number {
  return Math.max(1, navigator.hardwareConcurrency ?? 1);
}
