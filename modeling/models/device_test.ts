/**
 * The device registry: spellings as Python users write them (a table of inputs and what they
 * read as), the `auto` policy's order with injected availability (what each kind of machine
 * picks, and the one line saying why), the GPU fallback, the dtype × device table and the typed
 * errors.
 */
import { assert, assertEquals, assertMatch, assertRejects, assertThrows } from "@std/assert";
import {
  type DeviceAvailability,
  DeviceError,
  DeviceUnavailableError,
  listDevices,
  parseDevice,
  selectDevice,
} from "./device.ts";

Deno.test("parseDevice reads devices as Python users write them; junk throws DeviceError", () => {
  const table: [string | number, ReturnType<typeof parseDevice>][] = [
    [0, { name: "gpu", gpuIndex: 0 }],
    ["0", { name: "gpu", gpuIndex: 0 }],
    [3, { name: "gpu", gpuIndex: 3 }],
    [-1, { name: "cpu" }],
    ["-1", { name: "cpu" }],
    ["cuda", { name: "gpu", gpuIndex: 0 }],
    ["cuda:1", { name: "gpu", gpuIndex: 1 }],
    ["gpu", { name: "gpu", gpuIndex: 0 }],
    ["gpu:2", { name: "gpu", gpuIndex: 2 }],
    ["CUDA:0", { name: "gpu", gpuIndex: 0 }],
    ["cpu", { name: "cpu" }],
    ["webgpu", { name: "webgpu" }],
    ["onnx", { name: "onnx" }],
    ["onnx-node", { name: "onnx-node" }],
    ["onnx-web", { name: "onnx-web" }],
    ["autograd", { name: "autograd" }],
    ["autograd-ort", { name: "autograd-ort" }],
    ["auto", { name: "auto" }],
  ];
  for (const [spec, want] of table) assertEquals(parseDevice(spec), want, String(spec));
  for (const junk of ["tpu", "cuda:x", "gpu:-1", "", "1.5", -2, 0.5, "mps"]) {
    assertThrows(() => parseDevice(junk), DeviceError, "unknown device");
  }
  const e = assertThrows(() => parseDevice("tpu"), DeviceError);
  assertMatch(e.message, /expected one of cpu, webgpu, .*onnx, auto, a GPU number N/);
});

Deno.test("every registered device says what it needs and which dtypes it runs", () => {
  const table = Object.fromEntries(listDevices().map((d) => [d.name, d.dtypes.join(",")]));
  assertEquals(table, {
    cpu: "float32,float16,bfloat16",
    webgpu: "float32,float16,bfloat16",
    autograd: "float32",
    "autograd-ort": "float32",
    "onnx-node": "float32,float16,int8",
    "onnx-web": "float32,float16,int8",
  });
  for (const d of listDevices()) assert(d.needs.length > 0, d.name);
});

const yes = (detail: string, hardware?: boolean) => () =>
  Promise.resolve<DeviceAvailability>({ available: true, detail, hardware });
const no = (detail: string) => () =>
  Promise.resolve<DeviceAvailability>({ available: false, detail });

/** A machine: which of webgpu (hardware or software), onnx-node, onnx-web it has. */
function machine(gpu: "hardware" | "software" | "none", node: boolean, web: boolean) {
  return {
    webgpu: gpu === "none" ? no("no WebGPU adapter") : yes(
      gpu === "hardware" ? 'adapter "RTX"' : 'adapter "llvmpipe" is a software fallback',
      gpu === "hardware",
    ),
    "onnx-node": node ? yes("onnxruntime-node 1.30.0") : no("needs --allow-ffi"),
    "onnx-web": web ? yes("onnxruntime-web (wasm)") : no("wasm files not readable"),
  };
}

