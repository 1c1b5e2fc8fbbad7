/**
 * Loading onnxruntime: `onnxruntime-node` (native add-on, fastest) or `onnxruntime-web` (wasm,
 * threads = cores, for hosts without native add-ons such as Deno Deploy).
 *
 * @module
 */
import type * as OrtNode from "onnxruntime-node";
import { EncdecError } from "@encdec/config";

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

async function loadWeb(numThreads: number): Promise<LoadedRuntime> {
  const ort = await import("onnxruntime-web") as unknown as Ort;
  if (!webConfigured) {
    // The wasm files sit beside the resolved entry module in node_modules.
    const base = new URL(".", import.meta.resolve("onnxruntime-web")).href;
    (ort.env.wasm as { wasmPaths?: string }).wasmPaths = base;
    ort.env.wasm.numThreads = numThreads;
    webConfigured = true;
  }
  return { ort, name: "web" };
}

/**
 * Loads onnxruntime. `"node"` fails with `OnnxRuntimeError` when the native add-on cannot load
 * (no `--allow-ffi`, unsupported platform); `"auto"` then falls back to `"web"`. The web runtime's
 * thread count is global: the first load sets it.
 *
 * @example
 * ```ts ignore
 * import { loadRuntime } from "./_runtime.ts";
 * const { name } = await loadRuntime("auto", 2);
 * ```
 */
export async function loadRuntime(
  which: OnnxRuntimeName,
  numThreads: number,
): Promise<LoadedRuntime> {
  if (which === "web") return loadWeb(numThreads);
  try {
    const ort = await import("onnxruntime-node") as unknown as Ort;
    // Touch the binding so a missing native add-on fails here, not at the first session.
    void ort.InferenceSession;
    return { ort, name: "node" };
  } catch (e) {
    if (which === "node") {
      throw new OnnxRuntimeError(
        `onnxruntime-node could not be loaded (${(e as Error).message}); run with --allow-ffi ` +
          `on a platform it ships a binary for, or use runtime "web"`,
        { cause: e },
      );
    }
    return loadWeb(numThreads);
  }
}

/** Default thread count: the machine's logical cores. */
export function defaultThreads(): number {
  return Math.max(1, navigator.hardwareConcurrency ?? 1);
}
