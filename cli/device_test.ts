/**
 * The CLI's device pieces: `DEVICE_NAMES` is exactly the registry's devices plus `onnx` / `auto`,
 * and `deviceLine` is the one stderr line: said for `auto`, `onnx` and GPU spellings (the fallback
 * line when no hardware GPU is here), nothing for a device named outright.
 */
import { assertEquals } from "@std/assert";
import { DEVICE_NAMES, type DeviceChoice, deviceLine, listDevices, parseDevice } from "./device.ts";

Deno.test("DEVICE_NAMES = the registered devices + onnx + auto, each one parses", () => {
  const registered = listDevices().map((d) => d.name);
  assertEquals([...DEVICE_NAMES].sort(), [...registered, "onnx", "auto"].sort());
  for (const n of DEVICE_NAMES) assertEquals(parseDevice(n).name, n);
});

Deno.test("deviceLine: one line for auto / onnx / a GPU, the fallback line as is, nothing for cpu", () => {
  const choice = (requested: string, extra: Partial<DeviceChoice> = {}): DeviceChoice => ({
    device: "onnx-web",
    name: "onnx",
    runtime: "web",
    reason: "onnx-web (onnxruntime-web, wasm)",
    requested,
    ...extra,
  });
  assertEquals(
    deviceLine(choice("auto")),
    "encdec: --device auto → onnx-web (onnxruntime-web, wasm)",
  );
  assertEquals(
    deviceLine(choice("onnx")),
    "encdec: --device onnx → onnx-web (onnxruntime-web, wasm)",
  );
  assertEquals(
    deviceLine(
      choice("0", { fallback: "device 0: no GPU: no WebGPU adapter; running on onnx-web instead" }),
    ),
    "encdec: --device 0: no GPU: no WebGPU adapter; running on onnx-web instead",
  );
  assertEquals(deviceLine(choice("onnx-web")), null);
  assertEquals(
    deviceLine({ device: "cpu", name: "cpu", reason: "cpu (TypeScript)", requested: "-1" }),
    null,
  );
});