Deno.test("auto picks onnxruntime-node > onnxruntime-web > cpu when no hardware GPU is here, and says why in one line", async () => {
  const cases: [ReturnType<typeof machine>, string, string | undefined][] = [
    [machine("software", true, true), "onnx-node", "node"],
    [machine("none", true, false), "onnx-node", "node"],
    [machine("software", false, true), "onnx-web", "web"],
    [machine("none", false, false), "cpu", undefined],
  ];
  for (const [probes, want, runtime] of cases) {
    const c = await selectDevice("auto", { probes });
    assertEquals(c.device, want);
    assertEquals(c.runtime, runtime);
    assertEquals(c.name, runtime ? "onnx" : "cpu");
    assertEquals(c.requested, "auto");
    assert(!c.reason.includes("\n"), c.reason);
  }
  const sw = await selectDevice("auto", { probes: machine("software", false, true) });
  assertEquals(
    sw.reason,
    'onnx-web (onnxruntime-web, wasm; webgpu skipped: adapter "llvmpipe" is a software ' +
      "fallback; onnx-node: needs --allow-ffi)",
  );
  // dtype narrows the candidates: int8 only on onnxruntime, bfloat16 never there.
  const int8 = await selectDevice("auto", {
    dtype: "int8",
    probes: machine("hardware", false, true),
  });
  assertEquals(int8.device, "onnx-web");
  const bf16 = await selectDevice("auto", {
    dtype: "bfloat16",
    probes: machine("none", true, true),
  });
  assertEquals(bf16.device, "cpu");
  await assertRejects(
    () => selectDevice("auto", { dtype: "int8", probes: machine("none", false, false) }),
    DeviceUnavailableError,
    'device "auto" with dtype "int8": no device can run here',
  );
  // Training: autograd-ort when onnxruntime-node loads, else autograd.
  const tn = await selectDevice("auto", { training: true, probes: machine("none", false, true) });
  assertEquals(tn.device, "autograd");
  assertEquals(tn.backend?.name, "autograd(cpu)");
});

Deno.test({
  name: "auto and a GPU spelling pick WebGPU first on a hardware adapter",
  ignore: !("gpu" in navigator),
  async fn() {
    for (const spec of ["auto", 0, "cuda:1", "gpu"]) {
      const c = await selectDevice(spec, { probes: machine("hardware", true, true) });
      assertEquals(c.device, "webgpu", String(spec));
      assertEquals(c.backend?.name, "webgpu");
      assertEquals(c.fallback, undefined);
    }
  },
});

Deno.test("a GPU spelling without a hardware adapter runs auto's CPU-side choice, with one fallback line", async () => {
  const c = await selectDevice(0, { probes: machine("software", false, true) });
  assertEquals(c.device, "onnx-web");
  assertEquals(c.requested, "0");
  assertEquals(
    c.fallback,
    'device 0: no hardware GPU: WebGPU\'s only adapter "llvmpipe" is a software fallback; ' +
      "running on onnx-web instead",
  );
  const none = await selectDevice("cuda:1", { probes: machine("none", true, true) });
  assertEquals(none.device, "onnx-node");
  assertEquals(
    none.fallback,
    "device cuda:1: no GPU: no WebGPU adapter; running on onnx-node instead",
  );
  const cpu = await selectDevice("gpu", { probes: machine("none", false, false) });
  assertEquals([cpu.device, cpu.backend?.name], ["cpu", "cpu"]);
  // -1 is the CPU, no fallback said.
  const m1 = await selectDevice(-1);
  assertEquals([m1.device, m1.fallback], ["cpu", undefined]);
});

Deno.test("onnx takes node, else web; a device that cannot run here throws DeviceUnavailableError naming what it needs", async () => {
  assertEquals(
    (await selectDevice("onnx", { probes: machine("none", true, true) })).device,
    "onnx-node",
  );
  assertEquals(
    (await selectDevice("onnx", { probes: machine("none", false, true) })).device,
    "onnx-web",
  );
  await assertRejects(
    () => selectDevice("onnx", { probes: machine("none", false, false) }),
    DeviceUnavailableError,
    'device "onnx" cannot run here: onnxruntime-node needs --allow-ffi, and wasm files not readable',
  );
  await assertRejects(
    () => selectDevice("onnx-node", { probes: machine("none", false, true) }),
    DeviceUnavailableError,
    'device "onnx-node" cannot run here: needs --allow-ffi (it needs --allow-ffi',
  );
});

Deno.test("the dtype × device table: int8 and bfloat16 where a device has none are DeviceErrors", async () => {
  await assertRejects(
    () => selectDevice("cpu", { dtype: "int8" }),
    DeviceError,
    'dtype "int8" needs device onnx (or auto); device "cpu" has no int8',
  );
  await assertRejects(
    () => selectDevice("onnx", { dtype: "bfloat16" }),
    DeviceError,
    'dtype "bfloat16" is not supported on device onnx; it runs float32, float16, int8',
  );
  await assertRejects(
    () => selectDevice("autograd", { dtype: "float16" }),
    DeviceError,
    'dtype "float16" is not supported on device autograd; it runs float32',
  );
  await assertRejects(
    () => selectDevice("cpu", { training: true }),
    DeviceError,
    'device "cpu" records no gradients',
  );
  await assertRejects(() => selectDevice("tpu"), DeviceError, 'unknown device "tpu"');
});
