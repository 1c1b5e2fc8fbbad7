/**
 * Reverse-mode autograd for encdec models: {@linkcode AutogradBackend} records a tape over a
 * forward backend; {@linkcode Var} is its handle; {@linkcode backward} sweeps the tape.
 *
 * @example
 * ```ts
 * import { AutogradBackend, cpu, Tensor } from "@encdec/modeling";
 * const ag = new AutogradBackend(cpu);
 * const w = ag.parameter(Tensor.from([[0.5, -1], [2, 0]]));
 * const logits = ag.linear(ag.upload(Tensor.from([[1, 2]])), w); // [1, 2]
 * ag.crossEntropy(logits, ag.upload(Tensor.from([0], "int32"))).backward();
 * w.grad?.tolist(); // d loss / d w, [2, 2]
 * ```
 *
 * @module
 */
export { AutogradError, backward, type TapeNode, Var } from "./var.ts";
export { AutogradBackend, GradTensor, type TransposeAMatmul } from "./backend.ts";
export { OrtCpuBackend, type OrtCpuOptions } from "./ort_cpu.ts";
