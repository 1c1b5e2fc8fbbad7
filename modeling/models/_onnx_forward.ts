/**
 * `EncoderDecoderModel.forward` on an onnxruntime device: the same host-side inputs as the
 * backend path (`_forward.ts`: labels shifted right, pad mask), the encoder and a full decoder
 * pass through the onnxruntime engine, and the loss computed on the host as HF's
 * `CrossEntropyLoss` (mean over labels != -100). Hidden states, attentions, `encoderOutputs`,
 * embeddings and a returned cache are not available there: asking for them throws.
 *
 * @module
 */
import { GradTensor } from "../autograd/backend.ts";
import { Tensor } from "../tensor.ts";
import type { OnnxEncoderDecoder } from "../backends/onnx/mod.ts";
import { ModelInputError } from "./errors.ts";
import { decoderInputs, encoderBatch, encoderInputs, type ShiftConfig } from "./_forward.ts";
import { toMask } from "./_inputs.ts";
import type { Ids, Mask } from "./stacks.ts";
import type { Seq2SeqForwardArgs, Seq2SeqLMOutput } from "./outputs.ts";

/** `[rows, cols]` host tensor → nested rows. */
function rows(t: Ids | Mask): number[][] {
  const [n, c] = t.dims;
  return Array.from({ length: n }, (_, r) => Array.from(t.data.subarray(r * c, (r + 1) * c)));
}

/**
 * HF's `CrossEntropyLoss()(logits.view(-1, V), labels.view(-1))`: the mean over positions whose
 * label is not -100 of `logsumexp(row) - row[label]`, in float64 (NaN when every label is -100,
 * as torch).
 */
export function crossEntropyLoss(logits: Tensor<"float32">, labels: Ids): Tensor<"float32"> {
  const v = logits.dims[logits.dims.length - 1];
  const x = logits.data;
  let sum = 0, n = 0;
  for (let i = 0; i < labels.size; i++) {
    const y = labels.data[i];
    if (y === -100) continue;
    let max = -Infinity;
    for (let j = i * v; j < (i + 1) * v; j++) if (x[j] > max) max = x[j];
    let s = 0;
    for (let j = i * v; j < (i + 1) * v; j++) s += Math.exp(x[j] - max);
    sum += max + Math.log(s) - x[i * v + y];
    n++;
  }
  return new Tensor("float32", Float32Array.of(sum / n), []) as Tensor<"float32">;
}

/** The `forward` arguments an onnxruntime device cannot honour, by name. */
const UNSUPPORTED = [
  "encoderOutputs",
  "pastKeyValues",
  "inputsEmbeds",
  "decoderInputsEmbeds",
  "outputHiddenStates",
  "outputAttentions",
] as const;

/**
 * `forward` through the onnxruntime engine: `logits` `[batch, tgtLen, vocab]`, `loss` from
 * `labels` and `encoderLastHiddenState`; no `pastKeyValues` (the engine's cache is its own).
 */
export async function forwardOnOnnx(
  engine: OnnxEncoderDecoder,
  device: string,
  args: Seq2SeqForwardArgs,
  shift: ShiftConfig,
): Promise<Seq2SeqLMOutput> {
  for (const k of UNSUPPORTED) {
    if (args[k] !== undefined && args[k] !== false) {
      throw new ModelInputError(
        `forward: ${k} is not available on device ${device} (onnxruntime returns logits, loss ` +
          `and the encoder's last hidden state); use device cpu or webgpu for it`,
      );
    }
  }
  const enc = encoderInputs(args);
  if (!enc.inputIds) throw new ModelInputError(`forward: give inputIds on device ${device}`);
  const batch = encoderBatch(args, enc);
  const dec = decoderInputs(args, shift, batch);
  const ids = rows(enc.inputIds);
  const mask = enc.attentionMask ? rows(enc.attentionMask) : ids.map((r) => r.map(() => 1));
  const decIds = rows(dec.decoderInputIds!);
  const decMask = dec.decoderAttentionMask ? rows(dec.decoderAttentionMask) : undefined;
  const global = args.globalAttentionMask === undefined
    ? undefined
    : rows(toMask(args.globalAttentionMask, "global_attention_mask"));
  const state = await engine.encode(ids, mask, { globalAttentionMask: global });
  try {
    // The host copy of the encoder output is taken before the state's buffers are released.
    const last = state.lastHiddenState;
    const encoderLastHiddenState = new Tensor("float32", Float32Array.from(last.data), [
      ...last.dims,
    ]);
    const { logits, cache } = await engine.decodeAll(state, decIds, null, decMask);
    engine.dispose(cache);
    const loss = dec.labels
      ? new GradTensor(crossEntropyLoss(logits, dec.labels), null)
      : undefined;
    return { loss, logits, encoderLastHiddenState }; // logits [batch, tgtLen, vocab]
  } finally {
    engine.dispose(state);
  }
}
